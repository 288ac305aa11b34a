package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsjson"
)

// Snapshot is what one read of every account and region found. Its
// Inventory holds one version of each resource, valid since ever, as an
// offline export would; a Tracker dates versions across snapshots.
type Snapshot struct {
	// Time is when the read started.
	Time time.Time
	// Inventory holds the groups, rules, interfaces and prefix lists read.
	Inventory *inventory.Inventory
	// FlowLogs are the flow-log configurations (DescribeFlowLogs) of every
	// account and region.
	FlowLogs []FlowLog
	// Calls counts the API calls that succeeded, by operation (pages
	// included, retries not).
	Calls map[string]int
}

// FlowLog is one flow-log configuration as DescribeFlowLogs returns it, in
// the shape the AWS CLI prints (json.Marshal of it is an element of
// describe-flow-logs' FlowLogs).
type FlowLog = types.FlowLog

// FlowLogsJSON returns the flow logs as `aws ec2 describe-flow-logs` prints
// them: {"FlowLogs": [...]}, for the loaders of offline exports.
func (s *Snapshot) FlowLogsJSON() ([]byte, error) {
	fl := s.FlowLogs
	if fl == nil {
		fl = []FlowLog{}
	}
	b, err := json.Marshal(map[string]any{"FlowLogs": fl})
	if err != nil {
		return nil, fmt.Errorf("describe-flow-logs JSON: %w", err)
	}
	return b, nil
}

// Fetch reads every account and region once. Any failed call (after its
// retries) fails the whole read: a partial inventory would make rules look
// unused.
func (c *Client) Fetch(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{Time: time.Now().UTC(), Inventory: inventory.New(), Calls: map[string]int{}}
	for _, t := range c.targets {
		if err := c.fetchTarget(ctx, t, s); err != nil {
			return nil, fmt.Errorf("aws %s/%s: %w", t.account, t.region, err)
		}
	}
	return s, nil
}

func (c *Client) pageSize(max int32) *int32 {
	n := c.cfg.PageSize
	if n <= 0 || n > max {
		n = max
	}
	return aws.Int32(n)
}

// load marshals v as {key: v} and loads it with fn.
func load(inv *inventory.Inventory, key string, v any, fn func(*inventory.Inventory, *bytes.Reader) error) error {
	b, err := json.Marshal(map[string]any{key: v})
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	return fn(inv, bytes.NewReader(b))
}

func (c *Client) fetchTarget(ctx context.Context, t target, s *Snapshot) error {
	ec := ec2.NewFromConfig(t.cfg)
	inv := inventory.New()

	var groups []types.SecurityGroup
	gp := ec2.NewDescribeSecurityGroupsPaginator(ec, &ec2.DescribeSecurityGroupsInput{MaxResults: c.pageSize(1000)})
	for gp.HasMorePages() {
		out, err := gp.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeSecurityGroups: %w", err)
		}
		s.Calls["DescribeSecurityGroups"]++
		groups = append(groups, out.SecurityGroups...)
	}
	if err := load(inv, "SecurityGroups", nonNil(groups), func(inv *inventory.Inventory, r *bytes.Reader) error {
		return awsjson.LoadSecurityGroups(inv, r)
	}); err != nil {
		return err
	}

	var rules []types.SecurityGroupRule
	rp := ec2.NewDescribeSecurityGroupRulesPaginator(ec, &ec2.DescribeSecurityGroupRulesInput{MaxResults: c.pageSize(1000)})
	for rp.HasMorePages() {
		out, err := rp.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeSecurityGroupRules: %w", err)
		}
		s.Calls["DescribeSecurityGroupRules"]++
		rules = append(rules, out.SecurityGroupRules...)
	}
	if len(rules) > 0 {
		if err := load(inv, "SecurityGroupRules", rules, func(inv *inventory.Inventory, r *bytes.Reader) error {
			return awsjson.LoadSecurityGroupRules(inv, r)
		}); err != nil {
			return err
		}
	}

	var enis []types.NetworkInterface
	np := ec2.NewDescribeNetworkInterfacesPaginator(ec, &ec2.DescribeNetworkInterfacesInput{MaxResults: c.pageSize(1000)})
	for np.HasMorePages() {
		out, err := np.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeNetworkInterfaces: %w", err)
		}
		s.Calls["DescribeNetworkInterfaces"]++
		enis = append(enis, out.NetworkInterfaces...)
	}
	if err := load(inv, "NetworkInterfaces", nonNil(enis), func(inv *inventory.Inventory, r *bytes.Reader) error {
		return awsjson.LoadNetworkInterfaces(inv, r)
	}); err != nil {
		return err
	}

	var lists []types.ManagedPrefixList
	lp := ec2.NewDescribeManagedPrefixListsPaginator(ec, &ec2.DescribeManagedPrefixListsInput{MaxResults: c.pageSize(100)})
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeManagedPrefixLists: %w", err)
		}
		s.Calls["DescribeManagedPrefixLists"]++
		lists = append(lists, out.PrefixLists...)
	}
	if len(lists) > 0 {
		if err := load(inv, "PrefixLists", lists, func(inv *inventory.Inventory, r *bytes.Reader) error {
			return awsjson.LoadPrefixLists(inv, r)
		}); err != nil {
			return err
		}
	}
	for _, pl := range lists {
		id := aws.ToString(pl.PrefixListId)
		var ents []types.PrefixListEntry
		ep := ec2.NewGetManagedPrefixListEntriesPaginator(ec, &ec2.GetManagedPrefixListEntriesInput{
			PrefixListId: pl.PrefixListId, MaxResults: c.pageSize(100)})
		for ep.HasMorePages() {
			out, err := ep.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("GetManagedPrefixListEntries %s: %w", id, err)
			}
			s.Calls["GetManagedPrefixListEntries"]++
			ents = append(ents, out.Entries...)
		}
		if err := load(inv, "Entries", nonNil(ents), func(inv *inventory.Inventory, r *bytes.Reader) error {
			return awsjson.LoadPrefixListEntries(inv, r, id)
		}); err != nil {
			return err
		}
	}

	fp := ec2.NewDescribeFlowLogsPaginator(ec, &ec2.DescribeFlowLogsInput{MaxResults: c.pageSize(1000)})
	for fp.HasMorePages() {
		out, err := fp.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeFlowLogs: %w", err)
		}
		s.Calls["DescribeFlowLogs"]++
		s.FlowLogs = append(s.FlowLogs, out.FlowLogs...)
	}

	// Interfaces whose availability zone did not name the region get it here.
	for _, id := range inv.ENIs() {
		if e, ok := inv.ENIAt(id, time.Time{}); ok && e.Region == "" {
			c := *e
			c.Region = t.region
			inv.AddENI(c)
		}
	}
	s.Inventory.Merge(inv)
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
