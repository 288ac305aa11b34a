package advisor

import "github.com/cinch-sg/cinch/inventory"

// Reasons of the attribution.
const (
	// ReasonUnresolvedReference: the rule's source is a security group or a
	// prefix list the inventory cannot resolve (another account, a peered VPC,
	// a group or list missing from the exports), so its traffic cannot be
	// judged: the rule is kept.
	ReasonUnresolvedReference = "unresolved-reference"
	// ReasonUncertainInitiator: part of the traffic behind the verdict has an
	// initiator neither the TCP flags nor the port evidence settle; it was
	// counted as requests, and the verdict would differ without it.
	ReasonUncertainInitiator = "uncertain-initiator"
)

// Unresolved is the verdict on a rule whose source cannot be resolved: keep,
// with low confidence. u (may be nil) is shown as evidence.
func Unresolved(r inventory.Rule, u *Usage) Suggestion {
	s := Suggestion{GroupID: r.GroupID, RuleID: r.ID, Direction: Direction(r), Rule: Spec(r),
		Verdict: VerdictKeep, Reasons: []string{ReasonUnresolvedReference}, Confidence: ConfidenceLow}
	s.Proposed = []RuleSpec{s.Rule}
	if u == nil {
		u = &Usage{}
	}
	s.Evidence = evidence(u)
	return s
}
