//go:build e2e

package awsapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/internal/mototest"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// world is what a test created in moto.
type world struct {
	ec     *ec2.Client
	vpc    string
	subnet string
	groups []string // sg ids, in creation order
	enis   []string // eni ids, enis[i] carries groups[i]
	ips    []string // primary private addresses of enis
	pl     string
}

// build creates a VPC with n groups (each allowing tcp/22 from 10.i.0.0/16
// and tcp/443 from a prefix list), n interfaces (interface i in group i), a
// prefix list of three entries and a flow log on the VPC.
func build(t *testing.T, cfg aws.Config, n int) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{ec: ec2.NewFromConfig(cfg)}
	vpc, err := w.ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	w.vpc = aws.ToString(vpc.Vpc.VpcId)
	sub, err := w.ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.0.1.0/24"),
		AvailabilityZone: aws.String(cfg.Region + "a")})
	if err != nil {
		t.Fatal(err)
	}
	w.subnet = aws.ToString(sub.Subnet.SubnetId)
	pl, err := w.ec.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{
		PrefixListName: aws.String("offices"), AddressFamily: aws.String("IPv4"), MaxEntries: aws.Int32(5),
		Entries: []types.AddPrefixListEntry{{Cidr: aws.String("198.51.100.0/24")}, {Cidr: aws.String("203.0.113.0/24")}, {Cidr: aws.String("192.0.2.0/24")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.pl = aws.ToString(pl.PrefixList.PrefixListId)
	for i := range n {
		g, err := mototest.CreateSecurityGroup(ctx, w.ec, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(fmt.Sprintf("g%d", i)), Description: aws.String("test"), VpcId: vpc.Vpc.VpcId})
		if err != nil {
			t.Fatal(err)
		}
		w.groups = append(w.groups, aws.ToString(g.GroupId))
		_, err = w.ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId,
			IpPermissions: []types.IpPermission{
				{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
					IpRanges: []types.IpRange{{CidrIp: aws.String(fmt.Sprintf("10.%d.0.0/16", i))}}},
				{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
					PrefixListIds: []types.PrefixListId{{PrefixListId: pl.PrefixList.PrefixListId}}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		e, err := w.ec.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sub.Subnet.SubnetId,
			Groups: []string{aws.ToString(g.GroupId)}})
		if err != nil {
			t.Fatal(err)
		}
		w.enis = append(w.enis, aws.ToString(e.NetworkInterface.NetworkInterfaceId))
		w.ips = append(w.ips, aws.ToString(e.NetworkInterface.PrivateIpAddress))
	}
	_, err = w.ec.CreateFlowLogs(ctx, &ec2.CreateFlowLogsInput{ResourceIds: []string{w.vpc}, ResourceType: types.FlowLogsResourceTypeVpc,
		TrafficType: types.TrafficTypeAll, LogDestinationType: types.LogDestinationTypeCloudWatchLogs, LogGroupName: aws.String("flows"),
		DeliverLogsPermissionArn: aws.String("arn:aws:iam::123456789012:role/flowlogs"),
		LogFormat:                aws.String("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${tcp-flags} ${flow-direction}")})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newClient(t *testing.T, roleARN string, c Config) *Client {
	t.Helper()
	c.Accounts = []Account{{Name: "test", RoleARN: roleARN, ExternalID: "cinch-ext"}}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 20 * time.Millisecond
	}
	cl, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestMotoFetchPaginated(t *testing.T) {
	cfg, acct, role := mototest.Account(t, "eu-west-1")
	w := build(t, cfg, 12)
	p := mototest.NewPager(t, mototest.Endpoint(t, "eu-west-1"))
	t.Setenv("AWS_ENDPOINT_URL", p.URL)
	cl := newClient(t, role, Config{Regions: []string{"eu-west-1"}, PageSize: 5})
	snap, err := cl.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	inv := snap.Inventory
	// 12 groups + the default groups of the new and the default VPC, 12 interfaces.
	if got := len(inv.Groups()); got != 14 {
		t.Errorf("groups = %d, want 14 (%v)", got, inv.Groups())
	}
	if got := len(inv.ENIs()); got != 12 {
		t.Errorf("interfaces = %d, want 12", got)
	}
	for _, op := range []string{"DescribeSecurityGroups", "DescribeNetworkInterfaces", "DescribeSecurityGroupRules"} {
		if snap.Calls[op] < 3 || p.Pages(op) != snap.Calls[op] {
			t.Errorf("%s: %d pages, want >= 3 with page size 5 (calls %v)", op, snap.Calls[op], snap.Calls)
		}
	}
	for i, id := range w.enis {
		e, ok := inv.ENIAt(id, time.Time{})
		if !ok {
			t.Fatalf("interface %s missing", id)
		}
		if len(e.Groups) != 1 || e.Groups[0] != w.groups[i] || e.AccountID != acct || e.Region != "eu-west-1" {
			t.Errorf("interface %s = %+v", id, e)
		}
		if a, ok := e.PrimaryAddr(); !ok || a.String() != w.ips[i] {
			t.Errorf("interface %s address %v, want %s", id, a, w.ips[i])
		}
	}
	g, ok := inv.GroupAt(w.groups[3], time.Time{})
	if !ok {
		t.Fatal("group missing")
	}
	var keys []string
	for _, r := range g.Ingress() {
		if !strings.HasPrefix(r.ID, "sgr-") {
			t.Errorf("rule %s has no rule id (%q)", r.Key(), r.ID)
		}
		keys = append(keys, r.Source.String()+":"+fmt.Sprint(r.FromPort))
	}
	if strings.Join(keys, ",") != "10.3.0.0/16:22,"+w.pl+":443" && strings.Join(keys, ",") != w.pl+":443,10.3.0.0/16:22" {
		t.Errorf("ingress of %s = %v", w.groups[3], keys)
	}
	pl, ok := inv.PrefixList(w.pl)
	if !ok || len(pl.Entries) != 3 {
		t.Errorf("prefix list %s = %+v", w.pl, pl)
	}
	if len(snap.FlowLogs) != 1 || aws.ToString(snap.FlowLogs[0].ResourceId) != w.vpc ||
		!strings.Contains(aws.ToString(snap.FlowLogs[0].LogFormat), "${tcp-flags}") {
		t.Errorf("flow logs = %+v", snap.FlowLogs)
	}
	js, err := snap.FlowLogsJSON()
	if err != nil || !strings.Contains(string(js), `"FlowLogs":[{`) || !strings.Contains(string(js), `"LogFormat":"${version}`) {
		t.Errorf("describe-flow-logs JSON = %s (%v)", js, err)
	}
}

// throttle makes the pager answer the first n describe calls with EC2's
// throttling error (or a bare 503) and returns the counter of those answers.
func throttle(p *mototest.Pager, n int64, bare bool) *atomic.Int64 {
	var done atomic.Int64
	p.Before = func(w http.ResponseWriter, action string, _ url.Values) bool {
		if !strings.HasPrefix(action, "Describe") || done.Add(1) > n {
			return false
		}
		if bare {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return true
		}
		mototest.WriteError(w, http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
		return true
	}
	return &done
}

func TestMotoThrottlingRetries(t *testing.T) {
	for _, bare := range []bool{false, true} {
		t.Run(fmt.Sprintf("bare503=%v", bare), func(t *testing.T) {
			cfg, _, role := mototest.Account(t, "eu-west-2")
			build(t, cfg, 3)
			p := mototest.NewPager(t, mototest.Endpoint(t, "eu-west-2"))
			n := throttle(p, 6, bare)
			t.Setenv("AWS_ENDPOINT_URL", p.URL)
			cl := newClient(t, role, Config{Regions: []string{"eu-west-2"}, MaxAttempts: 8})
			snap, err := cl.Fetch(context.Background())
			if err != nil {
				t.Fatalf("fetch through 6 throttled calls: %v", err)
			}
			if n.Load() < 6 || len(snap.Inventory.ENIs()) != 3 {
				t.Errorf("throttled %d, interfaces %d", min(n.Load(), 6), len(snap.Inventory.ENIs()))
			}
		})
	}
	t.Run("gives up", func(t *testing.T) {
		cfg, _, role := mototest.Account(t, "eu-west-2")
		build(t, cfg, 1)
		p := mototest.NewPager(t, mototest.Endpoint(t, "eu-west-2"))
		n := throttle(p, 1000, false)
		t.Setenv("AWS_ENDPOINT_URL", p.URL)
		cl := newClient(t, role, Config{Regions: []string{"eu-west-2"}, MaxAttempts: 3})
		_, err := cl.Fetch(context.Background())
		if err == nil || !strings.Contains(err.Error(), "RequestLimitExceeded") || !strings.Contains(err.Error(), "DescribeSecurityGroups") {
			t.Fatalf("want a RequestLimitExceeded error naming the call, got %v", err)
		}
		if n.Load() != 3 {
			t.Errorf("attempts = %d, want 3", n.Load())
		}
	})
}

// TestMotoGroupChangeAttribution: an interface moves from one group to
// another between two refreshes; flows before the second refresh are judged
// by the old group, flows after it by the new one.
func TestMotoGroupChangeAttribution(t *testing.T) {
	cfg, acct, role := mototest.Account(t, "ap-southeast-2")
	w := build(t, cfg, 2)
	cl := newClient(t, role, Config{Regions: []string{"ap-southeast-2"}})
	tr := NewTracker()
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	change := t0.Add(time.Hour) // 10:00

	snap, err := cl.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	snap.Time = t0
	if ch := tr.Observe(snap); len(ch.NewENIs) != 2 || len(ch.ChangedENIs) != 0 {
		t.Fatalf("first refresh: %+v", ch)
	}
	if _, err := w.ec.ModifyNetworkInterfaceAttribute(context.Background(), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(w.enis[0]), Groups: []string{w.groups[1]}}); err != nil {
		t.Fatal(err)
	}
	snap, err = cl.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	snap.Time = change
	ch := tr.Observe(snap)
	if len(ch.ChangedENIs) != 1 || ch.ChangedENIs[0] != w.enis[0] || len(ch.NewENIs)+len(ch.DeletedENIs)+len(ch.ChangedGroups) != 0 {
		t.Fatalf("second refresh: %+v", ch)
	}
	if v := tr.Version(); v != 2 {
		t.Errorf("version %d, want 2", v)
	}
	inv := tr.Inventory()
	vs := inv.ENIVersions(w.enis[0])
	if len(vs) != 2 || !vs[0].Valid.To.Equal(change) || !vs[1].Valid.From.Equal(change) ||
		vs[0].Groups[0] != w.groups[0] || vs[1].Groups[0] != w.groups[1] {
		for _, v := range vs {
			t.Logf("version %v %v", v.Valid, v.Groups)
		}
		t.Fatalf("versions of %s wrong", w.enis[0])
	}

	// g0 allows tcp/22 from 10.0.0.0/16, g1 from 10.1.0.0/16.
	eng := analysis.NewEngine(inv)
	acc := analysis.NewAccumulator(eng, sketch.DefaultConfig())
	p := flowlog.NewParser(flowlog.MustParseFormat("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${tcp-flags} ${flow-direction}"))
	flow := func(src string, at time.Time) {
		line := fmt.Sprintf("5 %s %s %s %s 40000 22 6 3 180 %d %d ACCEPT OK 2 ingress", acct, w.enis[0], src, w.ips[0], at.Unix(), at.Unix()+10)
		var r flowlog.Record
		if err := p.Parse([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		acc.Observe(&r)
	}
	flow("10.0.5.5", change.Add(-30*time.Minute)) // old group: g0 credited
	flow("10.0.5.6", change.Add(30*time.Minute))  // g0 no longer on the interface: nothing
	flow("10.1.5.5", change.Add(-20*time.Minute)) // g1 not yet on it: nothing
	flow("10.1.5.6", change.Add(20*time.Minute))  // new group: g1 credited
	flow("10.1.5.7", change.Add(40*time.Minute))
	rep := acc.Report(advisor.DefaultConfig())
	got := map[string]uint64{}
	for _, s := range rep.Suggestions {
		if s.Direction == "ingress" && s.Rule.FromPort == 22 {
			got[s.GroupID] = s.Evidence.Flows
		}
	}
	if got[w.groups[0]] != 1 || got[w.groups[1]] != 2 {
		t.Errorf("flows credited per group = %v, want %s:1 %s:2", got, w.groups[0], w.groups[1])
	}
	if st := acc.Stats(); st.Unmatched != 2 {
		t.Errorf("unmatched requests = %d, want 2 (stats %+v)", st.Unmatched, st)
	}
}
