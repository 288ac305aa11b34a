//go:build e2e

package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/internal/mototest"
)

// TestE2EAWSInventory: the daemon reads its inventory from the EC2 API
// (moto's server, an assumed role with an external id) and refreshes it: a
// rule added in the account shows in the suggestions after a refresh.
func TestE2EAWSInventory(t *testing.T) {
	awsCfg, acct, role := mototest.Account(t, "sa-east-1")
	ctx := context.Background()
	ec := ec2.NewFromConfig(awsCfg)
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.30.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.30.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	g, err := ec.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	perm := func(port int32) []types.IpPermission {
		return []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}
	}
	if _, err := ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: perm(22)}); err != nil {
		t.Fatal(err)
	}
	eni, err := ec.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sub.Subnet.SubnetId, Groups: []string{aws.ToString(g.GroupId)}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows.log")
	line := fmt.Sprintf("2 %s %s 198.51.100.9 %s 40001 22 6 10 840 1764000000 1764000050 ACCEPT OK\n", acct,
		aws.ToString(eni.NetworkInterface.NetworkInterfaceId), aws.ToString(eni.NetworkInterface.PrivateIpAddress))
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
			if s.GroupID == aws.ToString(g.GroupId) && s.Direction == "ingress" {
				out[s.Rule.FromPort] = s.Evidence.Flows
			}
		}
		return out
	}
	waitFor(t, "the tcp/22 rule credited with the flow", func() bool { return rules()[22] == 1 })
	if _, err := ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: perm(443)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new tcp/443 rule after a refresh", func() bool { _, ok := rules()[443]; return ok })
	if got := rules(); got[22] != 1 || got[443] != 0 {
		t.Errorf("rules after the refresh: %v", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
