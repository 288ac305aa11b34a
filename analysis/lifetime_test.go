package analysis

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
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

// TestSafetyRuleLifetimes: a group whose rules change several times (rules
// added, revoked, replaced — as people and `cinch apply` do), random SSH,
// HTTPS and 8080 sessions, each accepted only when a rule in force at its
// time allows it, and a random minimum history. Then, for every suggestion:
//   - its rule is in the group's current version (a revoked rule gets none);
//   - every accepted session that a current rule allowed, at a time the rule
//     already was in force continuously until now, is still allowed by that
//     rule's proposal;
//   - a rule that came into the group after the last record is kept
//     (new-rule), and so is one unused over a lifetime shorter than the
//     minimum history.
func TestSafetyRuleLifetimes(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 11))
	const t0 = 1_700_000_000
	const span = 3 * 86400
	ports := []int32{22, 443, 8080}
	sources := []string{"0.0.0.0/0", "10.0.0.0/8", "198.51.100.0/24", "198.51.100.9/32"}
	clients := []string{"198.51.100.9", "198.51.100.77", "10.2.3.4", "203.0.113.5"}
	checked, proposals := 0, 0
	for iter := range 300 {
		// Versions: the first since ever, then 1 to 3 changes at random times
		// (some after the last session).
		type version struct {
			from  int64 // 0: since ever
			rules []inventory.Rule
		}
		var vs []version
		nv := 1 + r.IntN(4)
		times := []int64{0}
		for range nv - 1 {
			times = append(times, t0+r.Int64N(span+86400))
		}
		slices.Sort(times)
		for _, from := range times {
			var rules []inventory.Rule
			for _, p := range ports {
				for _, s := range sources {
					if r.IntN(4) == 0 {
						rules = append(rules, rule("sg-web", 6, p, p, cidrSrc(s)))
					}
				}
			}
			vs = append(vs, version{from, rules})
		}
		inv := inventory.New()
		for _, v := range vs {
			g := inventory.Group{ID: "sg-web", VPCID: "vpc-1", Rules: v.rules}
			if v.from != 0 {
				g.Valid.From = time.Unix(v.from, 0)
			}
			inv.AddGroup(g)
		}
		inv.AddENI(inventory.ENI{ID: "eni-web", VPCID: "vpc-1", Groups: []string{"sg-web"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.5")}})
		inv.AddFlowLog(inventory.FlowLog{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "ALL", Created: time.Unix(t0-86400, 0)})
		inForce := func(at int64) []inventory.Rule {
			var cur []inventory.Rule
			for _, v := range vs {
				if v.from <= at {
					cur = v.rules
				}
			}
			return cur
		}
		allows := func(rs []inventory.Rule, port int32, src netip.Addr) (inventory.Rule, bool) {
			for _, x := range rs {
				if x.FromPort <= port && port <= x.ToPort && x.Source.Prefix.Contains(src) {
					return x, true
				}
			}
			return inventory.Rule{}, false
		}
		// Sessions, and NODATA every 5 minutes so that the interface is
		// observed all along.
		type session struct {
			at   int64
			port int32
			src  netip.Addr
		}
		var lines []string
		var accepted []session
		var lastEnd int64 // the latest record end: observation ends there
		for s := int64(t0); s < t0+span; s += 300 {
			lines = append(lines, fmt.Sprintf("3 1 eni-web - - - - - - - %d %d - NODATA -", s, s+300))
			lastEnd = s + 300
		}
		for i := range 30 + r.IntN(100) {
			at := t0 + r.Int64N(span)
			port := ports[r.IntN(len(ports))]
			src := netip.MustParseAddr(clients[r.IntN(len(clients))])
			action := "REJECT"
			if _, ok := allows(inForce(at), port, src); ok {
				action = "ACCEPT"
				accepted = append(accepted, session{at, port, src})
			}
			lines = append(lines, fmt.Sprintf("3 1 eni-web %s 10.0.1.5 %d %d 6 10 840 %d %d %s OK 2", src, 40000+i, port, at, at+60, action))
		}
		acc := observeLines(t, inv, flagsFormat, lines...)
		cfg := advisor.DefaultConfig()
		cfg.MinHistory = []time.Duration{0, time.Hour, 86400 * time.Second, 10 * 86400 * time.Second}[r.IntN(4)]
		rep, keys := acc.ReportKeys(cfg)
		current := map[string]bool{}
		for _, x := range vs[len(vs)-1].rules {
			current[x.Key()] = true
		}
		// since: when each current rule's continuous presence began.
		since := map[string]int64{}
		for k := range current {
			since[k] = vs[len(vs)-1].from
			for i := len(vs) - 2; i >= 0; i-- {
				if !slices.ContainsFunc(vs[i].rules, func(x inventory.Rule) bool { return x.Key() == k }) {
					break
				}
				since[k] = vs[i].from
			}
		}
		for i, k := range keys {
			s := rep.Suggestions[i]
			if !current[k] {
				t.Fatalf("iter %d: suggestion for %s, not in the current version %v", iter, k, vs[len(vs)-1].rules)
			}
			if s.Proposes() {
				proposals++
			}
			if since[k] >= lastEnd && (s.Verdict != advisor.VerdictKeep || !slices.Contains(s.Reasons, advisor.ReasonNewRule)) {
				t.Fatalf("iter %d: %s came in at %d after the last record (%d): %+v", iter, k, since[k], lastEnd, s)
			}
			if since[k] > 0 && s.Verdict == advisor.VerdictRemove && slices.Contains(s.Reasons, advisor.ReasonNoTraffic) &&
				time.Duration(lastEnd-since[k])*time.Second < cfg.MinHistory {
				t.Fatalf("iter %d: %s removed for no traffic over %d s of life (minimum history %v): %+v", iter, k, lastEnd-since[k], cfg.MinHistory, s)
			}
		}
		// The group's rules after the proposals: keeps as they are, narrows
		// as proposed, removes gone.
		var after []advisor.RuleSpec
		for _, s := range rep.Suggestions {
			if s.Verdict == advisor.VerdictKeep {
				after = append(after, s.Rule)
			} else {
				after = append(after, s.Proposed...)
			}
		}
		for _, ses := range accepted {
			for k := range current {
				x, ok := allows([]inventory.Rule{findRule(vs[len(vs)-1].rules, k)}, ses.port, ses.src)
				if !ok || ses.at < since[k] {
					continue
				}
				checked++
				if !slices.ContainsFunc(after, func(p advisor.RuleSpec) bool { return p.Allows(6, uint16(ses.port), ses.src) }) {
					t.Fatalf("iter %d: session %+v allowed by %s (in force since %d) is blocked by the proposals %+v", iter, ses, x.Key(), since[k], rep.Suggestions)
				}
				break
			}
		}
	}
	if checked < 1000 || proposals < 100 {
		t.Fatalf("the generator checked too little: %d sessions, %d proposals", checked, proposals)
	}
	t.Logf("%d sessions checked against %d proposals", checked, proposals)
}

func findRule(rs []inventory.Rule, key string) inventory.Rule {
	for _, x := range rs {
		if x.Key() == key {
			return x
		}
	}
	return inventory.Rule{}
}

// TestWindowKeepsNoGroupsCount: records of an interface without security
// groups are counted per time slot like the others, so expiring an older
// slot keeps the newer slot's count (the slots' stats lacked NoGroups, and
// expiry rebuilt the total from them as 0).
func TestWindowKeepsNoGroupsCount(t *testing.T) {
	inv := inventory.New()
	inv.AddENI(inventory.ENI{ID: "eni-nat", VPCID: "vpc-1", Addrs: []netip.Addr{netip.MustParseAddr("10.0.9.9")}})
	cfg := sketch.DefaultConfig()
	cfg.Slot = 3600
	acc := NewAccumulator(NewEngine(inv), cfg)
	p := flowlog.NewParser(flagsFormat)
	for _, at := range []int64{1_700_000_000, 1_700_007_200} {
		var rec flowlog.Record
		if err := p.Parse([]byte(fmt.Sprintf("3 1 eni-nat 203.0.113.5 10.0.9.9 40000 443 6 10 840 %d %d ACCEPT OK 2", at, at+60)), &rec); err != nil {
			t.Fatal(err)
		}
		acc.Observe(&rec)
	}
	if st := acc.Stats(); st.NoGroups != 2 {
		t.Fatalf("NoGroups %d, want 2", st.NoGroups)
	}
	acc.Expire(1_700_003_600)
	if st := acc.Stats(); st.NoGroups != 1 || st.Records != 1 {
		t.Errorf("after expiring the first slot: %+v", st)
	}
}
