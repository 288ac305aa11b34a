package apply

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// policyActions returns every action a policy file allows.
func policyActions(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "configs", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Effect string
			Action []string
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out []string
	for _, s := range doc.Statement {
		if s.Effect != "Allow" {
			t.Errorf("%s: unexpected effect %q", name, s.Effect)
		}
		out = append(out, s.Action...)
	}
	return out
}

// The applier policy allows exactly the calls Apply makes; the reader
// policy holds no action that changes anything.
func TestPolicies(t *testing.T) {
	got := policyActions(t, "iam-apply-policy.json")
	slices.Sort(got)
	want := []string{"ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:DescribeSecurityGroupRules",
		"ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"}
	if !slices.Equal(got, want) {
		t.Errorf("apply policy actions %v, want %v", got, want)
	}
	read := policyActions(t, "iam-read-policy.json")
	for _, a := range []string{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules",
		"ec2:DescribeManagedPrefixLists", "ec2:GetManagedPrefixListEntries", "ec2:DescribeFlowLogs"} {
		if !slices.Contains(read, a) {
			t.Errorf("read policy lacks %s, which the inventory calls", a)
		}
	}
	for _, a := range read {
		for _, verb := range []string{"Authorize", "Revoke", "Create", "Delete", "Modify", "Put"} {
			if strings.Contains(a, ":"+verb) {
				t.Errorf("read policy allows %s", a)
			}
		}
	}
}
