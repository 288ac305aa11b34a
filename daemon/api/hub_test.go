package api

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/daemon/metrics"
)

var t0 = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func sug(group, id string, port int32, verdict string, flows uint64) advisor.Suggestion {
	rule := advisor.RuleSpec{Protocol: "tcp", FromPort: port, ToPort: port, Source: "0.0.0.0/0"}
	s := advisor.Suggestion{GroupID: group, RuleID: id, Direction: "ingress", Rule: rule,
		Verdict: verdict, Evidence: advisor.Evidence{Flows: flows}}
	switch verdict {
	case advisor.VerdictKeep:
		s.Reasons, s.Proposed = []string{advisor.ReasonInUse}, []advisor.RuleSpec{rule}
	case advisor.VerdictRemove:
		s.Reasons, s.Proposed = []string{advisor.ReasonNoTraffic}, []advisor.RuleSpec{}
	case advisor.VerdictNarrow:
		n := rule
		n.Source = "203.0.113.7/32"
		s.Reasons, s.Proposed = []string{advisor.ReasonFewSources}, []advisor.RuleSpec{n}
	}
	return s
}

func report(s ...advisor.Suggestion) (advisor.Report, []string) {
	keys := make([]string, len(s))
	for i := range s {
		keys[i] = RuleKey(s[i])
	}
	return advisor.Report{Window: advisor.Window{From: t0.Add(-time.Hour), To: t0}, Suggestions: s}, keys
}

func TestHubUpdateDiff(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	h := NewHub(100, WithMetrics(m))
	a := sug("sg-1", "sgr-a", 22, advisor.VerdictNarrow, 10)
	b := sug("sg-1", "sgr-b", 443, advisor.VerdictKeep, 500)
	rep, keys := report(a, b)

	evs := h.Update(rep, keys, t0)
	if len(evs) != 2 {
		t.Fatalf("first update: %d events, want 2", len(evs))
	}
	for i, ev := range evs {
		if ev.Type != EventVerdictChanged || ev.Version != uint64(i+1) || ev.Previous != nil || ev.RuleKey != keys[i] || !ev.Time.Equal(t0) {
			t.Errorf("event %d = %+v", i, ev)
		}
	}

	// Unchanged: nothing is published.
	if evs := h.Update(rep, keys, t0.Add(time.Second)); len(evs) != 0 {
		t.Errorf("unchanged update published %d events", len(evs))
	}
	// Evidence only: state changes silently.
	a2 := a
	a2.Evidence.Flows = 11
	rep, keys = report(a2, b)
	if evs := h.Update(rep, keys, t0.Add(2*time.Second)); len(evs) != 0 {
		t.Errorf("evidence-only update published %d events", len(evs))
	}
	if got, _ := h.Suggestion(keys[0]); got.Evidence.Flows != 11 {
		t.Errorf("evidence not updated: %+v", got.Evidence)
	}
	if _, v := h.Report(); v != 2 {
		t.Errorf("version after silent updates = %d, want 2", v)
	}

	// Verdict change: one event carrying the previous suggestion.
	a3 := sug("sg-1", "sgr-a", 22, advisor.VerdictKeep, 900)
	rep, keys = report(a3, b)
	evs = h.Update(rep, keys, t0.Add(3*time.Second))
	if len(evs) != 1 {
		t.Fatalf("verdict change: %d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Version != 3 || ev.RuleKey != keys[0] || ev.Suggestion.Verdict != advisor.VerdictKeep ||
		ev.Previous == nil || ev.Previous.Verdict != advisor.VerdictNarrow || ev.Previous.Evidence.Flows != 11 {
		t.Errorf("verdict-changed event = %+v", ev)
	}

	// A reason change alone is significant too.
	b2 := b
	b2.Reasons = []string{advisor.ReasonInUse, advisor.ReasonEnoughSources}
	rep, keys = report(a3, b2)
	if evs := h.Update(rep, keys, t0.Add(4*time.Second)); len(evs) != 1 || evs[0].RuleKey != keys[1] {
		t.Errorf("reasons change: %+v", evs)
	}

	// Removal.
	rep, keys = report(b2)
	evs = h.Update(rep, keys, t0.Add(5*time.Second))
	if len(evs) != 1 || evs[0].Type != EventRuleRemoved || evs[0].RuleKey != RuleKey(a3) || evs[0].Version != 5 {
		t.Fatalf("removal events = %+v", evs)
	}
	if _, ok := h.Suggestion(RuleKey(a3)); ok {
		t.Error("removed rule still found")
	}
	if _, ok := h.Suggestion("sgr-a"); ok {
		t.Error("removed rule still found by id")
	}
	if s, ok := h.Suggestion("sgr-b"); !ok || s.RuleID != "sgr-b" {
		t.Errorf("lookup by rule id: %v %+v", ok, s)
	}
	got, v := h.Report()
	if v != 5 || len(got.Suggestions) != 1 || got.Window.To != t0 {
		t.Errorf("report = %+v at %d", got, v)
	}
	if n := testutil.ToFloat64(m.Events.WithLabelValues(EventVerdictChanged)); n != 4 {
		t.Errorf("verdict-changed counter = %v, want 4", n)
	}
	if n := testutil.ToFloat64(m.Events.WithLabelValues(EventRuleRemoved)); n != 1 {
		t.Errorf("rule-removed counter = %v, want 1", n)
	}
}

func TestHubReportIsACopy(t *testing.T) {
	h := NewHub(10)
	rep, keys := report(sug("sg-1", "sgr-a", 22, advisor.VerdictKeep, 1))
	h.Update(rep, keys, t0)
	got, _ := h.Report()
	got.Suggestions[0].Verdict = "mutated"
	if s, _ := h.Suggestion(keys[0]); s.Verdict != advisor.VerdictKeep {
		t.Error("caller mutated the hub's state")
	}
	if again, _ := h.Report(); again.Suggestions[0].Verdict != advisor.VerdictKeep {
		t.Error("caller mutated the hub's report")
	}
}

func TestHubPublish(t *testing.T) {
	h := NewHub(10)
	rep, keys := report(sug("sg-1", "sgr-a", 22, advisor.VerdictKeep, 1))
	h.Update(rep, keys, t0)
	ev := h.Publish(Event{Type: EventRuleStoppedMatching, RuleKey: keys[0], Version: 999})
	if ev.Version != 2 {
		t.Errorf("version = %d, want 2 (assigned by the hub)", ev.Version)
	}
	if ev.Time.IsZero() {
		t.Error("time not set")
	}
	if ev.Suggestion == nil || ev.Suggestion.RuleID != "sgr-a" {
		t.Errorf("suggestion not attached: %+v", ev.Suggestion)
	}
	at := t0.Add(time.Minute)
	if ev := h.Publish(Event{Type: EventRuleResumed, RuleKey: keys[0], Time: at}); !ev.Time.Equal(at) || ev.Version != 3 {
		t.Errorf("resumed event = %+v", ev)
	}
}

func TestHubSubscribe(t *testing.T) {
	h := NewHub(3)
	// Empty hub: a snapshot at version 0.
	evs, snap, _, cancel := h.Subscribe(0)
	cancel()
	cancel() // idempotent
	if !snap || len(evs) != 1 || evs[0].Type != EventSnapshot || evs[0].Version != 0 || evs[0].Snapshot == nil {
		t.Fatalf("empty hub subscribe = %+v %v", evs, snap)
	}
	if evs[0].Snapshot.Suggestions == nil {
		t.Error("snapshot suggestions are nil, want [] in JSON")
	}

	for i := range 5 { // versions 1..5; history keeps 3..5
		h.Publish(Event{Type: EventReview, RuleKey: fmt.Sprint("k", i)})
	}
	cases := []struct {
		since    uint64
		snapshot bool
		first    uint64
		n        int
	}{
		{0, true, 5, 1},  // fresh client
		{1, true, 5, 1},  // missed event 2, which is gone
		{2, false, 3, 3}, // all missed events are kept
		{4, false, 5, 1},
		{5, false, 0, 0}, // up to date
		{9, true, 5, 1},  // from the future (the daemon restarted)
	}
	for _, c := range cases {
		evs, snap, _, cancel := h.Subscribe(c.since)
		cancel()
		if snap != c.snapshot || len(evs) != c.n || (c.n > 0 && evs[0].Version != c.first) {
			t.Errorf("Subscribe(%d) = %d events (first %+v), snapshot %v; want %d from %d, snapshot %v",
				c.since, len(evs), evs, snap, c.n, c.first, c.snapshot)
		}
		if snap && evs[0].Type != EventSnapshot {
			t.Errorf("Subscribe(%d): first event %q", c.since, evs[0].Type)
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].Version != evs[i-1].Version+1 {
				t.Errorf("Subscribe(%d): versions not consecutive: %d after %d", c.since, evs[i].Version, evs[i-1].Version)
			}
		}
	}

	// Later events arrive on the channel; cancel closes it.
	_, _, ch, cancel := h.Subscribe(5)
	h.Publish(Event{Type: EventReview})
	if ev := <-ch; ev.Version != 6 {
		t.Errorf("live event version %d, want 6", ev.Version)
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
	if n := h.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after cancel", n)
	}
}

func TestHubSlowSubscriberDoesNotBlock(t *testing.T) {
	h := NewHub(1) // buffer: minSubscriberBuffer
	_, _, slow, cancelSlow := h.Subscribe(0)
	defer cancelSlow()
	_, _, fast, cancelFast := h.Subscribe(0)
	defer cancelFast()

	const updates = 500
	var got []uint64
	ack := make(chan struct{})
	go func() {
		for ev := range fast {
			got = append(got, ev.Version)
			ack <- struct{}{}
		}
	}()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range updates {
			verdict := advisor.VerdictKeep
			if i%2 == 1 {
				verdict = advisor.VerdictRemove
			}
			rep, keys := report(sug("sg-1", "sgr-a", 22, verdict, uint64(i)))
			h.Update(rep, keys, t0.Add(time.Duration(i)*time.Second))
			<-ack // the fast subscriber keeps up; the slow one never reads
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Update blocked on a slow subscriber")
	}

	n := 0
	for range slow { // drained then closed
		n++
	}
	// The queue's events and the one the pump holds.
	if n != minSubscriberBuffer+1 {
		t.Errorf("slow subscriber got %d events before being dropped, want %d", n, minSubscriberBuffer+1)
	}
	if len(got) != updates {
		t.Fatalf("fast subscriber got %d events, want %d", len(got), updates)
	}
	for i, v := range got {
		if v != uint64(i+1) {
			t.Fatalf("fast subscriber event %d has version %d", i, v)
		}
	}
}

func TestHubConcurrentUse(t *testing.T) {
	h := NewHub(50)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _, ch, cancel := h.Subscribe(h.Version())
				h.Report()
				h.Suggestion("sgr-a")
				select {
				case <-ch:
				default:
				}
				cancel()
			}
		})
	}
	for i := range 200 {
		verdict := advisor.VerdictKeep
		if i%3 == 0 {
			verdict = advisor.VerdictNarrow
		}
		rep, keys := report(sug("sg-1", "sgr-a", 22, verdict, uint64(i)), sug("sg-2", "sgr-b", 80, advisor.VerdictKeep, 1))
		h.Update(rep, keys, t0)
		h.Publish(Event{Type: EventReview})
	}
	close(stop)
	wg.Wait()
}

func TestRuleKeyFallback(t *testing.T) {
	h := NewHub(10)
	s := sug("sg-1", "", 22, advisor.VerdictKeep, 1)
	h.Update(advisor.Report{Suggestions: []advisor.Suggestion{s}}, nil, t0)
	want := "sg-1|ingress|tcp|22-22|0.0.0.0/0"
	if RuleKey(s) != want {
		t.Errorf("RuleKey = %q, want %q", RuleKey(s), want)
	}
	if _, ok := h.Suggestion(want); !ok {
		t.Error("suggestion without key not stored under RuleKey")
	}
}

func TestHubDuplicateKeys(t *testing.T) {
	h := NewHub(10)
	a := sug("sg-1", "sgr-a", 22, advisor.VerdictKeep, 1)
	h.Update(advisor.Report{Suggestions: []advisor.Suggestion{a}}, []string{"k"}, t0)
	b := sug("sg-1", "sgr-b", 23, advisor.VerdictRemove, 0)
	c := sug("sg-1", "sgr-c", 24, advisor.VerdictRemove, 0)
	evs := h.Update(advisor.Report{Suggestions: []advisor.Suggestion{b, a, c}}, []string{"x", "k", "k"}, t0)
	if len(evs) != 2 || evs[0].RuleKey != "x" || evs[1].RuleKey != "k" || evs[1].Suggestion.RuleID != "sgr-c" {
		t.Errorf("events = %+v", evs)
	}
	if s, _ := h.Suggestion("k"); s.RuleID != "sgr-c" {
		t.Errorf("duplicate key resolves to %s, want the last (sgr-c)", s.RuleID)
	}
}

func BenchmarkHubUpdate(b *testing.B) {
	const rules = 5000
	sugs := make([]advisor.Suggestion, rules)
	for i := range sugs {
		sugs[i] = sug(fmt.Sprintf("sg-%d", i/10), fmt.Sprintf("sgr-%d", i), int32(i%65535), advisor.VerdictKeep, uint64(i))
	}
	rep, keys := report(sugs...)
	h := NewHub(DefaultHistory)
	h.Update(rep, keys, t0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// One rule changes verdict per update, the rest only evidence.
		j := i % rules
		old := sugs[j]
		sugs[j] = sug(old.GroupID, old.RuleID, old.Rule.FromPort, advisor.VerdictRemove, uint64(i))
		h.Update(rep, keys, t0)
		sugs[j] = old
	}
}
