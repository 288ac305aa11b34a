package awsjson

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/internal/peers"
	"github.com/cinch-sg/cinch/inventory"
)

func tm(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const transformerd = "asecurityteam-awsconfig-transformerd"

func TestConfigENINotifications(t *testing.T) {
	inv := inventory.New()
	for _, f := range []string{"eni.1.create.json", "eni.1.update.json", "eni.1.delete.json", "eni.2.create.json", "eni.2.update.json", "eni.2.delete.json", "eni.3.update.json"} {
		st := mustLoad(t, inv, transformerd, "testdata", f)
		if st.Kind != KindConfig || st.Items != 1 || st.ENIs != 1 {
			t.Errorf("%s: %+v", f, st)
		}
	}
	// create: one version from the capture time, still valid.
	vs := inv.ENIVersions("eni-abcdefghi1234567")
	if len(vs) != 1 || !vs[0].Valid.From.Equal(tm(t, "2020-08-21T12:00:00Z")) || !vs[0].Valid.Open() {
		t.Fatalf("create: %v", vs)
	}
	e := vs[0]
	if !slices.Equal(e.Groups, []string{"sg-6666666666"}) || !slices.Equal(addrStrings(e.Addrs), []string{"10.111.222.33"}) ||
		!e.RequesterManaged || e.Region != "ap-southeast-2" || e.AccountID != "123456789123" || e.VPCID != "vpc-eeeeeeee5555555" {
		t.Errorf("create: %+v", e)
	}
	if _, ok := inv.ENIAt("eni-abcdefghi1234567", tm(t, "2020-08-21T11:59:59Z")); ok {
		t.Error("ENI valid before its first capture")
	}
	// delete: the previous configuration from the diff answers before the deletion.
	del := tm(t, "2020-08-21T13:02:00Z")
	vs = inv.ENIVersions("eni-hhhhhhh888888")
	if len(vs) != 1 || !vs[0].Valid.From.IsZero() || !vs[0].Valid.To.Equal(del) {
		t.Fatalf("delete: %v", vs)
	}
	if e, ok := inv.ENIAt("eni-hhhhhhh888888", del.Add(-time.Minute)); !ok || !slices.Equal(e.Groups, []string{"sg-bbbb2222"}) || !slices.Equal(addrStrings(e.Addrs), []string{"10.11.22.33"}) {
		t.Errorf("deleted ENI before deletion: %+v %v", e, ok)
	}
	if _, ok := inv.ENIAt("eni-hhhhhhh888888", del); ok {
		t.Error("deleted ENI valid at its deletion")
	}
	if e, _ := inv.ENIAt("eni-abcd1234", tm(t, "2021-11-01T00:00:00Z")); e == nil || !slices.Equal(e.Groups, []string{"sg-123456", "sg-789012"}) {
		t.Errorf("eni.2.delete: %+v", e)
	}
	if got := inv.ENIsWithAddr(mustAddr("10.11.22.33"), del.Add(-time.Hour)); len(got) != 1 || got[0].ID != "eni-hhhhhhh888888" {
		t.Errorf("ENIsWithAddr before deletion: %v", got)
	}
	if got := inv.ENIsWithAddr(mustAddr("10.11.22.33"), del.Add(time.Hour)); len(got) != 0 {
		t.Errorf("ENIsWithAddr after deletion: %v", got)
	}
	// update: the anonymised address 10.111.22.333 is not an IP: skipped, warned.
	e, _ = inv.ENIAt("eni-eeeeeee8888888", time.Time{})
	if len(e.Addrs) != 0 || !e.Valid.From.Equal(tm(t, "2020-08-21T12:31:00Z")) || e.Region != "eu-central-1" {
		t.Errorf("update: %+v", e)
	}
	var warned bool
	for _, err := range inv.Validate() {
		warned = warned || strings.Contains(err.Error(), "10.111.22.333")
	}
	if !warned {
		t.Error("no warning about 10.111.22.333")
	}
	if e, _ := inv.ENIAt("eni-bbbbbbbb9999999", time.Time{}); !slices.Equal(addrStrings(e.Addrs), []string{"10.111.222.138", "18.111.200.30"}) || e.NumPublic != 1 {
		t.Errorf("eni.2.create: %+v", e)
	}
}

func TestConfigInstanceLifecycle(t *testing.T) {
	inv := inventory.New()
	// Loaded out of order, and with the duplicate captures ec2.5/ec2.6.
	for _, f := range []string{"ec2.4.json", "ec2.2.json", "ec2.0.json", "ec2.3.json", "ec2.1.json", "ec2.5.json", "ec2.6.json"} {
		mustLoad(t, inv, transformerd, "testdata", f)
	}
	vs := inv.ENIVersions("eni-05721fa8354d07b8c")
	type want struct {
		from, to string
		public   []string
	}
	wants := []want{
		{"2019-02-22T20:43:10.208Z", "2019-02-22T20:48:32.538Z", []string{"34.222.120.66"}},
		{"2019-02-22T20:48:32.538Z", "2019-02-22T21:02:18.758Z", nil},
		{"2019-02-22T21:02:18.758Z", "2019-02-22T21:17:53.073Z", []string{"34.219.72.29"}},
		{"2019-02-22T21:17:53.073Z", "2019-02-22T21:31:57.042Z", nil},
	}
	if len(vs) != len(wants) {
		t.Fatalf("versions = %d, want %d: %v", len(vs), len(wants), vs)
	}
	for i, w := range wants {
		e := vs[i]
		if !e.Valid.From.Equal(tm(t, w.from)) || !e.Valid.To.Equal(tm(t, w.to)) || !slices.Equal(addrStrings(e.PublicAddrs()), w.public) {
			t.Errorf("version %d: %s public %v; want [%s, %s) %v", i, e.Valid, addrStrings(e.PublicAddrs()), w.from, w.to, w.public)
		}
		if e.InstanceID != "i-0a763ac3ee37d8d2b" || !slices.Equal(e.Groups, []string{"sg-05d1b37a375dcca8e"}) || !slices.Equal(addrStrings(e.PrivateAddrs()), []string{"172.31.30.79"}) {
			t.Errorf("version %d: %+v", i, e)
		}
	}
	// Terminated instance known only from its deletion notification.
	inv2 := inventory.New()
	st := mustLoad(t, inv2, transformerd, "testdata", "ec2.deleted.json")
	if st.Deleted != 1 || st.ENIs != 2 {
		t.Errorf("ec2.deleted: %+v", st)
	}
	at := tm(t, "2019-12-11T00:00:00Z")
	e, ok := inv2.ENIAt("eni-06a96d0149b3fd49e", at)
	if !ok || !slices.Equal(e.Groups, []string{"sg-8129e9f9", "sg-8429e9fc", "sg-a2aea5d9", "sg-0384894ff32bd0a3a", "sg-8529e9fd"}) || e.InstanceID != "i-08f37101ae44e31e4" {
		t.Errorf("eni-06a96d0149b3fd49e = %+v %v", e, ok)
	}
	if got := inv2.ENIsWithAddr(mustAddr("10.103.19.93"), at); len(got) != 1 || got[0].ID != "eni-0807480fbe7a96fb5" {
		t.Errorf("ENIsWithAddr(10.103.19.93) = %v", got)
	}
	if _, ok := inv2.ENIAt("eni-06a96d0149b3fd49e", tm(t, "2019-12-11T01:00:29Z")); ok {
		t.Error("ENI of a terminated instance valid after termination")
	}
	// A bare (not SNS-wrapped) notification.
	mustLoad(t, inv2, transformerd, "testdata", "awsconfigpayload.json")
	if e, ok := inv2.ENIAt("eni-fde9493f", tm(t, "2017-01-10T00:00:00Z")); !ok || e.InstanceID != "i-007d374c8912e3e90" {
		t.Errorf("awsconfigpayload: %+v %v", e, ok)
	}
}

func TestConfigMalformedAndIgnored(t *testing.T) {
	inv := inventory.New()
	for _, f := range []string{"ec2.malformed.json", "ec2.deleted-malformed.json"} {
		path := peers.Path(t, transformerd, "testdata", f)
		if _, err := LoadFile(inv, path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: want an error naming the file, got %v", f, err)
		}
	}
	if len(inv.ENIs()) != 0 {
		t.Error("malformed input added ENIs")
	}
	for _, f := range []string{"subnet.create.json", "subnet.update.json", "subnet.delete.json"} {
		st := mustLoad(t, inv, transformerd, "testdata", f)
		if st.Skipped["AWS::EC2::Subnet"] != 1 {
			t.Errorf("%s: %+v", f, st)
		}
	}
}

func TestConfigAWSDocs(t *testing.T) {
	inv := inventory.New()
	dir := []string{"awsdocs", "aws-config-examples"}
	st := mustLoad(t, inv, append(dir, "example-sns-notification.example3.json")...)
	g, ok := inv.GroupAt("sg-3f1fef43", tm(t, "2017-01-10T00:00:00Z"))
	if !ok || g.Name != "example-security-group-2" || g.VPCID != "vpc-14400670" || !g.Valid.From.Equal(tm(t, "2017-01-09T22:50:15.156Z")) ||
		!slices.Equal(ruleKeys(g.Rules), []string{"sg-3f1fef43|egress|-1|-1|-1|0.0.0.0/0"}) || st.Groups != 1 {
		t.Errorf("SG notification: %+v", g)
	}
	mustLoad(t, inv, append(dir, "example-sns-notification.example2.json")...)
	e, ok := inv.ENIAt("eni-fde9493f", time.Time{})
	if !ok || !slices.Equal(e.Groups, []string{"sg-3f1fef43"}) || !slices.Equal(addrStrings(e.Addrs), []string{"172.31.16.84", "54.175.43.43"}) ||
		e.Region != "us-east-2" || !e.Valid.From.Equal(tm(t, "2017-01-09T22:50:14.328Z")) {
		t.Errorf("instance notification: %+v", e)
	}
	st = mustLoad(t, inv, append(dir, "deliver-snapshot-cli.example1.json")...)
	if st.Items != 2 || st.Skipped["AWS::EC2::Volume"] != 1 || st.ENIs != 1 {
		t.Errorf("snapshot: %+v", st)
	}
	if e, ok := inv.ENIAt("eni-55c03d22", tm(t, "2014-03-08T00:00:00Z")); !ok || e.InstanceID != "i-344c463d" || e.AccountID != "12345678910" || !slices.Equal(addrStrings(e.Addrs), []string{"172.31.21.63", "54.218.4.189"}) {
		t.Errorf("snapshot ENI: %+v %v", e, ok)
	}
	st = mustLoad(t, inv, append(dir, "example-sns-notification.example1.json")...)
	if st.Skipped["AWS::EC2::VOLUME"] != 1 {
		t.Errorf("volume notification: %+v", st)
	}
	st = mustLoad(t, inv, append(dir, "evaluate-config_develop-rules_example-events.example2.json")...)
	if st.Items != 0 || len(st.Skipped) != 1 {
		t.Errorf("oversized: %+v", st)
	}
	mustLoad(t, inv, append(dir, "evaluate-config_develop-rules_example-events.example1.json")...)
	mustLoad(t, inv, append(dir, "evaluate-config_develop-rules_example-events.example3.json")...)
}

func TestConfigCloudCustodian(t *testing.T) {
	inv := inventory.New()
	cc := []string{"cloud-custodian", "config"}
	st := mustLoad(t, inv, append(cc, "placebo", "test_sg_config_diff", "config.GetResourceConfigHistory_1.json")...)
	if st.Items != 2 {
		t.Errorf("history: %+v", st)
	}
	vs := inv.GroupVersions("sg-a38ed1de")
	// Two captures with the same configuration: one version from the first.
	if len(vs) != 1 || !vs[0].Valid.From.Equal(tm(t, "2016-12-11T06:04:02.376Z")) || vs[0].OwnerID != "644160558196" {
		t.Fatalf("history versions: %v", vs)
	}
	want := []string{"sg-a38ed1de|egress|-1|-1|-1|0.0.0.0/0", "sg-a38ed1de|ingress|6|443|443|10.42.1.0/24", "sg-a38ed1de|ingress|6|8080|8080|0.0.0.0/0"}
	if got := ruleKeys(vs[0].Rules); !slices.Equal(got, want) {
		t.Errorf("rules:\n got %v\nwant %v", got, want)
	}
	if _, ok := inv.GroupAt("sg-a38ed1de", tm(t, "2016-12-11T06:04:00Z")); ok {
		t.Error("group valid before its first capture")
	}
	mustLoad(t, inv, append(cc, "placebo", "test_sg_config_ingres_diff", "config.GetResourceConfigHistory_1.json")...)
	g, _ := inv.GroupAt("sg-65229a0c", time.Time{})
	if got := ruleKeys(g.Rules); !slices.Equal(got, []string{"sg-65229a0c|egress|-1|-1|-1|0.0.0.0/0", "sg-65229a0c|ingress|6|0|0|sg-aa6c90c3"}) {
		t.Errorf("ingres_diff rules: %v", got)
	}
	mustLoad(t, inv, append(cc, "placebo", "test_sg_config_patch_pitr", "config.GetResourceConfigHistory_1.json")...)

	// SelectResourceConfig: configuration only, ipRanges strings + ipv4Ranges objects, float ports.
	st = mustLoad(t, inv, append(cc, "placebo", "test_security_group_set_permissions", "config.SelectResourceConfig_1.json")...)
	g, _ = inv.GroupAt("sg-04ececeaf1ed666cb", time.Time{})
	if got := ruleKeys(g.Rules); st.Rules != 2 || !slices.Equal(got, []string{"sg-04ececeaf1ed666cb|egress|-1|-1|-1|0.0.0.0/0", "sg-04ececeaf1ed666cb|ingress|6|22|22|0.0.0.0/0"}) {
		t.Errorf("select rules: %v (%+v)", got, st)
	}
	mustLoad(t, inv, append(cc, "placebo", "test_security_group_config_source", "config.SelectResourceConfig_1.json")...)
	g, _ = inv.GroupAt("sg-6c7fa917", time.Time{})
	if got := ruleKeys(g.Rules); !slices.Equal(got, []string{"sg-6c7fa917|egress|-1|-1|-1|0.0.0.0/0", "sg-6c7fa917|ingress|-1|-1|-1|108.56.181.242/32", "sg-6c7fa917|ingress|-1|-1|-1|sg-6c7fa917"}) {
		t.Errorf("config_source rules: %v", got)
	}
	for _, f := range []string{"test_security_group_ecs_unused", "test_security_group_perm_cidr_kv"} {
		mustLoad(t, inv, append(cc, "placebo", f, "config.SelectResourceConfig_1.json")...)
	}
	g, _ = inv.GroupAt("sg-0f026884bba48e350", time.Time{})
	if len(g.Rules) != 1 || g.Rules[0].Description != "Allows task to establish connections to all resources" {
		t.Errorf("ecs_unused: %+v", g.Rules)
	}

	// Config rule events (invokingEvent string).
	mustLoad(t, inv, append(cc, "cwe", "event-config-rule-security-group.json")...)
	g, _ = inv.GroupAt("sg-e2fb6999", time.Time{})
	if g.Name != "sg_open_ssh" || !slices.Equal(ruleKeys(g.Rules), []string{"sg-e2fb6999|egress|-1|-1|-1|0.0.0.0/0", "sg-e2fb6999|ingress|6|22|22|0.0.0.0/0"}) {
		t.Errorf("cwe SG: %+v", g)
	}
	mustLoad(t, inv, append(cc, "cwe", "event-config-rule-instance.json")...)
	if e, ok := inv.ENIAt("eni-710f5161", tm(t, "2016-08-25T00:00:00Z")); !ok || e.InstanceID != "i-094bc87c84d56c589" || !slices.Equal(e.Groups, []string{"sg-eb0da091"}) || !slices.Equal(addrStrings(e.Addrs), []string{"172.31.52.252"}) {
		t.Errorf("cwe instance ENI: %+v %v", e, ok)
	}

	// A DescribeNetworkInterfaces-shaped fixture with placeholder addresses.
	inv2 := inventory.New()
	mustLoad(t, inv2, append(cc, "ram-producer-view-consumer-eni.json")...)
	e, _ := inv2.ENIAt("eni-0XXXXXXXXXXXXXXX", time.Time{})
	if e.InterfaceType != "lambda" || !slices.Equal(e.Groups, []string{"sg-123", "sg-456", "sg-789"}) || len(e.Addrs) != 0 {
		t.Errorf("lambda ENI: %+v", e)
	}
}

func TestConfigOwnFixtures(t *testing.T) {
	// API dialect: configuration as a string, reverse order, deletion, gzip.
	history := `{"configurationItems":[
 {"version":"1.3","accountId":"111","configurationItemCaptureTime":"2024-01-03T00:00:00Z","configurationItemStatus":"ResourceDeleted","configurationStateId":"3","resourceType":"AWS::EC2::NetworkInterface","resourceId":"eni-h","awsRegion":"eu-west-1","configuration":null},
 {"version":"1.3","accountId":"111","configurationItemCaptureTime":"2024-01-02T00:00:00Z","configurationItemStatus":"OK","configurationStateId":"2","resourceType":"AWS::EC2::NetworkInterface","resourceId":"eni-h","awsRegion":"eu-west-1",
  "configuration":"{\"networkInterfaceId\":\"eni-h\",\"groups\":[{\"groupId\":\"sg-b\"}],\"privateIpAddress\":\"10.0.0.9\",\"privateIpAddresses\":[{\"privateIpAddress\":\"10.0.0.9\",\"primary\":true}],\"ipv6Addresses\":[{\"ipv6Address\":\"2001:db8::9\"}]}"},
 {"version":"1.3","accountId":"111","configurationItemCaptureTime":"2024-01-01T00:00:00Z","configurationItemStatus":"ResourceDiscovered","configurationStateId":"1","resourceType":"AWS::EC2::NetworkInterface","resourceId":"eni-h","awsRegion":"eu-west-1",
  "configuration":"{\"networkInterfaceId\":\"eni-h\",\"groups\":[{\"groupId\":\"sg-a\"}],\"privateIpAddress\":\"10.0.0.9\",\"interfaceType\":\"interface\",\"attachment\":{\"instanceId\":\"i-9\"}}"},
 {"resourceType":"AWS::S3::Bucket","resourceId":"b","configurationItemCaptureTime":"2024-01-01T00:00:00Z","configurationItemStatus":"OK","configuration":"{}"}]}`
	var buf bytes.Buffer
	gz := gzipBytes(t, []byte(history))
	buf.Write(gz)
	inv := inventory.New()
	st, err := LoadConfig(inv, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != 4 || st.Deleted != 1 || st.Skipped["AWS::S3::Bucket"] != 1 {
		t.Errorf("stats: %+v", st)
	}
	vs := inv.ENIVersions("eni-h")
	if len(vs) != 2 || vs[0].Groups[0] != "sg-a" || vs[1].Groups[0] != "sg-b" || !vs[1].Valid.To.Equal(tm(t, "2024-01-03T00:00:00Z")) ||
		vs[0].InstanceID != "i-9" || vs[0].AccountID != "111" || vs[0].Region != "eu-west-1" {
		t.Fatalf("versions: %+v", vs)
	}
	if e, _ := inv.ENIAt("eni-h", tm(t, "2024-01-02T12:00:00Z")); !slices.Equal(addrStrings(e.Addrs), []string{"10.0.0.9", "2001:db8::9"}) {
		t.Errorf("addrs: %v", e.Addrs)
	}
	if _, ok := inv.ENIAt("eni-h", tm(t, "2024-01-04T00:00:00Z")); ok {
		t.Error("valid after deletion")
	}

	// The same file on disk, gzip, through LoadFile.
	p := filepath.Join(t.TempDir(), "111_Config_eu-west-1_ConfigHistory_AWS::EC2::NetworkInterface_1.json.gz")
	if err := os.WriteFile(p, gz, 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadFile(inventory.New(), p); err != nil || k != KindConfig {
		t.Errorf("LoadFile gzip history: %v %v", k, err)
	}
	// Wrong loader for Config data.
	if err := LoadNetworkInterfaces(inventory.New(), bytes.NewReader([]byte(history))); err == nil || !strings.Contains(err.Error(), "found AWS Config data") {
		t.Errorf("wrong loader: %v", err)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
