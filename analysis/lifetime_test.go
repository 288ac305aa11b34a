package analysis

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
)

// lifetimeInventory: group sg-web, logged all along, whose rule tcp/22 from
// anywhere was replaced at t2 by tcp/22 from one address (as `cinch apply`
// does); tcp/443 from anywhere is in both versions and never used.
func lifetimeInventory(t2 int64) *inventory.Inventory {
	inv := inventory.New()
	wide := rule("sg-web", 6, 22, 22, cidrSrc("0.0.0.0/0"))
	narrow := rule("sg-web", 6, 22, 22, cidrSrc("198.51.100.9/32"))
	https := rule("sg-web", 6, 443, 443, cidrSrc("0.0.0.0/0"))
	added := rule("sg-web", 6, 8443, 8443, cidrSrc("0.0.0.0/0")) // new at t2, never used
	inv.AddGroup(inventory.Group{ID: "sg-web", VPCID: "vpc-1", Rules: []inventory.Rule{wide, https}})
	inv.AddGroup(inventory.Group{ID: "sg-web", VPCID: "vpc-1", Rules: []inventory.Rule{narrow, https, added}, Valid: inventory.Interval{From: time.Unix(t2, 0)}})
	inv.AddENI(inventory.ENI{ID: "eni-web", VPCID: "vpc-1", Groups: []string{"sg-web"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.5")}})
	inv.AddFlowLog(inventory.FlowLog{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "ALL", Created: time.Unix(1_600_000_000, 0)})
	return inv
}

// sshLines are SSH sessions opened by 198.51.100.9, one every 10 minutes
// from t0 for n sessions.
func sshLines(t0 int64, n int) []string {
	var out []string
	for i := range n {
		s := t0 + int64(i)*600
		out = append(out, fmt.Sprintf("3 1 eni-web 198.51.100.9 10.0.1.5 %d 22 6 10 840 %d %d ACCEPT OK 2", 40000+i, s, s+60))
	}
	return out
}

// TestRuleLifetime: a rule is judged only over the time it existed, and a
// rule that no longer exists is not proposed.
//   - A rule created after the last record seen has no evidence at all: it is
//     kept (new-rule, low confidence), never removed for "no traffic" — the
//     traffic that the rule it replaced let in was seen before it existed.
//   - A rule created within the window is judged over its own lifetime: shorter
//     than the minimum history, its verdict has low confidence.
//   - The rule it replaced is gone from the account: no proposal for it.
func TestRuleLifetime(t *testing.T) {
	const t0 = 1_700_000_000
	lines := sshLines(t0, 48) // 8 hours
	end := int64(t0 + 47*600 + 60)

	// Replaced after the last record.
	acc := observeLines(t, lifetimeInventory(end+3600), flagsFormat, lines...)
	by := suggestionsByKey(acc)
	if s, ok := by["sg-web|ingress|6|22|22|198.51.100.9/32"]; !ok || s.Verdict != advisor.VerdictKeep ||
		!slices.Equal(s.Reasons, []string{advisor.ReasonNewRule}) || s.Confidence != advisor.ConfidenceLow {
		t.Errorf("a rule newer than every record: %+v (in report: %v)", s, ok)
	}
	if s, ok := by["sg-web|ingress|6|22|22|0.0.0.0/0"]; ok {
		t.Errorf("the replaced rule is still proposed: %+v", s)
	}
	if s := by["sg-web|ingress|6|443|443|0.0.0.0/0"]; s.Verdict != advisor.VerdictRemove || s.Confidence != advisor.ConfidenceHigh {
		t.Errorf("the unused rule present all along: %+v", s)
	}
	if s := by["sg-web|ingress|6|8443|8443|0.0.0.0/0"]; s.Verdict != advisor.VerdictKeep || !slices.Equal(s.Reasons, []string{advisor.ReasonNewRule}) {
		t.Errorf("an unused rule newer than every record: %+v", s)
	}

	// Replaced 2 hours before the last record: the narrow rule carries the
	// sessions since, over a lifetime shorter than a minimum history of 3 h.
	acc = observeLines(t, lifetimeInventory(end-2*3600), flagsFormat, lines...)
	cfg := advisor.DefaultConfig()
	cfg.MinHistory = 3 * time.Hour
	rep, keys := acc.ReportKeys(cfg)
	for i, k := range keys {
		s := rep.Suggestions[i]
		switch k {
		case "sg-web|ingress|6|22|22|198.51.100.9/32":
			if s.Verdict != advisor.VerdictKeep || s.Evidence.Flows != 12 || s.Confidence != advisor.ConfidenceLow ||
				!slices.Contains(s.Reasons, advisor.ReasonShortHistory) {
				t.Errorf("a rule 2 h old, minimum history 3 h: %+v", s)
			}
		case "sg-web|ingress|6|443|443|0.0.0.0/0":
			if s.Verdict != advisor.VerdictRemove || s.Confidence != advisor.ConfidenceHigh {
				t.Errorf("the unused rule present all along (8 h observed): %+v", s)
			}
		case "sg-web|ingress|6|8443|8443|0.0.0.0/0":
			// Unused for 2 h of a 3 h minimum history: not removed.
			if s.Verdict != advisor.VerdictKeep || !slices.Equal(s.Reasons, []string{advisor.ReasonNewRule}) || s.Confidence != advisor.ConfidenceLow {
				t.Errorf("a rule unused over its 2 h: %+v", s)
			}
		case "sg-web|ingress|6|22|22|0.0.0.0/0":
			t.Errorf("the replaced rule is still proposed: %+v", s)
		}
	}
	// With a minimum history shorter than its life, the unused new rule is
	// judged like any other.
	cfg.MinHistory = time.Hour
	rep, keys = acc.ReportKeys(cfg)
	if i := slices.Index(keys, "sg-web|ingress|6|8443|8443|0.0.0.0/0"); i < 0 || rep.Suggestions[i].Verdict != advisor.VerdictRemove ||
		rep.Suggestions[i].Confidence != advisor.ConfidenceHigh {
		t.Errorf("a rule unused over its 2 h, minimum history 1 h: %+v", rep.Suggestions[max(i, 0)])
	}
	if len(keys) != 3 {
		t.Errorf("report keys %v, want the three rules of the current version", keys)
	}
}

// TestMarkPartial: input known to have missed records over a time (Live
// Tail's sampling, a gap between its sessions) lowers the confidence of the
// groups whose interfaces it covers (partial-logging), survives a snapshot
// and a merge, leaves the window of records alone, and marks of another time
// change nothing.
func TestMarkPartial(t *testing.T) {
	const t0 = 1_700_000_000
	lines := sshLines(t0, 48)
	end := int64(t0 + 47*600 + 60)
	inv := lifetimeInventory(end + 3600)
	plain := suggestionsByKey(observeLines(t, inv, flagsFormat, lines...))
	key := "sg-web|ingress|6|443|443|0.0.0.0/0"
	if s := plain[key]; s.Verdict != advisor.VerdictRemove || s.Confidence != advisor.ConfidenceHigh {
		t.Fatalf("unmarked: %+v", plain[key])
	}

	// A mark after the records' window: nothing changes.
	acc := observeLines(t, inv, flagsFormat, lines...)
	acc.MarkPartial(end+7200, end+7800)
	if s := suggestionsByKey(acc)[key]; s.Confidence != advisor.ConfidenceHigh || acc.Coverage().From != t0 {
		t.Errorf("a mark outside the window: %+v, window from %d", s, acc.Coverage().From)
	}

	// A mark inside: low confidence, in this accumulator, after a
	// snapshot, and in another one it is merged into.
	acc.MarkPartial(t0+3600, t0+4200)
	snap, err := acc.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := NewAccumulator(acc.Engine(), sketch.DefaultConfig())
	if _, err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	other := NewAccumulator(acc.Engine(), sketch.DefaultConfig()) // no records, only the merge
	if err := other.Merge(restored); err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]*Accumulator{"marked": acc, "restored": restored, "merged": other} {
		s := suggestionsByKey(a)[key]
		if s.Verdict != advisor.VerdictRemove || s.Confidence != advisor.ConfidenceLow || !slices.Contains(s.Reasons, advisor.ReasonPartialLogging) {
			t.Errorf("%s: %+v", name, s)
		}
		if ifs := a.ObservedInterfaces(); !slices.Equal(ifs, []string{"eni-web"}) {
			t.Errorf("%s: observed interfaces %v", name, ifs)
		}
	}
	// Marks age out with the window.
	acc.ExpireObservations(end + 8000)
	if o := acc.Observation(allInterfaces); o != nil {
		t.Errorf("mark outlived the window: %+v", o)
	}
}
