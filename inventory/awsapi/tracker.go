package awsapi

import (
	"cmp"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cinch-sg/cinch/inventory"
)

// Tracker turns successive snapshots into a time-versioned inventory. The
// first snapshot's resources are valid since ever, as an offline export's
// are; so is a resource first seen later (nothing else is known of it
// before). A resource that differs from what the previous snapshot saw gets
// a new version valid from the new snapshot's time, so that a flow before
// it is judged by the old configuration; one that is gone is deleted at that
// time. The change really happened somewhere between the two reads: flows in
// that gap are judged by the old configuration, so refresh often.
//
// A Tracker is safe for concurrent use.
type Tracker struct {
	mu       sync.Mutex
	hist     *inventory.Inventory
	enis     map[string]inventory.ENI
	groups   map[string]inventory.Group
	warnings []error
	flowLogs map[string]*TrackedFlowLog
	last     time.Time
	version  uint64
}

// TrackedFlowLog is a flow-log configuration with the span over which the
// refreshes saw it.
type TrackedFlowLog struct {
	FlowLog
	// FirstSeen and LastSeen are the times of the first and the latest
	// snapshot that listed it.
	FirstSeen, LastSeen time.Time
	// Gone is when a snapshot no longer listed it (zero while it exists).
	Gone time.Time
}

// Changes says what one snapshot changed.
type Changes struct {
	NewENIs, ChangedENIs, DeletedENIs       []string
	NewGroups, ChangedGroups, DeletedGroups []string
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.NewENIs)+len(c.ChangedENIs)+len(c.DeletedENIs)+
		len(c.NewGroups)+len(c.ChangedGroups)+len(c.DeletedGroups) == 0
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{
		hist:     inventory.New(),
		enis:     map[string]inventory.ENI{},
		groups:   map[string]inventory.Group{},
		flowLogs: map[string]*TrackedFlowLog{},
	}
}

// Observe records snapshot s, taken at s.Time, and returns what changed.
// Snapshots must come in time order; an older one is ignored.
func (t *Tracker) Observe(s *Snapshot) Changes {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ch Changes
	if !t.last.IsZero() && s.Time.Before(t.last) {
		return ch
	}
	at := s.Time
	inv := s.Inventory
	seen := map[string]bool{}
	for _, id := range inv.ENIs() {
		e, ok := inv.ENIAt(id, time.Time{})
		if !ok || !e.Valid.Open() {
			continue
		}
		seen[id] = true
		cur := *e
		cur.Valid = inventory.Interval{}
		prev, known := t.enis[id]
		switch {
		case !known:
			ch.NewENIs = append(ch.NewENIs, id)
		case !sameENI(&prev, &cur):
			ch.ChangedENIs = append(ch.ChangedENIs, id)
			cur.Valid.From = at
		default:
			continue
		}
		t.hist.AddENI(cur)
		cur.Valid = inventory.Interval{}
		t.enis[id] = cur
	}
	for id := range t.enis {
		if !seen[id] {
			ch.DeletedENIs = append(ch.DeletedENIs, id)
			t.hist.DeleteENI(id, at, inventory.Observed)
			delete(t.enis, id)
		}
	}
	clear(seen)
	for _, id := range inv.Groups() {
		g, ok := inv.GroupAt(id, time.Time{})
		if !ok || !g.Valid.Open() {
			continue
		}
		seen[id] = true
		cur := *g
		cur.Valid = inventory.Interval{}
		cur.Rules = slices.Clone(g.Rules)
		prev, known := t.groups[id]
		switch {
		case !known:
			ch.NewGroups = append(ch.NewGroups, id)
		case !sameGroup(&prev, &cur):
			ch.ChangedGroups = append(ch.ChangedGroups, id)
			cur.Valid.From = at
		default:
			continue
		}
		t.hist.AddGroup(cur)
		cur.Valid = inventory.Interval{}
		t.groups[id] = cur
	}
	for id := range t.groups {
		if !seen[id] {
			ch.DeletedGroups = append(ch.DeletedGroups, id)
			t.hist.DeleteGroup(id, at)
			delete(t.groups, id)
		}
	}
	for _, id := range inv.PrefixLists() {
		if p, ok := inv.PrefixList(id); ok {
			t.hist.AddPrefixList(*p)
		}
	}
	t.warnings = inv.Validate()

	listed := map[string]bool{}
	for _, fl := range s.FlowLogs {
		id := aws.ToString(fl.FlowLogId)
		listed[id] = true
		tf, ok := t.flowLogs[id]
		if !ok {
			tf = &TrackedFlowLog{FirstSeen: at}
			t.flowLogs[id] = tf
		}
		tf.FlowLog, tf.LastSeen, tf.Gone = fl, at, time.Time{}
	}
	for id, tf := range t.flowLogs {
		if !listed[id] && tf.Gone.IsZero() {
			tf.Gone = at
		}
	}
	for _, l := range [][]string{ch.NewENIs, ch.ChangedENIs, ch.DeletedENIs, ch.NewGroups, ch.ChangedGroups, ch.DeletedGroups} {
		slices.Sort(l)
	}
	if t.last.IsZero() || !ch.Empty() {
		t.version++
	}
	t.last = at
	return ch
}

// Version counts the snapshots that changed the inventory (the first one
// included); it tells a consumer when to rebuild from Inventory.
func (t *Tracker) Version() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.version
}

// Inventory returns a copy of the versioned inventory, with the latest
// snapshot's warnings; the caller owns it.
func (t *Tracker) Inventory() *inventory.Inventory {
	t.mu.Lock()
	defer t.mu.Unlock()
	inv := inventory.New()
	inv.Merge(t.hist)
	for _, w := range t.warnings {
		inv.AddWarning(w)
	}
	return inv
}

// FlowLogs returns every flow-log configuration the refreshes saw, those
// since deleted included, by id.
func (t *Tracker) FlowLogs() []TrackedFlowLog {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TrackedFlowLog, 0, len(t.flowLogs))
	for _, tf := range t.flowLogs {
		out = append(out, *tf)
	}
	slices.SortFunc(out, func(a, b TrackedFlowLog) int {
		return cmp.Compare(aws.ToString(a.FlowLogId), aws.ToString(b.FlowLogId))
	})
	return out
}

func sameENI(a, b *inventory.ENI) bool {
	x, y := *a, *b
	x.Valid, y.Valid = inventory.Interval{}, inventory.Interval{}
	x.Groups, y.Groups = sortedCopy(x.Groups), sortedCopy(y.Groups)
	return reflect.DeepEqual(x, y)
}

func sameGroup(a, b *inventory.Group) bool {
	x, y := *a, *b
	x.Valid, y.Valid = inventory.Interval{}, inventory.Interval{}
	byKey := func(r, s inventory.Rule) int { return cmp.Compare(r.Key(), s.Key()) }
	x.Rules, y.Rules = slices.Clone(x.Rules), slices.Clone(y.Rules)
	slices.SortFunc(x.Rules, byKey)
	slices.SortFunc(y.Rules, byKey)
	return reflect.DeepEqual(x, y)
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
