package daemon

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsjson"
)

// inventoryFiles lists the configured inventory files, flow-log
// configurations last.
func (d *Daemon) inventoryFiles() []string {
	c := d.cfg.Inventory
	var out []string
	for _, l := range [][]string{c.SecurityGroups, c.SecurityGroupRules, c.NetworkInterfaces, c.ConfigSnapshots, c.PrefixLists, c.FlowLogs} {
		out = append(out, l...)
	}
	return out
}

// stamp identifies the inventory files' current contents by size and time.
func (d *Daemon) stamp() string {
	var b strings.Builder
	b.WriteString(d.awsStamp())
	for _, f := range d.inventoryFiles() {
		st, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(&b, "%s:missing;", f)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d;", f, st.Size(), st.ModTime().UnixNano())
	}
	return b.String()
}

// readInventory loads the inventory from the configured files (or the demo's loader).
func (d *Daemon) readInventory() (*inventory.Inventory, error) {
	if d.opts.LoadInventory != nil {
		return d.opts.LoadInventory()
	}
	inv := inventory.New()
	files := d.inventoryFiles()
	files = files[:len(files)-len(d.cfg.Inventory.FlowLogs)]
	for _, f := range files {
		if _, err := awsjson.LoadFile(inv, f); err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
	}
	for _, f := range d.cfg.Inventory.FlowLogs {
		if _, err := awsjson.LoadFlowLogsFile(inv, f); err != nil {
			return nil, fmt.Errorf("inventory: flow logs: %w", err)
		}
	}
	if d.aws != nil {
		inv.Merge(d.aws.inventory())
		// The account's flow-log configuration is coverage evidence, as
		// inventory.flow_logs is.
		fl, err := d.aws.flowLogsJSON()
		if err != nil {
			return nil, err
		}
		if _, err := awsjson.LoadFlowLogs(inv, bytes.NewReader(fl)); err != nil {
			return nil, fmt.Errorf("inventory: DescribeFlowLogs: %w", err)
		}
	}
	return inv, nil
}

func (d *Daemon) loadInventory() error {
	st := d.stamp()
	inv, err := d.readInventory()
	if err != nil {
		return err
	}
	for _, w := range inv.Validate() {
		d.log.Warn("inventory", "warning", w.Error())
	}
	eng := analysis.NewEngine(inv)
	d.mu.Lock()
	d.eng, d.invStamp = eng, st
	d.mu.Unlock()
	d.log.Info("inventory loaded", "groups", len(inv.Groups()), "interfaces", len(inv.ENIs()), "rules", len(eng.Rules()))
	d.checkInterfaces(len(inv.ENIs()))
	return nil
}

// reloadInventory re-reads the files when they changed; shards move to the
// new engine at the next evaluation, keeping their state by rule key.
func (d *Daemon) reloadInventory() error {
	d.mu.Lock()
	old := d.invStamp
	d.mu.Unlock()
	if d.stamp() == old {
		return nil
	}
	return d.loadInventory()
}
