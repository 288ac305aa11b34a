//go:build e2e

package awsapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/internal/mototest"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/s3flow"
)

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestMotoConfigFilesDeletedInterface: an interface gone from EC2 is
// resolved through the AWS Config snapshot and history files in S3, and its
// flows are credited to its group's rule.
func TestMotoConfigFilesDeletedInterface(t *testing.T) {
	cfg, acct, role := mototest.Account(t, "eu-west-3")
	ctx := context.Background()
	ec := ec2.NewFromConfig(cfg)
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.70.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	g, err := mototest.CreateSecurityGroup(ctx, ec, &ec2.CreateSecurityGroupInput{GroupName: aws.String("batch"), Description: aws.String("batch"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	gid := aws.ToString(g.GroupId)
	if _, err := ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
			IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}}); err != nil {
		t.Fatal(err)
	}
	// The Config files of the interface eni-0gone, deleted at 12:00.
	created := time.Date(2026, 11, 9, 8, 0, 0, 0, time.UTC)
	deleted := created.Add(4 * time.Hour)
	bucket := "config-" + acct
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint("eu-west-3")}}); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{"networkInterfaceId":"eni-0gone","vpcId":%q,"groups":[{"groupId":%q,"groupName":"batch"}],"privateIpAddress":"10.70.1.9","privateIpAddresses":[{"privateIpAddress":"10.70.1.9","primary":true}],"interfaceType":"interface"}`,
		aws.ToString(vpc.Vpc.VpcId), gid)
	snapshot := fmt.Sprintf(`{"fileVersion":"1.0","configSnapshotId":"s-1","configurationItems":[{"configurationItemVersion":"1.3","configurationItemCaptureTime":%q,"configurationStateId":1,"awsAccountId":%q,"configurationItemStatus":"ResourceDiscovered","resourceType":"AWS::EC2::NetworkInterface","resourceId":"eni-0gone","awsRegion":"eu-west-3","relationships":[],"configuration":%s}]}`,
		created.Format(time.RFC3339), acct, conf)
	history := fmt.Sprintf(`{"fileVersion":"1.0","configurationItems":[{"configurationItemVersion":"1.3","configurationItemCaptureTime":%q,"configurationStateId":2,"awsAccountId":%q,"configurationItemStatus":"ResourceDeleted","resourceType":"AWS::EC2::NetworkInterface","resourceId":"eni-0gone","awsRegion":"eu-west-3","relationships":[],"configuration":null}]}`,
		deleted.Format(time.RFC3339), acct)
	base := "AWSLogs/" + acct + "/Config/eu-west-3/2026/11/9/"
	for key, body := range map[string][]byte{
		base + "ConfigSnapshot/" + acct + "_Config_eu-west-3_ConfigSnapshot_20261109T080000Z_s-1.json.gz":                                         gz(t, snapshot),
		base + "ConfigHistory/" + acct + "_Config_eu-west-3_ConfigHistory_AWS::EC2::NetworkInterface_20261109T110000Z_20261109T120000Z_1.json.gz": gz(t, history),
		base + "ConfigWritabilityCheckFile": []byte("ok"),
	} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}

	cl := newClient(t, role, Config{Regions: []string{"eu-west-3"}})
	snap, err := cl.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory.New()
	inv.Merge(snap.Inventory)
	if _, ok := inv.ENIAt("eni-0gone", time.Time{}); ok {
		t.Fatal("eni-0gone should not be in EC2")
	}
	n, err := LoadConfigFiles(ctx, NewS3(cl.AWSConfigs()[0]), bucket, "AWSLogs/", inv)
	if err != nil || n != 2 {
		t.Fatalf("loaded %d files: %v", n, err)
	}
	if vs := inv.ENIVersions("eni-0gone"); len(vs) != 1 || !vs[0].Valid.From.Equal(created) || !vs[0].Valid.To.Equal(deleted) {
		for _, v := range vs {
			t.Logf("version %v %v", v.Valid, v.Groups)
		}
		t.Errorf("versions of eni-0gone wrong")
	}
	p := flowlog.NewParser(nil)
	var r flowlog.Record
	at := created.Add(time.Hour)
	line := fmt.Sprintf("2 %s eni-0gone 10.1.2.3 10.70.1.9 40000 8080 6 3 180 %d %d ACCEPT OK", acct, at.Unix(), at.Unix()+20)
	if err := p.Parse([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	// Without the Config files the interface is unknown.
	acc := analysis.NewAccumulator(analysis.NewEngine(snap.Inventory), sketch.DefaultConfig())
	acc.Observe(&r)
	if acc.Stats().Unattributed != 1 {
		t.Errorf("before loading Config: %+v", acc.Stats())
	}
	acc = analysis.NewAccumulator(analysis.NewEngine(inv), sketch.DefaultConfig())
	acc.Observe(&r)
	var flows uint64
	for _, s := range acc.Report(advisor.DefaultConfig()).Suggestions {
		if s.GroupID == gid && s.Rule.FromPort == 8080 {
			flows = s.Evidence.Flows
		}
	}
	if flows != 1 || acc.Stats().Unattributed != 0 {
		t.Errorf("flows credited to %s:8080 = %d, want 1 (stats %+v)", gid, flows, acc.Stats())
	}
	if _, _, err := s3flow.ParseURL("s3://" + bucket + "/AWSLogs/"); err != nil {
		t.Error(err)
	}
}

// TestMotoConfigHistoryOnDemand: the on-demand lookup calls the real API,
// caches answers (moto does not record interfaces: ResourceNotDiscovered)
// and spaces its calls.
func TestMotoConfigHistoryOnDemand(t *testing.T) {
	_, _, role := mototest.Account(t, "eu-west-3")
	cl := newClient(t, role, Config{Regions: []string{"eu-west-3"}})
	h := NewConfigHistory(cl, 50*time.Millisecond)
	t0 := time.Now()
	inv, found, err := h.Interfaces(context.Background(), []string{"eni-1", "eni-2", "eni-3", "eni-1"})
	if err != nil {
		t.Fatal(err)
	}
	if found != 0 || len(inv.ENIs()) != 0 || h.Calls() != 3 {
		t.Errorf("found %d, interfaces %v, calls %d (want 3: eni-1 cached)", found, inv.ENIs(), h.Calls())
	}
	if el := time.Since(t0); el < 100*time.Millisecond {
		t.Errorf("3 calls in %v: not spaced by 50ms", el)
	}
	if _, _, err := h.Interfaces(context.Background(), []string{"eni-2"}); err != nil || h.Calls() != 3 {
		t.Errorf("cached lookup made a call: %d, %v", h.Calls(), err)
	}
}
