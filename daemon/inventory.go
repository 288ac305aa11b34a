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
	d.useInventory(inv, st)
	return nil
}

// useInventory makes inv (of files stamp st) the inventory in use.
func (d *Daemon) useInventory(inv *inventory.Inventory, st string) {
	for _, w := range inv.Validate() {
		d.log.Warn("inventory", "warning", w.Error())
	}
	eng := analysis.NewEngine(inv)
	d.mu.Lock()
	d.eng, d.invStamp = eng, st
	d.invGroups, d.invENIs = len(inv.Groups()), len(inv.ENIs())
	d.suspect = nil
	d.mu.Unlock()
	d.invSuspect.Store(nil)
	d.met.InventoryRefused.Set(0)
	d.met.InventoryLastSuccess.SetToCurrentTime()
	d.log.Info("inventory loaded", "groups", len(inv.Groups()), "interfaces", len(inv.ENIs()), "rules", len(eng.Rules()))
	d.checkInterfaces(len(inv.ENIs()))
}

// suspectInventory is a reload held back because it lost too much at once.
type suspectInventory struct {
	stamp  string // the files' stamp when it was read
	checks int    // consecutive reload checks that found the files unchanged
	reason string
}

// suspectReason says why inv, replacing an inventory of groups groups and
// enis interfaces, is suspect ("" when it is not): it lost more than the
// configured share of either.
func (d *Daemon) suspectReason(inv *inventory.Inventory, groups, enis int) string {
	drop := d.cfg.Inventory.SuspectDrop
	if drop >= 1 {
		return ""
	}
	var parts []string
	for _, c := range []struct {
		what     string
		old, new int
	}{{"security groups", groups, len(inv.Groups())}, {"network interfaces", enis, len(inv.ENIs())}} {
		if c.old > 0 && float64(c.old-c.new) > drop*float64(c.old) {
			parts = append(parts, fmt.Sprintf("%s %d → %d", c.what, c.old, c.new))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("inventory: suspect reload held back (%s, more than %.0f%% lost at once); the previous inventory stays in use until the files are restored or stay so for %d reload checks",
		strings.Join(parts, ", "), drop*100, d.cfg.Inventory.SuspectReloads)
}

// reloadInventory re-reads the files when they changed; shards move to the
// new engine at the next evaluation, keeping their state by rule key (the
// usage of rules the new inventory lacks is kept aside until the window ages
// it out).
//
// An inventory that lost more than inventory.suspect_drop of its groups or
// interfaces at once (a truncated export, an empty file, a wrong account) is
// suspect: it is held back, the previous one stays in use, and /readyz
// reports it. It is accepted once the files have stayed unchanged for
// inventory.suspect_reloads consecutive checks; restoring the files clears
// it. (A restart accepts whatever the files hold: there is nothing to compare
// with.)
func (d *Daemon) reloadInventory() error {
	st := d.stamp()
	d.mu.Lock()
	old, sus := d.invStamp, d.suspect
	groups, enis := d.invGroups, d.invENIs
	d.mu.Unlock()
	if st == old {
		if sus != nil {
			d.log.Info("inventory: the suspect reload was undone; keeping the inventory in use")
			d.mu.Lock()
			d.suspect = nil
			d.mu.Unlock()
			d.invSuspect.Store(nil)
			d.met.InventoryRefused.Set(0)
		}
		d.met.InventoryLastSuccess.SetToCurrentTime()
		return nil
	}
	if sus != nil && sus.stamp == st {
		sus.checks++
		if sus.checks < d.cfg.Inventory.SuspectReloads {
			return nil
		}
	}
	inv, err := d.readInventory()
	if err != nil {
		return err
	}
	if sus == nil || sus.stamp != st {
		if reason := d.suspectReason(inv, groups, enis); reason != "" {
			sus = &suspectInventory{stamp: st, checks: 1, reason: reason}
			if sus.checks < d.cfg.Inventory.SuspectReloads {
				d.mu.Lock()
				d.suspect = sus
				d.mu.Unlock()
				d.invSuspect.Store(&reason)
				d.met.InventoryRefused.Set(1)
				d.log.Warn(reason)
				return nil
			}
		}
	}
	if sus != nil {
		d.log.Warn("inventory: accepting the suspect reload: it persisted", "checks", sus.checks, "was", sus.reason)
	}
	d.useInventory(inv, st)
	return nil
}
