//go:build e2e

package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/internal/chtest"
	"github.com/cinch-sg/cinch/internal/mototest"
)

// TestE2EAnalyzeAWS: `AWS_ENDPOINT_URL=moto cinch analyze --aws --region
// us-east-1 FLOWS` reads the live inventory through the SDK (the standard
// credential chain, here static keys) and judges the rules.
func TestE2EAnalyzeAWS(t *testing.T) {
	mototest.Endpoint(t, "eu-north-1") // --region must win over AWS_REGION
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	ec := ec2.NewFromConfig(cfg)
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.20.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	g, err := mototest.CreateSecurityGroup(ctx, ec, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web-" + aws.ToString(vpc.Vpc.VpcId)),
		Description: aws.String("web"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	eni, err := ec.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sub.Subnet.SubnetId, Groups: []string{aws.ToString(g.GroupId)}})
	if err != nil {
		t.Fatal(err)
	}
	id, ip := aws.ToString(eni.NetworkInterface.NetworkInterfaceId), aws.ToString(eni.NetworkInterface.PrivateIpAddress)
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf("2 123456789012 %s 203.0.113.7 %s %d 22 6 10 840 %d %d ACCEPT OK", id, ip, 40000+i, 1764000000+60*i, 1764000050+60*i))
	}
	flows := write(t, t.TempDir(), "flows.log", strings.Join(lines, "\n")+"\n")

	code, out, errs := run(t, "", "analyze", "--aws", "--region", "us-east-1", flows)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "aws: default/us-east-1:") {
		t.Errorf("stderr should say what was read: %s", errs)
	}
	var rep advisor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	found := false
	for _, s := range rep.Suggestions {
		if s.GroupID != aws.ToString(g.GroupId) || s.Direction != "ingress" {
			continue
		}
		found = true
		if !strings.HasPrefix(s.RuleID, "sgr-") || s.Evidence.Flows != 5 || s.Verdict != "narrow" ||
			len(s.Proposed) != 1 || s.Proposed[0].Source != "203.0.113.7/32" {
			t.Errorf("suggestion %+v", s)
		}
	}
	if !found {
		t.Fatalf("no suggestion for %s in %s", aws.ToString(g.GroupId), out)
	}

	// The same flows as S3 delivers them (one gzip file with a header line in
	// the Hive layout, one text file in the default layout) give the same report.
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true })
	bucket := "flows-" + strings.ToLower(aws.ToString(vpc.Vpc.VpcId))
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" + strings.Join(lines[:3], "\n") + "\n"))
	zw.Close()
	for key, body := range map[string][]byte{
		"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2025/month=11/day=24/hour=16/123456789012_vpcflowlogs_us-east-1_fl-1_20251124T1600Z_a.log.gz": zb.Bytes(),
		"AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/11/24/123456789012_vpcflowlogs_us-east-1_fl-2_20251124T1600Z_b.log":                                                                 []byte(strings.Join(lines[3:], "\n") + "\n"),
	} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	code, out3, errs := run(t, "", "analyze", "--aws", "--region", "us-east-1", "--s3", "s3://"+bucket, "--from", "2025-11-23", "--to", "2025-11-24")
	if code != 0 || !strings.Contains(errs, "2 flow-log files") {
		t.Fatalf("--s3: exit %d: %s", code, errs)
	}
	if out3 != out {
		t.Errorf("--s3 report differs from the local files':\n%s\n%s", out3, out)
	}

	// Flags that need --aws say so.
	if code, _, errs := run(t, "", "analyze", "--region", "us-east-1", flows); code == 0 || !strings.Contains(errs, "need --aws") {
		t.Errorf("--region without --aws: exit %d, %s", code, errs)
	}
}

// TestE2EApply: cinch apply on an analysis and a reviews file, dry run and
// then for real, with the audit log.
func TestE2EApply(t *testing.T) {
	mototest.Endpoint(t, "us-east-1")
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ec := ec2.NewFromConfig(cfg)
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.50.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	g, err := mototest.CreateSecurityGroup(ctx, ec, &ec2.CreateSecurityGroupInput{GroupName: aws.String("db-" + aws.ToString(vpc.Vpc.VpcId)),
		Description: aws.String("db"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	gid := aws.ToString(g.GroupId)
	if _, err := ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
			IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}}); err != nil {
		t.Fatal(err)
	}
	rules, err := ec.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{gid}}}})
	if err != nil {
		t.Fatal(err)
	}
	var rid string
	for _, r := range rules.SecurityGroupRules {
		if !aws.ToBool(r.IsEgress) {
			rid = aws.ToString(r.SecurityGroupRuleId)
		}
	}
	dir := t.TempDir()
	sug := write(t, dir, "s.json", fmt.Sprintf(`{"window":{"from":"2026-11-01T00:00:00Z","to":"2026-11-27T00:00:00Z"},"suggestions":[
{"group_id":%q,"rule_id":%q,"direction":"ingress","rule":{"protocol":"tcp","from_port":5432,"to_port":5432,"source":"10.0.0.0/8"},
 "verdict":"narrow","reasons":["few-sources"],"confidence":"high",
 "proposed":[{"protocol":"tcp","from_port":5432,"to_port":5432,"source":"10.1.2.0/24"}],"evidence":{"flows":3}}]}`, gid, rid))
	rev := write(t, dir, "r.jsonl", fmt.Sprintf(`{"rule_id":%q,"decision":"accepted","by":"ann"}`+"\n", rid))
	logf := dir + "/audit.jsonl"
	code, out, errs := run(t, "", "apply", "--suggestions", sug, "--reviews", rev, "--audit-log", logf, "--who", "ann", "--dry-run")
	if code != 0 || !strings.Contains(errs, "2 of 2 steps allowed (dry run)") || !strings.Contains(out, `"status": "allowed"`) {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	// The real run is also recorded in ClickHouse's applies table.
	chAddr, chHTTP := chtest.Env(t, "CINCH_TEST_CLICKHOUSE_ADDR"), chtest.Env(t, "CINCH_TEST_CLICKHOUSE_HTTP_URL")
	chtest.Shared(t)
	db := fmt.Sprintf("cinch_apply_%d", time.Now().UnixNano())
	chQuery := func(sql string) string {
		resp, err := http.Post(chHTTP, "text/plain", strings.NewReader(sql))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	defer chQuery("DROP DATABASE IF EXISTS " + db)
	code, out, errs = run(t, "", "apply", "--suggestions", sug, "--reviews", rev, "--audit-log", logf, "--who", "ann",
		"--clickhouse", chAddr, "--clickhouse-database", db)
	if code != 0 || !strings.Contains(errs, "2 of 2 steps done") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	var res struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.RunID == "" {
		t.Fatalf("result without run id (%v): %s", err, out)
	}
	want := fmt.Sprintf("%s\tann\t0\t1\tauthorize-ingress\t%s\t['tcp 5432-5432 10.1.2.0/24']\tdone\n"+
		"%s\tann\t0\t2\trevoke-ingress\t%s\t['tcp 5432-5432 10.0.0.0/8']\tdone\n", res.RunID, gid, res.RunID, gid)
	if got := chQuery("SELECT run_id, who, dry_run, step, op, group_id, rules, status FROM " + db + ".applies ORDER BY step FORMAT TSV"); got != want {
		t.Errorf("applies table:\n%s\nwant:\n%s", got, want)
	}
	cidrs := mototest.IngressCIDRs(t, ctx, ec, gid)
	if strings.Join(cidrs, ",") != "10.1.2.0/24" {
		t.Errorf("rules after apply: %v", cidrs)
	}
	b, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"phase":"apply"`); n != 2 || !strings.Contains(string(b), `"who":"ann"`) {
		t.Errorf("audit log has %d apply calls:\n%s", n, b)
	}
}
