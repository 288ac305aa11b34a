package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
)

// A persisted hub restores its reviews (the last decision per rule, a torn
// last line skipped) and publishes versions above every version of the
// earlier run, even when that run ended without Close (a crash).
func TestHubPersist(t *testing.T) {
	dir := t.TempDir()
	h := NewHub(16)
	if _, err := h.Persist(dir); err != nil {
		t.Fatal(err)
	}
	rep := advisor.Report{Suggestions: []advisor.Suggestion{{GroupID: "sg-1", Verdict: advisor.VerdictKeep}, {GroupID: "sg-2", Verdict: advisor.VerdictRemove}}}
	h.Update(rep, []string{"a", "b"}, time.Now())
	for _, d := range []string{DecisionDeferred, DecisionAccepted} {
		if _, err := h.Review(Review{RuleKey: "a", Decision: d, By: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Review(Review{RuleKey: "b", Decision: DecisionRejected, By: "y"}); err != nil {
		t.Fatal(err)
	}
	last := h.Version()
	// A crash: no Close, and a review line cut short.
	f, err := os.OpenFile(filepath.Join(dir, ReviewsFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"rule_key":"a","decis`)
	f.Close()

	h2 := NewHub(16)
	skipped, err := h2.Persist(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if skipped != 1 {
		t.Errorf("skipped %d lines, want 1", skipped)
	}
	got := h2.Reviews()
	if len(got) != 2 || got[0].RuleKey != "a" || got[0].Decision != DecisionAccepted || got[1].Decision != DecisionRejected {
		t.Errorf("restored reviews %+v", got)
	}
	if v := h2.Version(); v <= last {
		t.Errorf("version %d after a restart, not above %d", v, last)
	}
	events, snap, _, cancel := h2.Subscribe(last)
	cancel()
	if !snap || len(events) != 1 || len(events[0].Reviews) != 2 {
		t.Errorf("resume from the earlier run: snapshot %v, %d events", snap, len(events))
	}
	ev := h2.Publish(Event{Type: EventRuleStoppedMatching, RuleKey: "a"})
	if ev.Version <= last+1 {
		t.Errorf("first event of the new run has version %d", ev.Version)
	}
	// The file was compacted: one line per rule.
	b, _ := os.ReadFile(filepath.Join(dir, ReviewsFile))
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("reviews file has %d lines after compaction, want 2", n)
	}
}
