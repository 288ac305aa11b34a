package seed

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/inventory"
)

func TestSampleTakesWholeGroups(t *testing.T) {
	var rules []inventory.Rule
	for g := range 10 {
		for range 5 {
			rules = append(rules, inventory.Rule{GroupID: string(rune('a' + g))})
		}
	}
	if got := sampleRules(rules, 0); len(got) != 50 {
		t.Fatalf("all: %d rules", len(got))
	}
	got := sampleRules(rules, 10)
	groups := map[string]int{}
	for _, i := range got {
		groups[rules[i].GroupID]++
	}
	for g, n := range groups {
		if n != 5 {
			t.Errorf("group %s sampled with %d of its 5 rules", g, n)
		}
	}
	if len(got) < 10 || len(got) >= 50 {
		t.Errorf("%d rules sampled for 10", len(got))
	}
}

func TestRuleQueryAndRank(t *testing.T) {
	cidr := inventory.Rule{GroupID: "sg-1", Protocol: 6, FromPort: 22, ToPort: 22,
		Source: inventory.Source{Kind: inventory.SourceCIDR, Prefix: netip.MustParsePrefix("10.1.0.0/16")}}
	q, inGo := ruleQuery("db", cidr)
	for _, want := range []string{"has(groups, 'sg-1')", "direction = 1", "protocol = 6", "port BETWEEN 22 AND 22",
		"bitAnd(remote4, 4294901760) = 167837696"} {
		if !strings.Contains(q, want) {
			t.Errorf("query lacks %q: %s", want, q)
		}
	}
	if inGo != nil {
		t.Error("an IPv4 prefix is matched in SQL")
	}
	group := inventory.Rule{GroupID: "sg-1", Protocol: -1, Source: inventory.Source{Kind: inventory.SourceGroup, ID: "sg-2"}}
	if q, _ := ruleQuery("db", group); !strings.Contains(q, "has(remote_groups, 'sg-2')") || strings.Contains(q, "protocol =") {
		t.Errorf("group rule query: %s", q)
	}
	// Group references are credited before CIDRs, smaller CIDRs before wider.
	wide := cidr
	wide.Source.Prefix = netip.MustParsePrefix("10.0.0.0/8")
	if !rankLess(nil, group, 9, cidr, 0) || !rankLess(nil, cidr, 5, wide, 1) || rankLess(nil, wide, 1, cidr, 5) {
		t.Error("rank order differs from cinch's")
	}
}
