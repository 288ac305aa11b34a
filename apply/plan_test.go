package apply

import (
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/advisor"
)

func prop(group, id, verdict string, src string, reasons ...string) Proposal {
	p := Proposal{Suggestion: advisor.Suggestion{GroupID: group, RuleID: id, Direction: "ingress", Verdict: verdict, Reasons: reasons,
		Rule: advisor.RuleSpec{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: src}}}
	if verdict == advisor.VerdictNarrow {
		p.Proposed = []advisor.RuleSpec{{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "203.0.113.7/32"}}
	}
	return p
}

func TestPlanOrderAndSafety(t *testing.T) {
	props := []Proposal{
		prop("sg-1", "sgr-1", advisor.VerdictNarrow, "0.0.0.0/0", "few-sources"),
		prop("sg-2", "sgr-2", advisor.VerdictRemove, "10.0.0.0/8", "no-traffic"),
		prop("sg-3", "sgr-3", advisor.VerdictRemove, "10.0.0.0/8", "no-traffic", "not-observed"),
		prop("sg-4", "sgr-4", advisor.VerdictNarrow, "0.0.0.0/0", "few-sources"),
		prop("sg-5", "", advisor.VerdictRemove, "10.0.0.0/8", "no-traffic"),
		prop("sg-6", "sgr-6", advisor.VerdictKeep, "10.0.0.0/8", "in-use"),
		prop("sg-7", "sgr-7", advisor.VerdictNarrow, "0.0.0.0/0", "few-sources"),
	}
	props[6].Confidence = "low"
	rev := NewReviews([]Review{{RuleID: "sgr-1", Decision: "accepted"}, {RuleKey: "sg-2|ingress|6|22|22|10.0.0.0/8", Decision: "accepted"},
		{RuleID: "sgr-3", Decision: "accepted"}, {RuleID: "sgr-4", Decision: "accepted"}, {RuleID: "sgr-4", Decision: "rejected"},
		{RuleKey: props[4].Key(), Decision: "accepted"}, {RuleID: "sgr-6", Decision: "accepted"}, {RuleID: "sgr-7", Decision: "accepted"}})
	steps, skips := Plan(props, rev.Accepted, false)
	var ops []string
	for _, s := range steps {
		ops = append(ops, s.Op+" "+s.GroupID)
	}
	if got := strings.Join(ops, ", "); got != "authorize-ingress sg-1, revoke-ingress sg-1, revoke-ingress sg-2" {
		t.Errorf("steps: %s", got)
	}
	reasons := map[string]string{}
	for _, s := range skips {
		reasons[s.RuleKey[:4]] = s.Reason
	}
	if !strings.Contains(reasons["sg-3"], "not-observed") || !strings.Contains(reasons["sg-4"], "not accepted") ||
		!strings.Contains(reasons["sg-5"], "no rule id") || !strings.Contains(reasons["sg-7"], "low confidence") || len(skips) != 4 {
		t.Errorf("skips: %+v", skips)
	}
	steps, _ = Plan(props, rev.Accepted, true)
	if len(steps) != 6 || steps[0].GroupID != "sg-1" || steps[1].GroupID != "sg-7" || !strings.HasPrefix(steps[2].Op, "revoke") {
		t.Errorf("forced steps: %+v", steps)
	}
}

func TestParseReviews(t *testing.T) {
	lines := `{"rule_id":"sgr-1","decision":"accepted"}

{"type":"review","version":3,"rule_key":"k","review":{"rule_key":"k","decision":"rejected","by":"ann"}}
`
	rs, err := ParseReviews([]byte(lines))
	if err != nil || len(rs) != 2 || rs[1].RuleKey != "k" || rs[1].Decision != "rejected" {
		t.Fatalf("%+v %v", rs, err)
	}
	if _, err := ParseReviews([]byte(`[{"rule_id":"sgr-1","decision":"yes"}]`)); err == nil {
		t.Error("a bad decision must be an error")
	}
	if _, err := ParseReviews([]byte(`{"decision":"accepted"}`)); err == nil {
		t.Error("a review without a rule must be an error")
	}
}
