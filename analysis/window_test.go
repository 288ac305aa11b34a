package analysis

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

const hour = 3600

// windowRecords returns simulated records spread over about two days.
func windowRecords(t *testing.T) (*simulate.Account, []flowlog.Record) {
	t.Helper()
	cfg := simulate.DefaultConfig()
	cfg.Apps, cfg.InternetClients = 6, 60
	acct := simulate.NewAccount(cfg)
	tr := acct.Traffic(7, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	tr.PerSecond = 1
	fm := flowlog.MustParseFormat(simulate.RichFormat)
	p := flowlog.NewParser(fm)
	var out []flowlog.Record
	for range 60_000 {
		f := tr.Next()
		var rec flowlog.Record
		if err := p.Parse(simulate.AppendLine(nil, &f, fm), &rec); err != nil {
			t.Fatal(err)
		}
		rec.InterfaceID = append([]byte(nil), rec.InterfaceID...)
		out = append(out, rec)
	}
	return acct, out
}

func reportOf(acc *Accumulator) advisor.Report {
	return acc.Report(advisor.DefaultConfig())
}

// A windowed accumulator fed by several partitions, merged in any order and
// expired at a cut, reports exactly what a plain accumulator reports for the
// records filed at or after the start of the cut's slot (the expiry
// granularity), including at the slot boundary itself.
func TestWindowedEqualsAnalyzeOfTheWindow(t *testing.T) {
	acct, recs := windowRecords(t)
	eng := NewEngine(loadAccount(t, acct))
	wcfg := sketch.DefaultConfig()
	wcfg.Slot = hour
	first, last := recordTime(&recs[0]), recordTime(&recs[len(recs)-1])
	r := rand.New(rand.NewPCG(9, 9))
	cuts := []int64{first, slotStart(first+10*hour, hour), slotStart(first+10*hour, hour) - 1,
		slotStart(first+10*hour, hour) + 1, first + r.Int64N(last-first), last}
	for _, cut := range cuts {
		parts := make([]*Accumulator, 3)
		for i := range parts {
			parts[i] = NewAccumulator(eng, wcfg)
		}
		for i := range recs {
			parts[r.IntN(3)].Observe(&recs[i])
		}
		// Expire some partitions before the merge, the merge after.
		parts[1].Expire(cut)
		merged := NewAccumulator(eng, wcfg)
		for _, k := range r.Perm(3) {
			if err := merged.Merge(parts[k]); err != nil {
				t.Fatal(err)
			}
		}
		merged.Expire(cut)
		want := NewAccumulator(eng, sketch.DefaultConfig())
		from := slotStart(cut, hour)
		for i := range recs {
			if recordTime(&recs[i]) >= from {
				want.Observe(&recs[i])
			}
		}
		// Observations (coverage) and port evidence are not filed per slot:
		// expiry drops what lies wholly before the cut, so they are checked
		// for that and then shared, for the usage to be compared exactly.
		for id, o := range merged.obs.m {
			for _, sp := range []*Spans{&o.On, &o.Rejects, &o.Skipped} {
				if !sp.Empty() {
					if _, to := sp.At(0); to <= from {
						t.Fatalf("cut %d: %s keeps an observation that ended at %d", cut, id, to)
					}
				}
			}
		}
		for id, ev := range merged.evidence {
			for _, tb := range ev.t {
				for _, e := range tb.Entries {
					if int64(e.Last) < from {
						t.Fatalf("cut %d: %s keeps evidence last seen at %d", cut, id, e.Last)
					}
				}
			}
		}
		want.obs, want.evidence, want.verdicts = merged.obs, merged.evidence, nil
		if !sameWindowReport(t, merged, want) {
			t.Fatalf("cut %d (slot %d): windowed report differs from the window's analysis", cut, from)
		}
		if merged.Stats() != want.Stats() {
			t.Fatalf("cut %d: stats %+v, want %+v", cut, merged.Stats(), want.Stats())
		}
		// A snapshot round trip keeps it.
		snap, err := merged.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		back := NewAccumulator(eng, wcfg)
		if _, err := back.Restore(snap); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(reportOf(back), reportOf(merged)) || back.Stats() != merged.Stats() {
			t.Fatalf("cut %d: snapshot round trip differs", cut)
		}
	}
}

// sameWindowReport compares the reports of a windowed accumulator and of a
// plain one of the window's records. A rule whose uncertain-initiator port set
// stayed coarse through expiry (it then covers more, see sketch.Expire) while
// the window's records alone keep it exact is judged on bucket evidence instead
// of per-port evidence, so its suggestion may differ and is left out; its
// state is compared instead (counters, primary credits).
func sameWindowReport(t *testing.T, got, want *Accumulator) bool {
	t.Helper()
	g, e := reportOf(got), reportOf(want)
	if !reflect.DeepEqual(g.Window, e.Window) || !reflect.DeepEqual(g.Unattributed, e.Unattributed) || len(g.Suggestions) != len(e.Suggestions) {
		return false
	}
	skipped := 0
	for k, i := range got.eng.ReportOrder() {
		gr, er := &got.rules[i], &want.rules[i]
		coarse := false
		if len(gr.Uncertain) != len(er.Uncertain) {
			return false
		}
		for j := range gr.Uncertain {
			gu, eu := &gr.Uncertain[j], &er.Uncertain[j]
			if gu.Sketch.Flows != eu.Sketch.Flows || gu.Primary != eu.Primary {
				return false
			}
			if ps := gu.Sketch.Ports(gu.Protocol); ps != nil && !ps.Exact() && eu.Sketch.Ports(eu.Protocol).Exact() {
				coarse = true
			}
		}
		if coarse {
			skipped++
			continue
		}
		if !reflect.DeepEqual(g.Suggestions[k], e.Suggestions[k]) {
			t.Logf("rule %d: %+v\nwant %+v", i, g.Suggestions[k], e.Suggestions[k])
			return false
		}
	}
	if skipped > len(g.Suggestions)/2 {
		t.Logf("%d of %d suggestions rest on coarse port sets", skipped, len(g.Suggestions))
		return false
	}
	return true
}

// withoutGroup returns the engine of the account minus its first group.
func withoutGroup(t *testing.T, acct *simulate.Account) *Engine {
	less := *acct
	less.Groups = acct.Groups[1:]
	return NewEngine(loadAccount(t, &less))
}

// Usage belongs to the rule's key: a reload that briefly lacks a rule keeps
// its usage aside (through snapshots too) and gives it back when it returns,
// until the window ages it out.
func TestRebindKeepsUsageOfMissingRules(t *testing.T) {
	acct, recs := windowRecords(t)
	eng := NewEngine(loadAccount(t, acct))
	wcfg := sketch.DefaultConfig()
	wcfg.Slot = hour
	acc := NewAccumulator(eng, wcfg)
	for i := range recs {
		acc.Observe(&recs[i])
	}
	want := reportOf(acc)
	less := withoutGroup(t, acct)
	if len(less.Rules()) >= len(eng.Rules()) {
		t.Fatal("the reduced inventory lost no rule")
	}
	gone := acc.Rebind(less)
	if gone.Orphans() == 0 {
		t.Fatal("no orphaned usage kept")
	}
	snap, err := gone.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := NewAccumulator(less, wcfg)
	if n, err := restored.Restore(snap); err != nil || n == 0 {
		t.Fatalf("restore: %d orphans, %v", n, err)
	}
	for _, a := range []*Accumulator{gone, restored} {
		back := a.Rebind(eng)
		if got := reportOf(back); !reflect.DeepEqual(got, want) {
			t.Fatal("usage of a rule missing for one reload was not given back")
		}
		if back.Orphans() != 0 {
			t.Fatalf("%d orphans left after the rules returned", back.Orphans())
		}
	}
	// Orphans age out with the window.
	gone.Expire(recordTime(&recs[len(recs)-1]) + 2*hour)
	if gone.Orphans() != 0 {
		t.Fatalf("%d orphans outlived the window", gone.Orphans())
	}
}

// The windowed per-record path does not allocate in the steady state.
func TestWindowedObserveAllocs(t *testing.T) {
	acct, recs := windowRecords(t)
	eng := NewEngine(loadAccount(t, acct))
	wcfg := sketch.DefaultConfig()
	wcfg.Slot = hour
	acc := NewAccumulator(eng, wcfg)
	recs = recs[:20_000]
	for i := range recs {
		acc.Observe(&recs[i])
	}
	// Same records again: same slots, sources and ports.
	i := 0
	n := testing.AllocsPerRun(5000, func() {
		acc.Observe(&recs[i%len(recs)])
		i++
	})
	if n != 0 {
		t.Fatalf("%v allocations per record", n)
	}
}
