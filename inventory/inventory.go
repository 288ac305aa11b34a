// Package inventory is cinch's time-versioned picture of the network
// configuration that flow records are judged against: security groups and their
// rules, elastic network interfaces (their groups and addresses) and managed
// prefix lists.
//
// Every group and ENI is held as a series of versions, each valid over an
// Interval, so that a flow seen at time t is attributed with the configuration
// in force at t — including interfaces that no longer exist. Versions come from
// EC2 describe calls (no time: valid since ever), AWS Config items (valid from
// their capture time until the next item of the same resource) and deletions.
// The loaders for the AWS CLI and AWS Config JSON live in package
// inventory/awsjson.
//
// An Inventory is not safe for concurrent mutation; once loaded, any number of
// goroutines may read it. Values returned by the query methods are shared with
// the inventory and must not be modified.
package inventory

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// Origin says how a version was learnt; it decides which of several
// overlapping versions of one resource is used.
type Origin uint8

// Origins, combinable with |.
const (
	// Observed: the resource itself was described (EC2 Describe* output, or an
	// AWS Config item of the resource). The default.
	Observed Origin = 0
	// FromInstance: an ENI described as part of an instance (DescribeInstances,
	// AWS::EC2::Instance Config items). Such versions are used only for ENIs that
	// have no Observed version at all.
	FromInstance Origin = 1 << 0
	// BeforeDeletion: the configuration a resource had before it was deleted,
	// with an unknown start (From is zero). Used only while no other version of
	// the resource starts before that version's end.
	BeforeDeletion Origin = 1 << 1
)

// Inventory holds versions of security groups and ENIs, and prefix lists.
// The zero value is not usable; call New.
type Inventory struct {
	seq         uint64
	groups      map[string]*groupEntry
	enis        map[string]*eniEntry
	prefixLists map[string]*PrefixList
	byAddr      map[netip.Addr][]*ENI
	warnings    []error
	flowLogs    []FlowLog
}

type groupEntry struct {
	tr    track[Group]
	rules *ruleSet
	view  []*Group
}

type eniEntry struct {
	observed, derived track[ENI]
	view              []*ENI
}

// ruleSet holds a group's rules as DescribeSecurityGroupRules lists them.
type ruleSet struct {
	ownerID string
	byKey   map[string]Rule
	order   []string
}

// New returns an empty inventory.
func New() *Inventory {
	return &Inventory{
		groups:      map[string]*groupEntry{},
		enis:        map[string]*eniEntry{},
		prefixLists: map[string]*PrefixList{},
		byAddr:      map[netip.Addr][]*ENI{},
	}
}

// AddGroup adds an Observed version of a security group. Its Valid.From is
// when it started to apply (zero: since ever); Valid.To may be left zero, as
// a later-starting version of the same id ends it. Of two versions with the
// same start, the one added last wins. Rules are normalised (see
// Rule.Normalize), given the group's id and deduplicated by Key.
func (inv *Inventory) AddGroup(g Group) { inv.AddGroupVersion(g, Observed) }

// AddGroupVersion is AddGroup for a version of the given origin.
func (inv *Inventory) AddGroupVersion(g Group, o Origin) {
	if g.ID == "" {
		return
	}
	g.Rules = normalizeRules(g.ID, g.Rules)
	e := inv.groupEntry(g.ID)
	e.tr.add(g, g.Valid, inv.next(), o&BeforeDeletion != 0)
	inv.rebuildGroup(g.ID)
}

// HasRecordedVersion reports whether a version of group id that starts at
// from was added with AddGroup or AddGroupVersion (rule sets do not count).
func (inv *Inventory) HasRecordedVersion(id string, from time.Time) bool {
	e := inv.groups[id]
	if e == nil {
		return false
	}
	for _, r := range e.tr.recs {
		if r.from.Equal(from) {
			return true
		}
	}
	return false
}

// DeleteGroup records that group id was deleted at time at: the version
// valid then ends there.
func (inv *Inventory) DeleteGroup(id string, at time.Time) {
	if id == "" || at.IsZero() {
		return
	}
	e := inv.groupEntry(id)
	e.tr.ends = append(e.tr.ends, at)
	inv.rebuildGroup(id)
}

// AddRuleSet records a group's rules as DescribeSecurityGroupRules lists them
// (with rule ids). Rules of every version of the group that have the same Key
// receive the rule id; rules missing from the group's latest, still valid
// version are added to it; a group known only from its rules gets a version
// (valid since ever) holding them. g.Name, g.VPCID etc. may be empty.
func (inv *Inventory) AddRuleSet(g Group) {
	if g.ID == "" {
		return
	}
	e := inv.groupEntry(g.ID)
	if e.rules == nil {
		e.rules = &ruleSet{byKey: map[string]Rule{}}
	}
	if g.OwnerID != "" {
		e.rules.ownerID = g.OwnerID
	}
	for _, r := range normalizeRules(g.ID, g.Rules) {
		k := r.Key()
		old, ok := e.rules.byKey[k]
		if !ok {
			e.rules.order = append(e.rules.order, k)
		} else {
			r.ID = cmp.Or(r.ID, old.ID)
			r.Description = cmp.Or(r.Description, old.Description)
		}
		e.rules.byKey[k] = r
	}
	inv.rebuildGroup(g.ID)
}

// AddENI adds an Observed version of an ENI; versioning works as for AddGroup.
func (inv *Inventory) AddENI(e ENI) { inv.AddENIVersion(e, Observed) }

// AddENIVersion is AddENI for a version of the given origin.
func (inv *Inventory) AddENIVersion(e ENI, o Origin) {
	if e.ID == "" {
		return
	}
	e = normalizeENI(e)
	en := inv.eniEntry(e.ID)
	tr := &en.observed
	if o&FromInstance != 0 {
		tr = &en.derived
	}
	tr.add(e, e.Valid, inv.next(), o&BeforeDeletion != 0)
	inv.rebuildENI(e.ID)
}

// DeleteENI records that ENI id was deleted at time at. With FromInstance, it
// records that the instance the ENI was seen in no longer lists it (only
// versions of that origin end).
func (inv *Inventory) DeleteENI(id string, at time.Time, o Origin) {
	if id == "" || at.IsZero() {
		return
	}
	en := inv.eniEntry(id)
	if o&FromInstance != 0 {
		en.derived.ends = append(en.derived.ends, at)
	} else {
		en.observed.ends = append(en.observed.ends, at)
	}
	inv.rebuildENI(id)
}

// AddPrefixList adds a prefix list, or completes one already known: non-empty
// fields replace the stored ones and entries are united (masked, sorted).
func (inv *Inventory) AddPrefixList(p PrefixList) {
	if p.ID == "" {
		return
	}
	cur, ok := inv.prefixLists[p.ID]
	if !ok {
		cur = &PrefixList{ID: p.ID}
		inv.prefixLists[p.ID] = cur
	}
	cur.Name = cmp.Or(p.Name, cur.Name)
	cur.AddressFamily = cmp.Or(p.AddressFamily, cur.AddressFamily)
	cur.OwnerID = cmp.Or(p.OwnerID, cur.OwnerID)
	if p.MaxEntries != 0 {
		cur.MaxEntries = p.MaxEntries
	}
	ents := slices.Clone(cur.Entries)
	for _, e := range p.Entries {
		if e.IsValid() {
			ents = append(ents, e.Masked())
		}
	}
	slices.SortFunc(ents, comparePrefix)
	cur.Entries = slices.Compact(ents)
}

// AddWarning records a problem found while loading (for example an address
// that does not parse); Validate reports it.
func (inv *Inventory) AddWarning(err error) {
	if err != nil {
		inv.warnings = append(inv.warnings, err)
	}
}

// GroupAt returns the version of group id valid at t; a zero t asks for the
// latest version (which may have ended, when the group was deleted).
func (inv *Inventory) GroupAt(id string, t time.Time) (*Group, bool) {
	e := inv.groups[id]
	if e == nil {
		return nil, false
	}
	return at(e.view, t, func(g *Group) Interval { return g.Valid })
}

// ENIAt returns the version of ENI id valid at t; a zero t asks for the
// latest version (which may have ended, when the ENI was deleted).
func (inv *Inventory) ENIAt(id string, t time.Time) (*ENI, bool) {
	e := inv.enis[id]
	if e == nil {
		return nil, false
	}
	return at(e.view, t, func(e *ENI) Interval { return e.Valid })
}

func at[T any](view []*T, t time.Time, valid func(*T) Interval) (*T, bool) {
	if len(view) == 0 {
		return nil, false
	}
	if t.IsZero() {
		return view[len(view)-1], true
	}
	// Versions are sorted and disjoint: find the last one starting at or before t.
	i := sort.Search(len(view), func(i int) bool {
		f := valid(view[i]).From
		return !f.IsZero() && f.After(t)
	})
	if i > 0 && valid(view[i-1]).Contains(t) {
		return view[i-1], true
	}
	return nil, false
}

// GroupVersions returns the versions of group id in time order.
func (inv *Inventory) GroupVersions(id string) []*Group {
	if e := inv.groups[id]; e != nil {
		return slices.Clone(e.view)
	}
	return nil
}

// ENIVersions returns the versions of ENI id in time order.
func (inv *Inventory) ENIVersions(id string) []*ENI {
	if e := inv.enis[id]; e != nil {
		return slices.Clone(e.view)
	}
	return nil
}

// Groups returns the ids of all groups that have at least one version, sorted.
func (inv *Inventory) Groups() []string {
	var ids []string
	for id, e := range inv.groups {
		if len(e.view) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// ENIs returns the ids of all ENIs that have at least one version, sorted.
func (inv *Inventory) ENIs() []string {
	var ids []string
	for id, e := range inv.enis {
		if len(e.view) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// PrefixLists returns the ids of all prefix lists, sorted.
func (inv *Inventory) PrefixLists() []string {
	ids := make([]string, 0, len(inv.prefixLists))
	for id := range inv.prefixLists {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// PrefixList returns prefix list id.
func (inv *Inventory) PrefixList(id string) (*PrefixList, bool) {
	p, ok := inv.prefixLists[id]
	return p, ok
}

// Rules returns every distinct rule (by Key) of every version of every group,
// sorted by group id, direction (ingress first) and key. A rule id or
// description found in any version is kept.
func (inv *Inventory) Rules() []Rule {
	byKey := map[string]Rule{}
	for _, e := range inv.groups {
		for _, g := range e.view {
			for _, r := range g.Rules {
				k := r.Key()
				if old, ok := byKey[k]; ok {
					r.ID = cmp.Or(old.ID, r.ID)
					r.Description = cmp.Or(old.Description, r.Description)
				}
				byKey[k] = r
			}
		}
	}
	out := make([]Rule, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Rule) int {
		return cmp.Or(
			cmp.Compare(a.GroupID, b.GroupID),
			boolCmp(a.Egress, b.Egress),
			cmp.Compare(a.Key(), b.Key()),
		)
	})
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// ENIsWithAddr returns the ENI versions valid at t that have a as one of
// their private (own) addresses, in ENI id order. A zero t asks for versions
// that are still valid. It uses an address index.
func (inv *Inventory) ENIsWithAddr(a netip.Addr, t time.Time) []*ENI {
	var out []*ENI
	for _, e := range inv.byAddr[a.Unmap()] {
		if (t.IsZero() && e.Valid.Open()) || (!t.IsZero() && e.Valid.Contains(t)) {
			out = append(out, e)
		}
	}
	return out
}

// Merge adds everything o holds (versions, deletions, rule sets, prefix lists,
// warnings) to inv; it combines several exports, accounts and regions. Versions
// from o count as added after inv's own. o is not changed.
func (inv *Inventory) Merge(o *Inventory) {
	if o == nil || o == inv {
		return
	}
	for _, id := range sortedKeys(o.groups) {
		src := o.groups[id]
		dst := inv.groupEntry(id)
		for _, r := range src.tr.recs {
			r.seq = inv.next()
			dst.tr.recs = append(dst.tr.recs, r)
		}
		dst.tr.ends = append(dst.tr.ends, src.tr.ends...)
		if src.rules != nil {
			g := Group{ID: id, OwnerID: src.rules.ownerID}
			for _, k := range src.rules.order {
				g.Rules = append(g.Rules, src.rules.byKey[k])
			}
			inv.AddRuleSet(g) // rebuilds
		}
		inv.rebuildGroup(id)
	}
	for _, id := range sortedKeys(o.enis) {
		src := o.enis[id]
		dst := inv.eniEntry(id)
		for _, pair := range [][2]*track[ENI]{{&src.observed, &dst.observed}, {&src.derived, &dst.derived}} {
			for _, r := range pair[0].recs {
				r.seq = inv.next()
				pair[1].recs = append(pair[1].recs, r)
			}
			pair[1].ends = append(pair[1].ends, pair[0].ends...)
		}
		inv.rebuildENI(id)
	}
	for _, id := range sortedKeys(o.prefixLists) {
		inv.AddPrefixList(*o.prefixLists[id])
	}
	inv.warnings = append(inv.warnings, o.warnings...)
	for _, f := range o.flowLogs {
		inv.AddFlowLog(f)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Validate returns warnings about the inventory: problems recorded while
// loading, ENIs that reference groups the inventory lacks, rules that
// reference groups (of the same account) or prefix lists it lacks, and prefix
// lists without entries. None of them stops analysis; they explain rules that
// cannot match.
func (inv *Inventory) Validate() []error {
	errs := slices.Clone(inv.warnings)
	for _, id := range inv.ENIs() {
		missing := map[string]bool{}
		for _, e := range inv.enis[id].view {
			for _, g := range e.Groups {
				if len(inv.groups[g].viewOrNil()) == 0 && !missing[g] {
					missing[g] = true
					errs = append(errs, fmt.Errorf("ENI %s: security group %s is not in the inventory", id, g))
				}
			}
		}
	}
	seenPL := map[string]bool{}
	for _, r := range inv.Rules() {
		switch r.Source.Kind {
		case SourceGroup:
			if len(inv.groups[r.Source.ID].viewOrNil()) > 0 {
				continue
			}
			owner := ""
			if g, ok := inv.GroupAt(r.GroupID, time.Time{}); ok {
				owner = g.OwnerID
			}
			if r.Source.UserID != "" && owner != "" && r.Source.UserID != owner {
				errs = append(errs, fmt.Errorf("rule %s: references group %s of account %s, which is not in the inventory", r.Key(), r.Source.ID, r.Source.UserID))
			} else {
				errs = append(errs, fmt.Errorf("rule %s: references group %s, which is not in the inventory", r.Key(), r.Source.ID))
			}
		case SourcePrefixList:
			if seenPL[r.Source.ID] {
				continue
			}
			seenPL[r.Source.ID] = true
			if p, ok := inv.prefixLists[r.Source.ID]; !ok {
				errs = append(errs, fmt.Errorf("rule %s: references prefix list %s, which is not in the inventory", r.Key(), r.Source.ID))
			} else if len(p.Entries) == 0 {
				errs = append(errs, fmt.Errorf("rule %s: prefix list %s has no entries loaded", r.Key(), r.Source.ID))
			}
		}
	}
	return errs
}

func (e *groupEntry) viewOrNil() []*Group {
	if e == nil {
		return nil
	}
	return e.view
}

func (inv *Inventory) next() uint64 {
	inv.seq++
	return inv.seq
}

func (inv *Inventory) groupEntry(id string) *groupEntry {
	e := inv.groups[id]
	if e == nil {
		e = &groupEntry{}
		inv.groups[id] = e
	}
	return e
}

func (inv *Inventory) eniEntry(id string) *eniEntry {
	e := inv.enis[id]
	if e == nil {
		e = &eniEntry{}
		inv.enis[id] = e
	}
	return e
}

func (inv *Inventory) rebuildGroup(id string) {
	e := inv.groups[id]
	view := e.tr.rebuild(func(g *Group) *Interval { return &g.Valid }, sameGroup)
	if rs := e.rules; rs != nil {
		if len(view) == 0 {
			view = []*Group{{ID: id, OwnerID: rs.ownerID}}
		}
		for i, g := range view {
			ng := *g
			ng.Rules = slices.Clone(g.Rules)
			have := map[string]bool{}
			for j, r := range ng.Rules {
				k := r.Key()
				have[k] = true
				if s, ok := rs.byKey[k]; ok {
					ng.Rules[j].ID = cmp.Or(r.ID, s.ID)
					ng.Rules[j].Description = cmp.Or(r.Description, s.Description)
				}
			}
			if i == len(view)-1 && ng.Valid.Open() {
				for _, k := range rs.order {
					if !have[k] {
						ng.Rules = append(ng.Rules, rs.byKey[k])
					}
				}
			}
			ng.OwnerID = cmp.Or(ng.OwnerID, rs.ownerID)
			view[i] = &ng
		}
	}
	e.view = view
}

func (inv *Inventory) rebuildENI(id string) {
	e := inv.enis[id]
	for _, old := range e.view {
		for _, a := range old.PrivateAddrs() {
			inv.byAddr[a] = slices.DeleteFunc(inv.byAddr[a], func(x *ENI) bool { return x.ID == id })
			if len(inv.byAddr[a]) == 0 {
				delete(inv.byAddr, a)
			}
		}
	}
	same := sameENI
	valid := func(e *ENI) *Interval { return &e.Valid }
	view := e.observed.rebuild(valid, same)
	if len(view) == 0 {
		view = e.derived.rebuild(valid, same)
	}
	e.view = view
	touched := map[netip.Addr]bool{}
	for _, v := range view {
		for _, a := range v.PrivateAddrs() {
			inv.byAddr[a] = append(inv.byAddr[a], v)
			touched[a] = true
		}
	}
	for a := range touched {
		slices.SortStableFunc(inv.byAddr[a], func(x, y *ENI) int {
			return cmp.Or(cmp.Compare(x.ID, y.ID), x.Valid.From.Compare(y.Valid.From))
		})
	}
}

// track holds the recorded versions and deletion times of one resource and
// derives the non-overlapping version list from them.
type track[T any] struct {
	recs []rec[T]
	ends []time.Time
}

type rec[T any] struct {
	v        T
	from, to time.Time
	seq      uint64
	inferred bool
}

func (tr *track[T]) add(v T, iv Interval, seq uint64, inferred bool) {
	tr.recs = append(tr.recs, rec[T]{v: v, from: iv.From, to: iv.To, seq: seq, inferred: inferred})
}

// rebuild derives the versions: sorted by start (ties: the later-added wins),
// each ending at the earliest of its own end, the next version's start and the
// first deletion after its start; adjacent versions with equal content merge.
func (tr *track[T]) rebuild(valid func(*T) *Interval, same func(a, b *T) bool) []*T {
	recs := slices.Clone(tr.recs)
	slices.SortStableFunc(recs, func(a, b rec[T]) int {
		return cmp.Or(a.from.Compare(b.from), cmp.Compare(a.seq, b.seq))
	})
	recs = slices.DeleteFunc(recs, func(r rec[T]) bool {
		if !r.inferred {
			return false
		}
		for _, o := range recs {
			if !o.inferred && (r.to.IsZero() || o.from.Before(r.to)) {
				return true
			}
		}
		return false
	})
	ends := slices.Clone(tr.ends)
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	var view []*T
	for i, r := range recs {
		if i+1 < len(recs) && recs[i+1].from.Equal(r.from) {
			continue // superseded by a later-added version with the same start
		}
		end := r.to
		if i+1 < len(recs) {
			end = minTime(end, recs[i+1].from)
		}
		if j, ok := slices.BinarySearchFunc(ends, r.from, func(e, t time.Time) int {
			if e.After(t) {
				return 1
			}
			return -1
		}); !ok && j < len(ends) {
			end = minTime(end, ends[j])
		}
		if !end.IsZero() && !end.After(r.from) {
			continue // empty
		}
		v := r.v
		iv := valid(&v)
		iv.From, iv.To = r.from, end
		if n := len(view); n > 0 {
			last := valid(view[n-1])
			if !last.To.IsZero() && last.To.Equal(r.from) && same(view[n-1], &v) {
				last.To = end
				continue
			}
		}
		view = append(view, &v)
	}
	return view
}

func minTime(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

func sameGroup(a, b *Group) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Description == b.Description &&
		a.VPCID == b.VPCID && a.OwnerID == b.OwnerID && slices.Equal(a.Rules, b.Rules)
}

func sameENI(a, b *ENI) bool {
	return a.ID == b.ID && a.AccountID == b.AccountID && a.Region == b.Region &&
		a.VPCID == b.VPCID && a.SubnetID == b.SubnetID && a.InstanceID == b.InstanceID &&
		a.InterfaceType == b.InterfaceType && a.Status == b.Status &&
		a.Description == b.Description && a.RequesterManaged == b.RequesterManaged &&
		a.NumPublic == b.NumPublic && slices.Equal(a.Groups, b.Groups) && slices.Equal(a.Addrs, b.Addrs) &&
		slices.Equal(a.Prefixes, b.Prefixes)
}

func normalizeRules(groupID string, rs []Rule) []Rule {
	out := make([]Rule, 0, len(rs))
	idx := map[string]int{}
	for _, r := range rs {
		r.GroupID = groupID
		r = r.Normalize()
		k := r.Key()
		if i, ok := idx[k]; ok {
			out[i].ID = cmp.Or(out[i].ID, r.ID)
			out[i].Description = cmp.Or(out[i].Description, r.Description)
			continue
		}
		idx[k] = len(out)
		out = append(out, r)
	}
	return out
}

func normalizeENI(e ENI) ENI {
	pub := e.publicCount()
	split := len(e.Addrs) - pub
	var priv, public []netip.Addr
	for i, a := range e.Addrs {
		if !a.IsValid() {
			continue
		}
		a = a.Unmap()
		if i < split {
			if !slices.Contains(priv, a) {
				priv = append(priv, a)
			}
		} else if !slices.Contains(public, a) {
			public = append(public, a)
		}
	}
	public = slices.DeleteFunc(public, func(a netip.Addr) bool { return slices.Contains(priv, a) })
	e.Addrs = append(priv, public...)
	e.NumPublic = len(public)
	var groups []string
	for _, g := range e.Groups {
		if g != "" && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	e.Groups = groups
	var prefixes []netip.Prefix
	for _, p := range e.Prefixes {
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if p.IsValid() && !slices.Contains(prefixes, p) {
			prefixes = append(prefixes, p)
		}
	}
	slices.SortFunc(prefixes, comparePrefix)
	e.Prefixes = prefixes
	return e
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}
