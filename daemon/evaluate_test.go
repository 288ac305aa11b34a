package daemon

import (
	"log/slog"
	"math/rand/v2"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// An evaluation judges only the rules whose usage changed, yet its report
// always equals judging every rule on the merge of every bucket — through
// new traffic on some partitions only, late records into closed buckets,
// expiry, a partition that moves away and one that arrives.
func TestIncrementalEvaluationEqualsFull(t *testing.T) {
	sc := newScenario(t, 10, 51)
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Analysis.Window = 6 * 3600 * 1e9
	d, err := New(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), OpenReads: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.ln.Close()
	eng := d.eng
	r := rand.New(rand.NewPCG(5, 5))
	tr := sc.acct.Traffic(9, time.Now().Add(-3*time.Hour))
	tr.PerSecond = 3
	p := flowlog.NewParser(flowlog.MustParseFormat(simulate.RichFormat))
	var rec flowlog.Record
	shards := []*shard{}
	for k := range 3 {
		s := newShard("t/"+string(rune('0'+k)), eng, d.scfg, 3600)
		shards = append(shards, s)
		d.shards[s.key] = s
	}
	var fullStats analysis.Stats
	full := func() advisor.Report {
		acc := analysis.NewAccumulator(eng, d.scfg)
		defer func() { fullStats = acc.Stats() }()
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, s := range d.shards {
			if err := acc.Merge(s.acc); err != nil {
				t.Fatal(err)
			}
		}
		return acc.Report(d.acfg)
	}
	judgedBefore := 0.0
	for round := range 30 {
		// Traffic into one or two partitions only.
		for range 1 + r.IntN(2) {
			s := shards[r.IntN(len(shards))]
			late := round%7 == 6
			s.mu.Lock()
			for range r.IntN(300) {
				f := tr.Next()
				if late {
					f.Start -= 2 * 3600
					f.End -= 2 * 3600
				}
				if err := p.Parse(simulate.AppendLine(nil, &f, p.Format()), &rec); err != nil {
					t.Fatal(err)
				}
				s.observe(&rec)
			}
			s.mu.Unlock()
		}
		switch round {
		case 12: // a partition is revoked
			d.mu.Lock()
			delete(d.shards, shards[2].key)
			d.mu.Unlock()
		case 20: // and assigned again, with its state
			d.mu.Lock()
			d.shards[shards[2].key] = shards[2]
			d.mu.Unlock()
		}
		if round == 25 {
			// Time passes: older buckets leave the window.
			tr.SetNow(time.Now().Add(4 * time.Hour))
			cfg.Analysis.Window = 3600 * 1e9
			d.cfg.Analysis.Window = cfg.Analysis.Window
		}
		d.evaluate()
		got, _ := d.hub.Report()
		want := full()
		got.Window, want.Window = advisor.Window{}, advisor.Window{}
		if !reflect.DeepEqual(got.Suggestions, want.Suggestions) {
			for i := range want.Suggestions {
				if i < len(got.Suggestions) && !reflect.DeepEqual(got.Suggestions[i], want.Suggestions[i]) {
					t.Fatalf("round %d: rule %d:\n got %+v\nwant %+v", round, i, got.Suggestions[i], want.Suggestions[i])
				}
			}
			t.Fatalf("round %d: %d suggestions, want %d", round, len(got.Suggestions), len(want.Suggestions))
		}
		for outcome, want := range map[string]uint64{"inbound": fullStats.Inbound, "ambiguous": fullStats.Ambiguous,
			"reply": fullStats.Responses, "unknown-interface": fullStats.Unattributed} {
			if got := testutil.ToFloat64(d.met.WindowRecords.WithLabelValues(outcome)); got != float64(want) {
				t.Errorf("round %d: cinch_window_records{outcome=%q} = %v, want %d", round, outcome, got, want)
			}
		}
		if got := testutil.ToFloat64(d.met.RulesUnresolved); got != float64(eng.UnresolvedCount()) {
			t.Errorf("round %d: cinch_rules_unresolved = %v, want %d", round, got, eng.UnresolvedCount())
		}
		judged := testutil.ToFloat64(d.met.AdvisorRulesJudged)
		if round > 0 && round != 12 && round != 20 && judged-judgedBefore >= float64(len(eng.Rules())) {
			t.Errorf("round %d judged %v rules, all %d of them: not incremental", round, judged-judgedBefore, len(eng.Rules()))
		}
		judgedBefore = judged
	}
}

// TestIncrementalEvaluationFollowsPortEvidence: records without TCP flags
// (the default format) leave most initiators to the port evidence, so new
// records keep changing the verdicts on ports that rules without new records
// read. After every batch of random size, each record into a random
// partition (an interface's evidence split over them), with a partition
// restarting from its checkpoint now and then, the incremental evaluation's
// report equals judging every rule on the merge of the partitions: no rule
// whose verdict the evidence changed was left unjudged.
func TestIncrementalEvaluationFollowsPortEvidence(t *testing.T) {
	for _, seed := range []uint64{7, 8} {
		acct := simulate.NewAccount(simulate.Config{Seed: seed, Apps: 40, ENIsPerTier: 2, InternetClients: 300, AccountID: "123456789012"})
		sc := &scenario{dir: t.TempDir(), acct: acct}
		sc.writeInventory(t)
		cfg := sc.config(nil, t.TempDir(), "")
		cfg.Kafka = nil
		d, err := New(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), OpenReads: true})
		if err != nil {
			t.Fatal(err)
		}
		eng := d.eng
		r := rand.New(rand.NewPCG(seed, 3))
		tr := sc.acct.Traffic(seed, time.Now().Add(-3*time.Hour))
		tr.PerSecond = 5
		p := flowlog.NewParser(flowlog.DefaultFormat())
		var rec flowlog.Record
		var shards []*shard
		for k := range 3 {
			s := newShard("t/"+string(rune('0'+k)), eng, d.scfg, 3600)
			shards = append(shards, s)
			d.shards[s.key] = s
		}
		full := func() advisor.Report {
			acc := analysis.NewAccumulator(eng, d.scfg)
			for _, s := range shards {
				if err := acc.Merge(s.acc); err != nil {
					t.Fatal(err)
				}
			}
			return acc.Report(d.acfg)
		}
		judged, extra := 0.0, 0
		for round := range 80 {
			n := 1 + r.IntN([]int{3, 30, 300}[r.IntN(3)])
			for range n {
				f := tr.Next()
				if err := p.Parse(simulate.AppendLine(nil, &f, p.Format()), &rec); err != nil {
					t.Fatal(err)
				}
				s := shards[r.IntN(len(shards))]
				s.mu.Lock()
				s.observe(&rec)
				s.mu.Unlock()
			}
			if round%13 == 12 {
				// A partition restarts from its checkpoint: the same state
				// in new objects.
				s := shards[r.IntN(len(shards))]
				s.mu.Lock()
				snap, err := s.acc.Snapshot()
				if err == nil {
					acc := analysis.NewAccumulator(eng, d.scfg)
					if _, err = acc.Restore(snap); err == nil {
						s.acc = acc
						s.acc.Track(&s.changed)
					}
				}
				s.mu.Unlock()
				if err != nil {
					t.Fatal(err)
				}
			}
			before := testutil.ToFloat64(d.met.AdvisorRulesJudged)
			var changed analysis.RuleSet
			for _, s := range shards {
				changed.Union(&s.changed)
			}
			d.evaluate()
			if round > 0 {
				judged += testutil.ToFloat64(d.met.AdvisorRulesJudged) - before
				extra += int(testutil.ToFloat64(d.met.AdvisorRulesJudged)-before) - changed.Len()
			}
			got, _ := d.hub.Report()
			want := full()
			for i := range want.Suggestions {
				if i >= len(got.Suggestions) || !reflect.DeepEqual(got.Suggestions[i], want.Suggestions[i]) {
					var g advisor.Suggestion
					if i < len(got.Suggestions) {
						g = got.Suggestions[i]
					}
					t.Fatalf("seed %d round %d (%d records): rule %d:\n got %+v\nwant %+v", seed, round, n, i, g, want.Suggestions[i])
				}
			}
		}
		rules := float64(len(eng.Rules()))
		t.Logf("seed %d: %d rules; %.0f judged over 79 incremental rounds (%.1f%%), %d of them for their port verdicts", seed, len(eng.Rules()), judged, 100*judged/(79*rules), extra)
		if extra == 0 {
			t.Errorf("seed %d: no rule was judged again for its port verdicts: the test does not exercise them", seed)
		}
		if judged >= 79*rules/2 {
			t.Errorf("seed %d: %.0f rules judged over 79 rounds of %.0f rules: not incremental", seed, judged, rules)
		}
		d.ln.Close()
	}
}

// BenchmarkEvaluate measures one evaluation of ~12,000 rules after 200 new
// records, judging only the changed rules or, for comparison, all of them.
func BenchmarkEvaluate(b *testing.B) {
	for _, mode := range []string{"incremental", "full"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			acct := simulate.NewAccount(simulate.Config{Seed: 3, Apps: 1000, ENIsPerTier: 2, InternetClients: 2000, AccountID: "123456789012"})
			sc := &scenario{dir: dir, acct: acct}
			sc.writeInventory(b)
			cfg := sc.config(nil, dir, "")
			cfg.Kafka = nil
			d, err := New(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), OpenReads: true})
			if err != nil {
				b.Fatal(err)
			}
			defer d.ln.Close()
			s := newShard("t/0", d.eng, d.scfg, 3600)
			d.shards[s.key] = s
			tr := acct.Traffic(1, time.Now().Add(-time.Hour))
			p := flowlog.NewParser(flowlog.MustParseFormat(simulate.RichFormat))
			var rec flowlog.Record
			feed := func(n int) {
				s.mu.Lock()
				defer s.mu.Unlock()
				for range n {
					f := tr.Next()
					if err := p.Parse(simulate.AppendLine(nil, &f, p.Format()), &rec); err != nil {
						b.Fatal(err)
					}
					s.observe(&rec)
				}
			}
			feed(300000)
			d.evaluate()
			// CPU time (user + system, every thread: GC included) tells less
			// of a shared machine's load than the wall clock does.
			var cpu time.Duration
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				feed(200)
				if mode == "full" {
					d.lastEval = time.Time{}
				}
				c0 := cpuTime(b)
				b.StartTimer()
				d.evaluate()
				b.StopTimer()
				cpu += cpuTime(b) - c0
				b.StartTimer()
			}
			b.ReportMetric(float64(len(d.eng.Rules())), "rules")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

// cpuTime returns the CPU time the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
