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
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// Logging modes of an interface in TestSafetyCoverage.
const (
	modeLogged     = iota // a flow log (ALL or ACCEPT) since before the traffic
	modeRecords           // no configuration, but NODATA records all along
	modeUnlogged          // no flow log: none of its records exist
	modeLate              // a flow log created mid-window: earlier records do not exist
	modeRejectOnly        // a REJECT-only flow log: only its REJECT records exist
	numModes
)

// TestSafetyCoverage: with random inventories where some interfaces are
// unlogged, logged late or logged REJECT-only, (1) every accepted request
// the rules allowed — logged or not — is still allowed by the proposals of
// its interface's groups, and (2) no remove or narrow touches a group that
// an interface not observed all the window carried. Dropping the coverage
// check from the report makes it fail.
func TestSafetyCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 13))
	parser := flowlog.NewParser(richFormat)
	const t0 = 1_790_000_000
	lateAt := int64(t0 + 20_000)
	checked, hidden, proposals, notObserved := 0, 0, 0, 0
	evidenceErr := ""
	for iter := range 200 {
		w := randomWorld(r, 50+r.IntN(400))
		mode := map[string]int{}
		for _, e := range w.enis {
			m := r.IntN(numModes)
			mode[e.ID] = m
			switch m {
			case modeLogged:
				w.inv.AddFlowLog(inventory.FlowLog{ID: "fl-" + e.ID, ResourceID: e.ID, TrafficType: []string{"ALL", "ACCEPT"}[r.IntN(2)], Created: time.Unix(t0-86400, 0)})
			case modeLate:
				w.inv.AddFlowLog(inventory.FlowLog{ID: "fl-" + e.ID, ResourceID: e.ID, TrafficType: "ALL", Created: time.Unix(lateAt, 0)})
			case modeRejectOnly:
				w.inv.AddFlowLog(inventory.FlowLog{ID: "fl-" + e.ID, ResourceID: e.ID, TrafficType: "REJECT", Created: time.Unix(t0-86400, 0)})
			}
		}
		// The records the flow logs really wrote.
		var lines [][]byte
		logged := make([]bool, len(w.flows))
		for i, f := range w.flows {
			switch mode[f.ENI] {
			case modeUnlogged:
				continue
			case modeLate:
				if f.Start < lateAt {
					continue
				}
			case modeRejectOnly:
				if f.Accept {
					continue
				}
			}
			logged[i] = true
			lines = append(lines, w.records[i])
		}
		for _, e := range w.enis {
			m := mode[e.ID]
			if m != modeRecords && m != modeRejectOnly {
				continue
			}
			// NODATA records all along; for a REJECT-only interface,
			// rejected scans all along (which show nothing of accepted traffic).
			for ts := int64(t0 - 300); ts < t0+86400+600; ts += 300 + int64(r.IntN(250)) {
				f := simulate.Flow{AccountID: "123456789012", ENI: e.ID, VPC: "vpc-1", NoData: true, Start: ts, End: ts + 60}
				if m == modeRejectOnly {
					f.NoData, f.Src, f.Dst, f.Protocol, f.SrcPort, f.DstPort, f.Packets, f.Bytes, f.Ingress = false,
						netip.MustParseAddr("198.51.100.7"), e.Addrs[0], 6, 40000, 23, 1, 40, true
				}
				lines = append(lines, simulate.AppendLine(nil, &f, richFormat))
			}
		}
		// An interface the inventory lacks opens and closes the window, as
		// another log group's records would.
		for _, ts := range []int64{t0 - 300, t0 + 86400 + 300} {
			f := simulate.Flow{AccountID: "123456789012", ENI: "eni-anchor", VPC: "vpc-1", NoData: true, Start: ts, End: ts + 60}
			lines = append(lines, simulate.AppendLine(nil, &f, richFormat))
		}
		r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
		eng := NewEngine(w.inv)
		acc := NewAccumulator(eng, sketch.DefaultConfig())
		var rec flowlog.Record
		for _, l := range lines {
			if err := parser.Parse(l, &rec); err != nil {
				t.Fatal(err)
			}
			acc.Observe(&rec)
		}
		acfg := advisor.Config{WildcardThreshold: uint64(1 + r.IntN(20)), MaxCIDRs: 1 + r.IntN(4), MaxPortRanges: 1 + r.IntN(3), MinHistory: time.Hour}
		rep := acc.Report(acfg)

		// (2) Groups an unobserved interface carried get no proposal, and
		// the evidence names the interface.
		unobservedGroups := map[string][]string{}
		for _, e := range w.enis {
			if m := mode[e.ID]; m == modeUnlogged || m == modeLate || m == modeRejectOnly {
				for _, g := range e.Groups {
					unobservedGroups[g] = append(unobservedGroups[g], e.ID)
				}
			}
		}
		proposed := map[string][]advisor.RuleSpec{}
		for _, s := range rep.Suggestions {
			proposed[s.GroupID+"|"+s.Direction] = append(proposed[s.GroupID+"|"+s.Direction], s.Proposed...)
			un := unobservedGroups[s.GroupID]
			if len(un) > 0 && s.Proposes() {
				t.Fatalf("iter %d: %s %v proposed for group %s carried by unobserved %v (modes %v)", iter, s.Verdict, s.Rule, s.GroupID, un, mode)
			}
			if s.Evidence.Coverage == nil {
				evidenceErr = fmt.Sprintf("iter %d: %s: no coverage evidence", iter, s.GroupID)
				continue
			}
			if len(un) > 0 {
				if !slices.Contains(s.Reasons, advisor.ReasonNotObserved) {
					t.Fatalf("iter %d: group %s kept with reasons %v, want not-observed", iter, s.GroupID, s.Reasons)
				}
				slices.Sort(un)
				if !slices.Equal(s.Evidence.Coverage.Unobserved, slices.Compact(un)) {
					t.Fatalf("iter %d: group %s unobserved %v, want %v", iter, s.GroupID, s.Evidence.Coverage.Unobserved, un)
				}
				notObserved++
			} else if s.Proposes() {
				proposals++
				if len(s.Evidence.Coverage.Unobserved) != 0 {
					t.Fatalf("iter %d: %+v", iter, s)
				}
			}
		}

		// (1) Every accepted request the rules allowed, logged or not, stays allowed.
		for i, f := range w.flows {
			if !f.Accept {
				continue
			}
			if !w.initiator[i] {
				continue // return traffic needs no rule (the generator's truth, not a heuristic)
			}
			remote, dir := f.Src, "ingress"
			if !f.Ingress {
				remote, dir = f.Dst, "egress"
			}
			var e inventory.ENI
			for _, x := range w.enis {
				if x.ID == f.ENI {
					e = x
				}
			}
			before, after := false, false
			for _, gid := range e.Groups {
				for _, rule := range w.groups[gid].Rules {
					before = before || (rule.Direction() == dir && w.allows(rule, f.Protocol, f.DstPort, remote))
				}
				for _, p := range proposed[gid+"|"+dir] {
					after = after || w.specAllows(p, f.Protocol, f.DstPort, remote)
				}
			}
			if !before {
				continue
			}
			checked++
			if !logged[i] {
				hidden++
			}
			if !after {
				t.Fatalf("iter %d: request %d on %s (mode %d, logged %v) %s proto %d port %d from %v allowed before, not by the proposal %+v",
					iter, i, f.ENI, mode[f.ENI], logged[i], dir, f.Protocol, f.DstPort, remote, proposed)
			}
		}
	}
	if evidenceErr != "" {
		t.Fatal(evidenceErr)
	}
	if checked < 5000 || hidden < 1000 || proposals < 200 || notObserved < 200 {
		t.Fatalf("weak property run: %d requests checked (%d not logged), %d proposals, %d not-observed keeps", checked, hidden, proposals, notObserved)
	}
	t.Logf("%d requests checked (%d not logged), %d proposals on observed groups, %d not-observed keeps", checked, hidden, proposals, notObserved)
}

// TestCoverageRules: the advisor's coverage rules on a hand-made inventory.
func TestCoverageRules(t *testing.T) {
	const t0 = 1_790_000_000
	day := int64(86400)
	inv := inventory.New()
	rule := func(g string) []inventory.Rule {
		return []inventory.Rule{{GroupID: g, Protocol: 6, FromPort: 443, ToPort: 443, Source: inventory.CIDRSource(netip.MustParsePrefix("0.0.0.0/0"))}}
	}
	for _, g := range []string{"sg-both", "sg-logged", "sg-idle", "sg-moved", "sg-skip"} {
		inv.AddGroup(inventory.Group{ID: g, Rules: rule(g)})
	}
	addr := func(i byte) []netip.Addr { return []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, i})} }
	inv.AddENI(inventory.ENI{ID: "eni-a", SubnetID: "subnet-a", VPCID: "vpc-1", Groups: []string{"sg-both", "sg-logged"}, Addrs: addr(1)})
	inv.AddENI(inventory.ENI{ID: "eni-b", SubnetID: "subnet-b", VPCID: "vpc-1", Groups: []string{"sg-both"}, Addrs: addr(2)})
	// eni-c carried sg-moved only in its first day, then sg-logged: only
	// the first day counts for sg-moved.
	inv.AddENI(inventory.ENI{ID: "eni-c", SubnetID: "subnet-c", VPCID: "vpc-1", Groups: []string{"sg-moved"}, Addrs: addr(3),
		Valid: inventory.Interval{From: time.Unix(t0-day, 0), To: time.Unix(t0+day, 0)}})
	inv.AddENI(inventory.ENI{ID: "eni-c", SubnetID: "subnet-c", VPCID: "vpc-1", Groups: []string{"sg-logged"}, Addrs: addr(3),
		Valid: inventory.Interval{From: time.Unix(t0+day, 0)}})
	inv.AddENI(inventory.ENI{ID: "eni-d", SubnetID: "subnet-d", VPCID: "vpc-1", Groups: []string{"sg-skip"}, Addrs: addr(4)})
	// subnet-a logged from before; eni-c from its second day (ACCEPT);
	// subnet-b REJECT-only.
	inv.AddFlowLog(inventory.FlowLog{ID: "fl-a", ResourceID: "subnet-a", TrafficType: "ALL", Created: time.Unix(t0-30*day, 0)})
	inv.AddFlowLog(inventory.FlowLog{ID: "fl-c", ResourceID: "eni-c", TrafficType: "ACCEPT", Created: time.Unix(t0+day, 0)})
	inv.AddFlowLog(inventory.FlowLog{ID: "fl-b", ResourceID: "subnet-b", TrafficType: "REJECT", Created: time.Unix(t0-30*day, 0)})
	eng := NewEngine(inv)
	acc := NewAccumulator(eng, sketch.DefaultConfig())
	observe := func(eni string, from, to int64, status flowlog.LogStatus, action flowlog.Action) {
		var rec flowlog.Record
		rec.InterfaceID, rec.Start, rec.End, rec.LogStatus, rec.Action = []byte(eni), from, to, status, action
		acc.Observe(&rec)
	}
	// The window: three days of records of eni-a (NODATA every 5 minutes),
	// REJECT records of eni-b, and eni-d's records with a SKIPDATA.
	for ts := int64(t0); ts < t0+3*day; ts += 300 {
		observe("eni-a", ts, ts+60, flowlog.StatusNoData, 0)
		observe("eni-b", ts, ts+60, flowlog.StatusOK, flowlog.ActionReject)
		observe("eni-d", ts, ts+60, flowlog.StatusNoData, 0)
	}
	observe("eni-d", t0+day, t0+day+60, flowlog.StatusSkipData, 0)
	cfg := advisor.DefaultConfig()
	cfg.MinHistory = 2 * 24 * time.Hour
	cfg.MaxUnobservedListed = 1
	bySG := map[string]advisor.Suggestion{}
	for _, s := range acc.Report(cfg).Suggestions {
		bySG[s.GroupID] = s
	}
	check := func(g, verdict, confidence string, reasons []string, unobserved []string) {
		t.Helper()
		s := bySG[g]
		if s.Verdict != verdict || s.Confidence != confidence || !slices.Equal(s.Reasons, reasons) || !slices.Equal(s.Evidence.Coverage.Unobserved, unobserved) {
			t.Errorf("%s: %s %s %v coverage %+v; want %s %s %v unobserved %v", g, s.Verdict, s.Confidence, s.Reasons, s.Evidence.Coverage, verdict, confidence, reasons, unobserved)
		}
	}
	// eni-b is logged REJECT-only: its REJECT records do not count.
	check("sg-both", advisor.VerdictKeep, advisor.ConfidenceLow, []string{advisor.ReasonNotObserved}, []string{"eni-b"})
	// eni-a by its records and its subnet's flow log, eni-c from its
	// second day by its own: observed the whole window (three days).
	check("sg-logged", advisor.VerdictRemove, advisor.ConfidenceHigh, []string{advisor.ReasonNoTraffic}, []string{})
	// eni-c carried sg-moved on its first day, unlogged then.
	check("sg-moved", advisor.VerdictKeep, advisor.ConfidenceLow, []string{advisor.ReasonNotObserved}, []string{"eni-c"})
	check("sg-idle", advisor.VerdictKeep, advisor.ConfidenceLow, []string{advisor.ReasonNoInterfaces}, []string{})
	check("sg-skip", advisor.VerdictRemove, advisor.ConfidenceLow, []string{advisor.ReasonNoTraffic, advisor.ReasonPartialLogging}, []string{})
	if c := bySG["sg-logged"].Evidence.Coverage; c.Interfaces != 2 || c.ObservedFrom != "2026-09-21T14:13:20Z" || c.ObservedTo != "2026-09-24T14:09:20Z" {
		t.Errorf("sg-logged coverage %+v", c)
	}
	if c := bySG["sg-both"].Evidence.Coverage; c.Interfaces != 2 || c.ObservedFrom != "" {
		t.Errorf("sg-both coverage %+v", c)
	}
	// A shorter window than MinHistory: low confidence, short-history.
	cfg.MinHistory = 4 * 24 * time.Hour
	for _, s := range acc.Report(cfg).Suggestions {
		if s.GroupID == "sg-logged" && (s.Confidence != advisor.ConfidenceLow || !slices.Equal(s.Reasons, []string{advisor.ReasonNoTraffic, advisor.ReasonShortHistory})) {
			t.Errorf("short history: %s %v", s.Confidence, s.Reasons)
		}
	}
	cov := acc.Coverage()
	if cov.Observed != 2 || cov.Unobserved != 2 {
		t.Errorf("interfaces observed %d, unobserved %d; want 2 and 2 (eni-b, eni-c)", cov.Observed, cov.Unobserved)
	}
	// Truncation of the unobserved list.
	s := advisor.ApplyCoverage(bySG["sg-logged"], &advisor.GroupObservation{Interfaces: 5, Unobserved: []string{"eni-1", "eni-2", "eni-3"}}, cfg)
	if s.Verdict != advisor.VerdictKeep || !slices.Equal(s.Evidence.Coverage.Unobserved, []string{"eni-1"}) || s.Evidence.Coverage.UnobservedMore != 2 || len(s.Proposed) != 1 {
		t.Errorf("truncated %+v", s)
	}
}

// BenchmarkCoverage10kRules measures the coverage judgement alone (the
// daemon makes it at every evaluation) on the account of
// BenchmarkAdvisor10kRules: 2,310 interfaces and groups, a million records.
func BenchmarkCoverage10kRules(b *testing.B) {
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
	b.ReportMetric(float64(len(inv.ENIs())), "interfaces")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c := acc.Coverage(); len(c.Groups) == 0 {
			b.Fatal("no groups")
		}
	}
}
