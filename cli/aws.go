package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/cinch-sg/cinch/inventory/awsapi"
)

// awsFlags select the live EC2 API as an inventory source.
type awsFlags struct {
	enabled    bool
	regions    stringList
	roles      stringList
	externalID string
}

func (f *awsFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enabled, "aws", false, "read the inventory and flow-log configuration from the live EC2 API (standard credential chain; AWS_ENDPOINT_URL honoured)")
	fs.Var(&f.regions, "region", "with --aws: a region to read (repeatable; default AWS_REGION or the shared config's)")
	fs.Var(&f.roles, "assume-role", "with --aws: a role ARN to assume per account (repeatable; default: the credentials' own account)")
	fs.StringVar(&f.externalID, "external-id", "", "with --aws: the external id the assumed roles require")
}

// config turns the flags into the client configuration.
func (f *awsFlags) config() (awsapi.Config, error) {
	if !f.enabled && (len(f.regions) > 0 || len(f.roles) > 0 || f.externalID != "") {
		return awsapi.Config{}, errors.New("--region, --assume-role and --external-id need --aws")
	}
	c := awsapi.Config{}
	for _, r := range f.regions {
		for _, p := range strings.Split(r, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.Regions = append(c.Regions, p)
			}
		}
	}
	for _, arn := range f.roles {
		if !strings.HasPrefix(arn, "arn:") {
			return awsapi.Config{}, fmt.Errorf("--assume-role %q: want a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", arn)
		}
		c.Accounts = append(c.Accounts, awsapi.Account{RoleARN: arn, ExternalID: f.externalID})
	}
	return c, nil
}

// fetch reads the live inventory once and says on stderr what it read.
func (f *awsFlags) fetch(ctx context.Context, env *Env) (*awsapi.Snapshot, error) {
	c, err := f.config()
	if err != nil {
		return nil, err
	}
	cl, err := awsapi.New(ctx, c)
	if err != nil {
		return nil, err
	}
	snap, err := cl.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Stderr, "cinch: aws: %s: %d groups, %d interfaces, %d prefix lists, %d flow logs\n",
		strings.Join(cl.Targets(), ", "), len(snap.Inventory.Groups()), len(snap.Inventory.ENIs()),
		len(snap.Inventory.PrefixLists()), len(snap.FlowLogs))
	return snap, nil
}
