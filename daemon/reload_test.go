package daemon

import (
	"github.com/prometheus/client_golang/prometheus/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/simulate"
)

// The inventory files are re-read when they change: a rule added to a group
// appears in the suggestions without a restart.
func TestInventoryReload(t *testing.T) {
	sc := newScenario(t, 100, 41)
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Inventory.ReloadInterval = config.Duration(time.Second)
	r := start(t, cfg)
	addr := r.d.Addr().String()
	deadline := time.Now().Add(20 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		if rep, err := getReport(t, addr); err == nil && len(rep.Suggestions) > 0 {
			n = len(rep.Suggestions)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n == 0 {
		t.Fatal("no suggestions")
	}
	p := int32(9443)
	sc.acct.Groups[0].IPPermissions = append(sc.acct.Groups[0].IPPermissions,
		simulate.Permission{IPProtocol: "tcp", FromPort: &p, ToPort: &p, IPRanges: []simulate.IPRange{{CidrIP: "192.0.2.0/24"}}})
	f, err := os.Create(filepath.Join(sc.dir, "sg.json.new"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.acct.WriteSecurityGroups(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(filepath.Join(sc.dir, "sg.json.new"), filepath.Join(sc.dir, "sg.json")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if rep, err := getReport(t, addr); err == nil && len(rep.Suggestions) == n+1 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the new rule did not appear after the inventory file changed")
}

// writeGroups replaces sg.json with the given groups of the account (all
// when keep is nil), as a reload would see it.
func writeGroups(t *testing.T, sc *scenario, keep []simulate.SecurityGroup) {
	t.Helper()
	acct := *sc.acct
	if keep != nil {
		acct.Groups = keep
	}
	tmp := filepath.Join(sc.dir, "sg.json.new")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := acct.WriteSecurityGroups(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(tmp, filepath.Join(sc.dir, "sg.json")); err != nil {
		t.Fatal(err)
	}
}

// groupFlows sums the flows of the suggestions of group id.
func groupFlows(d *Daemon, id string) (flows uint64, rules int) {
	rep, _ := d.hub.Report()
	for _, s := range rep.Suggestions {
		if s.GroupID == id {
			flows += s.Evidence.Flows
			rules++
		}
	}
	return flows, rules
}

// A reload that briefly lacks a group does not erase its rules' history:
// the usage stays keyed by rule and comes back with the group (issue 7,
// finding 1).
func TestReloadLackingAGroupKeepsItsHistory(t *testing.T) {
	sc := newScenario(t, 4000, 81)
	d := newTestDaemon(t, sc, 30*24*time.Hour)
	replay(t, d, sc, time.Now().Add(-time.Hour), 6*time.Hour)
	var id string
	var before uint64
	for _, g := range sc.acct.Groups {
		if f, _ := groupFlows(d, g.GroupID); f > 0 {
			id, before = g.GroupID, f
			break
		}
	}
	if id == "" {
		t.Fatal("no group with traffic")
	}
	var rest []simulate.SecurityGroup
	for _, g := range sc.acct.Groups {
		if g.GroupID != id {
			rest = append(rest, g)
		}
	}
	writeGroups(t, sc, rest)
	if err := d.reloadInventory(); err != nil {
		t.Fatal(err)
	}
	d.evaluate()
	if _, n := groupFlows(d, id); n != 0 {
		t.Fatalf("group %s still judged after it left the inventory", id)
	}
	if err := d.readyErr(); err != nil {
		t.Fatalf("losing one group of %d made the inventory suspect: %v", len(sc.acct.Groups), err)
	}
	writeGroups(t, sc, nil)
	if err := d.reloadInventory(); err != nil {
		t.Fatal(err)
	}
	d.evaluate()
	if after, _ := groupFlows(d, id); after != before {
		t.Fatalf("group %s: %d flows after it came back, %d before it left", id, after, before)
	}
}

// An inventory that suddenly loses most of its groups (here: all of them) is
// held back as suspect and reported on /readyz; restoring the files clears
// it, and one that persists for inventory.suspect_reloads checks is accepted
// (issue 7, finding 1).
func TestSuspectInventoryHeldBack(t *testing.T) {
	sc := newScenario(t, 2000, 83)
	d := newTestDaemon(t, sc, 30*24*time.Hour)
	rules := len(d.eng.Rules())
	empty := func() {
		if err := os.WriteFile(filepath.Join(sc.dir, "sg.json"), []byte(`{"SecurityGroups": []}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reload := func() {
		if err := d.reloadInventory(); err != nil {
			t.Fatal(err)
		}
	}
	empty()
	reload()
	if n := len(d.eng.Rules()); n != rules {
		t.Fatalf("an empty inventory was accepted: %d rules, had %d", n, rules)
	}
	if err := d.readyErr(); err == nil || !strings.Contains(err.Error(), "suspect") {
		t.Fatalf("/readyz does not report the suspect inventory: %v", err)
	}
	// The alerts CinchInventoryRefused and CinchInventoryStale read these.
	if got := testutil.ToFloat64(d.met.InventoryRefused); got != 1 {
		t.Errorf("cinch_inventory_refused = %v while held back, want 1", got)
	}
	// Restored before it persisted: cleared, nothing changed.
	writeGroups(t, sc, nil)
	before := time.Now().Unix()
	reload()
	if err := d.readyErr(); err != nil || len(d.eng.Rules()) != rules {
		t.Fatalf("after the files were restored: ready %v, %d rules", err, len(d.eng.Rules()))
	}
	if got := testutil.ToFloat64(d.met.InventoryRefused); got != 0 {
		t.Errorf("cinch_inventory_refused = %v after the restore, want 0", got)
	}
	if got := testutil.ToFloat64(d.met.InventoryLastSuccess); got < float64(before) {
		t.Errorf("cinch_inventory_last_success_timestamp_seconds = %v, want the check's time (>= %d)", got, before)
	}
	// Persisting: accepted at the configured number of checks.
	empty()
	for i := 1; i < d.cfg.Inventory.SuspectReloads; i++ {
		reload()
		if len(d.eng.Rules()) != rules {
			t.Fatalf("suspect inventory accepted after %d checks, want %d", i, d.cfg.Inventory.SuspectReloads)
		}
	}
	reload()
	if len(d.eng.Rules()) == rules || d.readyErr() != nil {
		t.Fatalf("a suspect inventory that persisted was not accepted: %d rules, ready %v", len(d.eng.Rules()), d.readyErr())
	}
}
