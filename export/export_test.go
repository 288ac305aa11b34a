package export

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/advisor"
)

// report holds one rule of each kind the writers treat differently.
func report() *advisor.Report {
	return &advisor.Report{Suggestions: []advisor.Suggestion{
		{GroupID: "sg-internal", Direction: "ingress",
			Rule:    advisor.RuleSpec{Protocol: "tcp", FromPort: 8080, ToPort: 8080, Source: "sg-web"},
			Verdict: advisor.VerdictKeep, Reasons: []string{"in-use", "group-reference"},
			Proposed: []advisor.RuleSpec{{Protocol: "tcp", FromPort: 8080, ToPort: 8080, Source: "sg-web"}}},
		{GroupID: "sg-internal", Direction: "egress",
			Rule:    advisor.RuleSpec{Protocol: "all", FromPort: -1, ToPort: -1, Source: "0.0.0.0/0"},
			Verdict: advisor.VerdictNarrow, Reasons: []string{"few-sources", "wide-protocol"},
			Proposed: []advisor.RuleSpec{{Protocol: "tcp", FromPort: 5432, ToPort: 5432, Source: "10.0.3.0/24"}}},
		{GroupID: "sg-public", RuleID: "sgr-0ssh", Direction: "ingress",
			Rule:    advisor.RuleSpec{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "0.0.0.0/0"},
			Verdict: advisor.VerdictNarrow, Reasons: []string{"few-sources"},
			Proposed: []advisor.RuleSpec{{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "203.0.113.7/32"},
				{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "2001:db8::/64"}}},
		{GroupID: "sg-public", RuleID: "sgr-0web", Direction: "ingress",
			Rule:    advisor.RuleSpec{Protocol: "tcp", FromPort: 80, ToPort: 80, Source: "0.0.0.0/0"},
			Verdict: advisor.VerdictRemove, Reasons: []string{"no-traffic"}, Proposed: []advisor.RuleSpec{}},
	}}
}

func write(t *testing.T, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, format, report()); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTable(t *testing.T) {
	out := write(t, "table")
	for _, want := range []string{
		"4 rules: 1 keep, 2 narrow, 1 remove",
		"tcp 22 from 0.0.0.0/0",
		"tcp 22 from 203.0.113.7/32; tcp 22 from 2001:db8::/64",
		"all * to 0.0.0.0/0", // an egress rule names its destination
		"tcp 5432 to 10.0.3.0/24",
		"(remove)", "(unchanged)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The group with the widest ingress exposure comes first.
	if strings.Index(out, "sg-public") > strings.Index(out, "sg-internal") {
		t.Errorf("sg-public (0.0.0.0/0 ingress) must come before sg-internal:\n%s", out)
	}
}

var permArg = regexp.MustCompile(`--ip-permissions '([^']*)'`)

func TestCLI(t *testing.T) {
	out := write(t, "cli")
	auth := strings.Index(out, "aws ec2 authorize-security-group-ingress --group-id sg-public")
	revoke := strings.Index(out, "aws ec2 revoke-security-group-ingress --group-id sg-public --security-group-rule-ids sgr-0ssh")
	if auth < 0 || revoke < 0 || auth > revoke {
		t.Errorf("the narrow rules must be authorized before the wide one is revoked:\n%s", out)
	}
	if !strings.Contains(out, "aws ec2 revoke-security-group-ingress --group-id sg-public --security-group-rule-ids sgr-0web") {
		t.Errorf("unused rule not revoked:\n%s", out)
	}
	if strings.Contains(out, "sg-web") {
		t.Errorf("a kept rule must not appear:\n%s", out)
	}
	if !strings.Contains(out, "aws ec2 authorize-security-group-egress --group-id sg-internal") ||
		!strings.Contains(out, "aws ec2 revoke-security-group-egress --group-id sg-internal --ip-permissions") {
		t.Errorf("egress rule without id: authorize and revoke by permissions:\n%s", out)
	}
	// Every --ip-permissions argument is the JSON the AWS CLI takes.
	var seen []ipPermission
	for _, m := range permArg.FindAllStringSubmatch(out, -1) {
		var ps []ipPermission
		if err := json.Unmarshal([]byte(m[1]), &ps); err != nil {
			t.Fatalf("--ip-permissions %s: %v", m[1], err)
		}
		seen = append(seen, ps...)
	}
	var v4, v6, all bool
	for _, p := range seen {
		switch {
		case len(p.IPRanges) == 1 && p.IPRanges[0]["CidrIp"] == "203.0.113.7/32" && *p.FromPort == 22:
			v4 = true
		case len(p.IPv6Ranges) == 1 && p.IPv6Ranges[0]["CidrIpv6"] == "2001:db8::/64":
			v6 = true
		case p.IPProtocol == "-1" && p.FromPort == nil && len(p.IPRanges) == 1 && p.IPRanges[0]["CidrIp"] == "0.0.0.0/0":
			all = true
		}
	}
	if !v4 || !v6 || !all {
		t.Errorf("permissions %+v: want the IPv4 and IPv6 narrow rules and the all-protocol revoke", seen)
	}
}

func TestTerraform(t *testing.T) {
	out := write(t, "terraform")
	for _, want := range []string{
		`resource "aws_vpc_security_group_ingress_rule"`,
		`resource "aws_vpc_security_group_egress_rule"`,
		`referenced_security_group_id = "sg-web"`,
		`cidr_ipv4         = "203.0.113.7/32"`,
		`cidr_ipv6         = "2001:db8::/64"`,
		`description       = "cinch: narrowed from tcp 22 from 0.0.0.0/0"`,
		`description       = "cinch: narrowed from all * to 0.0.0.0/0"`,
		"# removed: ingress tcp 80 from 0.0.0.0/0 (no-traffic)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terraform lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `cidr_ipv4         = "0.0.0.0/0"`) {
		t.Errorf("a narrowed or removed wide rule must not be a resource:\n%s", out)
	}
	names := regexp.MustCompile(`resource "[a-z_]+" "([A-Za-z0-9_]+)"`).FindAllStringSubmatch(out, -1)
	uniq := map[string]bool{}
	for _, n := range names {
		if uniq[n[1]] {
			t.Errorf("resource name %s twice", n[1])
		}
		uniq[n[1]] = true
	}
	if len(names) != 4 {
		t.Errorf("%d resources, want 4 (kept, egress narrow, two ssh sources)", len(names))
	}
}

func TestUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, "yaml", report())
	if err == nil || !strings.Contains(err.Error(), "json, table, cli, terraform") {
		t.Errorf("err = %v", err)
	}
}
