package analysis

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// observeLines feeds flow-log lines of format fm to a new accumulator on inv.
func observeLines(t *testing.T, inv *inventory.Inventory, fm *flowlog.Format, lines ...string) *Accumulator {
	t.Helper()
	acc := NewAccumulator(NewEngine(inv), sketch.DefaultConfig())
	p := flowlog.NewParser(fm)
	for _, l := range lines {
		var rec flowlog.Record
		if err := p.Parse([]byte(l), &rec); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		acc.Observe(&rec)
	}
	return acc
}

// suggestionsByKey indexes a report's suggestions by rule key. The
// attribution tests' records span minutes: no minimum history applies, so
// that confidence speaks of attribution alone.
func suggestionsByKey(acc *Accumulator) map[string]advisor.Suggestion {
	cfg := advisor.DefaultConfig()
	cfg.MinHistory = 0
	rep, keys := acc.ReportKeys(cfg)
	out := map[string]advisor.Suggestion{}
	for i, s := range rep.Suggestions {
		out[keys[i]] = s
	}
	return out
}

func rule(g string, proto int16, from, to int32, src inventory.Source) inventory.Rule {
	return inventory.Rule{GroupID: g, Protocol: proto, FromPort: from, ToPort: to, Source: src}
}

func groupSrc(id string) inventory.Source {
	return inventory.Source{Kind: inventory.SourceGroup, ID: id}
}
func cidrSrc(s string) inventory.Source { return inventory.CIDRSource(netip.MustParsePrefix(s)) }

var flagsFormat = flowlog.MustParseFormat("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${tcp-flags}")

// TestDelegatedPrefixMembers: pods on addresses of a prefix delegated to a
// node's interface (EKS prefix mode, IPv4 /28 and IPv6 /80) are members of
// the node's group, so a database rule "from sg-node" is in use, and the
// node's own records to and from pod addresses have a direction.
func TestDelegatedPrefixMembers(t *testing.T) {
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-node", VPCID: "vpc-1", Rules: []inventory.Rule{rule("sg-node", 6, 8080, 8080, cidrSrc("10.0.0.0/8"))}})
	inv.AddGroup(inventory.Group{ID: "sg-db", VPCID: "vpc-1", Rules: []inventory.Rule{
		rule("sg-db", 6, 5432, 5432, groupSrc("sg-node")),
		rule("sg-db", 6, 5433, 5433, groupSrc("sg-node")),
	}})
	inv.AddENI(inventory.ENI{ID: "eni-node", VPCID: "vpc-1", Groups: []string{"sg-node"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.5")},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.1.16/28"), netip.MustParsePrefix("2001:db8:0:1:2::/80")}})
	inv.AddENI(inventory.ENI{ID: "eni-db", VPCID: "vpc-1", Groups: []string{"sg-db"},
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.9.9"), netip.MustParseAddr("2001:db8:0:9::9")}})
	const post = " 6 10 840 1700000000 1700000060 ACCEPT OK 2"
	acc := observeLines(t, inv, flagsFormat,
		"3 1 eni-db 10.0.1.20 10.0.9.9 40000 5432"+post,                     // a pod of the /28
		"3 1 eni-db 2001:db8:0:1:2:0:abc:1 2001:db8:0:9::9 40001 5433"+post, // a pod of the /80
		"3 1 eni-node 10.9.9.9 10.0.1.21 40002 8080"+post,                   // to a pod: ingress on the node
	)
	by := suggestionsByKey(acc)
	for _, k := range []string{"sg-db|ingress|6|5432|5432|sg-node", "sg-db|ingress|6|5433|5433|sg-node", "sg-node|ingress|6|8080|8080|10.0.0.0/8"} {
		if s := by[k]; s.Verdict == advisor.VerdictRemove || s.Evidence.Flows != 1 {
			t.Errorf("%s: %+v", k, s)
		}
	}
	if st := acc.Stats(); st.Undetermined != 0 || st.Inbound != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestPublicAddressesAreNotMembers: a flow from a member's Elastic IP is not
// allowed by a reference to its group (AWS matches private addresses only):
// the 0.0.0.0/0 rule that admits it stays, the reference is unused.
func TestPublicAddressesAreNotMembers(t *testing.T) {
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-peer", VPCID: "vpc-1"})
	inv.AddGroup(inventory.Group{ID: "sg-web", VPCID: "vpc-1", Rules: []inventory.Rule{
		rule("sg-web", 6, 443, 443, groupSrc("sg-peer")),
		rule("sg-web", 6, 443, 443, cidrSrc("0.0.0.0/0")),
	}})
	inv.AddENI(inventory.ENI{ID: "eni-peer", VPCID: "vpc-1", Groups: []string{"sg-peer"},
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.5.5"), netip.MustParseAddr("198.51.100.7")}, NumPublic: 1})
	inv.AddENI(inventory.ENI{ID: "eni-web", VPCID: "vpc-1", Groups: []string{"sg-web"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.6.6")}})
	acc := observeLines(t, inv, flagsFormat, "3 1 eni-web 198.51.100.7 10.0.6.6 40000 443 6 10 840 1700000000 1700000060 ACCEPT OK 2")
	by := suggestionsByKey(acc)
	wild := by["sg-web|ingress|6|443|443|0.0.0.0/0"]
	if wild.Verdict == advisor.VerdictRemove || wild.Evidence.Flows != 1 {
		t.Errorf("0.0.0.0/0 rule: %+v", wild)
	}
	if ref := by["sg-web|ingress|6|443|443|sg-peer"]; ref.Verdict != advisor.VerdictRemove || ref.Evidence.Flows != 0 {
		t.Errorf("group reference credited with a public address: %+v", ref)
	}
}

// TestUnresolvedReferencesAreKept: a rule referencing a group the inventory
// lacks, a group of a VPC whose interfaces it lacks, or an unknown prefix
// list cannot be judged: keep, "unresolved-reference", low confidence; and
// such a rule takes no flow's credit from the rules that can be judged.
func TestUnresolvedReferencesAreKept(t *testing.T) {
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-peer", VPCID: "vpc-peer", OwnerID: "222222222222"}) // its interfaces are not loaded
	inv.AddGroup(inventory.Group{ID: "sg-app", VPCID: "vpc-1", Rules: []inventory.Rule{
		rule("sg-app", 6, 22, 22, groupSrc("sg-gone")),
		rule("sg-app", 6, 22, 22, groupSrc("sg-peer")),
		rule("sg-app", 6, 443, 443, inventory.Source{Kind: inventory.SourcePrefixList, ID: "pl-unknown"}),
		rule("sg-app", 6, 443, 443, cidrSrc("10.0.0.0/8")),
	}})
	inv.AddENI(inventory.ENI{ID: "eni-app", VPCID: "vpc-1", Groups: []string{"sg-app"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.6.6")}})
	acc := observeLines(t, inv, flagsFormat, "3 1 eni-app 10.0.7.7 10.0.6.6 40000 443 6 10 840 1700000000 1700000060 ACCEPT OK 2")
	by := suggestionsByKey(acc)
	for _, k := range []string{"sg-app|ingress|6|22|22|sg-gone", "sg-app|ingress|6|22|22|sg-peer", "sg-app|ingress|6|443|443|pl-unknown"} {
		s := by[k]
		if s.Verdict != advisor.VerdictKeep || !slices.Equal(s.Reasons, []string{advisor.ReasonUnresolvedReference}) ||
			s.Confidence != advisor.ConfidenceLow || len(s.Proposed) != 1 || s.Evidence.Flows != 0 {
			t.Errorf("%s: %+v", k, s)
		}
	}
	if s := by["sg-app|ingress|6|443|443|10.0.0.0/8"]; s.Verdict == advisor.VerdictRemove || s.Evidence.Flows != 1 {
		t.Errorf("the CIDR rule lost the flow: %+v", s)
	}
	if n := acc.Engine().UnresolvedCount(); n != 3 {
		t.Errorf("UnresolvedCount = %d, want 3", n)
	}
	// The peer account's interfaces resolve sg-peer: its rule is judged.
	inv.AddENI(inventory.ENI{ID: "eni-peer", VPCID: "vpc-peer", AccountID: "222222222222", Groups: []string{"sg-peer"},
		Addrs: []netip.Addr{netip.MustParseAddr("172.16.0.5")}})
	acc = observeLines(t, inv, flagsFormat, "3 1 eni-app 172.16.0.5 10.0.6.6 40000 22 6 10 840 1700000000 1700000060 ACCEPT OK 2")
	by = suggestionsByKey(acc)
	if s := by["sg-app|ingress|6|22|22|sg-peer"]; s.Verdict != advisor.VerdictKeep || s.Evidence.Flows != 1 || s.Confidence != advisor.ConfidenceHigh {
		t.Errorf("resolved peer reference: %+v", s)
	}
}

// TestInterfacesWithoutGroups: records of an interface without security
// groups (a NAT gateway) are counted apart, not as requests no rule allows.
func TestInterfacesWithoutGroups(t *testing.T) {
	inv := inventory.New()
	inv.AddENI(inventory.ENI{ID: "eni-nat", VPCID: "vpc-1", InterfaceType: "nat_gateway", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.7")}})
	acc := observeLines(t, inv, flagsFormat,
		"3 1 eni-nat 10.0.3.3 10.0.0.7 40000 443 6 10 840 1700000000 1700000060 ACCEPT OK 2",
		"3 1 eni-nat 10.0.0.7 203.0.113.9 40000 443 6 10 840 1700000000 1700000060 ACCEPT OK 2")
	if st := acc.Stats(); st.NoGroups != 2 || st.Unmatched != 0 || st.Inbound+st.Outbound != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestCoarsePortsNarrowToTheirEnds: beyond 64 distinct ports the sketch keeps
// 64-port buckets, each with its lowest and highest port seen, so a narrowed
// range ends at ports that were used, not at bucket boundaries.
func TestCoarsePortsNarrowToTheirEnds(t *testing.T) {
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-1", VPCID: "vpc-1", Rules: []inventory.Rule{rule("sg-1", 6, 1024, 65535, cidrSrc("10.0.0.0/8"))}})
	inv.AddENI(inventory.ENI{ID: "eni-1", VPCID: "vpc-1", Groups: []string{"sg-1"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.6.6")}})
	var lines []string
	for p := 30010; p < 30110; p++ {
		lines = append(lines, fmt.Sprintf("3 1 eni-1 10.0.7.7 10.0.6.6 40000 %d 6 10 840 1700000000 1700000060 ACCEPT OK 2", p))
	}
	s := suggestionsByKey(observeLines(t, inv, flagsFormat, lines...))["sg-1|ingress|6|1024|65535|10.0.0.0/8"]
	if s.Verdict != advisor.VerdictNarrow || len(s.Proposed) != 1 || s.Proposed[0].FromPort != 30010 || s.Proposed[0].ToPort != 30109 {
		t.Errorf("%+v", s)
	}
}
