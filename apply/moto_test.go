//go:build e2e

package apply

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/internal/mototest"
)

type fixture struct {
	ec     *ec2.Client
	groups []string
	wide   map[string]string // group -> rule id of tcp/22 from 0.0.0.0/0
	web    map[string]string // group -> rule id of tcp/80 from 10.0.0.0/8
}

// setup creates n groups, each allowing tcp/22 from 0.0.0.0/0 and tcp/80
// from 10.0.0.0/8.
func setup(t *testing.T, cfg aws.Config, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{ec: ec2.NewFromConfig(cfg), wide: map[string]string{}, web: map[string]string{}}
	vpc, err := f.ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.40.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		g, err := mototest.CreateSecurityGroup(ctx, f.ec, &ec2.CreateSecurityGroupInput{GroupName: aws.String("app" + string(rune('a'+i))),
			Description: aws.String("app"), VpcId: vpc.Vpc.VpcId})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(g.GroupId)
		f.groups = append(f.groups, id)
		_, err = f.ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId,
			IpPermissions: []types.IpPermission{
				{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}},
				{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := f.ec.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{
			Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{id}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.SecurityGroupRules {
			if aws.ToBool(r.IsEgress) {
				continue
			}
			if aws.ToInt32(r.FromPort) == 22 {
				f.wide[id] = aws.ToString(r.SecurityGroupRuleId)
			} else {
				f.web[id] = aws.ToString(r.SecurityGroupRuleId)
			}
		}
	}
	return f
}

// ingress lists a group's inbound rules as "port source".
func (f *fixture) ingress(t *testing.T, group string) []string {
	t.Helper()
	out, err := f.ec.DescribeSecurityGroupRules(context.Background(), &ec2.DescribeSecurityGroupRulesInput{
		Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{group}}}})
	if err != nil {
		t.Fatal(err)
	}
	var rs []string
	for _, r := range out.SecurityGroupRules {
		if !aws.ToBool(r.IsEgress) {
			rs = append(rs, strings.TrimSpace(strings.Join([]string{aws.ToString(r.IpProtocol), itoa(aws.ToInt32(r.FromPort)), aws.ToString(r.CidrIpv4)}, " ")))
		}
	}
	sort.Strings(rs)
	return rs
}

func itoa(n int32) string { b, _ := json.Marshal(n); return string(b) }

// proposals: narrow tcp/22 of every group to two sources, remove tcp/80.
func (f *fixture) proposals() ([]Proposal, *Reviews) {
	var ps []Proposal
	var rs []Review
	for _, g := range f.groups {
		ps = append(ps, Proposal{Suggestion: advisor.Suggestion{GroupID: g, RuleID: f.wide[g], Direction: "ingress", Verdict: advisor.VerdictNarrow,
			Reasons: []string{"few-sources"}, Rule: advisor.RuleSpec{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "0.0.0.0/0"},
			Proposed: []advisor.RuleSpec{{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "203.0.113.7/32"},
				{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "198.51.100.0/24"}}}},
			Proposal{Suggestion: advisor.Suggestion{GroupID: g, RuleID: f.web[g], Direction: "ingress", Verdict: advisor.VerdictRemove,
				Reasons: []string{"no-traffic"}, Rule: advisor.RuleSpec{Protocol: "tcp", FromPort: 80, ToPort: 80, Source: "10.0.0.0/8"}}})
		rs = append(rs, Review{RuleID: f.wide[g], Decision: "accepted"}, Review{RuleID: f.web[g], Decision: "accepted"})
	}
	return ps, NewReviews(rs)
}

// audit returns the audit log's records.
func audit(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestMotoApply(t *testing.T) {
	cfg, _, _ := mototest.Account(t, "eu-central-1")
	f := setup(t, cfg, 2)
	before := f.ingress(t, f.groups[0])
	props, rev := f.proposals()
	steps, skips := Plan(props, rev.Accepted, false)
	if len(skips) != 0 || len(steps) != 6 {
		t.Fatalf("plan: %d steps, skips %+v", len(steps), skips)
	}
	var log bytes.Buffer
	ap := New([]Target{{Name: "test/eu-central-1", Client: f.ec}}, &log)

	// Dry run: every call allowed, nothing changed.
	res := ap.Apply(context.Background(), "ann", steps, skips, true)
	if res.Err() != nil {
		t.Fatalf("dry run: %v", res.Err())
	}
	if done, notDone := res.Counts(); done != 6 || notDone != 0 || res.Steps[0].Status != StatusAllowed {
		t.Errorf("dry run counts %d/%d %+v", done, notDone, res.Steps)
	}
	if got := f.ingress(t, f.groups[0]); !slices.Equal(got, before) {
		t.Errorf("dry run changed the group: %v -> %v", before, got)
	}
	for _, r := range audit(t, &log) {
		if r["phase"] == "apply" {
			t.Errorf("dry run made a real call: %v", r)
		}
	}

	// The real run: authorizations first, then revocations, every call logged.
	log.Reset()
	res = ap.Apply(context.Background(), "ann", steps, skips, false)
	if res.Err() != nil {
		t.Fatalf("apply: %v", res.Err())
	}
	for _, g := range f.groups {
		if got := f.ingress(t, g); strings.Join(got, ",") != "tcp 22 198.51.100.0/24,tcp 22 203.0.113.7/32" {
			t.Errorf("%s after apply: %v", g, got)
		}
	}
	var order []string
	recs := audit(t, &log)
	for _, r := range recs {
		if r["event"] == "call" && r["phase"] == "apply" {
			order = append(order, r["op"].(string))
			if r["who"] != "ann" || r["response"] == nil {
				t.Errorf("audit record without who or response: %v", r)
			}
		}
	}
	want := []string{"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupIngress",
		"RevokeSecurityGroupIngress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupIngress"}
	if !slices.Equal(order, want) {
		t.Errorf("call order %v, want %v", order, want)
	}
	if last := recs[len(recs)-1]; last["event"] != "run" || last["result"] == nil {
		t.Errorf("the audit log should end with the run's result: %v", last)
	}
	if len(res.Steps[0].NewRuleIDs) == 0 || !strings.HasPrefix(res.Steps[0].NewRuleIDs[0], "sgr-") {
		t.Errorf("new rule ids %v", res.Steps[0].NewRuleIDs)
	}

	// Applying again: the rules to revoke are gone, so the check stops the
	// run before any change.
	res = ap.Apply(context.Background(), "ann", steps, skips, false)
	if res.Err() == nil || !strings.Contains(res.Error, "no longer exists") || !strings.Contains(res.Error, "nothing was changed") {
		t.Errorf("second apply: %v", res.Err())
	}
}

func TestMotoApplyFailureHalfWay(t *testing.T) {
	cfg, _, _ := mototest.Account(t, "eu-central-1")
	f := setup(t, cfg, 2)
	props, rev := f.proposals()
	steps, skips := Plan(props, rev.Accepted, false)

	// The second group's first revocation fails for real (not in dry run).
	p := mototest.NewPager(t, mototest.Endpoint(t, "eu-central-1"))
	p.Before = func(w http.ResponseWriter, action string, form url.Values) bool {
		if action == "RevokeSecurityGroupIngress" && form.Get("DryRun") != "true" && form.Get("GroupId") == f.groups[1] {
			mototest.WriteError(w, http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			return true
		}
		return false
	}
	pcfg := cfg.Copy()
	pcfg.BaseEndpoint = aws.String(p.URL)
	var log bytes.Buffer
	ap := New([]Target{{Name: "test/eu-central-1", Client: ec2.NewFromConfig(pcfg)}}, &log)
	res := ap.Apply(context.Background(), "bob", steps, skips, false)
	if res.Err() == nil || !strings.Contains(res.Error, "UnauthorizedOperation") || !strings.Contains(res.Error, "step 5 of 6") {
		t.Fatalf("want the run to stop at step 5: %v", res.Err())
	}
	var st []string
	for _, s := range res.Steps {
		st = append(st, s.Op+":"+s.Status)
	}
	want := "authorize-ingress:done,authorize-ingress:done,revoke-ingress:done,revoke-ingress:done,revoke-ingress:failed,revoke-ingress:not-done"
	if strings.Join(st, ",") != want {
		t.Errorf("steps %s\nwant  %s", strings.Join(st, ","), want)
	}
	// The first group is done; the second keeps its wide rule beside the
	// narrow ones (authorized first, so nothing observed was cut off).
	if got := f.ingress(t, f.groups[0]); len(got) != 2 {
		t.Errorf("first group: %v", got)
	}
	if got := f.ingress(t, f.groups[1]); strings.Join(got, ",") != "tcp 22 0.0.0.0/0,tcp 22 198.51.100.0/24,tcp 22 203.0.113.7/32,tcp 80 10.0.0.0/8" {
		t.Errorf("second group: %v", got)
	}
	recs := audit(t, &log)
	last := recs[len(recs)-1]
	if last["event"] != "run" || !strings.Contains(last["result"].(map[string]any)["error"].(string), "UnauthorizedOperation") {
		t.Errorf("last audit record %v", last)
	}
	// A failing dry run changes nothing.
	f2 := setup(t, cfg, 1)
	props, rev = f2.proposals()
	steps, skips = Plan(props, rev.Accepted, false)
	p.Before = func(w http.ResponseWriter, action string, form url.Values) bool {
		if action == "RevokeSecurityGroupIngress" && form.Get("DryRun") == "true" {
			mototest.WriteError(w, http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			return true
		}
		return false
	}
	res = ap.Apply(context.Background(), "bob", steps, skips, false)
	if res.Err() == nil || !strings.Contains(res.Error, "nothing was changed") {
		t.Errorf("failing dry run: %v", res.Err())
	}
	if got := f2.ingress(t, f2.groups[0]); len(got) != 2 || got[0] != "tcp 22 0.0.0.0/0" {
		t.Errorf("a failed dry run changed the group: %v", got)
	}
}
