package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
)

// EC2 is the part of the EC2 API an Applier calls (*ec2.Client has it).
type EC2 interface {
	DescribeSecurityGroupRules(context.Context, *ec2.DescribeSecurityGroupRulesInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupRulesOutput, error)
	AuthorizeSecurityGroupIngress(context.Context, *ec2.AuthorizeSecurityGroupIngressInput, ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	AuthorizeSecurityGroupEgress(context.Context, *ec2.AuthorizeSecurityGroupEgressInput, ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupEgressOutput, error)
	RevokeSecurityGroupIngress(context.Context, *ec2.RevokeSecurityGroupIngressInput, ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	RevokeSecurityGroupEgress(context.Context, *ec2.RevokeSecurityGroupEgressInput, ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupEgressOutput, error)
}

// Target is one account and region where groups may live.
type Target struct {
	Name   string // "account/region", for the report and the audit log
	Client EC2
}

// Applier carries plans out. Calls of one Applier are serialized.
type Applier struct {
	targets []Target
	audit   io.Writer
	mu      sync.Mutex
	now     func() time.Time
	run     string // the current run's id, under mu
}

// New returns an applier over targets that writes one JSON line per API call
// (and one per run) to audit; audit must not be nil.
func New(targets []Target, audit io.Writer) *Applier {
	return &Applier{targets: targets, audit: audit, now: time.Now}
}

// Outcome of a step.
const (
	StatusDone    = "done"     // carried out
	StatusAllowed = "allowed"  // dry run: EC2 answered DryRunOperation
	StatusFailed  = "failed"   // the call failed: the run stopped here
	StatusNotDone = "not-done" // not attempted, because an earlier step failed
	StatusAlready = "already"  // authorize: the rule already existed
)

// StepResult is a step with what came of it.
type StepResult struct {
	Step
	Target string `json:"target,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// NewRuleIDs are the rules an authorization created.
	NewRuleIDs []string `json:"new_rule_ids,omitempty"`
}

// Result is what a run did.
type Result struct {
	// RunID names the run in the audit log and the ClickHouse applies table.
	RunID   string       `json:"run_id"`
	DryRun  bool         `json:"dry_run"`
	Who     string       `json:"who"`
	Start   time.Time    `json:"start"`
	Steps   []StepResult `json:"steps"`
	Skipped []Skip       `json:"skipped"`
	// Error is the failure that stopped the run ("" when none).
	Error string `json:"error,omitempty"`
}

// Err returns the failure as an error (nil when the run succeeded).
func (r *Result) Err() error {
	if r.Error == "" {
		return nil
	}
	return errors.New(r.Error)
}

// Counts returns how many steps were done (or allowed in a dry run) and how
// many were not.
func (r *Result) Counts() (done, notDone int) {
	for _, s := range r.Steps {
		switch s.Status {
		case StatusDone, StatusAllowed, StatusAlready:
			done++
		default:
			notDone++
		}
	}
	return done, notDone
}

// auditRecord is one line of the audit log.
type auditRecord struct {
	Time     time.Time `json:"time"`
	RunID    string    `json:"run_id"`
	Who      string    `json:"who"`
	Event    string    `json:"event"` // "call" or "run"
	DryRun   bool      `json:"dry_run"`
	Phase    string    `json:"phase,omitempty"` // "check", "dry-run", "apply"
	Target   string    `json:"target,omitempty"`
	Op       string    `json:"op,omitempty"`
	GroupID  string    `json:"group_id,omitempty"`
	RuleKey  string    `json:"rule_key,omitempty"`
	Request  any       `json:"request,omitempty"`
	Response any       `json:"response,omitempty"`
	Error    string    `json:"error,omitempty"`
	Code     string    `json:"error_code,omitempty"`
	Result   *Result   `json:"result,omitempty"`
}

func (a *Applier) log(rec auditRecord) error {
	rec.Time = a.now().UTC()
	rec.RunID = a.run
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if _, err := a.audit.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Apply carries steps out for who. It first locates every group and checks
// that each rule to revoke still exists and is the rule that was judged; then
// it makes every call with DryRun; then, unless dryRun, it makes the calls in
// order, stopping at the first failure. Nothing is changed when a check or a
// dry run fails. The result says what was and was not done; an audit log
// that cannot be written stops the run (nothing is done unrecorded).
func (a *Applier) Apply(ctx context.Context, who string, steps []Step, skipped []Skip, dryRun bool) *Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.run = newRunID()
	res := &Result{RunID: a.run, DryRun: dryRun, Who: who, Start: a.now().UTC(), Skipped: skipped}
	if res.Skipped == nil {
		res.Skipped = []Skip{}
	}
	res.Steps = make([]StepResult, len(steps))
	for i, s := range steps {
		res.Steps[i] = StepResult{Step: s, Status: StatusNotDone}
	}
	fail := func(err error) *Result { // nil: the run finished
		if err != nil {
			res.Error = err.Error()
		}
		if lerr := a.log(auditRecord{Who: who, Event: "run", DryRun: dryRun, Result: res}); lerr != nil {
			res.Error += "; " + lerr.Error()
		}
		return res
	}
	if err := a.log(auditRecord{Who: who, Event: "run", DryRun: dryRun, Phase: "start",
		Request: map[string]any{"steps": steps, "skipped": res.Skipped}}); err != nil {
		return fail(err)
	}
	// 1. Where each group lives, and its current rules.
	where := map[string]int{}
	for i := range res.Steps {
		st := &res.Steps[i]
		ti, ok := where[st.GroupID]
		if !ok {
			var err error
			if ti, err = a.locate(ctx, who, dryRun, st.GroupID, st.RuleKey); err != nil {
				return fail(err)
			}
			where[st.GroupID] = ti
		}
		st.Target = a.targets[ti].Name
	}
	if err := a.checkRevokes(ctx, who, dryRun, res.Steps, where); err != nil {
		return fail(err)
	}
	// 2. Every call with DryRun first.
	for i := range res.Steps {
		st := &res.Steps[i]
		_, err := a.call(ctx, who, dryRun, "dry-run", a.targets[where[st.GroupID]], st, true)
		if code := apiCode(err); code != "DryRunOperation" {
			if err == nil {
				err = errors.New("EC2 did not answer DryRunOperation to a dry run")
			}
			st.Status, st.Error = StatusFailed, err.Error()
			return fail(fmt.Errorf("dry run of step %d (%s %s %s): %w; nothing was changed", i+1, st.Op, st.GroupID, st.RuleKey, err))
		}
		if dryRun {
			st.Status = StatusAllowed
		}
	}
	if dryRun {
		return fail(nil)
	}
	// 3. The real calls, in order, stopping at the first failure.
	for i := range res.Steps {
		st := &res.Steps[i]
		out, err := a.call(ctx, who, dryRun, "apply", a.targets[where[st.GroupID]], st, false)
		if err != nil && strings.HasPrefix(st.Op, "authorize") && apiCode(err) == "InvalidPermission.Duplicate" {
			st.Status = StatusAlready
			continue
		}
		if err != nil {
			st.Status, st.Error = StatusFailed, err.Error()
			done, _ := res.Counts()
			return fail(fmt.Errorf("step %d of %d (%s %s) failed after %d done: %w", i+1, len(res.Steps), st.Op, st.GroupID, done, err))
		}
		st.Status, st.NewRuleIDs = StatusDone, out
	}
	return fail(nil)
}

// newRunID returns a random run id of 16 hex digits.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// locate finds the target whose account holds group id.
func (a *Applier) locate(ctx context.Context, who string, dryRun bool, id, key string) (int, error) {
	var errs []error
	for i, t := range a.targets {
		in := &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{id}}}, MaxResults: aws.Int32(1000)}
		out, err := t.Client.DescribeSecurityGroupRules(ctx, in)
		if lerr := a.log(auditRecord{Who: who, Event: "call", DryRun: dryRun, Phase: "check", Target: t.Name, Op: "DescribeSecurityGroupRules",
			GroupID: id, RuleKey: key, Request: in, Response: out, Error: errString(err), Code: apiCode(err)}); lerr != nil {
			return 0, lerr
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
			continue
		}
		if len(out.SecurityGroupRules) > 0 {
			return i, nil
		}
	}
	return 0, fmt.Errorf("group %s not found in %d targets: %w", id, len(a.targets), errors.Join(errs...))
}

// checkRevokes verifies that every rule to revoke still exists in its group
// and is the rule that was judged (protocol, ports, peer).
func (a *Applier) checkRevokes(ctx context.Context, who string, dryRun bool, steps []StepResult, where map[string]int) error {
	for i := range steps {
		st := &steps[i]
		if !strings.HasPrefix(st.Op, "revoke") {
			continue
		}
		t := a.targets[where[st.GroupID]]
		in := &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{st.RuleID}}
		out, err := t.Client.DescribeSecurityGroupRules(ctx, in)
		if lerr := a.log(auditRecord{Who: who, Event: "call", DryRun: dryRun, Phase: "check", Target: t.Name, Op: "DescribeSecurityGroupRules",
			GroupID: st.GroupID, RuleKey: st.RuleKey, Request: in, Response: out, Error: errString(err), Code: apiCode(err)}); lerr != nil {
			return lerr
		}
		if err != nil && apiCode(err) != "InvalidSecurityGroupRuleId.NotFound" {
			st.Status, st.Error = StatusFailed, err.Error()
			return fmt.Errorf("checking rule %s of %s: %w; nothing was changed", st.RuleID, st.GroupID, err)
		}
		if err != nil || len(out.SecurityGroupRules) != 1 {
			st.Status, st.Error = StatusFailed, "rule not found"
			return fmt.Errorf("rule %s of %s no longer exists; nothing was changed", st.RuleID, st.GroupID)
		}
		r := out.SecurityGroupRules[0]
		if got := specOf(r); aws.ToString(r.GroupId) != st.GroupID || aws.ToBool(r.IsEgress) != (st.Op == "revoke-egress") || !sameSpec(got, st.Judged) {
			st.Status, st.Error = StatusFailed, "rule changed since the analysis"
			return fmt.Errorf("rule %s of %s is now %s %+v, not the %+v that was judged; nothing was changed",
				st.RuleID, st.GroupID, map[bool]string{true: "egress", false: "ingress"}[aws.ToBool(r.IsEgress)], got, st.Judged)
		}
	}
	return nil
}

// specOf renders an EC2 rule like the suggestions JSON does.
func specOf(r types.SecurityGroupRule) advisor.RuleSpec {
	s := advisor.RuleSpec{FromPort: aws.ToInt32(r.FromPort), ToPort: aws.ToInt32(r.ToPort)}
	if p, err := inventory.ParseProtocol(aws.ToString(r.IpProtocol)); err == nil {
		s.Protocol = inventory.ProtocolName(p)
		if !inventory.HasPorts(p) {
			s.FromPort, s.ToPort = -1, -1
		}
	}
	switch {
	case r.CidrIpv4 != nil:
		s.Source = aws.ToString(r.CidrIpv4)
	case r.CidrIpv6 != nil:
		s.Source = aws.ToString(r.CidrIpv6)
	case r.PrefixListId != nil:
		s.Source = aws.ToString(r.PrefixListId)
	case r.ReferencedGroupInfo != nil:
		s.Source = aws.ToString(r.ReferencedGroupInfo.GroupId)
	}
	return s
}

func sameSpec(a, b advisor.RuleSpec) bool {
	canon := func(s string) string {
		if p, err := netip.ParsePrefix(s); err == nil {
			return p.Masked().String()
		}
		return s
	}
	return a.Protocol == b.Protocol && a.FromPort == b.FromPort && a.ToPort == b.ToPort && canon(a.Source) == canon(b.Source)
}

// call makes step st's EC2 call (with DryRun when dry) and logs it; it
// returns the rule ids an authorization created.
func (a *Applier) call(ctx context.Context, who string, dryRunRun bool, phase string, t Target, st *StepResult, dry bool) ([]string, error) {
	var (
		req, resp any
		err       error
		ids       []string
		opName    string
	)
	dr := aws.Bool(dry)
	switch st.Op {
	case "authorize-ingress":
		opName = "AuthorizeSecurityGroupIngress"
		in := &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(st.GroupID), IpPermissions: permissions(st.Rules, st.Description), DryRun: dr}
		req = in
		var out *ec2.AuthorizeSecurityGroupIngressOutput
		if out, err = t.Client.AuthorizeSecurityGroupIngress(ctx, in); err == nil {
			resp = out
			ids = ruleIDs(out.SecurityGroupRules)
			if !aws.ToBool(out.Return) {
				err = errors.New("EC2 answered Return=false")
			}
		}
	case "authorize-egress":
		opName = "AuthorizeSecurityGroupEgress"
		in := &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(st.GroupID), IpPermissions: permissions(st.Rules, st.Description), DryRun: dr}
		req = in
		var out *ec2.AuthorizeSecurityGroupEgressOutput
		if out, err = t.Client.AuthorizeSecurityGroupEgress(ctx, in); err == nil {
			resp = out
			ids = ruleIDs(out.SecurityGroupRules)
			if !aws.ToBool(out.Return) {
				err = errors.New("EC2 answered Return=false")
			}
		}
	case "revoke-ingress":
		opName = "RevokeSecurityGroupIngress"
		in := &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(st.GroupID), SecurityGroupRuleIds: []string{st.RuleID}, DryRun: dr}
		req = in
		var out *ec2.RevokeSecurityGroupIngressOutput
		if out, err = t.Client.RevokeSecurityGroupIngress(ctx, in); err == nil {
			resp = out
			if !aws.ToBool(out.Return) || len(out.UnknownIpPermissions) > 0 {
				err = fmt.Errorf("EC2 did not revoke rule %s (Return=%v)", st.RuleID, aws.ToBool(out.Return))
			}
		}
	case "revoke-egress":
		opName = "RevokeSecurityGroupEgress"
		in := &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(st.GroupID), SecurityGroupRuleIds: []string{st.RuleID}, DryRun: dr}
		req = in
		var out *ec2.RevokeSecurityGroupEgressOutput
		if out, err = t.Client.RevokeSecurityGroupEgress(ctx, in); err == nil {
			resp = out
			if !aws.ToBool(out.Return) || len(out.UnknownIpPermissions) > 0 {
				err = fmt.Errorf("EC2 did not revoke rule %s (Return=%v)", st.RuleID, aws.ToBool(out.Return))
			}
		}
	default:
		return nil, fmt.Errorf("unknown step %q", st.Op)
	}
	if lerr := a.log(auditRecord{Who: who, Event: "call", DryRun: dryRunRun, Phase: phase, Target: t.Name, Op: opName,
		GroupID: st.GroupID, RuleKey: st.RuleKey, Request: req, Response: resp, Error: errString(err), Code: apiCode(err)}); lerr != nil {
		// Unrecorded: report it as the failure (after a real call, the change
		// happened but could not be logged).
		return ids, errors.Join(err, lerr)
	}
	return ids, err
}

// permissions converts rules to EC2 IpPermissions, one per rule.
func permissions(rs []advisor.RuleSpec, desc string) []types.IpPermission {
	out := make([]types.IpPermission, 0, len(rs))
	for _, r := range rs {
		p := types.IpPermission{IpProtocol: aws.String(r.Protocol)}
		if r.Protocol == "all" {
			p.IpProtocol = aws.String("-1")
		} else {
			p.FromPort, p.ToPort = aws.Int32(r.FromPort), aws.Int32(r.ToPort)
		}
		d := aws.String(desc)
		switch {
		case strings.HasPrefix(r.Source, "sg-"):
			p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(r.Source), Description: d}}
		case strings.HasPrefix(r.Source, "pl-"):
			p.PrefixListIds = []types.PrefixListId{{PrefixListId: aws.String(r.Source), Description: d}}
		default:
			if pr, err := netip.ParsePrefix(r.Source); err == nil && pr.Addr().Is6() {
				p.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String(r.Source), Description: d}}
			} else {
				p.IpRanges = []types.IpRange{{CidrIp: aws.String(r.Source), Description: d}}
			}
		}
		out = append(out, p)
	}
	return out
}

func ruleIDs(rs []types.SecurityGroupRule) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, aws.ToString(r.SecurityGroupRuleId))
	}
	return ids
}

// apiCode returns the AWS error code of err ("" for none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
