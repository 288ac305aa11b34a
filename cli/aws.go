package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsapi"
)

// awsFlags select the live EC2 API as an inventory source.
type awsFlags struct {
	enabled       bool
	regions       stringList
	roles         stringList
	externalID    string
	configS3      stringList
	configHistory bool
	client        *awsapi.Client
	// snapshot is what --aws read, its flow-log configurations included
	// (snapshot.FlowLogsJSON is the describe-flow-logs export's shape).
	snapshot *awsapi.Snapshot
}

func (f *awsFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enabled, "aws", false, "read the inventory and flow-log configuration from the live EC2 API (standard credential chain; AWS_ENDPOINT_URL honoured)")
	fs.Var(&f.regions, "region", "with --aws: a region to read (repeatable; default AWS_REGION or the shared config's)")
	fs.Var(&f.roles, "assume-role", "with --aws: a role ARN to assume per account (repeatable; default: the credentials' own account)")
	fs.StringVar(&f.externalID, "external-id", "", "with --aws: the external id the assumed roles require")
	fs.Var(&f.configS3, "config-s3", "with --aws: AWS Config snapshot and history files under s3://BUCKET/PREFIX, for interfaces gone from EC2 (repeatable)")
	fs.BoolVar(&f.configHistory, "config-history", false, "with --aws: look up interfaces that flows name but the inventory lacks with AWS Config's GetResourceConfigHistory, then analyze again")
}

// config turns the flags into the client configuration.
func (f *awsFlags) config() (awsapi.Config, error) {
	if !f.enabled && (len(f.regions) > 0 || len(f.roles) > 0 || f.externalID != "" || len(f.configS3) > 0 || f.configHistory) {
		return awsapi.Config{}, errors.New("--region, --assume-role, --external-id, --config-s3 and --config-history need --aws")
	}
	c := awsapi.Config{}
	for _, r := range f.regions {
		c.Regions = append(c.Regions, splitList(r)...)
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
	f.client = cl
	snap, err := cl.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	f.snapshot = snap
	for _, u := range f.configS3 {
		total, err := cl.LoadConfigS3(ctx, u, snap.Inventory)
		if err != nil {
			return nil, fmt.Errorf("--config-s3: %w", err)
		}
		fmt.Fprintf(env.Stderr, "cinch: aws: %s: %d AWS Config files\n", u, total)
	}
	fmt.Fprintf(env.Stderr, "cinch: aws: %s: %d groups, %d interfaces, %d prefix lists, %d flow logs\n",
		strings.Join(cl.Targets(), ", "), len(snap.Inventory.Groups()), len(snap.Inventory.ENIs()),
		len(snap.Inventory.PrefixLists()), len(snap.FlowLogs))
	return snap, nil
}

// resolveGone looks the interfaces the analysis could not attribute up in
// AWS Config's history (with --config-history) and adds what it finds to
// inv; it reports whether the flows must be read again.
func (f *awsFlags) resolveGone(ctx context.Context, env *Env, inv *inventory.Inventory, acc *analysis.Accumulator, files []string, fromS3 bool) (bool, error) {
	un := acc.Unattributed()
	if !f.configHistory || f.client == nil || len(un) == 0 {
		return false, nil
	}
	if slices.Contains(files, "-") || (len(files) == 0 && !fromS3) {
		fmt.Fprintln(env.Stderr, "cinch: aws: --config-history needs flow files (standard input cannot be read twice)")
		return false, nil
	}
	ids := make([]string, len(un))
	for i, u := range un {
		ids[i] = u.InterfaceID
	}
	found, n, err := awsapi.NewConfigHistory(f.client, 0).Interfaces(ctx, ids)
	if err != nil {
		return false, fmt.Errorf("--config-history: %w", err)
	}
	fmt.Fprintf(env.Stderr, "cinch: aws: AWS Config knew %d of %d interfaces missing from EC2\n", n, len(ids))
	if n == 0 {
		return false, nil
	}
	inv.Merge(found)
	return true, nil
}
