package awsapi

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cinch-sg/cinch/inventory"
)

func snapshot(at time.Time, enis []inventory.ENI, groups []inventory.Group, flowLogs ...string) *Snapshot {
	inv := inventory.New()
	for _, e := range enis {
		inv.AddENI(e)
	}
	for _, g := range groups {
		inv.AddGroup(g)
	}
	s := &Snapshot{Time: at, Inventory: inv}
	for _, id := range flowLogs {
		s.FlowLogs = append(s.FlowLogs, types.FlowLog{FlowLogId: aws.String(id)})
	}
	return s
}

func TestTrackerVersions(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	addr := netip.MustParseAddr("10.0.0.5")
	e1 := inventory.ENI{ID: "eni-1", Groups: []string{"sg-a", "sg-b"}, Addrs: []netip.Addr{addr}}
	e2 := inventory.ENI{ID: "eni-2", Groups: []string{"sg-a"}}
	ssh := inventory.Rule{ID: "sgr-1", Protocol: inventory.ProtoTCP, FromPort: 22, ToPort: 22, Source: inventory.CIDRSource(netip.MustParsePrefix("0.0.0.0/0"))}
	ga := inventory.Group{ID: "sg-a", Rules: []inventory.Rule{ssh}}
	tr := NewTracker()
	tr.Observe(snapshot(t0, []inventory.ENI{e1, e2}, []inventory.Group{ga}, "fl-1"))
	if tr.Version() != 1 {
		t.Fatalf("version %d", tr.Version())
	}
	// Same content, groups listed in another order: no change.
	e1b := e1
	e1b.Groups = []string{"sg-b", "sg-a"}
	if ch := tr.Observe(snapshot(t0.Add(time.Minute), []inventory.ENI{e1b, e2}, []inventory.Group{ga}, "fl-1")); !ch.Empty() || tr.Version() != 1 {
		t.Fatalf("unchanged snapshot: %+v, version %d", ch, tr.Version())
	}
	// eni-2 deleted, eni-3 new, sg-a narrowed, flow log fl-1 gone.
	t2 := t0.Add(time.Hour)
	narrow := ssh
	narrow.Source = inventory.CIDRSource(netip.MustParsePrefix("10.0.0.0/8"))
	ch := tr.Observe(snapshot(t2, []inventory.ENI{e1, {ID: "eni-3"}}, []inventory.Group{{ID: "sg-a", Rules: []inventory.Rule{narrow}}}))
	if len(ch.DeletedENIs) != 1 || len(ch.NewENIs) != 1 || len(ch.ChangedGroups) != 1 || tr.Version() != 2 {
		t.Fatalf("changes %+v version %d", ch, tr.Version())
	}
	// An older snapshot is ignored.
	if ch := tr.Observe(snapshot(t0, nil, nil)); !ch.Empty() {
		t.Fatalf("old snapshot applied: %+v", ch)
	}
	inv := tr.Inventory()
	if e, ok := inv.ENIAt("eni-2", t2.Add(-time.Second)); !ok || e.ID != "eni-2" {
		t.Error("eni-2 should exist before its deletion")
	}
	if _, ok := inv.ENIAt("eni-2", t2); ok {
		t.Error("eni-2 should be gone at the refresh that missed it")
	}
	if _, ok := inv.ENIAt("eni-3", t0); !ok {
		t.Error("a new interface is valid since ever (nothing else is known of it)")
	}
	g, _ := inv.GroupAt("sg-a", t2.Add(-time.Second))
	g2, _ := inv.GroupAt("sg-a", t2)
	if g.Rules[0].Source.String() != "0.0.0.0/0" || g2.Rules[0].Source.String() != "10.0.0.0/8" {
		t.Errorf("sg-a before %v after %v", g.Rules, g2.Rules)
	}
	fls := tr.FlowLogs()
	if len(fls) != 1 || !fls[0].Gone.Equal(t2) || !fls[0].FirstSeen.Equal(t0) || !fls[0].LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("flow logs %+v", fls)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
