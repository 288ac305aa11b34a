// Package mototest connects tests to the moto server (a local implementation
// of the AWS APIs) that scripts/test.sh starts and names in
// CINCH_MOTO_ENDPOINT. Each test gets an AWS account of its own (moto keeps
// accounts apart; credentials from sts:AssumeRole into a role of a fresh
// random account select it), so tests neither see nor disturb each other's
// resources, and repeated runs against one server start empty.
package mototest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Endpoint returns moto's URL from CINCH_MOTO_ENDPOINT and points the SDK at
// it for the rest of the test (AWS_ENDPOINT_URL, static credentials, a
// region). It fails the test when the variable is missing.
func Endpoint(t testing.TB, region string) string {
	t.Helper()
	ep := os.Getenv("CINCH_MOTO_ENDPOINT")
	if ep == "" {
		t.Fatal("CINCH_MOTO_ENDPOINT is not set: run scripts/test.sh, which starts moto's server (.ci/moto/start.sh)")
	}
	t.Setenv("AWS_ENDPOINT_URL", ep)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", region)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return ep
}

// NewAccount returns a random 12-digit account id and the ARN of a role in
// it; assuming the role gives credentials that moto files under that account.
func NewAccount() (id, roleARN string) {
	id = fmt.Sprintf("%012d", 100000000000+rand.Int64N(800000000000))
	return id, "arn:aws:iam::" + id + ":role/cinch-test"
}

// Account points the SDK at moto (see Endpoint) and returns the SDK
// configuration of a fresh account, its id and role ARN.
func Account(t testing.TB, region string) (cfg aws.Config, id, roleARN string) {
	t.Helper()
	Endpoint(t, region)
	base, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id, roleARN = NewAccount()
	cfg = base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), roleARN))
	return cfg, id, roleARN
}

// CreateSecurityGroup creates a group for a test's setup, tolerating the
// SDK's retry of a create whose first answer was lost (moto's server
// sometimes closes a connection under load, and the SDK sends the request
// again): InvalidGroup.Duplicate then means the first attempt created it,
// and its id is looked up by name.
func CreateSecurityGroup(ctx context.Context, ec *ec2.Client, in *ec2.CreateSecurityGroupInput) (*ec2.CreateSecurityGroupOutput, error) {
	out, err := ec.CreateSecurityGroup(ctx, in)
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) || ae.ErrorCode() != "InvalidGroup.Duplicate" {
		return out, err
	}
	filters := []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{aws.ToString(in.GroupName)}}}
	if in.VpcId != nil {
		filters = append(filters, ec2types.Filter{Name: aws.String("vpc-id"), Values: []string{aws.ToString(in.VpcId)}})
	}
	d, derr := ec.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: filters})
	if derr != nil || len(d.SecurityGroups) != 1 {
		return nil, err
	}
	return &ec2.CreateSecurityGroupOutput{GroupId: d.SecurityGroups[0].GroupId}, nil
}

// IngressCIDRs lists the IPv4 sources of group id's inbound rules, in the
// order EC2 gives them.
func IngressCIDRs(t testing.TB, ctx context.Context, ec *ec2.Client, id string) []string {
	t.Helper()
	out, err := ec.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: []string{id}}}})
	if err != nil {
		t.Fatal(err)
	}
	var cidrs []string
	for _, r := range out.SecurityGroupRules {
		if !aws.ToBool(r.IsEgress) {
			cidrs = append(cidrs, aws.ToString(r.CidrIpv4))
		}
	}
	return cidrs
}
