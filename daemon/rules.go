package daemon

import (
	"sort"
	"strconv"
	"time"

	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
)

// The daemon is the API's Inspector: rule usage in detail for the
// dashboard's rule view, and the inventory's groups for its filters.
var _ api.Inspector = (*Daemon)(nil)

// RuleUsage returns the usage of the rule with the given key over the
// window, from every partition's windowed state (own and peers'): the merged
// sketch's sources and ports, and one point per time slot of the window.
func (d *Daemon) RuleUsage(key string) (api.RuleUsage, bool) {
	eng, shards, _ := d.partitions(false)
	idx, ok := eng.RuleIndex(key)
	if !ok {
		return api.RuleUsage{}, false
	}

	total := sketch.New(d.scfg)
	perSlot := map[int64]*api.UsagePoint{}
	for _, s := range shards {
		s.ruleSeries(key, func(sk *sketch.Sketch, series []sketch.Slot) {
			total.Merge(sk)
			for _, sl := range series {
				p := perSlot[sl.Start]
				if p == nil {
					p = &api.UsagePoint{Time: time.Unix(sl.Start, 0).UTC()}
					perSlot[sl.Start] = p
				}
				p.Flows += sl.Flows
				p.Packets += sl.Packets
				p.Bytes += sl.Bytes
			}
		})
	}
	// The merged sketch unites the shards' sources, so its per-slot count is
	// the rule's distinct sources across partitions (not their sum).
	for j, src := range total.SeriesSources() {
		if p := perSlot[total.Series()[j].Start]; p != nil {
			p.Sources = src.Sources
		}
	}
	u := usageOf(total, perSlot, d.scfg.Slot)
	u.Description = eng.Rules()[idx].Description
	return u, true
}

// ruleSeries calls fn with the shard's sketch of the rule with the given key
// and its usage per time slot of the window, when the rule has usage. This is
// the one place the rule view reads the shard's state. It locks s.mu.
func (s *shard) ruleSeries(key string, fn func(sk *sketch.Sketch, series []sketch.Slot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acc == nil {
		return
	}
	i, ok := s.acc.Engine().RuleIndex(key)
	if !ok {
		return
	}
	if sk := s.acc.Rule(i).Sketch; sk != nil && sk.Flows > 0 {
		fn(sk, s.acc.Series(i))
	}
}

// usageOf turns the merged sketch and the per-slot points into the API's shape.
func usageOf(total *sketch.Sketch, perSlot map[int64]*api.UsagePoint, slot int64) api.RuleUsage {
	u := api.RuleUsage{Flows: total.Flows, Packets: total.Packets, Bytes: total.Bytes, BucketSeconds: slot,
		Sources: []api.SourceItem{}, Ports: []api.PortUsage{}, Series: []api.UsagePoint{}}
	if total.FirstSeen > 0 {
		t := time.Unix(total.FirstSeen, 0).UTC()
		u.FirstSeen = &t
	}
	if total.LastSeen > 0 {
		t := time.Unix(total.LastSeen, 0).UTC()
		u.LastSeen = &t
	}
	for _, it := range total.Items() {
		u.Sources = append(u.Sources, api.SourceItem{Prefix: it.Prefix.String(), Exact: it.Exact, Count: it.Count})
	}
	for _, p := range total.Protocols() {
		ps := total.Ports(p)
		pu := api.PortUsage{Protocol: inventory.ProtocolName(int16(p)), Exact: ps.Exact(), Ranges: []string{}}
		for _, r := range ps.Ranges() {
			if r.From == r.To {
				pu.Ranges = append(pu.Ranges, strconv.Itoa(int(r.From)))
			} else {
				pu.Ranges = append(pu.Ranges, strconv.Itoa(int(r.From))+"-"+strconv.Itoa(int(r.To)))
			}
		}
		u.Ports = append(u.Ports, pu)
	}
	starts := make([]int64, 0, len(perSlot))
	for b := range perSlot {
		starts = append(starts, b)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, b := range starts {
		u.Series = append(u.Series, *perSlot[b])
	}
	return u
}

// Groups returns what the current inventory knows of each security group
// (its latest version).
func (d *Daemon) Groups() []api.GroupInfo {
	d.mu.Lock()
	inv := d.eng.Inventory()
	d.mu.Unlock()
	ids := inv.Groups()
	out := make([]api.GroupInfo, 0, len(ids))
	for _, id := range ids {
		vs := inv.GroupVersions(id)
		if len(vs) == 0 {
			continue
		}
		g := vs[len(vs)-1]
		out = append(out, api.GroupInfo{ID: g.ID, Name: g.Name, Description: g.Description, VPCID: g.VPCID, AccountID: g.OwnerID})
	}
	return out
}
