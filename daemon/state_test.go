package daemon

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsjson"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// A shard holds exactly the usage of the records filed at or after the start
// of the expiry slot that contains the cut, as a plain (analyze) accumulator
// fed those records would, through late records and expiry, while its rules'
// sources fit the node budget. With wide rules (thousands of internet
// clients) whose aggregates outlive some of their members, verdicts and
// counters stay identical and the distinct-source estimate can only be higher.
func TestShardEqualsAnalyzeOfTheWindow(t *testing.T) {
	for _, clients := range []int{60, 2000} {
		t.Run(fmt.Sprint(clients, "-clients"), func(t *testing.T) { testShardWindow(t, clients) })
	}
}

func testShardWindow(t *testing.T, clients int) {
	scfg := simulate.DefaultConfig()
	scfg.InternetClients = clients
	acct := simulate.NewAccount(scfg)
	inv, err := acct.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	eng := analysis.NewEngine(inv)
	wcfg := sketch.DefaultConfig()
	wcfg.Slot = 3600
	s := newShard("t/0", eng, wcfg, 3600)
	p := flowlog.NewParser(richFormat)
	tr := acct.Traffic(3, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	tr.PerSecond = 2
	var recs []flowlog.Record
	cut := int64(0)
	// The window's records give the usage; the per-interface observations
	// (coverage) and port evidence, which expire by what lies wholly before
	// the cut rather than per slot, are the shard's, so that the usage is
	// judged alike.
	var gotAcc, wantAcc *analysis.Accumulator
	analyze := func() advisor.Report {
		acc := analysis.NewAccumulator(eng, sketch.DefaultConfig())
		from := cut - mod(cut, 3600)
		for i := range recs {
			if recs[i].Start >= from {
				acc.Observe(&recs[i])
			}
		}
		var all, none analysis.RuleSet
		all.AddAll(len(eng.Rules()))
		ref := analysis.NewAccumulator(eng, sketch.DefaultConfig())
		if err := ref.MergeUsage(acc, &all); err != nil {
			t.Fatal(err)
		}
		if err := ref.MergeRules(s.acc, &none); err != nil {
			t.Fatal(err)
		}
		if ref.Stats() != acc.Stats() {
			t.Fatalf("stats %+v, want %+v", ref.Stats(), acc.Stats())
		}
		wantAcc = ref
		return ref.Report(advisor.DefaultConfig())
	}
	daemon := func() advisor.Report {
		acc := analysis.NewAccumulator(eng, wcfg)
		if err := s.mergeInto(acc); err != nil {
			t.Fatal(err)
		}
		gotAcc = acc
		return acc.Report(advisor.DefaultConfig())
	}
	feed := func(n int, late bool) {
		for range n {
			f := tr.Next()
			if late {
				f.Start -= 5 * 3600
				f.End -= 5 * 3600
			}
			line := simulate.AppendLine(nil, &f, richFormat)
			var rec flowlog.Record
			if err := p.Parse(line, &rec); err != nil {
				t.Fatal(err)
			}
			rec.InterfaceID = append([]byte(nil), rec.InterfaceID...)
			recs = append(recs, rec)
			s.observe(&rec)
		}
	}
	for round := range 12 {
		feed(4000, round%4 == 3) // some rounds deliver late records
		if round >= 8 {
			// The cut moves forward, on a slot boundary or not.
			cut = s.watermark - 4*3600 + int64(round-8)*1800
			s.expire(cut, s.watermark-86400)
		}
		got, want := daemon(), analyze()
		if got.Window != want.Window || len(got.Suggestions) != len(want.Suggestions) ||
			!reflect.DeepEqual(got.Unattributed, want.Unattributed) {
			t.Fatalf("round %d: window or rules differ", round)
		}
		order := eng.ReportOrder()
		for i, w := range want.Suggestions {
			g := got.Suggestions[i]
			if coarseUncertain(gotAcc.Rule(order[i]), wantAcc.Rule(order[i])) {
				// Judged on bucket evidence where the window's records alone
				// keep exact ports (see coarseUncertain).
				continue
			}
			if clients <= sketch.DefaultMaxNodes {
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("round %d: the shard's usage of rule %d differs from analyzing the window:\n got %+v\nwant %+v", round, i, g, w)
				}
				continue
			}
			ge, we := g.Evidence, w.Evidence
			ge.DistinctSources, we.DistinctSources = 0, 0
			ge.DistinctSourcesEstimated, we.DistinctSourcesEstimated = false, false
			ge.Coverage, we.Coverage = nil, nil
			if g.Verdict != w.Verdict || !reflect.DeepEqual(g.Reasons, w.Reasons) || ge != we ||
				!reflect.DeepEqual(g.Evidence.Coverage, w.Evidence.Coverage) ||
				g.Evidence.DistinctSources < w.Evidence.DistinctSources {
				t.Fatalf("round %d: rule %d:\n got %+v\nwant %+v", round, i, g, w)
			}
		}
	}
	if old, _ := s.acc.Oldest(); old > cut || len(s.acc.Series(0)) == 0 && s.acc.Stats().Records == 0 {
		t.Fatalf("the test should keep several slots")
	}
}

// coarseUncertain reports whether a rule's uncertain-initiator part kept a
// coarse port set through expiry (which keeps a coarse set coarse until all
// its buckets age out, covering more) while the window's records alone keep
// it exact: the port evidence then judges it by 64-port buckets instead of
// per port, so its suggestion may differ. Its counters must still be equal.
func coarseUncertain(got, want *analysis.RuleState) bool {
	coarse := false
	for j := range got.Uncertain {
		if j >= len(want.Uncertain) {
			return false
		}
		g, w := &got.Uncertain[j], &want.Uncertain[j]
		if g.Sketch.Flows != w.Sketch.Flows || g.Primary != w.Primary {
			return false
		}
		if ps := g.Sketch.Ports(g.Protocol); ps != nil && !ps.Exact() && w.Sketch.Ports(w.Protocol).Exact() {
			coarse = true
		}
	}
	return coarse
}

// A version 3 checkpoint (one accumulator per hourly bucket, written by the
// daemon before the window work: testdata/v3) restores into the windowed
// state with the same usage, and its buckets then expire at their own times.
func TestRestoreVersion3Checkpoint(t *testing.T) {
	inv := inventory.New()
	for _, f := range []string{"testdata/v3/security-groups.json", "testdata/v3/network-interfaces.json"} {
		if _, err := awsjson.LoadFile(inv, f); err != nil {
			t.Fatal(err)
		}
	}
	eng := analysis.NewEngine(inv)
	data, err := os.ReadFile("testdata/v3/shard.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	var cp checkpoint
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&cp); err != nil {
		t.Fatal(err)
	}
	if cp.Version != 3 || len(cp.Buckets) < 3 {
		t.Fatalf("test data: version %d with %d buckets", cp.Version, len(cp.Buckets))
	}
	// The old buckets merged, optionally from a bucket on.
	old := func(from int64) advisor.Report {
		acc := analysis.NewAccumulator(eng, sketch.DefaultConfig())
		for _, b := range cp.Buckets {
			if b.Start >= from {
				if _, err := acc.Restore(b.State); err != nil {
					t.Fatal(err)
				}
			}
		}
		return acc.Report(advisor.DefaultConfig())
	}
	wcfg := sketch.DefaultConfig()
	wcfg.Slot = 3600
	s := newShard("t/0", eng, wcfg, 3600)
	if err := s.restore(data); err != nil {
		t.Fatal(err)
	}
	if s.next != cp.Next || s.watermark != cp.Watermark {
		t.Fatalf("offset %d watermark %d, want %d %d", s.next, s.watermark, cp.Next, cp.Watermark)
	}
	now := func() advisor.Report {
		acc := analysis.NewAccumulator(eng, wcfg)
		if err := s.mergeInto(acc); err != nil {
			t.Fatal(err)
		}
		return acc.Report(advisor.DefaultConfig())
	}
	if !reflect.DeepEqual(now(), old(0)) {
		t.Fatal("restored version 3 state differs from its buckets merged")
	}
	cut := cp.Buckets[len(cp.Buckets)/2].Start
	s.expire(cut, 0)
	if !reflect.DeepEqual(now(), old(cut)) {
		t.Fatal("restored version 3 buckets do not expire at their own times")
	}
	// And the version 4 checkpoint written from it restores the same.
	b, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	s2 := newShard("t/0", eng, wcfg, 3600)
	if err := s2.restore(b); err != nil {
		t.Fatal(err)
	}
	acc := analysis.NewAccumulator(eng, wcfg)
	if err := s2.mergeInto(acc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(acc.Report(advisor.DefaultConfig()), old(cut)) {
		t.Fatal("version 4 round trip differs")
	}
}
