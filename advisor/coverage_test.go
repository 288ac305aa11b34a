package advisor

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/inventory"
)

func TestApplyCoverage(t *testing.T) {
	r := inventory.Rule{GroupID: "sg-1", Protocol: 6, FromPort: 22, ToPort: 22, Source: inventory.CIDRSource(netip.MustParsePrefix("0.0.0.0/0"))}
	narrow := Evaluate(r, &Usage{Flows: 3, PrimaryFlows: 3, Sources: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")}, DistinctSources: 1,
		Ports: map[uint8][]PortRange{6: {{22, 22}}}}, DefaultConfig())
	if narrow.Verdict != VerdictNarrow || narrow.Confidence != ConfidenceHigh {
		t.Fatalf("setup: %+v", narrow)
	}
	cfg := DefaultConfig()
	if s := ApplyCoverage(narrow, nil, cfg); s.Verdict != VerdictNarrow || s.Evidence.Coverage != nil {
		t.Errorf("nil observation changed the suggestion: %+v", s)
	}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	long := &GroupObservation{Interfaces: 1, From: from, To: from.Add(15 * 24 * time.Hour)}
	if s := ApplyCoverage(narrow, long, cfg); s.Verdict != VerdictNarrow || s.Confidence != ConfidenceHigh ||
		s.Evidence.Coverage.ObservedFrom != "2026-11-01T00:00:00Z" || s.Evidence.Coverage.ObservedTo != "2026-11-16T00:00:00Z" {
		t.Errorf("observed 15 days: %+v %+v", s, s.Evidence.Coverage)
	}
	short := &GroupObservation{Interfaces: 1, From: from, To: from.Add(time.Hour), Partial: true}
	if s := ApplyCoverage(narrow, short, cfg); s.Verdict != VerdictNarrow || s.Confidence != ConfidenceLow ||
		!slices.Equal(s.Reasons, []string{ReasonFewSources, ReasonShortHistory, ReasonPartialLogging}) {
		t.Errorf("short and partial: %+v", s)
	}
	// The input's reasons are not shared with the output.
	if !slices.Equal(narrow.Reasons, []string{ReasonFewSources}) {
		t.Errorf("input changed: %v", narrow.Reasons)
	}
	// Not even when they have room to spare: two results of one input keep
	// their own reasons.
	roomy := narrow
	roomy.Reasons = append(make([]string, 0, 8), narrow.Reasons...)
	a := ApplyCoverage(roomy, short, cfg)
	b := ApplyCoverage(roomy, &GroupObservation{Interfaces: 1, From: from, To: from.Add(15 * 24 * time.Hour), Partial: true}, cfg)
	if !slices.Equal(a.Reasons, []string{ReasonFewSources, ReasonShortHistory, ReasonPartialLogging}) ||
		!slices.Equal(b.Reasons, []string{ReasonFewSources, ReasonPartialLogging}) || !slices.Equal(roomy.Reasons, []string{ReasonFewSources}) {
		t.Errorf("reasons shared: %v, %v, input %v", a.Reasons, b.Reasons, roomy.Reasons)
	}
	un := &GroupObservation{Interfaces: 3, Unobserved: []string{"eni-a", "eni-b"}}
	s := ApplyCoverage(narrow, un, cfg)
	if s.Verdict != VerdictKeep || s.Confidence != ConfidenceLow || !slices.Equal(s.Reasons, []string{ReasonNotObserved}) ||
		len(s.Proposed) != 1 || s.Proposed[0] != s.Rule || !slices.Equal(s.Evidence.Coverage.Unobserved, []string{"eni-a", "eni-b"}) || s.Evidence.Coverage.ObservedFrom != "" {
		t.Errorf("not observed: %+v %+v", s, s.Evidence.Coverage)
	}
	// A keep stays a keep with its reasons, plus not-observed.
	keep := Evaluate(r, &Usage{Flows: 300, PrimaryFlows: 300, DistinctSources: 300, Sources: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")},
		Ports: map[uint8][]PortRange{6: {{22, 22}}}}, cfg)
	if s := ApplyCoverage(keep, un, cfg); s.Verdict != VerdictKeep || !slices.Equal(s.Reasons, []string{ReasonInUse, ReasonEnoughSources, ReasonNotObserved}) {
		t.Errorf("keep not observed: %+v", s)
	}
	none := ApplyCoverage(Evaluate(r, nil, cfg), &GroupObservation{}, cfg)
	if none.Verdict != VerdictKeep || !slices.Equal(none.Reasons, []string{ReasonNoInterfaces}) || none.Evidence.Coverage.Interfaces != 0 {
		t.Errorf("no interfaces: %+v", none)
	}
}
