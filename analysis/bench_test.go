package analysis

import (
	"bytes"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// loadAccount loads a simulated account through the AWS CLI JSON loaders.
func loadAccount(tb testing.TB, a *simulate.Account) *inventory.Inventory {
	tb.Helper()
	inv, err := a.Inventory()
	if err != nil {
		tb.Fatal(err)
	}
	return inv
}

func splitLines(buf []byte) [][]byte {
	var out [][]byte
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		out = append(out, buf[:i])
		buf = buf[i+1:]
	}
	return out
}

func benchAnalyze(b *testing.B, fm *flowlog.Format) {
	cfg := simulate.DefaultConfig()
	cfg.Apps, cfg.InternetClients = 20, 2000
	acct := simulate.NewAccount(cfg)
	inv := loadAccount(b, acct)
	lines := splitLines(acct.Traffic(1, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)).Lines(200_000, fm))
	eng := NewEngine(inv)
	acc := NewAccumulator(eng, sketch.DefaultConfig())
	p := flowlog.NewParser(fm)
	var rec flowlog.Record
	// Warm the sketches so the loop measures the steady state.
	for _, l := range lines {
		if p.Parse(l, &rec) == nil {
			acc.Observe(&rec)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Parse(lines[i%len(lines)], &rec); err == nil {
			acc.Observe(&rec)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAnalyzeDefault: parse + attribute + sketch update, default format.
func BenchmarkAnalyzeDefault(b *testing.B) { benchAnalyze(b, flowlog.DefaultFormat()) }

// BenchmarkAnalyzeRich: the same with the 20-field v5 format (tcp-flags, pkt-*, flow-direction).
func BenchmarkAnalyzeRich(b *testing.B) {
	benchAnalyze(b, flowlog.MustParseFormat(simulate.RichFormat))
}

// BenchmarkAdvisor10kRules judges an account of about 10,000 rules.
func BenchmarkAdvisor10kRules(b *testing.B) {
	cfg := simulate.DefaultConfig()
	cfg.Apps, cfg.ENIsPerTier, cfg.InternetClients = 770, 1, 300
	acct := simulate.NewAccount(cfg)
	inv := loadAccount(b, acct)
	eng := NewEngine(inv)
	acc := NewAccumulator(eng, sketch.DefaultConfig())
	fm := flowlog.DefaultFormat()
	p := flowlog.NewParser(fm)
	var rec flowlog.Record
	for _, l := range splitLines(acct.Traffic(1, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)).Lines(1_000_000, fm)) {
		if p.Parse(l, &rec) == nil {
			acc.Observe(&rec)
		}
	}
	b.ReportMetric(float64(len(eng.Rules())), "rules")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep := acc.Report(advisor.DefaultConfig())
		if len(rep.Suggestions) != len(eng.Rules()) {
			b.Fatal("missing suggestions")
		}
	}
}

func TestAnalyzeZeroAllocsSteadyState(t *testing.T) {
	acct := simulate.NewAccount(simulate.DefaultConfig())
	inv := loadAccount(t, acct)
	fm := flowlog.MustParseFormat(simulate.RichFormat)
	lines := splitLines(acct.Traffic(1, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)).Lines(20_000, fm))
	acc := NewAccumulator(NewEngine(inv), sketch.DefaultConfig())
	p := flowlog.NewParser(fm)
	var rec flowlog.Record
	for range 3 {
		for _, l := range lines {
			if p.Parse(l, &rec) == nil {
				acc.Observe(&rec)
			}
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		if p.Parse(lines[i%len(lines)], &rec) == nil {
			acc.Observe(&rec)
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("parse+attribute+sketch allocates %.2f per record once warm", allocs)
	}
}

// BenchmarkMemory100kRules reports the sketch memory of an account of about
// 100,000 rules after 3 million records, uncertain parts included, and the
// port evidence's (run with -benchtime 1x).
func BenchmarkMemory100kRules(b *testing.B) {
	cfg := simulate.DefaultConfig()
	cfg.Apps, cfg.ENIsPerTier, cfg.InternetClients = 8334, 1, 500
	acct := simulate.NewAccount(cfg)
	inv := loadAccount(b, acct)
	eng := NewEngine(inv)
	for _, bc := range []struct {
		name string
		cfg  sketch.Config
	}{{"untimed", sketch.DefaultConfig()}, {"window-1d-slots", sketch.Config{Slot: 86400}}} {
		b.Run(bc.name, func(b *testing.B) { memory100kRules(b, acct, eng, bc.cfg) })
	}
}

func memory100kRules(b *testing.B, acct *simulate.Account, eng *Engine, scfg sketch.Config) {
	fm := flowlog.DefaultFormat()
	p := flowlog.NewParser(fm)
	tr := acct.Traffic(1, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	for i := 0; i < b.N; i++ {
		acc := NewAccumulator(eng, scfg)
		var rec flowlog.Record
		for range 30 {
			for _, l := range splitLines(tr.Lines(100_000, fm)) {
				if p.Parse(l, &rec) == nil {
					acc.Observe(&rec)
				}
			}
		}
		total, used := 0, 0
		for r := range eng.Rules() {
			if sk := acc.Rule(r).Sketch; sk != nil {
				total += sk.MemSize()
				used++
			}
			for _, up := range acc.Rule(r).Uncertain {
				total += up.Sketch.MemSize()
			}
		}
		evBytes, evENIs := acc.EvidenceBytes()
		b.ReportMetric(float64(evBytes)/(1<<20), "MiB-evidence")
		b.ReportMetric(float64(evBytes)/float64(max(evENIs, 1)), "evidence-bytes/interface")
		b.ReportMetric(float64(len(eng.Rules())), "rules")
		b.ReportMetric(float64(used), "rules-with-traffic")
		b.ReportMetric(float64(total)/float64(max(used, 1)), "bytes/rule")
		b.ReportMetric(float64(total)/(1<<20), "MiB-total")
	}
}
