package daemon

import (
	"os"
	"path/filepath"
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
