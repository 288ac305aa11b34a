package inventory

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestProtocolNames(t *testing.T) {
	for _, c := range []struct {
		in   string
		num  int16
		name string
	}{
		{"tcp", 6, "tcp"}, {"TCP", 6, "tcp"}, {"6", 6, "tcp"}, {"udp", 17, "udp"}, {"17", 17, "udp"},
		{"icmp", 1, "icmp"}, {"1", 1, "icmp"}, {"icmpv6", 58, "icmpv6"}, {"58", 58, "icmpv6"},
		{"-1", -1, "all"}, {"all", -1, "all"}, {"50", 50, "50"}, {"0", 0, "0"},
	} {
		n, err := ParseProtocol(c.in)
		if err != nil || n != c.num {
			t.Errorf("ParseProtocol(%q) = %d, %v; want %d", c.in, n, err, c.num)
		}
		if got := (Rule{Protocol: n}).ProtocolName(); got != c.name {
			t.Errorf("ProtocolName(%d) = %q, want %q", n, got, c.name)
		}
	}
	for _, bad := range []string{"", "tcpx", "256", "-2"} {
		if _, err := ParseProtocol(bad); err == nil {
			t.Errorf("ParseProtocol(%q): want error", bad)
		}
	}
}

func TestRuleKeyAndNormalize(t *testing.T) {
	src, err := ParseCIDRSource("100.68.0.18/18")
	if err != nil {
		t.Fatal(err)
	}
	if src.String() != "100.68.0.0/18" {
		t.Errorf("CIDR not canonical: %s", src)
	}
	r := Rule{GroupID: "sg-1", Protocol: ProtoTCP, FromPort: 22, ToPort: 22, Source: CIDRSource(netip.MustParsePrefix("10.1.2.3/8"))}
	if got, want := r.Normalize().Key(), "sg-1|ingress|6|22|22|10.0.0.0/8"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	all := Rule{GroupID: "sg-1", Egress: true, Protocol: 50, FromPort: 0, ToPort: 0, Source: Source{Kind: SourcePrefixList, ID: "pl-1"}}
	if got, want := all.Normalize().Key(), "sg-1|egress|50|-1|-1|pl-1"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	grp := Rule{GroupID: "sg-1", Protocol: ProtoAll, FromPort: -1, ToPort: -1, Source: Source{Kind: SourceGroup, ID: "sg-2", UserID: "111"}}
	if got, want := grp.Key(), "sg-1|ingress|-1|-1|-1|sg-2"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	withID := grp
	withID.ID, withID.Description = "sgr-1", "x"
	if withID.Key() != grp.Key() {
		t.Error("Key depends on rule id or description")
	}
}

func TestIntervalContains(t *testing.T) {
	iv := Interval{From: ts("2024-01-01T00:00:00Z"), To: ts("2024-02-01T00:00:00Z")}
	if iv.Contains(ts("2023-12-31T23:59:59Z")) || !iv.Contains(ts("2024-01-01T00:00:00Z")) ||
		iv.Contains(ts("2024-02-01T00:00:00Z")) {
		t.Errorf("half-open interval semantics broken: %s", iv)
	}
	if !(Interval{}).Contains(ts("1999-01-01T00:00:00Z")) {
		t.Error("zero interval must contain everything")
	}
}

func TestENIVersioning(t *testing.T) {
	inv := New()
	t1, t2, t3 := ts("2024-01-01T00:00:00Z"), ts("2024-01-10T00:00:00Z"), ts("2024-01-20T00:00:00Z")
	// Added out of order: versioning must not depend on load order.
	inv.AddENI(ENI{ID: "eni-1", Groups: []string{"sg-b"}, Addrs: addrs("10.0.0.5"), Valid: Interval{From: t2}})
	inv.AddENI(ENI{ID: "eni-1", Groups: []string{"sg-a"}, Addrs: addrs("10.0.0.5", "10.0.0.6", "203.0.113.9"), NumPublic: 1, Valid: Interval{From: t1}})
	inv.DeleteENI("eni-1", t3, Observed)

	vs := inv.ENIVersions("eni-1")
	if len(vs) != 2 {
		t.Fatalf("versions = %d, want 2", len(vs))
	}
	if !vs[0].Valid.From.Equal(t1) || !vs[0].Valid.To.Equal(t2) || !vs[1].Valid.From.Equal(t2) || !vs[1].Valid.To.Equal(t3) {
		t.Errorf("intervals = %s, %s", vs[0].Valid, vs[1].Valid)
	}
	if e, ok := inv.ENIAt("eni-1", ts("2024-01-05T00:00:00Z")); !ok || !slices.Equal(e.Groups, []string{"sg-a"}) {
		t.Errorf("before the change: %+v %v", e, ok)
	}
	if e, ok := inv.ENIAt("eni-1", ts("2024-01-15T00:00:00Z")); !ok || !slices.Equal(e.Groups, []string{"sg-b"}) {
		t.Errorf("after the change: %+v %v", e, ok)
	}
	if _, ok := inv.ENIAt("eni-1", ts("2023-12-01T00:00:00Z")); ok {
		t.Error("version found before the ENI existed")
	}
	if _, ok := inv.ENIAt("eni-1", ts("2024-02-01T00:00:00Z")); ok {
		t.Error("deleted ENI still valid after deletion")
	}
	if e, ok := inv.ENIAt("eni-1", time.Time{}); !ok || e.Valid.To != t3 {
		t.Errorf("latest version: %+v %v", e, ok)
	}
	if e := vs[0]; !slices.Equal(e.PrivateAddrs(), addrs("10.0.0.5", "10.0.0.6")) || !slices.Equal(e.PublicAddrs(), addrs("203.0.113.9")) {
		t.Errorf("addresses: private %v public %v", e.PrivateAddrs(), e.PublicAddrs())
	}
	if got := inv.ENIs(); !slices.Equal(got, []string{"eni-1"}) {
		t.Errorf("ENIs() = %v", got)
	}
}

func TestVersionsSameContentMergeAndTies(t *testing.T) {
	inv := New()
	t1, t2 := ts("2024-01-01T00:00:00Z"), ts("2024-01-02T00:00:00Z")
	inv.AddGroup(Group{ID: "sg-1", Name: "a", Valid: Interval{From: t1}})
	inv.AddGroup(Group{ID: "sg-1", Name: "a", Valid: Interval{From: t2}})
	if vs := inv.GroupVersions("sg-1"); len(vs) != 1 || !vs[0].Valid.From.Equal(t1) || !vs[0].Valid.Open() {
		t.Errorf("identical consecutive versions not merged: %d", len(vs))
	}
	// Same start: the one added last wins.
	inv.AddGroup(Group{ID: "sg-1", Name: "b", Valid: Interval{From: t2}})
	if g, _ := inv.GroupAt("sg-1", t2); g.Name != "b" {
		t.Errorf("tie: got %q, want b", g.Name)
	}
	// Two snapshots without time: the later one replaces the earlier.
	inv.AddENI(ENI{ID: "eni-9", Status: "available"})
	inv.AddENI(ENI{ID: "eni-9", Status: "in-use"})
	if vs := inv.ENIVersions("eni-9"); len(vs) != 1 || vs[0].Status != "in-use" {
		t.Errorf("timeless versions: %+v", vs)
	}
}

func TestBeforeDeletionAndFromInstance(t *testing.T) {
	del := ts("2024-03-01T00:00:00Z")
	// Only the deletion is known: the previous configuration answers before it.
	inv := New()
	inv.DeleteENI("eni-d", del, Observed)
	inv.AddENIVersion(ENI{ID: "eni-d", Addrs: addrs("10.9.9.9"), Valid: Interval{To: del}}, BeforeDeletion)
	if e, ok := inv.ENIAt("eni-d", ts("2024-02-01T00:00:00Z")); !ok || e.Addrs[0] != netip.MustParseAddr("10.9.9.9") {
		t.Fatalf("deleted ENI not answerable before deletion: %v %v", e, ok)
	}
	if _, ok := inv.ENIAt("eni-d", ts("2024-03-02T00:00:00Z")); ok {
		t.Error("deleted ENI valid after deletion")
	}
	// A real version before the deletion supersedes the inferred one.
	created := ts("2024-02-15T00:00:00Z")
	inv.AddENI(ENI{ID: "eni-d", Addrs: addrs("10.9.9.9"), Valid: Interval{From: created}})
	if vs := inv.ENIVersions("eni-d"); len(vs) != 1 || !vs[0].Valid.From.Equal(created) || !vs[0].Valid.To.Equal(del) {
		t.Errorf("inferred version not superseded: %v", vs)
	}

	// Instance-derived versions are a fallback only.
	inv.AddENIVersion(ENI{ID: "eni-i", Groups: []string{"sg-inst"}, InstanceID: "i-1"}, FromInstance)
	if e, _ := inv.ENIAt("eni-i", time.Time{}); e.Groups[0] != "sg-inst" {
		t.Errorf("fallback not used: %v", e.Groups)
	}
	inv.AddENI(ENI{ID: "eni-i", Groups: []string{"sg-eni"}})
	if vs := inv.ENIVersions("eni-i"); len(vs) != 1 || vs[0].Groups[0] != "sg-eni" {
		t.Errorf("observed version does not win over instance-derived: %v", vs)
	}
}

func TestENIsWithAddr(t *testing.T) {
	inv := New()
	t1, t2 := ts("2024-01-01T00:00:00Z"), ts("2024-01-10T00:00:00Z")
	inv.AddENI(ENI{ID: "eni-a", Addrs: addrs("10.0.0.5", "2001:db8::5", "198.51.100.1"), NumPublic: 1, Valid: Interval{From: t1}})
	// The address moves to eni-b at t2.
	inv.AddENI(ENI{ID: "eni-a", Addrs: addrs("10.0.0.7"), Valid: Interval{From: t2}})
	inv.AddENI(ENI{ID: "eni-b", Addrs: addrs("10.0.0.5"), Valid: Interval{From: t2}})

	ids := func(es []*ENI) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	if got := ids(inv.ENIsWithAddr(netip.MustParseAddr("10.0.0.5"), ts("2024-01-05T00:00:00Z"))); !slices.Equal(got, []string{"eni-a"}) {
		t.Errorf("before move: %v", got)
	}
	if got := ids(inv.ENIsWithAddr(netip.MustParseAddr("10.0.0.5"), ts("2024-01-15T00:00:00Z"))); !slices.Equal(got, []string{"eni-b"}) {
		t.Errorf("after move: %v", got)
	}
	if got := ids(inv.ENIsWithAddr(netip.MustParseAddr("10.0.0.5"), time.Time{})); !slices.Equal(got, []string{"eni-b"}) {
		t.Errorf("current: %v", got)
	}
	if got := ids(inv.ENIsWithAddr(netip.MustParseAddr("2001:db8::5"), ts("2024-01-05T00:00:00Z"))); !slices.Equal(got, []string{"eni-a"}) {
		t.Errorf("IPv6: %v", got)
	}
	if got := inv.ENIsWithAddr(netip.MustParseAddr("198.51.100.1"), ts("2024-01-05T00:00:00Z")); len(got) != 0 {
		t.Errorf("public address indexed: %v", ids(got))
	}
	if got := ids(inv.ENIsWithAddr(netip.MustParseAddr("::ffff:10.0.0.5"), ts("2024-01-15T00:00:00Z"))); !slices.Equal(got, []string{"eni-b"}) {
		t.Errorf("4in6 lookup: %v", got)
	}
}

func TestRuleSetIDMatching(t *testing.T) {
	inv := New()
	r22 := Rule{Protocol: ProtoTCP, FromPort: 22, ToPort: 22, Source: CIDRSource(netip.MustParsePrefix("10.0.0.0/8"))}
	inv.AddGroup(Group{ID: "sg-1", Name: "web", Rules: []Rule{r22,
		{Egress: true, Protocol: ProtoAll, FromPort: -1, ToPort: -1, Source: CIDRSource(netip.MustParsePrefix("0.0.0.0/0"))}}})
	withID := r22
	withID.ID = "sgr-22"
	extra := Rule{ID: "sgr-443", Protocol: ProtoTCP, FromPort: 443, ToPort: 443, Source: Source{Kind: SourcePrefixList, ID: "pl-1"}}
	inv.AddRuleSet(Group{ID: "sg-1", OwnerID: "111", Rules: []Rule{withID, extra}})
	inv.AddRuleSet(Group{ID: "sg-only-rules", Rules: []Rule{{ID: "sgr-x", Protocol: ProtoUDP, FromPort: 53, ToPort: 53, Source: CIDRSource(netip.MustParsePrefix("::/0"))}}})

	g, _ := inv.GroupAt("sg-1", time.Time{})
	byKey := map[string]Rule{}
	for _, r := range g.Rules {
		byKey[r.Key()] = r
	}
	if len(g.Rules) != 3 {
		t.Fatalf("rules = %d, want 3 (2 from the group, 1 only in the rules file)", len(g.Rules))
	}
	if r := byKey["sg-1|ingress|6|22|22|10.0.0.0/8"]; r.ID != "sgr-22" {
		t.Errorf("id not matched by key: %+v", r)
	}
	if r := byKey["sg-1|egress|-1|-1|-1|0.0.0.0/0"]; r.ID != "" {
		t.Errorf("egress rule got an id: %+v", r)
	}
	if r := byKey["sg-1|ingress|6|443|443|pl-1"]; r.ID != "sgr-443" {
		t.Errorf("rule only in the rules file missing: %+v", r)
	}
	if g.Name != "web" || g.OwnerID != "111" {
		t.Errorf("group metadata: %+v", g)
	}
	if g, ok := inv.GroupAt("sg-only-rules", time.Time{}); !ok || len(g.Rules) != 1 || g.Rules[0].Key() != "sg-only-rules|ingress|17|53|53|::/0" {
		t.Errorf("group from rules only: %+v", g)
	}
	rules := inv.Rules()
	var keys []string
	for _, r := range rules {
		keys = append(keys, r.Key())
	}
	want := []string{"sg-1|ingress|6|22|22|10.0.0.0/8", "sg-1|ingress|6|443|443|pl-1", "sg-1|egress|-1|-1|-1|0.0.0.0/0", "sg-only-rules|ingress|17|53|53|::/0"}
	if !slices.Equal(keys, want) {
		t.Errorf("Rules() order:\n got %v\nwant %v", keys, want)
	}
}

func TestRulesKeepsIDFromAnyVersion(t *testing.T) {
	inv := New()
	r := Rule{Protocol: ProtoTCP, FromPort: 80, ToPort: 80, Source: CIDRSource(netip.MustParsePrefix("0.0.0.0/0"))}
	withID := r
	withID.ID = "sgr-80"
	inv.AddGroup(Group{ID: "sg-1", Rules: []Rule{withID}, Valid: Interval{From: ts("2024-01-01T00:00:00Z")}})
	inv.AddGroup(Group{ID: "sg-1", Rules: []Rule{r, {Protocol: ProtoTCP, FromPort: 81, ToPort: 81, Source: r.Source}}, Valid: Interval{From: ts("2024-01-02T00:00:00Z")}})
	rules := inv.Rules()
	if len(rules) != 2 || rules[0].ID != "sgr-80" {
		t.Errorf("Rules() = %+v", rules)
	}
}

func TestMergeAndValidate(t *testing.T) {
	a, b := New(), New()
	a.AddENI(ENI{ID: "eni-1", Groups: []string{"sg-1", "sg-missing"}, Addrs: addrs("10.0.0.1")})
	a.AddGroup(Group{ID: "sg-1", OwnerID: "111", Rules: []Rule{
		{Protocol: ProtoTCP, FromPort: 5432, ToPort: 5432, Source: Source{Kind: SourceGroup, ID: "sg-2"}},
		{Protocol: ProtoTCP, FromPort: 443, ToPort: 443, Source: Source{Kind: SourcePrefixList, ID: "pl-1"}},
		{Protocol: ProtoTCP, FromPort: 80, ToPort: 80, Source: Source{Kind: SourceGroup, ID: "sg-x", UserID: "999"}},
	}})
	b.AddGroup(Group{ID: "sg-2", OwnerID: "111"})
	b.AddENI(ENI{ID: "eni-2", Groups: []string{"sg-2"}, Addrs: addrs("10.0.0.2")})
	b.AddPrefixList(PrefixList{ID: "pl-1", Name: "office"})
	b.AddPrefixList(PrefixList{ID: "pl-1", Entries: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/24")}})
	a.Merge(b)

	if got := a.Groups(); !slices.Equal(got, []string{"sg-1", "sg-2"}) {
		t.Errorf("Groups() = %v", got)
	}
	if got := a.ENIs(); !slices.Equal(got, []string{"eni-1", "eni-2"}) {
		t.Errorf("ENIs() = %v", got)
	}
	if es := a.ENIsWithAddr(netip.MustParseAddr("10.0.0.2"), time.Time{}); len(es) != 1 || es[0].ID != "eni-2" {
		t.Errorf("index not merged: %v", es)
	}
	pl, ok := a.PrefixList("pl-1")
	if !ok || pl.Name != "office" || len(pl.Entries) != 1 || pl.Entries[0].String() != "192.0.2.0/24" || !pl.Contains(netip.MustParseAddr("192.0.2.200")) {
		t.Errorf("prefix list: %+v", pl)
	}
	var msgs []string
	for _, err := range a.Validate() {
		msgs = append(msgs, err.Error())
	}
	joined := strings.Join(msgs, "\n")
	if len(msgs) != 2 || !strings.Contains(joined, "ENI eni-1: security group sg-missing") || !strings.Contains(joined, "group sg-x of account 999") {
		t.Errorf("Validate:\n%s", joined)
	}
}
