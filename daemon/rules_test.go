package daemon

import (
	"log/slog"
	"maps"
	"net/netip"
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
	// The truth for the distinct sources per slot: the remote addresses of the
	// records each rule counted, per shard and slot (the rules whose flows a record
	// raised are the ones it was attributed to).
	type slotKey struct {
		shard, rule int
		start       int64
	}
	truth := map[slotKey]map[netip.Addr]bool{}
	flows := func(s *shard, i int) uint64 {
		if sk := s.acc.Rule(i).Sketch; sk != nil {
			return sk.Flows
		}
		return 0
	}
	before := make([]uint64, len(eng.Rules()))
	for i := range 20000 {
		f := tr.Next()
		if err := p.Parse(simulate.AppendLine(nil, &f, p.Format()), &rec); err != nil {
			t.Fatal(err)
		}
		s := shards[i%2]
		s.mu.Lock()
		for j := range before {
			before[j] = flows(s, j)
		}
		s.observe(&rec)
		for j := range before {
			if flows(s, j) != before[j] {
				k := slotKey{i % 2, j, rec.Start - rec.Start%d.scfg.Slot}
				if truth[k] == nil {
					truth[k] = map[netip.Addr]bool{}
				}
				remote := rec.SrcAddr // the address the rule's sketch keeps
				if eng.Rules()[j].Direction() == "egress" {
					remote = rec.DstAddr
				}
				truth[k][remote.Unmap()] = true
			}
		}
		s.mu.Unlock()
	}
	exactRules := 0

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
		// Distinct sources per slot, per shard (what the ClickHouse rows carry)
		// and across shards (the rule view's series): exact while the rule's
		// sources fit the sketch's budget.
		if _, est := want.DistinctSources(); !est && want.Flows > 0 {
			exactRules++
			union := map[int64]map[netip.Addr]bool{}
			for si, s := range shards {
				srcs := s.acc.SeriesSources(i)
				for j, sl := range s.acc.Series(i) {
					set := truth[slotKey{si, i, sl.Start}]
					if srcs[j].Sources != uint64(len(set)) || srcs[j].Estimated {
						t.Errorf("%s, shard %d, slot %d: %+v sources, want %d", r.Key(), si, sl.Start, srcs[j], len(set))
					}
					if union[sl.Start] == nil {
						union[sl.Start] = map[netip.Addr]bool{}
					}
					maps.Copy(union[sl.Start], set)
				}
			}
			for _, pt := range u.Series {
				if n := len(union[pt.Time.Unix()]); pt.Sources != uint64(n) || n == 0 {
					t.Errorf("%s, slot %v: %d sources, want %d", r.Key(), pt.Time, pt.Sources, n)
				}
			}
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
	if checked < 5 || exactRules < 3 {
		t.Fatalf("only %d rules with traffic, %d with exact sources", checked, exactRules)
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
