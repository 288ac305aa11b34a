// Package advisor judges security-group rules from the traffic attributed to
// them: keep, remove, or narrow (source CIDR, ports, protocol), with reasons
// and evidence, in the suggestions JSON shape of DESIGN.md.
//
// The advisor is pure: it sees one rule and a summary of its usage (Usage),
// which the analysis engine derives from the rule's sketch. The safety
// invariant — every observed flow that a rule let in is still allowed by the
// proposal — follows from three facts: a narrowed source covers every
// observed source prefix (Cover), narrowed ports cover every observed port
// (NarrowPorts), and a rule is removed only when no flow was credited to it
// first (no traffic, or every flow also allowed by a rule that stays).
package advisor

import (
	"net/netip"
	"sort"
	"time"

	"github.com/cinch-sg/cinch/inventory"
)

// Verdicts.
const (
	VerdictKeep   = "keep"
	VerdictRemove = "remove"
	VerdictNarrow = "narrow"
)

// Reasons a verdict gives.
const (
	ReasonNoTraffic      = "no-traffic"
	ReasonFewSources     = "few-sources"
	ReasonWideCIDR       = "wide-cidr"
	ReasonWidePorts      = "wide-ports"
	ReasonWideProtocol   = "wide-protocol"
	ReasonRedundant      = "redundant"
	ReasonEnoughSources  = "enough-sources"
	ReasonInUse          = "in-use"
	ReasonGroupReference = "group-reference"
	// ReasonNotObserved: an interface that carried the group was not
	// observed (no flow logs) for part of the window; the rule is kept.
	ReasonNotObserved = "not-observed"
	// ReasonShortHistory: the span over which every interface of the group
	// was observed is shorter than the minimum history (confidence low).
	ReasonShortHistory = "short-history"
	// ReasonPartialLogging: flow logs skipped records (SKIPDATA) on an
	// interface of the group (confidence low).
	ReasonPartialLogging = "partial-logging"
	// ReasonNoInterfaces: no interface carried the group during the window;
	// the rule is kept (launch templates and scaled-to-zero groups).
	ReasonNoInterfaces = "no-interfaces"
	// ReasonNewRule: the rule was created after the last record seen, so no
	// evidence speaks of it (the traffic of the rule it may replace was let
	// in before it existed), or it saw no traffic over a lifetime shorter
	// than the minimum history; the rule is kept.
	ReasonNewRule = "new-rule"
)

// Confidence levels of a suggestion.
const (
	ConfidenceHigh = "high"
	ConfidenceLow  = "low"
)

// Config tunes the advisor.
type Config struct {
	// WildcardThreshold keeps a 0.0.0.0/0 or ::/0 rule whose distinct sources
	// reach it; below it the rule is narrowed to the observed sources.
	WildcardThreshold uint64
	// MaxCIDRs bounds the prefixes that replace one narrowed source.
	MaxCIDRs int
	// MaxPortRanges bounds the port ranges that replace one port range.
	MaxPortRanges int
	// MinHistory is the span of observation below which a verdict's
	// confidence is low (reason short-history).
	MinHistory time.Duration
	// MaxUnobservedListed bounds the unobserved interfaces a suggestion
	// names (0: DefaultMaxUnobservedListed).
	MaxUnobservedListed int
}

// DefaultConfig returns the defaults of `cinch analyze`.
func DefaultConfig() Config {
	return Config{WildcardThreshold: 100, MaxCIDRs: 4, MaxPortRanges: 4, MinHistory: DefaultMinHistory, MaxUnobservedListed: DefaultMaxUnobservedListed}
}

// Usage summarises the traffic credited to one rule in the observation window.
type Usage struct {
	Flows, Packets, Bytes uint64
	FirstSeen, LastSeen   time.Time
	// Sources are disjoint prefixes covering every observed source (for egress
	// rules, destination); an exactly known source is a single-address prefix.
	Sources []netip.Prefix
	// DistinctSources counts observed sources; Estimated is true when part of
	// the count comes from HyperLogLog aggregates.
	DistinctSources uint64
	Estimated       bool
	// Ports lists, per IANA protocol number, the destination ports used.
	Ports map[uint8][]PortRange
	// ByProtocol, for rules of protocol -1, splits the sources and ports by
	// protocol so that each protocol is narrowed on its own traffic.
	ByProtocol map[uint8]ProtocolUsage
	// PrimaryFlows counts the flows for which this rule was the one credited
	// first among all rules that allowed them; a rule with flows but no primary
	// flow is redundant.
	PrimaryFlows uint64
}

// ProtocolUsage is the part of a -1 rule's usage of one protocol.
type ProtocolUsage struct {
	Sources []netip.Prefix
	Ports   []PortRange
}

// RuleSpec is a rule in the suggestions JSON.
type RuleSpec struct {
	Protocol string `json:"protocol"`
	FromPort int32  `json:"from_port"`
	ToPort   int32  `json:"to_port"`
	Source   string `json:"source"`
}

// Evidence is the traffic behind a verdict.
type Evidence struct {
	Flows                    uint64 `json:"flows"`
	Packets                  uint64 `json:"packets"`
	Bytes                    uint64 `json:"bytes"`
	DistinctSources          uint64 `json:"distinct_sources"`
	DistinctSourcesEstimated bool   `json:"distinct_sources_estimated"`
	FirstSeen                string `json:"first_seen,omitempty"`
	LastSeen                 string `json:"last_seen,omitempty"`
	// Coverage says which interfaces carried the rule's group and whether
	// their flow logs were observed (nil when coverage was not assessed).
	Coverage *Coverage `json:"coverage,omitempty"`
}

// Coverage is the observation behind a group's verdicts: how many interfaces
// carried the group during the window, which of them were not observed, and
// the span over which all of them were.
type Coverage struct {
	Interfaces int      `json:"interfaces"`
	Unobserved []string `json:"unobserved"`
	// UnobservedMore counts unobserved interfaces left out of Unobserved
	// when the list is long.
	UnobservedMore int    `json:"unobserved_more,omitempty"`
	ObservedFrom   string `json:"observed_from,omitempty"`
	ObservedTo     string `json:"observed_to,omitempty"`
}

// Suggestion is the verdict on one rule (DESIGN.md, suggestions JSON).
type Suggestion struct {
	GroupID   string     `json:"group_id"`
	RuleID    string     `json:"rule_id,omitempty"`
	Direction string     `json:"direction"`
	Rule      RuleSpec   `json:"rule"`
	Verdict   string     `json:"verdict"`
	Reasons   []string   `json:"reasons"`
	Proposed  []RuleSpec `json:"proposed"`
	// Confidence is ConfidenceHigh or ConfidenceLow: low when the verdict
	// rests on evidence cinch could not settle (short history, partial
	// logging, an uncertain initiator; see the reasons).
	Confidence string   `json:"confidence"`
	Evidence   Evidence `json:"evidence"`
}

// Window is the observation window of a report.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Unattributed lists records whose interface the inventory does not know.
type Unattributed struct {
	InterfaceID string `json:"interface_id"`
	Records     uint64 `json:"records"`
}

// Report is the whole answer: `cinch analyze --output json` prints it and the
// daemon's /api/v1/suggestions serves it.
type Report struct {
	Window       Window         `json:"window"`
	Suggestions  []Suggestion   `json:"suggestions"`
	Unattributed []Unattributed `json:"unattributed_enis,omitempty"`
}

// Direction names a rule's direction as the JSON does.
func Direction(r inventory.Rule) string {
	if r.Egress {
		return "egress"
	}
	return "ingress"
}

// Spec renders a rule for the JSON.
func Spec(r inventory.Rule) RuleSpec {
	return RuleSpec{Protocol: r.ProtocolName(), FromPort: r.FromPort, ToPort: r.ToPort, Source: r.Source.String()}
}

// Evaluate judges one rule. u may be nil for a rule with no traffic.
func Evaluate(r inventory.Rule, u *Usage, cfg Config) Suggestion {
	s := Suggestion{GroupID: r.GroupID, RuleID: r.ID, Direction: Direction(r), Rule: Spec(r), Confidence: ConfidenceHigh}
	if u == nil {
		u = &Usage{}
	}
	s.Evidence = evidence(u)
	switch {
	case u.Flows == 0:
		s.Verdict, s.Reasons, s.Proposed = VerdictRemove, []string{ReasonNoTraffic}, []RuleSpec{}
		return s
	case u.PrimaryFlows == 0:
		s.Verdict, s.Reasons, s.Proposed = VerdictRemove, []string{ReasonRedundant}, []RuleSpec{}
		return s
	}

	if r.Protocol == -1 && len(u.ByProtocol) > 0 {
		return evaluatePerProtocol(s, r, u, cfg)
	}
	var reasons []string
	sources := []string{r.Source.String()}
	switch r.Source.Kind {
	case inventory.SourceCIDR:
		if narrowed, reason := narrowSource(r.Source.Prefix, u, cfg); narrowed != nil {
			sources = narrowed
			reasons = append(reasons, reason)
		} else if isWildcard(r.Source.Prefix) {
			reasons = append(reasons, ReasonEnoughSources)
		}
	case inventory.SourceGroup:
		reasons = append(reasons, ReasonGroupReference)
	}

	type protoPorts struct {
		proto    string
		from, to int32
	}
	var pp []protoPorts
	portsNarrowed, protoNarrowed := false, false
	if r.Protocol == -1 {
		protos := make([]int, 0, len(u.Ports))
		for p := range u.Ports {
			protos = append(protos, int(p))
		}
		sort.Ints(protos)
		for _, p := range protos {
			name := inventory.ProtocolName(int16(p))
			if p == 6 || p == 17 {
				for _, pr := range NarrowPorts(u.Ports[uint8(p)], 0, 65535, cfg.MaxPortRanges) {
					pp = append(pp, protoPorts{name, int32(pr.From), int32(pr.To)})
				}
				continue
			}
			pp = append(pp, protoPorts{name, -1, -1})
		}
		if len(pp) > 0 {
			protoNarrowed = true
		} else {
			pp = []protoPorts{{"all", -1, -1}}
		}
	} else if (r.Protocol == 6 || r.Protocol == 17) && r.FromPort >= 0 && r.ToPort >= r.FromPort {
		used := NarrowPorts(u.Ports[uint8(r.Protocol)], uint16(r.FromPort), uint16(r.ToPort), cfg.MaxPortRanges)
		if len(used) == 0 || (len(used) == 1 && int32(used[0].From) == r.FromPort && int32(used[0].To) == r.ToPort) {
			pp = []protoPorts{{r.ProtocolName(), r.FromPort, r.ToPort}}
		} else {
			portsNarrowed = true
			for _, pr := range used {
				pp = append(pp, protoPorts{r.ProtocolName(), int32(pr.From), int32(pr.To)})
			}
		}
	} else {
		// ICMP type/code and other protocols' ports are not in flow logs: keep them.
		pp = []protoPorts{{r.ProtocolName(), r.FromPort, r.ToPort}}
	}
	if protoNarrowed {
		reasons = append(reasons, ReasonWideProtocol)
	}
	if portsNarrowed {
		reasons = append(reasons, ReasonWidePorts)
	}

	if len(sources) == 1 && sources[0] == r.Source.String() && !portsNarrowed && !protoNarrowed {
		s.Verdict, s.Proposed = VerdictKeep, []RuleSpec{s.Rule}
		s.Reasons = append([]string{ReasonInUse}, reasons...)
		return s
	}
	s.Verdict, s.Reasons = VerdictNarrow, reasons
	for _, src := range sources {
		for _, p := range pp {
			s.Proposed = append(s.Proposed, RuleSpec{Protocol: p.proto, FromPort: p.from, ToPort: p.to, Source: src})
		}
	}
	return s
}

// evaluatePerProtocol narrows a -1 rule protocol by protocol: each protocol
// used gets its own narrowed sources and ports, so a source is allowed only
// the protocols and ports it used.
func evaluatePerProtocol(s Suggestion, r inventory.Rule, u *Usage, cfg Config) Suggestion {
	protos := make([]int, 0, len(u.ByProtocol))
	for p := range u.ByProtocol {
		protos = append(protos, int(p))
	}
	sort.Ints(protos)
	keepSource := r.Source.Kind != inventory.SourceCIDR ||
		(isWildcard(r.Source.Prefix) && u.DistinctSources >= cfg.WildcardThreshold)
	seen := map[string]bool{}
	var reasons []string
	addReason := func(x string) {
		if !seen[x] {
			seen[x] = true
			reasons = append(reasons, x)
		}
	}
	switch {
	case r.Source.Kind == inventory.SourceGroup:
		addReason(ReasonGroupReference)
	case keepSource && r.Source.Kind == inventory.SourceCIDR && isWildcard(r.Source.Prefix):
		addReason(ReasonEnoughSources)
	}
	s.Proposed = nil
	for _, p := range protos {
		pu := u.ByProtocol[uint8(p)]
		sources := []string{r.Source.String()}
		if !keepSource {
			if narrowed, reason := narrowSourceFrom(r.Source.Prefix, pu.Sources, u.DistinctSources, cfg); narrowed != nil {
				sources = narrowed
				addReason(reason)
			}
		}
		name := inventory.ProtocolName(int16(p))
		type span struct{ from, to int32 }
		spans := []span{{-1, -1}}
		if p == 6 || p == 17 {
			spans = nil
			for _, pr := range NarrowPorts(pu.Ports, 0, 65535, cfg.MaxPortRanges) {
				spans = append(spans, span{int32(pr.From), int32(pr.To)})
			}
			if len(spans) == 0 {
				spans = []span{{0, 65535}}
			}
		}
		for _, src := range sources {
			for _, sp := range spans {
				s.Proposed = append(s.Proposed, RuleSpec{Protocol: name, FromPort: sp.from, ToPort: sp.to, Source: src})
			}
		}
	}
	addReason(ReasonWideProtocol)
	s.Verdict, s.Reasons = VerdictNarrow, reasons
	return s
}

// narrowSource returns the replacement sources of a CIDR rule and the reason,
// or nil when the rule's source should stay as it is.
func narrowSource(orig netip.Prefix, u *Usage, cfg Config) ([]string, string) {
	return narrowSourceFrom(orig, u.Sources, u.DistinctSources, cfg)
}

// narrowSourceFrom narrows orig to cover sources; distinct is the rule's
// distinct source count (for the wildcard threshold).
func narrowSourceFrom(orig netip.Prefix, sources []netip.Prefix, distinct uint64, cfg Config) ([]string, string) {
	if isWildcard(orig) && distinct >= cfg.WildcardThreshold {
		return nil, ""
	}
	var in []netip.Prefix
	for _, p := range sources {
		if p.Addr().Is4() == orig.Addr().Is4() && orig.Overlaps(p) {
			if p.Bits() < orig.Bits() {
				// An aggregate wider than the rule: only the rule's part was seen.
				p = orig
			}
			in = append(in, p)
		}
	}
	if len(in) == 0 {
		return nil, ""
	}
	cover := Cover(in, max(cfg.MaxCIDRs, 1))
	if len(cover) == 1 && cover[0] == orig.Masked() {
		return nil, ""
	}
	out := make([]string, len(cover))
	for i, p := range cover {
		out[i] = p.String()
	}
	if isWildcard(orig) {
		return out, ReasonFewSources
	}
	return out, ReasonWideCIDR
}

func isWildcard(p netip.Prefix) bool { return p.Bits() == 0 }

func evidence(u *Usage) Evidence {
	e := Evidence{Flows: u.Flows, Packets: u.Packets, Bytes: u.Bytes,
		DistinctSources: u.DistinctSources, DistinctSourcesEstimated: u.Estimated}
	if !u.FirstSeen.IsZero() {
		e.FirstSeen = u.FirstSeen.UTC().Format(time.RFC3339)
	}
	if !u.LastSeen.IsZero() {
		e.LastSeen = u.LastSeen.UTC().Format(time.RFC3339)
	}
	return e
}

// Allows reports whether a proposed rule allows a flow of protocol proto to
// port from address src. Ports are not checked for ICMP (flow logs do not
// carry type and code) nor for protocols without ports.
func (r RuleSpec) Allows(proto uint8, port uint16, src netip.Addr) bool {
	if r.Protocol != "all" && r.Protocol != inventory.ProtocolName(int16(proto)) {
		return false
	}
	if r.Protocol != "all" && (proto == 6 || proto == 17) && r.FromPort >= 0 {
		if int32(port) < r.FromPort || int32(port) > r.ToPort {
			return false
		}
	}
	p, err := netip.ParsePrefix(r.Source)
	if err != nil {
		return true // a group or prefix-list source is kept as it was
	}
	return p.Contains(src)
}
