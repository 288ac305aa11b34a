package awsjson

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/inventory"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func perm(proto string, from, to int) string {
	return `{"IpProtocol":"` + proto + `","FromPort":` + itoa(from) + `,"ToPort":` + itoa(to) + `,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]}`
}

func itoa(i int) string { return strconv.Itoa(i) }

// Port ranges and ICMP types EC2 would never accept make the load fail with
// the file, the group and the values (they used to be accepted silently).
func TestPortSanity(t *testing.T) {
	for _, c := range []struct{ perm, want string }{
		{perm("tcp", 443, 80), "tcp port range 443-80: FromPort is above ToPort"},
		{perm("udp", -1, 80), "udp port range -1-80 is out of range"},
		{perm("icmp", 999, -1), "icmp type 999 is out of range"},
		{perm("icmpv6", 1, 300), "icmpv6 code 300 is out of range"},
	} {
		p := writeFile(t, "sg.json", `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[`+perm("tcp", 22, 22)+`,`+c.perm+`]}]}`)
		_, err := LoadFile(inventory.New(), p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "sg-1") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.perm, err)
		}
	}
	rules := writeFile(t, "rules.json", `{"SecurityGroupRules":[{"SecurityGroupRuleId":"sgr-1","GroupId":"sg-1","IpProtocol":"tcp","FromPort":8080,"ToPort":80,"CidrIpv4":"0.0.0.0/0"}]}`)
	if _, err := LoadFile(inventory.New(), rules); err == nil || !strings.Contains(err.Error(), "sgr-1") || !strings.Contains(err.Error(), "FromPort is above ToPort") {
		t.Errorf("rules: %v", err)
	}
	// Valid edge cases still load: all ports, all ICMP, a full range, protocol 50 with odd ports.
	ok := writeFile(t, "ok.json", `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[`+perm("tcp", -1, -1)+`,`+perm("icmp", -1, -1)+`,`+
		perm("udp", 0, 65535)+`,`+perm("icmp", 3, 4)+`,`+perm("50", 7, 3)+`]}]}`)
	if _, err := LoadFile(inventory.New(), ok); err != nil {
		t.Errorf("valid ports refused: %v", err)
	}
}

// A group listed twice, in one file or in two, keeps the rules of both and
// is reported with the file and the id (the later listing used to replace the
// earlier silently).
func TestDuplicateGroupsKeepAllRules(t *testing.T) {
	g := func(ports ...int) string {
		var ps []string
		for _, p := range ports {
			ps = append(ps, perm("tcp", p, p))
		}
		return `{"GroupId":"sg-1","GroupName":"web","IpPermissions":[` + strings.Join(ps, ",") + `]}`
	}
	other := `{"GroupId":"sg-2","IpPermissions":[` + perm("tcp", 9, 9) + `]}`
	one := writeFile(t, "one.json", `{"SecurityGroups":[`+g(22, 80)+`,`+other+`,`+g(80, 443)+`]}`)
	inv := inventory.New()
	if _, err := LoadFile(inv, one); err != nil {
		t.Fatal(err)
	}
	if n := len(inv.Rules()); n != 4 {
		t.Errorf("one file: %d rules, want 4 (22, 80, 443 and sg-2's)", n)
	}
	warns := joinErrs(inv.Validate())
	if !strings.Contains(warns, one) || !strings.Contains(warns, "sg-1 (SecurityGroups[2])") || !strings.Contains(warns, "(1 only in the earlier one)") {
		t.Errorf("one file: warnings %q", warns)
	}

	a := writeFile(t, "a.json", `{"SecurityGroups":[`+g(22, 80)+`,`+other+`]}`)
	b := writeFile(t, "b.json", `{"SecurityGroups":[`+g(443)+`]}`)
	inv = inventory.New()
	for _, f := range []string{a, b} {
		if _, err := LoadFile(inv, f); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(inv.Rules()); n != 4 {
		t.Errorf("two files: %d rules, want 4", n)
	}
	warns = joinErrs(inv.Validate())
	if !strings.Contains(warns, b) || !strings.Contains(warns, "1 security group is also in an input loaded before (sg-1)") || !strings.Contains(warns, "(2 only in the earlier input)") {
		t.Errorf("two files: warnings %q", warns)
	}
	// A rules export of the same group is no duplicate.
	inv = inventory.New()
	rules := writeFile(t, "rules.json", `{"SecurityGroupRules":[{"SecurityGroupRuleId":"sgr-1","GroupId":"sg-1","IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIpv4":"10.0.0.0/8"}]}`)
	for _, f := range []string{rules, a} {
		if _, err := LoadFile(inv, f); err != nil {
			t.Fatal(err)
		}
	}
	if w := joinErrs(inv.Validate()); strings.Contains(w, "loaded before") || strings.Contains(w, "twice") {
		t.Errorf("rules + groups: %q", w)
	}
}

func joinErrs(es []error) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}
