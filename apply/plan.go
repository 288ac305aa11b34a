// Package apply carries accepted proposals out in the account through the
// EC2 API: for every narrowed rule the narrow rules are authorized before the
// wide one is revoked (by its rule id), a removed rule is revoked; every call
// is first made with DryRun (EC2's DryRunOperation answer means "allowed"),
// the rules to revoke are checked to be still what was judged, the run stops
// at the first failure and says what was and was not done, and every call is
// written to an audit log.
//
// Only proposals that were accepted in review are applied, and never one
// whose evidence is incomplete (reason not-observed, or low confidence:
// short-history, partial-logging) unless forced.
package apply

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
)

// Proposal is one suggestion as the suggestions JSON carries it (its
// confidence is absent in older reports).
type Proposal struct {
	advisor.Suggestion
}

// Reasons that make a proposal unsafe to apply without --force.
var unsafeReasons = []string{"not-observed", "short-history", "partial-logging", "no-interfaces", "unresolved-reference"}

// Key returns the rule's identity as the daemon's API names rules, e.g.
// "sg-1|ingress|6|22|22|10.0.0.0/8" (see inventory.Rule.Key).
func (p *Proposal) Key() string { return RuleKey(p.Suggestion) }

// RuleKey returns a suggestion's rule key (see inventory.Rule.Key).
func RuleKey(s advisor.Suggestion) string {
	proto, err := inventory.ParseProtocol(s.Rule.Protocol)
	if err != nil {
		proto = -2
	}
	src := s.Rule.Source
	if p, err := netip.ParsePrefix(src); err == nil {
		src = p.Masked().String()
	}
	from, to := s.Rule.FromPort, s.Rule.ToPort
	if !inventory.HasPorts(proto) {
		from, to = -1, -1
	}
	return strings.Join([]string{s.GroupID, s.Direction, strconv.Itoa(int(proto)),
		strconv.Itoa(int(from)), strconv.Itoa(int(to)), src}, "|")
}

// Proposals converts a report's suggestions.
func Proposals(rep advisor.Report) []Proposal {
	out := make([]Proposal, len(rep.Suggestions))
	for i, s := range rep.Suggestions {
		out[i] = Proposal{s}
	}
	return out
}

// ParseReport reads a suggestions JSON document (cinch analyze --output json,
// or the daemon's GET /api/v1/suggestions).
func ParseReport(b []byte) ([]Proposal, error) {
	var doc struct {
		Suggestions []Proposal `json:"suggestions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("suggestions JSON: %w", err)
	}
	if doc.Suggestions == nil {
		return nil, fmt.Errorf("suggestions JSON: no \"suggestions\" array")
	}
	return doc.Suggestions, nil
}

// Skip is a proposal left out, and why.
type Skip struct {
	RuleKey string `json:"rule_key"`
	RuleID  string `json:"rule_id,omitempty"`
	Reason  string `json:"reason"`
}

// Step is one EC2 call of a plan.
type Step struct {
	// Op is authorize-ingress, authorize-egress, revoke-ingress or
	// revoke-egress.
	Op      string `json:"op"`
	GroupID string `json:"group_id"`
	// RuleKey is the judged rule the step belongs to.
	RuleKey string `json:"rule_key"`
	// RuleID is the rule revoked (revoke steps).
	RuleID string `json:"rule_id,omitempty"`
	// Rules are the rules authorized (authorize steps).
	Rules []advisor.RuleSpec `json:"rules,omitempty"`
	// Description goes on the authorized rules.
	Description string `json:"description,omitempty"`
	// Judged is the rule as analysed (revoke steps), checked against the
	// account before it is revoked.
	Judged advisor.RuleSpec `json:"judged"`
}

// Plan returns the steps that carry out the accepted proposals: every
// authorization before any revocation (so no observed flow loses its rule in
// between), in the order of the proposals; and the proposals left out. A
// proposal is applied when accept says so for its rule key or rule id, its
// verdict is remove or narrow, it has a rule id, and (unless force) its
// evidence is complete and its confidence not low.
func Plan(props []Proposal, accept func(key, id string) bool, force bool) ([]Step, []Skip) {
	var auth, revoke []Step
	var skips []Skip
	for _, p := range props {
		key := p.Key()
		skip := func(reason string) { skips = append(skips, Skip{RuleKey: key, RuleID: p.RuleID, Reason: reason}) }
		switch {
		case !p.Proposes():
			continue // keep: nothing to do
		case !accept(key, p.RuleID):
			skip("not accepted in review")
			continue
		case p.RuleID == "":
			skip("no rule id: revoke by rule id only (reload the inventory with DescribeSecurityGroupRules)")
			continue
		case !force && p.Confidence == "low":
			skip("low confidence (use --force to apply anyway)")
			continue
		}
		if r := unsafeReason(p.Reasons); r != "" && !force {
			skip("reason " + r + " (use --force to apply anyway)")
			continue
		}
		dir := "ingress"
		if p.Direction == "egress" {
			dir = "egress"
		}
		if p.Verdict == advisor.VerdictNarrow {
			if len(p.Proposed) == 0 {
				skip("narrow without proposed rules")
				continue
			}
			auth = append(auth, Step{Op: "authorize-" + dir, GroupID: p.GroupID, RuleKey: key, Rules: p.Proposed,
				Description: cmp.Or(describe(p), "cinch")})
		}
		revoke = append(revoke, Step{Op: "revoke-" + dir, GroupID: p.GroupID, RuleKey: key, RuleID: p.RuleID, Judged: p.Rule})
	}
	return append(auth, revoke...), skips
}

func unsafeReason(reasons []string) string {
	for _, r := range reasons {
		if slices.Contains(unsafeReasons, r) {
			return r
		}
	}
	return ""
}

// describe is the description of narrowed rules: where they come from.
func describe(p Proposal) string {
	return "cinch: narrowed from " + p.Rule.Source + " (" + p.RuleID + ")"
}
