package daemon

import (
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// The rule view's usage is the merge of the rule's sketches over every
// partition: totals, sources and ports equal that merge, and the series has
// one point per time slot of the window whose sum is the total.
func TestRuleUsage(t *testing.T) {
	sc := newScenario(t, 10, 77)
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	d, err := New(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), OpenReads: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.ln.Close()
	eng := d.eng
	tr := sc.acct.Traffic(3, time.Now().Add(-3*time.Hour))
	tr.PerSecond = 2 // 3 hours of traffic in about 21,600 records
	p := flowlog.NewParser(flowlog.MustParseFormat(simulate.RichFormat))
	var rec flowlog.Record
	for k := range 2 {
		s := d.newShard("t/"+string(rune('0'+k)), eng, 3600)
		d.shards[s.key] = s
	}
	shards := []*shard{d.shards["t/0"], d.shards["t/1"]}
	for i := range 20000 {
		f := tr.Next()
		if err := p.Parse(simulate.AppendLine(nil, &f, p.Format()), &rec); err != nil {
			t.Fatal(err)
		}
		s := shards[i%2]
		s.mu.Lock()
		s.observe(&rec)
		s.mu.Unlock()
	}

	checked := 0
	for i, r := range eng.Rules() {
		want := sketch.New(d.scfg)
		starts := map[int64]uint64{}
		for _, s := range shards {
			if sk := s.acc.Rule(i).Sketch; sk != nil && sk.Flows > 0 {
				want.Merge(sk)
				for _, sl := range s.acc.Series(i) {
					starts[sl.Start] += sl.Flows
				}
			}
		}
		u, ok := d.RuleUsage(r.Key())
		if !ok {
			t.Fatalf("rule %s not found", r.Key())
		}
		if u.Flows != want.Flows || u.Packets != want.Packets || u.Bytes != want.Bytes || u.Description != r.Description {
			t.Errorf("%s: flows %d packets %d bytes %d, want %d %d %d", r.Key(), u.Flows, u.Packets, u.Bytes, want.Flows, want.Packets, want.Bytes)
		}
		items := want.Items()
		if len(u.Sources) != len(items) {
			t.Fatalf("%s: %d sources, want %d", r.Key(), len(u.Sources), len(items))
		}
		for j, it := range items {
			if u.Sources[j].Prefix != it.Prefix.String() || u.Sources[j].Exact != it.Exact || u.Sources[j].Count != it.Count {
				t.Errorf("%s: source %d = %+v, want %v", r.Key(), j, u.Sources[j], it)
			}
		}
		if len(u.Ports) != len(want.Protocols()) {
			t.Errorf("%s: %d protocols, want %d", r.Key(), len(u.Ports), len(want.Protocols()))
		}
		if len(u.Series) != len(starts) {
			t.Fatalf("%s: %d points, want %d buckets", r.Key(), len(u.Series), len(starts))
		}
		var sum uint64
		for j, pt := range u.Series {
			if j > 0 && !pt.Time.After(u.Series[j-1].Time) {
				t.Errorf("%s: series not in time order", r.Key())
			}
			if pt.Flows != starts[pt.Time.Unix()] || pt.Time.Unix()%d.scfg.Slot != 0 {
				t.Errorf("%s: point %v has %d flows, want %d", r.Key(), pt.Time, pt.Flows, starts[pt.Time.Unix()])
			}
			sum += pt.Flows
		}
		if sum != u.Flows || u.BucketSeconds != d.scfg.Slot && want.Flows > 0 {
			t.Errorf("%s: series sums to %d flows of %d (bucket %d s)", r.Key(), sum, u.Flows, u.BucketSeconds)
		}
		if want.Flows > 0 {
			checked++
			if u.FirstSeen == nil || u.FirstSeen.Unix() != want.FirstSeen || u.LastSeen.Unix() != want.LastSeen {
				t.Errorf("%s: first/last seen %v %v", r.Key(), u.FirstSeen, u.LastSeen)
			}
		} else if u.FirstSeen != nil || len(u.Series) != 0 {
			t.Errorf("%s: unused rule with usage %+v", r.Key(), u)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d rules with traffic", checked)
	}
	if _, ok := d.RuleUsage("sg-none|ingress|6|22|22|0.0.0.0/0"); ok {
		t.Error("an unknown rule has usage")
	}

	groups := d.Groups()
	ids := eng.Inventory().Groups()
	if len(groups) != len(ids) || !sort.SliceIsSorted(groups, func(i, j int) bool { return groups[i].ID < groups[j].ID }) {
		t.Fatalf("%d groups, want %d", len(groups), len(ids))
	}
	for _, g := range groups {
		if g.Name == "" || g.VPCID == "" || g.AccountID == "" {
			t.Errorf("group %+v lacks what the inventory knows", g)
		}
	}
}
