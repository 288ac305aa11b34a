// Package awsapi reads the inventory live from the EC2 API with
// aws-sdk-go-v2: network interfaces, security groups and their rules, managed
// prefix lists and their entries, and flow-log configurations, in several
// accounts (assumed roles) and regions.
//
// The SDK's responses are turned into the JSON shapes the AWS CLI prints and
// loaded with package inventory/awsjson, so the live source and the offline
// exports build exactly the same model. A Tracker turns successive reads into
// versions: a change seen at a refresh becomes a new version valid from the
// time of that refresh, and an interface that disappears is deleted then.
package awsapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Account is one AWS account to read through an assumed role.
type Account struct {
	// Name labels the account in errors and logs (default: the role ARN).
	Name string `yaml:"name" json:"name,omitempty"`
	// RoleARN is the role to assume; empty means the base credentials'
	// own account.
	RoleARN string `yaml:"role_arn" json:"role_arn,omitempty"`
	// ExternalID is passed to sts:AssumeRole when the role's trust policy
	// requires one.
	ExternalID string `yaml:"external_id" json:"external_id,omitempty"`
	// Regions overrides Config.Regions for this account.
	Regions []string `yaml:"regions" json:"regions,omitempty"`
}

// Config says what to read and how to call AWS.
type Config struct {
	// Regions to read; empty means the region of the standard configuration
	// (AWS_REGION, the shared config file).
	Regions []string
	// Accounts to read; empty means one account with the standard
	// credential chain.
	Accounts []Account
	// MaxAttempts per API call, retries included (default 10).
	MaxAttempts int
	// MaxBackoff caps the delay between retries (default 20 s); throttling
	// (RequestLimitExceeded, Throttling, HTTP 503) is retried with jittered
	// exponential backoff up to it.
	MaxBackoff time.Duration
	// PageSize is the MaxResults of each describe call (default: the
	// largest each API allows).
	PageSize int32
	// HTTPClient replaces the SDK's HTTP client (tests).
	HTTPClient aws.HTTPClient
}

// Defaults of Config.
const (
	DefaultMaxAttempts = 10
	DefaultMaxBackoff  = 20 * time.Second
)

// target is one account and region with its clients' configuration.
type target struct {
	account string
	region  string
	cfg     aws.Config
}

// Client reads every configured account and region.
type Client struct {
	cfg     Config
	targets []target
}

// LoadAWSConfig loads the standard SDK configuration (credential chain,
// region, AWS_ENDPOINT_URL and the shared files) with the retryer tuned for
// throttling that every cinch AWS client uses.
func LoadAWSConfig(ctx context.Context, c Config) (aws.Config, error) {
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	backoff := c.MaxBackoff
	if backoff <= 0 {
		backoff = DefaultMaxBackoff
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = backoff
				// The client-side retry quota would fail calls fast during a
				// throttling storm; backoff alone paces the retries.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if c.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(c.HTTPClient))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws: loading the SDK configuration: %w", err)
	}
	return cfg, nil
}

// New prepares a client for every account and region of c. Roles are
// assumed lazily, at the first call, and their credentials cached and
// refreshed before they expire.
func New(ctx context.Context, c Config) (*Client, error) {
	base, err := LoadAWSConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	accounts := c.Accounts
	if len(accounts) == 0 {
		accounts = []Account{{}}
	}
	cl := &Client{cfg: c}
	for _, a := range accounts {
		regions := a.Regions
		if len(regions) == 0 {
			regions = c.Regions
		}
		if len(regions) == 0 {
			if base.Region == "" {
				return nil, errors.New("aws: no region: give --region, set AWS_REGION or configure regions")
			}
			regions = []string{base.Region}
		}
		cfg := base.Copy()
		name := a.Name
		if a.RoleARN != "" {
			if name == "" {
				name = a.RoleARN
			}
			stsc := sts.NewFromConfig(base)
			prov := stscreds.NewAssumeRoleProvider(stsc, a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "cinch"
				if a.ExternalID != "" {
					o.ExternalID = aws.String(a.ExternalID)
				}
			})
			cfg.Credentials = aws.NewCredentialsCache(prov)
		}
		if name == "" {
			name = "default"
		}
		for _, r := range regions {
			rc := cfg.Copy()
			rc.Region = r
			cl.targets = append(cl.targets, target{account: name, region: r, cfg: rc})
		}
	}
	return cl, nil
}

// Targets returns "account/region" for every place the client reads.
func (c *Client) Targets() []string {
	out := make([]string, len(c.targets))
	for i, t := range c.targets {
		out[i] = t.account + "/" + t.region
	}
	return out
}

// AWSConfigs returns the SDK configuration of every account and region, for
// other clients (apply, AWS Config) that must act where the inventory was read.
func (c *Client) AWSConfigs() []aws.Config {
	out := make([]aws.Config, len(c.targets))
	for i, t := range c.targets {
		out[i] = t.cfg
	}
	return out
}
