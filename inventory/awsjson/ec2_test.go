package awsjson

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/internal/peers"
	"github.com/cinch-sg/cinch/inventory"
)

func mustLoad(t *testing.T, inv *inventory.Inventory, elem ...string) Stats {
	t.Helper()
	st, err := LoadFileStats(inv, peers.Path(t, elem...))
	if err != nil {
		t.Fatalf("load %s: %v", filepath.Join(elem...), err)
	}
	return st
}

func ruleKeys(rs []inventory.Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Key())
	}
	slices.Sort(out)
	return out
}

func addrStrings(as []netip.Addr) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func TestCLISecurityGroups(t *testing.T) {
	inv := inventory.New()
	st := mustLoad(t, inv, "aws-cli-examples", "describe-security-groups.example1.json")
	if st.Kind != KindSecurityGroups || st.Groups != 1 || st.Rules != 3 {
		t.Errorf("stats = %+v", st)
	}
	g, ok := inv.GroupAt("sg-903004f8", time.Time{})
	if !ok {
		t.Fatal("sg-903004f8 missing")
	}
	if g.Name != "MySecurityGroup" || g.VPCID != "vpc-1a2b3c4d" || g.OwnerID != "123456789012" || g.Description != "My security group" {
		t.Errorf("group = %+v", g)
	}
	want := []string{
		"sg-903004f8|egress|-1|-1|-1|0.0.0.0/0",
		"sg-903004f8|ingress|-1|-1|-1|sg-903004f8",
		"sg-903004f8|ingress|6|22|22|203.0.113.0/24",
	}
	if got := ruleKeys(g.Rules); !slices.Equal(got, want) {
		t.Errorf("rules:\n got %v\nwant %v", got, want)
	}
	for _, r := range g.Rules {
		if r.Source.Kind == inventory.SourceGroup && r.Source.UserID != "123456789012" {
			t.Errorf("group pair user id: %+v", r.Source)
		}
		if r.Protocol == inventory.ProtoTCP && r.Description != "Access from NY office" {
			t.Errorf("description: %q", r.Description)
		}
	}
}

func TestCLISecurityGroupRules(t *testing.T) {
	inv := inventory.New()
	st := mustLoad(t, inv, "aws-cli-examples", "describe-security-group-rules.example1.json")
	if st.Kind != KindSecurityGroupRules || st.Rules != 3 {
		t.Errorf("stats = %+v", st)
	}
	g, ok := inv.GroupAt("sg-1234567890abcdef0", time.Time{})
	if !ok || g.OwnerID != "111122223333" || len(g.Rules) != 3 {
		t.Fatalf("group from rules: %+v", g)
	}
	ids := map[string]string{}
	for _, r := range g.Rules {
		ids[r.Key()] = r.ID
	}
	want := map[string]string{
		"sg-1234567890abcdef0|ingress|-1|-1|-1|sg-1234567890abcdef0": "sgr-abcdef01234567890",
		"sg-1234567890abcdef0|egress|-1|-1|-1|::/0":                  "sgr-bcdef01234567890a",
		"sg-1234567890abcdef0|egress|-1|-1|-1|0.0.0.0/0":             "sgr-cdef01234567890ab",
	}
	for k, id := range want {
		if ids[k] != id {
			t.Errorf("%s: id %q, want %q", k, ids[k], id)
		}
	}
	// example2 repeats one of those rules: loading it too changes nothing.
	mustLoad(t, inv, "aws-cli-examples", "describe-security-group-rules.example2.json")
	if got := len(inv.Rules()); got != 3 {
		t.Errorf("rules after example2 = %d, want 3", got)
	}
}

const ownSGs = `{"SecurityGroups":[{"GroupId":"sg-1","GroupName":"web","VpcId":"vpc-1","OwnerId":"111",
 "IpPermissions":[
  {"IpProtocol":"tcp","FromPort":80,"ToPort":443,
   "IpRanges":[{"CidrIp":"10.0.0.0/8","Description":"corp"},{"CidrIp":"192.0.2.17/24"}],
   "Ipv6Ranges":[{"CidrIpv6":"2001:db8::/32"}],
   "PrefixListIds":[{"PrefixListId":"pl-1"}],
   "UserIdGroupPairs":[{"GroupId":"sg-2","UserId":"222"}]},
  {"IpProtocol":"icmpv6","IpRanges":[],"Ipv6Ranges":[{"CidrIpv6":"::/0"}]},
  {"IpProtocol":"50","FromPort":0,"ToPort":0,"IpRanges":[{"CidrIp":"198.51.100.0/24"}]}],
 "IpPermissionsEgress":[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]}]}`

const ownRules = `{"SecurityGroupRules":[
 {"SecurityGroupRuleId":"sgr-a","GroupId":"sg-1","GroupOwnerId":"111","IsEgress":false,"IpProtocol":"6","FromPort":80,"ToPort":443,"CidrIpv4":"10.0.0.0/8"},
 {"SecurityGroupRuleId":"sgr-b","GroupId":"sg-1","IsEgress":false,"IpProtocol":"tcp","FromPort":80,"ToPort":443,"ReferencedGroupInfo":{"GroupId":"sg-2","UserId":"222"}},
 {"SecurityGroupRuleId":"sgr-c","GroupId":"sg-1","IsEgress":true,"IpProtocol":"-1","FromPort":-1,"ToPort":-1,"CidrIpv4":"0.0.0.0/0"},
 {"SecurityGroupRuleId":"sgr-d","GroupId":"sg-1","IsEgress":false,"IpProtocol":"udp","FromPort":53,"ToPort":53,"CidrIpv6":"::/0","Description":"dns"},
 {"SecurityGroupRuleId":"sgr-e","GroupId":"sg-1","IsEgress":false,"IpProtocol":"50","FromPort":-1,"ToPort":-1,"CidrIpv4":"198.51.100.0/24"}]}`

func TestRuleExplosionAndIDMatching(t *testing.T) {
	for _, order := range []string{"groups-first", "rules-first"} {
		t.Run(order, func(t *testing.T) {
			inv := inventory.New()
			loads := []func() error{
				func() error { return LoadSecurityGroups(inv, strings.NewReader(ownSGs)) },
				func() error { return LoadSecurityGroupRules(inv, strings.NewReader(ownRules)) },
			}
			if order == "rules-first" {
				slices.Reverse(loads)
			}
			for _, l := range loads {
				if err := l(); err != nil {
					t.Fatal(err)
				}
			}
			g, _ := inv.GroupAt("sg-1", time.Time{})
			got := map[string]string{}
			for _, r := range g.Rules {
				got[r.Key()] = r.ID
			}
			want := map[string]string{
				"sg-1|ingress|6|80|443|10.0.0.0/8":      "sgr-a",
				"sg-1|ingress|6|80|443|192.0.2.0/24":    "", // only in describe-security-groups, masked
				"sg-1|ingress|6|80|443|2001:db8::/32":   "",
				"sg-1|ingress|6|80|443|pl-1":            "",
				"sg-1|ingress|6|80|443|sg-2":            "sgr-b",
				"sg-1|ingress|58|-1|-1|::/0":            "",
				"sg-1|ingress|50|-1|-1|198.51.100.0/24": "sgr-e", // ports of port-less protocols normalised
				"sg-1|egress|-1|-1|-1|0.0.0.0/0":        "sgr-c",
				"sg-1|ingress|17|53|53|::/0":            "sgr-d", // only in the rules file
			}
			if len(got) != len(want) {
				t.Errorf("got %d rules, want %d: %v", len(got), len(want), got)
			}
			for k, id := range want {
				if gid, ok := got[k]; !ok || gid != id {
					t.Errorf("%s: id %q (present %v), want %q", k, gid, ok, id)
				}
			}
			if g.Name != "web" || g.VPCID != "vpc-1" {
				t.Errorf("group metadata lost: %+v", g)
			}
			for _, r := range g.Rules {
				if r.Source.String() == "10.0.0.0/8" && r.Description != "corp" {
					t.Errorf("description lost: %+v", r)
				}
			}
		})
	}
}

func TestCLINetworkInterfaces(t *testing.T) {
	inv := inventory.New()
	st := mustLoad(t, inv, "aws-cli-examples", "describe-network-interfaces.example1.json")
	mustLoad(t, inv, "aws-cli-examples", "describe-network-interfaces.example2.json")
	if st.Kind != KindNetworkInterfaces || st.ENIs != 2 {
		t.Errorf("stats = %+v", st)
	}
	if got := inv.ENIs(); !slices.Equal(got, []string{"eni-b9a5ac93", "eni-e5aa89a3", "eni-f9ba99bf"}) {
		t.Errorf("ENIs = %v", got)
	}
	e, _ := inv.ENIAt("eni-e5aa89a3", time.Time{})
	if e.InstanceID != "i-1234567890abcdef0" || e.AccountID != "123456789012" || e.Region != "us-east-1" ||
		e.VPCID != "vpc-a01106c2" || e.SubnetID != "subnet-b61f49f0" || e.Status != "in-use" ||
		!slices.Equal(e.Groups, []string{"sg-8637d3e3"}) || e.Description != "my network interface" {
		t.Errorf("eni-e5aa89a3 = %+v", e)
	}
	if got := addrStrings(e.Addrs); !slices.Equal(got, []string{"10.0.1.17", "203.0.113.12"}) || e.NumPublic != 1 {
		t.Errorf("addrs = %v (public %d)", got, e.NumPublic)
	}
	e, _ = inv.ENIAt("eni-f9ba99bf", time.Time{})
	if e.InstanceID != "i-0598c7d356eba48d7" || !slices.Equal(addrStrings(e.PublicAddrs()), []string{"198.51.100.0"}) {
		t.Errorf("eni-f9ba99bf = %+v", e)
	}
	e, _ = inv.ENIAt("eni-b9a5ac93", time.Time{})
	if e.Status != "available" || e.InstanceID != "" || !slices.Equal(addrStrings(e.PrivateAddrs()), []string{"10.0.1.55", "10.0.1.117"}) || len(e.PublicAddrs()) != 0 {
		t.Errorf("eni-b9a5ac93 = %+v", e)
	}
	if es := inv.ENIsWithAddr(netip.MustParseAddr("10.0.1.117"), time.Now()); len(es) != 1 || es[0].ID != "eni-b9a5ac93" {
		t.Errorf("ENIsWithAddr(secondary) = %v", es)
	}
	if es := inv.ENIsWithAddr(netip.MustParseAddr("203.0.113.12"), time.Now()); len(es) != 0 {
		t.Error("public address matched as private")
	}
}

func TestCLIPrefixLists(t *testing.T) {
	inv := inventory.New()
	mustLoad(t, inv, "aws-cli-examples", "describe-managed-prefix-lists.example1.json")
	p, ok := inv.PrefixList("pl-11223344556677aab")
	if !ok || p.Name != "vpc-ipv6-cidrs" || p.MaxEntries != 25 || p.AddressFamily != "IPv6" || p.OwnerID != "123456789012" {
		t.Errorf("pl-11223344556677aab = %+v", p)
	}
	p, ok = inv.PrefixList("pl-0123456abcabcabc1")
	if !ok || p.Name != "vpc-cidrs" || p.MaxEntries != 10 {
		t.Errorf("pl-0123456abcabcabc1 = %+v", p)
	}
}

func TestCartography(t *testing.T) {
	inv := inventory.New()
	st := mustLoad(t, inv, "cartography-ec2-testdata", "security_groups.DESCRIBE_SGS.json")
	if st.Groups != 5 || st.Rules != 18 || len(inv.Rules()) != 18 {
		t.Errorf("stats = %+v, Rules() = %d", st, len(inv.Rules()))
	}
	g, _ := inv.GroupAt("sg-web-server-12345", time.Time{})
	want := []string{
		"sg-web-server-12345|egress|-1|-1|-1|0.0.0.0/0",
		"sg-web-server-12345|ingress|6|22|22|10.0.0.0/8",
		"sg-web-server-12345|ingress|6|22|22|sg-028e2522c72719996",
		"sg-web-server-12345|ingress|6|80|80|0.0.0.0/0",
	}
	if got := ruleKeys(g.Rules); !slices.Equal(got, want) {
		t.Errorf("sg-web-server-12345 rules:\n got %v\nwant %v", got, want)
	}
	st = mustLoad(t, inv, "cartography-ec2-testdata", "network_interfaces.DESCRIBE_NETWORK_INTERFACES.json")
	if st.ENIs != 3 {
		t.Errorf("ENIs = %d", st.ENIs)
	}
	e, _ := inv.ENIAt("eni-0d9877f559c240362", time.Time{})
	if !e.RequesterManaged || e.InstanceID != "" || e.Region != "eu-north-1" || !slices.Equal(addrStrings(e.Addrs), []string{"10.0.4.96", "13.48.164.202"}) || e.NumPublic != 1 {
		t.Errorf("eni-0d9877f559c240362 = %+v", e)
	}
	e, _ = inv.ENIAt("eni-04b4289e1be7634e4", time.Time{})
	if e.InstanceID != "i-0892c8f9514ecffb7" || !slices.Equal(addrStrings(e.Addrs), []string{"10.0.4.5", "10.0.4.12"}) {
		t.Errorf("eni-04b4289e1be7634e4 = %+v", e)
	}
	// All three ENIs carry sg-0e866e64db0c84705, which the SG fixture lacks.
	var n int
	for _, err := range inv.Validate() {
		if strings.Contains(err.Error(), "sg-0e866e64db0c84705") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("Validate warnings about sg-0e866e64db0c84705 = %d, want 3", n)
	}
}

func TestPlaceboRecordings(t *testing.T) {
	dir := filepath.Join(peers.Dir(t), "cloud-custodian", "placebo")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "ec2.*.json"))
	if len(files) < 190 {
		t.Fatalf("only %d placebo files", len(files))
	}
	inv := inventory.New()
	var groups, enis, instENIs, errs int
	for _, f := range files {
		base := filepath.Base(f)
		st, err := LoadFileStats(inv, f)
		switch {
		case strings.HasPrefix(base, "ec2.DescribeSecurityGroups_"), strings.HasPrefix(base, "ec2.DescribeNetworkInterfaces_"):
			if err != nil {
				if !strings.Contains(err.Error(), "recorded error response") || !strings.Contains(err.Error(), base) {
					t.Errorf("%s: %v", f, err)
				}
				errs++
				continue
			}
			groups += st.Groups
			enis += st.ENIs
		case strings.HasPrefix(base, "ec2.DescribeInstances_"):
			if err != nil || st.Kind != KindInstances {
				t.Errorf("%s: %v %v", f, st.Kind, err)
			}
			instENIs += st.ENIs
		case strings.HasPrefix(base, "ec2.DescribeFlowLogs_"), strings.HasPrefix(base, "ec2.DescribeSecurityGroupReferences_"),
			strings.HasPrefix(base, "ec2.DescribeStaleSecurityGroups_"):
			if !errors.Is(err, ErrUnrecognized) {
				t.Errorf("%s: want ErrUnrecognized, got %v", f, err)
			}
		}
	}
	// Totals from the peers' SOURCE.md: 388 group descriptions of 146 distinct
	// groups, 107 ENI descriptions of 46 ENIs, 23 instance ENIs (20 distinct).
	if groups != 388 || len(inv.Groups()) != 146 || enis != 107 || instENIs != 23 || len(inv.ENIs()) < 46 || errs != 2 {
		t.Errorf("groups %d/%d, enis %d/%d, instance ENIs %d, error responses %d", groups, len(inv.Groups()), enis, len(inv.ENIs()), instENIs, errs)
	}

	one := inventory.New()
	mustLoad(t, one, "cloud-custodian", "placebo", "test_appelb_add_security_group", "ec2.DescribeSecurityGroups_1.json")
	g, _ := one.GroupAt("sg-01a19f602ecaf25f4", time.Time{})
	want := []string{
		"sg-01a19f602ecaf25f4|egress|6|80|80|20.0.0.0/8",
		"sg-01a19f602ecaf25f4|ingress|6|80|80|192.168.0.0/31", // published as 192.168.0.1/31
		"sg-01a19f602ecaf25f4|ingress|6|80|80|pl-63a5400b",
	}
	if got := ruleKeys(g.Rules); !slices.Equal(got, want) {
		t.Errorf("rules:\n got %v\nwant %v", got, want)
	}
	_, err := LoadFile(one, peers.Path(t, "cloud-custodian", "placebo", "test_security_group_delete", "ec2.DescribeSecurityGroups_2.json"))
	if err == nil || !strings.Contains(err.Error(), "InvalidGroup.NotFound") {
		t.Errorf("error response: %v", err)
	}
}

func TestPlaceboPrefixLists(t *testing.T) {
	inv := inventory.New()
	mustLoad(t, inv, "cloud-custodian", "placebo", "test_prefix_list_entry", "ec2.DescribeManagedPrefixLists_1.json")
	if got := inv.PrefixLists(); len(got) != 4 {
		t.Errorf("prefix lists = %v", got)
	}
	entries := peers.Path(t, "cloud-custodian", "placebo", "test_prefix_list_entry", "ec2.GetManagedPrefixListEntries_1.json")
	if _, err := LoadFile(inv, entries); err == nil || !strings.Contains(err.Error(), "pl-") {
		t.Errorf("entries without a list id: %v", err)
	}
	f, err := os.Open(entries)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := LoadPrefixListEntries(inv, f, "pl-02d12d37020480a5f"); err != nil {
		t.Fatal(err)
	}
	p, _ := inv.PrefixList("pl-02d12d37020480a5f")
	if p.Name != "All VPC CIDR" || p.MaxEntries != 1 || len(p.Entries) != 1 || p.Entries[0].String() != "172.31.0.0/16" {
		t.Errorf("pl-02d12d37020480a5f = %+v", p)
	}
	// Entries named by file name: copy to a temp file named after the list.
	data, _ := os.ReadFile(entries)
	named := filepath.Join(t.TempDir(), "pl-0c79279cd77a6e7c2.json")
	if err := os.WriteFile(named, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadFile(inv, named); err != nil || k != KindPrefixListEntries {
		t.Fatalf("named entries: %v %v", k, err)
	}
	if p, _ := inv.PrefixList("pl-0c79279cd77a6e7c2"); len(p.Entries) != 1 || p.Name != "All VPC CIDR" {
		t.Errorf("pl-0c79279cd77a6e7c2 = %+v", p)
	}
	mustLoad(t, inv, "cloud-custodian", "placebo", "test_network_acl_s3_present", "ec2.DescribePrefixLists_1.json")
	p, _ = inv.PrefixList("pl-63a5400a")
	if p.Name != "com.amazonaws.us-east-1.s3" || p.OwnerID != "AWS" || len(p.Entries) != 2 || !p.Contains(netip.MustParseAddr("52.217.1.1")) {
		t.Errorf("pl-63a5400a = %+v", p)
	}
}

func TestBotocoreExample(t *testing.T) {
	data, err := os.ReadFile(peers.Path(t, "botocore-examples", "ec2-2016-11-15-examples-subset.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Examples map[string][]struct{ Output json.RawMessage } `json:"examples"`
	}
	if err := json.Unmarshal(data, &ex); err != nil {
		t.Fatal(err)
	}
	out := ex.Examples["DescribeNetworkInterfaces"]
	if len(out) != 1 {
		t.Fatalf("examples = %d", len(out))
	}
	inv := inventory.New()
	if err := LoadNetworkInterfaces(inv, bytes.NewReader(out[0].Output)); err != nil {
		t.Fatal(err)
	}
	e, ok := inv.ENIAt("eni-e5aa89a3", time.Time{})
	if !ok || e.InstanceID != "i-1234567890abcdef0" || !slices.Equal(addrStrings(e.Addrs), []string{"10.0.1.17", "203.0.113.12"}) {
		t.Errorf("eni-e5aa89a3 = %+v", e)
	}
	// The whole examples file is not an inventory shape.
	if _, err := LoadFile(inv, peers.Path(t, "botocore-examples", "ec2-2016-11-15-examples-subset.json")); !errors.Is(err, ErrUnrecognized) {
		t.Errorf("examples file: %v", err)
	}
}

func TestWrongShapes(t *testing.T) {
	inv := inventory.New()
	f, err := os.Open(peers.Path(t, "aws-cli-examples", "describe-network-interfaces.example1.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = LoadSecurityGroups(inv, f)
	if err == nil || !strings.Contains(err.Error(), "expected describe-security-groups output") || !strings.Contains(err.Error(), "found describe-network-interfaces output") {
		t.Errorf("wrong shape: %v", err)
	}
	path := peers.Path(t, "aws-cli-examples", "describe-security-groups.example3.json")
	if _, err := LoadFile(inv, path); !errors.Is(err, ErrUnrecognized) || !strings.Contains(err.Error(), path) {
		t.Errorf("--query projection: %v", err)
	}
	if _, err := LoadFile(inv, peers.Path(t, "aws-cli-examples", "describe-stale-security-groups.example1.INVALID-JSON-as-published.txt")); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("invalid JSON: %v", err)
	}
	for _, bad := range []string{"", "hello", "{", `{"SecurityGroups": 5}`, `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","FromPort":"x"}]}]}`,
		`{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","IpRanges":[{"CidrIp":"10.0.0.300/8"}]}]}]}`,
		`{"SecurityGroupRules":[{"GroupId":"sg-1","IpProtocol":"tcp","CidrIpv4":"10.0.0.0/8","PrefixListId":"pl-1"}]}`} {
		if _, err := Load(inv, strings.NewReader(bad)); err == nil {
			t.Errorf("Load(%q): want error", bad)
		}
	}
	if len(inv.Groups()) != 0 || len(inv.ENIs()) != 0 {
		t.Error("failed loads added data")
	}
}

func TestGzipAndBareArray(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(ownSGs))
	zw.Close()
	dir := t.TempDir()
	p := filepath.Join(dir, "sgs.json.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := inventory.New()
	if k, err := LoadFile(inv, p); err != nil || k != KindSecurityGroups {
		t.Fatalf("gzip: %v %v", k, err)
	}
	if g, ok := inv.GroupAt("sg-1", time.Time{}); !ok || len(g.Rules) != 8 {
		t.Errorf("gzip group: %+v", g)
	}
	bad := filepath.Join(dir, "bad.json.gz")
	os.WriteFile(bad, buf.Bytes()[:len(buf.Bytes())/2], 0o600)
	if _, err := LoadFile(inventory.New(), bad); err == nil || !strings.Contains(err.Error(), "gzip") || !strings.Contains(err.Error(), bad) {
		t.Errorf("truncated gzip: %v", err)
	}
	arr := `[{"NetworkInterfaceId":"eni-6","PrivateIpAddress":"10.1.1.1","Ipv6Addresses":[{"Ipv6Address":"2001:db8::1"}],"Groups":[{"GroupId":"sg-1"}]}]`
	if st, err := Load(inv, strings.NewReader(arr)); err != nil || st.Kind != KindNetworkInterfaces {
		t.Fatalf("bare array: %v %v", st.Kind, err)
	}
	if es := inv.ENIsWithAddr(netip.MustParseAddr("2001:db8::1"), time.Time{}); len(es) != 1 || es[0].ID != "eni-6" {
		t.Errorf("IPv6 ENI lookup: %v", es)
	}
}

func TestKindString(t *testing.T) {
	if KindSecurityGroups.String() != "describe-security-groups output" || KindConfig.String() != "AWS Config data" || Kind(99).String() != "kind(99)" {
		t.Error("Kind.String")
	}
}

// TestDelegatedPrefixes: Ipv4Prefixes and Ipv6Prefixes of an interface (EKS
// prefix mode) are read from describe-network-interfaces and from AWS Config
// items, and their addresses count as the interface's private addresses;
// a malformed prefix is skipped with a warning.
func TestDelegatedPrefixes(t *testing.T) {
	ec2 := `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-p","PrivateIpAddress":"10.0.1.5",
	  "Groups":[{"GroupId":"sg-node"}],
	  "Association":{"PublicIp":"198.51.100.7"},
	  "Ipv4Prefixes":[{"Ipv4Prefix":"10.0.1.16/28"},{"Ipv4Prefix":"bogus"}],
	  "Ipv6Prefixes":[{"Ipv6Prefix":"2001:db8:0:1:2:3::/96"}]}]}`
	cfg := `{"configurationItems":[{"configurationItemCaptureTime":"2026-01-01T00:00:00Z","resourceType":"AWS::EC2::NetworkInterface",
	  "resourceId":"eni-q","configurationItemStatus":"OK","awsAccountId":"111111111111",
	  "configuration":{"networkInterfaceId":"eni-q","groups":[{"groupId":"sg-node"}],"privateIpAddress":"10.0.2.5",
	    "ipv4Prefixes":[{"ipv4Prefix":"10.0.2.32/28"}],"ipv6Prefixes":[{"ipv6Prefix":"2001:db8:0:2::/80"}]}}]}`
	inv := inventory.New()
	for _, doc := range []string{ec2, cfg} {
		if _, err := Load(inv, strings.NewReader(doc)); err != nil {
			t.Fatal(err)
		}
	}
	p, ok := inv.ENIAt("eni-p", time.Time{})
	if !ok || len(p.Prefixes) != 2 {
		t.Fatalf("eni-p: %+v", p)
	}
	q, ok := inv.ENIAt("eni-q", time.Time{})
	if !ok || len(q.Prefixes) != 2 {
		t.Fatalf("eni-q: %+v", q)
	}
	for _, c := range []struct {
		e    *inventory.ENI
		addr string
		want bool
	}{
		{p, "10.0.1.5", true}, {p, "10.0.1.16", true}, {p, "10.0.1.31", true}, {p, "10.0.1.32", false},
		{p, "2001:db8:0:1:2:3:0:99", true}, {p, "2001:db8:0:1:2:4::1", false},
		{p, "198.51.100.7", false}, // a public address is not a private one
		{q, "10.0.2.40", true}, {q, "2001:db8:0:2:0:ffff:1:2", true}, {q, "2001:db8:0:3::1", false},
	} {
		if got := c.e.HasPrivateAddr(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("%s HasPrivateAddr(%s) = %v", c.e.ID, c.addr, got)
		}
	}
	warned := false
	for _, w := range inv.Validate() {
		if strings.Contains(w.Error(), "bogus") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning for the malformed prefix: %v", inv.Validate())
	}
}
