//go:build e2e

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/internal/chtest"
	"github.com/cinch-sg/cinch/internal/mototest"
)

// TestE2EAWSInventory: the daemon reads its inventory from the EC2 API
// (moto's server, an assumed role with an external id) and refreshes it: a
// rule added in the account shows in the suggestions after a refresh.
func TestE2EAWSInventory(t *testing.T) {
	awsCfg, acct, role := mototest.Account(t, "sa-east-1")
	ctx := context.Background()
	ec := ec2.NewFromConfig(awsCfg)
	gid, eniID, ip := motoHost(t, ctx, ec, "10.30", "web", 22)
	perm := func(port int32) []types.IpPermission {
		return []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}
	}
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows.log")
	line := fmt.Sprintf("2 %s %s 198.51.100.9 %s 40001 22 6 10 840 1764000000 1764000050 ACCEPT OK\n", acct,
		eniID, ip)
	if err := os.WriteFile(flows, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Files = []string{flows}
	cfg.Inventory.ReloadInterval = config.Duration(200 * time.Millisecond)
	cfg.Inventory.AWS = &config.AWSInventory{Regions: []string{"sa-east-1"}, RefreshInterval: config.Duration(300 * time.Millisecond),
		Accounts: []config.AWSAccount{{Name: "test", RoleARN: role, ExternalID: "cinch-ext"}}}
	cfg.Analysis.EvaluateInterval = config.Duration(100 * time.Millisecond)
	cfg.Auth.Tokens = []config.Token{{Name: "tester", Role: config.RoleViewer, Token: testToken}}
	r := start(t, cfg)
	addr := r.d.Addr().String()

	rules := func() map[int32]uint64 {
		rep, err := getReport(t, addr)
		if err != nil {
			return nil
		}
		out := map[int32]uint64{}
		for _, s := range rep.Suggestions {
			if s.GroupID == gid && s.Direction == "ingress" {
				out[s.Rule.FromPort] = s.Evidence.Flows
			}
		}
		return out
	}
	waitFor(t, "the tcp/22 rule credited with the flow", func() bool { return rules()[22] == 1 })
	if _, err := ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(gid), IpPermissions: perm(443)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new tcp/443 rule after a refresh", func() bool { _, ok := rules()[443]; return ok })
	if got := rules(); got[22] != 1 || got[443] != 0 {
		t.Errorf("rules after the refresh: %v", got)
	}
}

// motoHost creates in ec's account a VPC NET.0.0/16 with the subnet
// NET.1.0/24, a group named name that lets tcp port in from anywhere, and an
// interface in the subnet carrying it; it returns the group's and the
// interface's ids and the interface's address.
func motoHost(t *testing.T, ctx context.Context, ec *ec2.Client, net, name string, port int32) (gid, eniID, ip string) {
	t.Helper()
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(net + ".0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(net + ".1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	g, err := mototest.CreateSecurityGroup(ctx, ec, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	eni, err := ec.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sub.Subnet.SubnetId, Groups: []string{aws.ToString(g.GroupId)}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(g.GroupId), aws.ToString(eni.NetworkInterface.NetworkInterfaceId), aws.ToString(eni.NetworkInterface.PrivateIpAddress)
}

func waitFor(t *testing.T, what string, cond func() bool, last ...func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	msg := ""
	for _, f := range last {
		msg += "\nlast: " + f()
	}
	t.Fatalf("timed out waiting for %s%s", what, msg)
}

// TestE2EAWSApply: POST /api/v1/apply applies the accepted proposal through
// the apply role (dry run, then for real) and only for the applier role.
func TestE2EAWSApply(t *testing.T) {
	awsCfg, acct, role := mototest.Account(t, "ca-central-1")
	ctx := context.Background()
	ec := ec2.NewFromConfig(awsCfg)
	gid, eniID, ip := motoHost(t, ctx, ec, "10.60", "ssh", 22)
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows.log")
	// With tcp-flags (SYN: the client opened it), so that the proposal's
	// confidence does not rest on an uncertain initiator.
	line := fmt.Sprintf("3 %s %s 198.51.100.9 %s 40001 22 6 10 840 1764000000 1764000050 ACCEPT OK 2\n", acct,
		eniID, ip)
	if err := os.WriteFile(flows, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Files = []string{flows}
	cfg.Inventory.AWS = &config.AWSInventory{Regions: []string{"ca-central-1"}, Accounts: []config.AWSAccount{{RoleARN: role}}}
	cfg.Apply = config.Apply{Enabled: true, RoleARN: role, ExternalID: "cinch-apply"}
	cfg.Analysis.EvaluateInterval = config.Duration(100 * time.Millisecond)
	// The record spans 50 s: without a shorter minimum history every
	// proposal has low confidence, which apply leaves out unless forced.
	cfg.Analysis.MinHistory = config.Duration(30 * time.Second)
	cfg.Formats.Default = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${tcp-flags}"
	cfg.Auth.Tokens = []config.Token{{Name: "viewer", Role: config.RoleViewer, Token: testToken},
		{Name: "rita", Role: config.RoleReviewer, Token: "reviewer-token-0123456789"},
		{Name: "alex", Role: config.RoleApplier, Token: "applier-token-0123456789"}}
	chtest.Shared(t)
	db := chDB("apply")
	cfg.ClickHouse = chConfig(t, db)
	r := start(t, cfg)
	addr := r.d.Addr().String()
	_, _, evs, cancelSub := r.d.hub.Subscribe(r.d.hub.Version())
	defer cancelSub()
	var ruleID string
	waitFor(t, "the narrow proposal", func() bool {
		rep, err := getReport(t, addr)
		if err != nil {
			return false
		}
		for _, s := range rep.Suggestions {
			if s.GroupID == gid && s.Verdict == "narrow" {
				ruleID = s.RuleID
				return true
			}
		}
		return false
	})
	post := func(path, token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Not yet accepted: nothing to do.
	if code, body := post("/api/v1/apply", "applier-token-0123456789", `{}`); code != 200 || !strings.Contains(body, "not accepted in review") {
		t.Fatalf("apply before review: %d %s", code, body)
	}
	if code, body := post("/api/v1/reviews", "reviewer-token-0123456789", fmt.Sprintf(`{"rule_key":%q,"decision":"accepted"}`, ruleID)); code != http.StatusCreated {
		t.Fatalf("review: %d %s", code, body)
	}
	if code, _ := post("/api/v1/apply", "reviewer-token-0123456789", `{}`); code != http.StatusForbidden {
		t.Errorf("a reviewer may not apply: %d", code)
	}
	if code, _ := post("/api/v1/apply", "applier-token-0123456789", `{"force":true}`); code != http.StatusForbidden {
		t.Errorf("force without apply.allow_force: %d", code)
	}
	var lastApply string
	waitFor(t, "the review to reach the applier", func() bool {
		code, body := post("/api/v1/apply", "applier-token-0123456789", `{"dry_run":true}`)
		lastApply = fmt.Sprint(code, " ", body)
		return code == 200 && strings.Contains(body, `"status":"allowed"`)
	}, func() string { return lastApply })
	code, body := post("/api/v1/apply", "applier-token-0123456789", `{}`)
	if code != 200 || strings.Count(body, `"status":"done"`) != 2 {
		t.Fatalf("apply: %d %s", code, body)
	}
	cidrs := mototest.IngressCIDRs(t, ctx, ec, gid)
	if strings.Join(cidrs, ",") != "198.51.100.9/32" {
		t.Errorf("rules after apply: %v", cidrs)
	}
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, "apply-audit.jsonl"))
	if err != nil || !strings.Contains(string(b), `"who":"alex"`) || strings.Count(string(b), `"phase":"apply"`) != 2 {
		t.Errorf("audit log (%v):\n%s", err, b)
	}
	var run struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(body), &run); err != nil || len(run.RunID) != 16 || !strings.Contains(string(b), `"run_id":"`+run.RunID+`"`) {
		t.Errorf("run id %q (%v) not in the audit log", run.RunID, err)
	}

	// Every run is in the hub's feed, summarised, and in ClickHouse's
	// applies table, step by step: the dry runs (allowed) and the real run.
	var runs []string
	for len(runs) < 4 {
		select {
		case ev := <-evs:
			if ev.Type == api.EventApply && ev.Apply != nil {
				runs = append(runs, fmt.Sprintf("%s dry=%v done=%d not=%d skipped>0=%v", ev.Apply.Who, ev.Apply.DryRun, ev.Apply.Done, ev.Apply.NotDone, ev.Apply.Skipped > 0))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("apply events: %v", runs)
		}
		if len(runs) > 0 && strings.HasPrefix(runs[len(runs)-1], "alex dry=false done=2") {
			break
		}
	}
	// The run before the review did nothing and skipped the proposal (the
	// group's egress rule, kept, is skipped in every run).
	if runs[0] != "alex dry=false done=0 not=0 skipped>0=true" || runs[len(runs)-1] != "alex dry=false done=2 not=0 skipped>0=true" ||
		runs[len(runs)-2] != "alex dry=true done=2 not=0 skipped>0=true" {
		t.Errorf("apply events: %v", runs)
	}
	var rows string
	waitFor(t, "the real run's steps in ClickHouse", func() bool {
		rows, _ = chQuery(t, "SELECT who, dry_run, step, op, group_id, rules, status, new_rule_ids != [] FROM "+db+
			".applies WHERE run_id = '"+run.RunID+"' AND op != 'skip' ORDER BY step FORMAT TSV")
		return strings.Count(rows, "\n") == 2
	}, func() string { return rows })
	want := "alex\t0\t1\tauthorize-ingress\t" + gid + "\t['tcp 22-22 198.51.100.9/32']\tdone\t1\n" +
		"alex\t0\t2\trevoke-ingress\t" + gid + "\t['tcp 22-22 0.0.0.0/0']\tdone\t0\n"
	if rows != want {
		t.Errorf("applies rows:\n%s\nwant:\n%s", rows, want)
	}
	// The dry runs' steps were allowed; the run before the review skipped
	// the proposal, saying why.
	if n, err := chQuery(t, "SELECT countIf(dry_run = 1 AND status = 'allowed') > 0, countIf(dry_run = 0 AND op = 'skip' AND status = 'skipped' AND rule_id = '"+ruleID+"' AND error LIKE '%not accepted in review%') FROM "+db+".applies FORMAT TSV"); err != nil || n != "1\t1\n" {
		t.Errorf("dry-run and skipped rows: %q %v", n, err)
	}
	// whoami tells the dashboard that apply is on.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer applier-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(wb), `"role":"applier","apply":true`) {
		t.Errorf("whoami: %s", wb)
	}
}

// Apply is off by default: the endpoint says so.
func TestE2EApplyDisabled(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.StateDir = t.TempDir()
	cfg.Files = []string{os.DevNull}
	cfg.Auth.Tokens = []config.Token{{Name: "alex", Role: config.RoleApplier, Token: "applier-token-0123456789"}}
	r := start(t, cfg)
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.d.Addr().String()+"/api/v1/apply", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer applier-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "apply is disabled") {
		t.Errorf("disabled apply: %d %s", resp.StatusCode, b)
	}
}

// TestE2ES3BackfillResumes: the daemon reads a range of flow-log files from
// S3; stopped while the third of four files cannot be fetched, it resumes
// after a restart with the two remaining files only, and ends with every
// flow counted once.
func TestE2ES3BackfillResumes(t *testing.T) {
	awsCfg, acct, role := mototest.Account(t, "us-west-2")
	ctx := context.Background()
	ec := ec2.NewFromConfig(awsCfg)
	gid, eniID, ip := motoHost(t, ctx, ec, "10.80", "web", 443)

	// Four files of the day, in the default layout, under the base account.
	base, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(base, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true })
	bucket := "backfill-" + acct
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint("us-west-2")}}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b", "c", "d"} {
		line := fmt.Sprintf("2 %s %s 198.51.100.%d %s 40001 443 6 10 840 %d %d ACCEPT OK\n", acct, eniID, i+1, ip, 1764000000+60*i, 1764000050+60*i)
		key := fmt.Sprintf("AWSLogs/%s/vpcflowlogs/us-west-2/2025/11/24/%s_vpcflowlogs_us-west-2_fl-1_20251124T16%02dZ_%s.log", acct, acct, i, name)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" + line)}); err != nil {
			t.Fatal(err)
		}
	}
	// Through a proxy that holds the third file back until released.
	p := mototest.NewPager(t, mototest.Endpoint(t, "us-west-2"))
	release := make(chan struct{})
	var held atomic.Bool
	p.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "_c.log") && held.Load() {
			<-release
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	t.Setenv("AWS_ENDPOINT_URL", p.URL)

	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.S3Backfill = []config.S3Backfill{{URL: "s3://" + bucket, From: "2025-11-24", To: "2025-11-24"}}
	cfg.Inventory.AWS = &config.AWSInventory{Regions: []string{"us-west-2"}, Accounts: []config.AWSAccount{{RoleARN: role}}}
	cfg.Analysis.EvaluateInterval = config.Duration(100 * time.Millisecond)
	cfg.Checkpoint.Interval = config.Duration(200 * time.Millisecond)
	cfg.Auth.Tokens = []config.Token{{Name: "viewer", Role: config.RoleViewer, Token: testToken}}
	flows := func(addr string) uint64 {
		rep, err := getReport(t, addr)
		if err != nil {
			return 0
		}
		for _, s := range rep.Suggestions {
			if s.GroupID == gid && s.Direction == "ingress" {
				return s.Evidence.Flows
			}
		}
		return 0
	}

	held.Store(true)
	r := start(t, cfg)
	waitFor(t, "two files read", func() bool { return flows(r.d.Addr().String()) == 2 })
	close(release)
	r.stop(t)
	held.Store(false)

	r2 := start(t, cfg)
	waitFor(t, "all four files counted", func() bool { return flows(r2.d.Addr().String()) == 4 })
	if got := readCounter(r2.d.met.RecordsParsed); got != 2 {
		t.Errorf("the restarted daemon parsed %v records, want the 2 of the files not read before", got)
	}
	r2.stop(t)
	r3 := start(t, cfg)
	waitFor(t, "the state restored", func() bool { return flows(r3.d.Addr().String()) == 4 })
	time.Sleep(300 * time.Millisecond)
	if got := readCounter(r3.d.met.RecordsParsed); got != 0 {
		t.Errorf("a finished backfill was read again: %v records", got)
	}
}
