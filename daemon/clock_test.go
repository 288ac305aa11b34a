package daemon

import (
	"log/slog"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// replay feeds the scenario's records into one shard of d, spread evenly
// over span and ending at end, and evaluates. It returns the watermark.
func replay(t *testing.T, d *Daemon, sc *scenario, end time.Time, span time.Duration) int64 {
	t.Helper()
	s := d.newShard("file:/replay", d.eng, 3600)
	d.mu.Lock()
	d.shards[s.key] = s
	d.mu.Unlock()
	p := flowlog.NewParser(richFormat)
	var rec flowlog.Record
	from := end.Add(-span).Unix()
	n := int64(len(sc.lines))
	s.mu.Lock()
	for i, l := range sc.lines {
		if err := p.Parse(l, &rec); err != nil {
			t.Fatal(err)
		}
		dur := rec.End - rec.Start
		rec.Start = from + int64(i)*int64(span.Seconds())/n
		rec.End = rec.Start + dur
		s.observe(&rec)
	}
	wm := s.watermark
	s.mu.Unlock()
	d.evaluate()
	return wm
}

func newTestDaemon(t *testing.T, sc *scenario, window time.Duration) *Daemon {
	t.Helper()
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Analysis.Window = config.Duration(window)
	d, err := New(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), OpenReads: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.ln.Close() })
	d.ready.Store(nil) // Run is not called: ready apart from what a test makes it not
	return d
}

func flowsKept(d *Daemon) (flows uint64) {
	rep, _ := d.hub.Report()
	for _, s := range rep.Suggestions {
		flows += s.Evidence.Flows
	}
	return flows
}

// The window is measured on the event-time clock (the records' own times),
// never on the wall clock: traffic of a year ago spread over a week is kept
// whole by every window longer than a week, and a longer window never keeps
// less (issue 7, finding 3: 370d kept only the last days where 30d and 400d
// kept all).
func TestLongerWindowNeverKeepsLess(t *testing.T) {
	sc := newScenario(t, 4000, 71)
	end := time.Now().Add(-366 * 24 * time.Hour)
	var prev uint64
	for i, w := range []time.Duration{2 * 24 * time.Hour, 30 * 24 * time.Hour, 370 * 24 * time.Hour, 400 * 24 * time.Hour} {
		d := newTestDaemon(t, sc, w)
		replay(t, d, sc, end, 7*24*time.Hour)
		got := flowsKept(d)
		switch {
		case i == 0 && got == 0:
			t.Fatalf("window %v kept nothing", w)
		case i == 1 && got <= prev:
			t.Fatalf("window %v kept %d flows, no more than the 2-day window's %d", w, got, prev)
		case i > 1 && got != prev:
			t.Fatalf("window %v kept %d flows, the 30-day window %d: a week of traffic must be kept whole", w, got, prev)
		}
		prev = got
	}
}

// Replaying old traffic (as `cinch generate` writes it) flags as stopped
// matching only the rules silent for stopped_matching_after before the
// newest record, not every used rule (issue 7, finding 3).
func TestReplayStoppedMatchingOnEventTime(t *testing.T) {
	sc := newScenario(t, 6000, 73)
	d := newTestDaemon(t, sc, 30*24*time.Hour)
	wm := replay(t, d, sc, time.Now().Add(-10*24*time.Hour), 3*24*time.Hour)
	after := int64(d.cfg.Analysis.StoppedMatchingAfter.Std().Seconds())
	used, stopped := 0, 0
	for i, key := range d.keys {
		last := d.lastSeen[i]
		if last == 0 {
			continue
		}
		used++
		want := wm-last > after
		if d.stopped[key] != want {
			t.Errorf("rule %s last seen %ds before the watermark: stopped %v, want %v", key, wm-last, d.stopped[key], want)
		}
		if want {
			stopped++
		}
	}
	if used == 0 || stopped == used {
		t.Fatalf("%d of %d used rules flagged stopped: the clock is not the records' time", stopped, used)
	}
}
