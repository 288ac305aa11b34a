package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// AWSInventory reads the inventory live from the EC2 API (network
// interfaces, security groups and rules, prefix lists, flow-log
// configurations) through the standard credential chain, in every account
// and region named, refreshing it periodically; a change seen at a refresh
// becomes a new version valid from then.
type AWSInventory struct {
	// Regions to read (default: AWS_REGION or the shared configuration's).
	Regions []string `yaml:"regions"`
	// Accounts to read through assumed roles; none means the credentials'
	// own account.
	Accounts []AWSAccount `yaml:"accounts"`
	// RefreshInterval is the time between two reads (default 5m).
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MaxAttempts per API call, throttling retries included (default 10).
	MaxAttempts int `yaml:"max_attempts"`
	// ConfigS3 are s3://BUCKET/PREFIX locations of AWS Config snapshot and
	// history files, read at every refresh, for interfaces gone from EC2.
	ConfigS3 []string `yaml:"config_s3"`
}

// AWSAccount is one account read through an assumed role.
type AWSAccount struct {
	// Name labels the account in logs (default: the role ARN).
	Name string `yaml:"name"`
	// RoleARN is the role to assume (arn:aws:iam::ACCOUNT:role/NAME).
	RoleARN string `yaml:"role_arn"`
	// ExternalID is passed to sts:AssumeRole when the role requires one.
	ExternalID string `yaml:"external_id"`
	// Regions overrides inventory.aws.regions for this account.
	Regions []string `yaml:"regions"`
}

// DefaultAWSRefresh is the default inventory.aws.refresh_interval.
const DefaultAWSRefresh = 5 * time.Minute

// Refresh returns the refresh interval, defaulted.
func (a *AWSInventory) Refresh() time.Duration {
	if a.RefreshInterval <= 0 {
		return DefaultAWSRefresh
	}
	return a.RefreshInterval.Std()
}

func (a *AWSInventory) validate(v *validator) {
	if a.RefreshInterval != 0 && a.RefreshInterval.Std() < 10*time.Second {
		v.add("inventory.aws.refresh_interval", "must be at least 10s (EC2 throttles describe calls per account)")
	}
	if a.MaxAttempts < 0 {
		v.add("inventory.aws.max_attempts", "must not be negative")
	}
	for i, u := range a.ConfigS3 {
		if rest, ok := strings.CutPrefix(u, "s3://"); !ok || rest == "" || strings.HasPrefix(rest, "/") {
			v.add(fmt.Sprintf("inventory.aws.config_s3[%d]", i), fmt.Sprintf("%q: want s3://BUCKET[/PREFIX]", u))
		}
	}
	for i, acc := range a.Accounts {
		key := fmt.Sprintf("inventory.aws.accounts[%d]", i)
		if !strings.HasPrefix(acc.RoleARN, "arn:") || !strings.Contains(acc.RoleARN, ":role/") {
			v.add(key+".role_arn", fmt.Sprintf("%q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", acc.RoleARN))
		}
	}
}

func (a *AWSInventory) clone() *AWSInventory {
	c := *a
	c.Regions = slices.Clone(a.Regions)
	c.ConfigS3 = slices.Clone(a.ConfigS3)
	c.Accounts = slices.Clone(a.Accounts)
	for i := range c.Accounts {
		c.Accounts[i].Regions = slices.Clone(a.Accounts[i].Regions)
	}
	return &c
}
