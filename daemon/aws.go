package daemon

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsapi"
)

// awsSource is the live EC2 inventory: a client for every account and
// region and the tracker that versions what successive reads saw.
type awsSource struct {
	client   *awsapi.Client
	tracker  *awsapi.Tracker
	every    time.Duration
	configS3 []string

	mu        sync.Mutex
	configInv *inventory.Inventory // from the AWS Config files, replaced at each refresh
	configGen uint64
}

// AWSClientConfig converts the daemon's inventory.aws section for the client.
func AWSClientConfig(a *config.AWSInventory) awsapi.Config {
	c := awsapi.Config{Regions: a.Regions, MaxAttempts: a.MaxAttempts}
	for _, acc := range a.Accounts {
		c.Accounts = append(c.Accounts, awsapi.Account{Name: acc.Name, RoleARN: acc.RoleARN,
			ExternalID: acc.ExternalID, Regions: acc.Regions})
	}
	return c
}

// openAWS prepares the live inventory and reads it once: the daemon does not
// start on an inventory it could not read.
func (d *Daemon) openAWS() error {
	a := d.cfg.Inventory.AWS
	if a == nil || d.opts.LoadInventory != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := awsapi.New(ctx, AWSClientConfig(a))
	if err != nil {
		return fmt.Errorf("inventory.aws: %w", err)
	}
	d.aws = &awsSource{client: cl, tracker: awsapi.NewTracker(), every: a.Refresh(), configS3: a.ConfigS3}
	if err := d.refreshAWS(ctx); err != nil {
		return fmt.Errorf("inventory.aws: %w", err)
	}
	return nil
}

// refreshAWS reads every account and region once and records the result.
func (d *Daemon) refreshAWS(ctx context.Context) error {
	t0 := time.Now()
	snap, err := d.aws.client.Fetch(ctx)
	if err != nil {
		return err
	}
	ch := d.aws.tracker.Observe(snap)
	if len(d.aws.configS3) > 0 {
		if err := d.aws.loadConfigFiles(ctx); err != nil {
			return err
		}
	}
	d.log.Info("aws inventory read", "targets", d.aws.client.Targets(), "took", time.Since(t0).Round(time.Millisecond),
		"groups", len(snap.Inventory.Groups()), "interfaces", len(snap.Inventory.ENIs()), "flow_logs", len(snap.FlowLogs),
		"new_interfaces", len(ch.NewENIs), "changed_interfaces", len(ch.ChangedENIs), "deleted_interfaces", len(ch.DeletedENIs),
		"changed_groups", len(ch.ChangedGroups)+len(ch.NewGroups)+len(ch.DeletedGroups))
	return nil
}

// runAWSRefresh refreshes the live inventory every interval until ctx ends;
// the inventory reload tick then picks up a changed version. A failed read
// keeps the previous inventory.
func (d *Daemon) runAWSRefresh(ctx context.Context) {
	t := time.NewTicker(d.aws.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.refreshAWS(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("aws inventory refresh failed; keeping the previous one", "err", err)
			}
		}
	}
}

// loadConfigFiles reads the AWS Config files of every configured location
// (through the first account and region that can read each).
func (a *awsSource) loadConfigFiles(ctx context.Context) error {
	inv := inventory.New()
	for _, u := range a.configS3 {
		if _, err := a.client.LoadConfigS3(ctx, u, inv); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.configInv = inv
	a.configGen++
	a.mu.Unlock()
	return nil
}

// inventory returns the live inventory: the tracker's versions and the
// AWS Config files'.
func (a *awsSource) inventory() *inventory.Inventory {
	inv := a.tracker.Inventory()
	a.mu.Lock()
	inv.Merge(a.configInv)
	a.mu.Unlock()
	return inv
}

// flowLogsJSON returns the flow logs the refreshes see now, in the shape of
// aws ec2 describe-flow-logs. Deleted ones are left out: the coverage model
// has no end for a flow log, and leaving one out can only keep more rules.
func (a *awsSource) flowLogsJSON() ([]byte, error) {
	var live []awsapi.FlowLog
	for _, tf := range a.tracker.FlowLogs() {
		if tf.Gone.IsZero() {
			live = append(live, tf.FlowLog)
		}
	}
	snap := awsapi.Snapshot{FlowLogs: live}
	return snap.FlowLogsJSON()
}

// awsStamp identifies the live inventory's version for the reload check.
func (d *Daemon) awsStamp() string {
	if d.aws == nil {
		return ""
	}
	d.aws.mu.Lock()
	gen := d.aws.configGen
	d.aws.mu.Unlock()
	return "aws:" + strconv.FormatUint(d.aws.tracker.Version(), 10) + ":" + strconv.FormatUint(gen, 10) + ";"
}
