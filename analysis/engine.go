// Package analysis attributes flow-log records to the security-group rules
// that allowed them and keeps a sketch of each rule's usage.
//
// An Engine is the inventory compiled for matching: per interface, time
// segments each holding the rules of the interface's groups in force, sorted
// so that the first match is the rule credited first ("primary"). It is
// read-only once built and may be shared. An Accumulator holds the mutable
// per-rule sketches and counters; several accumulators (partitions, daemon
// instances, time buckets) merge into one.
package analysis

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/inventory"
)

// Engine is the inventory compiled for attribution.
type Engine struct {
	inv   *inventory.Inventory
	rules []inventory.Rule
	byKey map[string]int
	enis  map[string][]segment
	// Group membership of private addresses (never public or Elastic IPs):
	// addrIdx holds single addresses, including those of small delegated
	// prefixes (at most maxExpand addresses) expanded; pfxIdx holds the
	// larger delegated prefixes (an IPv6 /80), looked up by masking an
	// address to each length in pfxLens4/pfxLens6.
	addrIdx            map[netip.Addr][]membership
	pfxIdx             map[netip.Prefix][]membership
	pfxLens4, pfxLens6 []int
	// unresolved[i] is true for a rule whose source is a group or prefix
	// list the inventory cannot resolve: it matches nothing and is kept.
	unresolved []bool
	cov        coverageIndex // groups' interfaces for coverage, built on first use
}

// maxExpand is the largest delegated prefix (in addresses) indexed address by
// address; an IPv4 /28 of EKS prefix mode is 16.
const maxExpand = 256

// segment is an interval during which one interface's addresses and rules
// are constant.
type segment struct {
	from, to int64 // unix seconds, [from, to)
	addrs    []netip.Addr
	prefixes []netip.Prefix // delegated prefixes
	noGroups bool           // the interface has no security group (NAT gateway, ...)
	ingress  []compiled
	egress   []compiled
}

// membership says an address belonged to an interface in groups over [from, to).
type membership struct {
	from, to int64
	groups   []string
}

// compiled is a rule ready for matching.
type compiled struct {
	idx      int32
	proto    int16
	from, to int32
	kind     inventory.SourceKind
	prefix   netip.Prefix
	// For an IPv4 CIDR source: the masked network and the mask as integers, so
	// an IPv4 remote matches with one comparison.
	is4         bool
	net4, mask4 uint32
	group       string
	entries     []netip.Prefix // prefix list entries
	unresolved  bool           // a group or prefix list the inventory cannot resolve: matches nothing
	rankSize    float64
}

// NewEngine compiles inv. The inventory must not change afterwards.
func NewEngine(inv *inventory.Inventory) *Engine {
	e := &Engine{
		inv:     inv,
		rules:   inv.Rules(),
		byKey:   map[string]int{},
		enis:    map[string][]segment{},
		addrIdx: map[netip.Addr][]membership{},
		pfxIdx:  map[netip.Prefix][]membership{},
	}
	for i, r := range e.rules {
		e.byKey[r.Key()] = i
	}
	covered := map[string]bool{} // VPCs and accounts whose interfaces the inventory has
	for _, id := range inv.ENIs() {
		for _, v := range inv.ENIVersions(id) {
			covered["vpc:"+v.VPCID] = true
			covered["account:"+v.AccountID] = true
			from, to := bounds(v.Valid)
			m := membership{from: from, to: to, groups: v.Groups}
			for _, a := range v.PrivateAddrs() {
				e.addrIdx[a] = append(e.addrIdx[a], m)
			}
			for _, p := range v.Prefixes {
				e.indexPrefix(p, m)
			}
		}
	}
	sort.Ints(e.pfxLens4)
	sort.Ints(e.pfxLens6)
	e.unresolved = make([]bool, len(e.rules))
	for i, r := range e.rules {
		e.unresolved[i] = !e.resolves(r.Source, covered)
	}
	for _, id := range inv.ENIs() {
		for _, v := range inv.ENIVersions(id) {
			from, to := bounds(v.Valid)
			e.enis[id] = append(e.enis[id], e.segments(v, from, to)...)
		}
		segs := e.enis[id]
		sort.Slice(segs, func(i, j int) bool { return segs[i].from < segs[j].from })
	}
	return e
}

// RuleIndex returns the index in Rules of the rule with the given key.
func (e *Engine) RuleIndex(key string) (int, bool) {
	i, ok := e.byKey[key]
	return i, ok
}

// indexPrefix records that the addresses of delegated prefix p belong to m.
func (e *Engine) indexPrefix(p netip.Prefix, m membership) {
	p = p.Masked()
	if !p.IsValid() {
		return
	}
	if host := p.Addr().BitLen() - p.Bits(); host <= 8 && 1<<host <= maxExpand {
		a := p.Addr()
		for range 1 << host {
			e.addrIdx[a] = append(e.addrIdx[a], m)
			a = a.Next()
		}
		return
	}
	lens := &e.pfxLens6
	if p.Addr().Is4() {
		lens = &e.pfxLens4
	}
	if !slices.Contains(*lens, p.Bits()) {
		*lens = append(*lens, p.Bits())
	}
	e.pfxIdx[p] = append(e.pfxIdx[p], m)
}

// resolves reports whether a rule source can be judged: a CIDR always; a
// prefix list when the inventory has its entries; a group when the inventory
// has the group and the interfaces of its VPC (or, without a VPC, of its
// account), so that its members are known. A group in another account or a
// peered VPC resolves when that account's exports are loaded too.
func (e *Engine) resolves(s inventory.Source, covered map[string]bool) bool {
	switch s.Kind {
	case inventory.SourcePrefixList:
		_, ok := e.inv.PrefixList(s.ID)
		return ok
	case inventory.SourceGroup:
		vs := e.inv.GroupVersions(s.ID)
		if len(vs) == 0 {
			return false
		}
		g := vs[len(vs)-1]
		switch {
		case g.VPCID != "":
			return covered["vpc:"+g.VPCID]
		case g.OwnerID != "":
			return covered["account:"+g.OwnerID]
		}
		return len(covered) > 0
	}
	return true
}

// Unresolved reports whether rule i references a group or prefix list the
// inventory cannot resolve (such a rule is kept, never judged).
func (e *Engine) Unresolved(i int) bool { return e.unresolved[i] }

// UnresolvedCount returns the number of rules that cannot be judged.
func (e *Engine) UnresolvedCount() int {
	n := 0
	for _, u := range e.unresolved {
		if u {
			n++
		}
	}
	return n
}

// prefixInGroup reports whether a lies, at t, in a large delegated prefix of
// an interface in group g.
func (e *Engine) prefixInGroup(a netip.Addr, g string, t int64) bool {
	lens := e.pfxLens6
	if a.Is4() {
		lens = e.pfxLens4
	}
	for _, l := range lens {
		p, err := a.Prefix(l)
		if err != nil {
			continue
		}
		if inGroup(e.pfxIdx[p], g, t) {
			return true
		}
	}
	return false
}

// Rules returns the rules the engine attributes to, indexed as RuleStates are.
func (e *Engine) Rules() []inventory.Rule { return e.rules }

// Inventory returns the compiled inventory.
func (e *Engine) Inventory() *inventory.Inventory { return e.inv }

func bounds(iv inventory.Interval) (int64, int64) {
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !iv.From.IsZero() {
		from = iv.From.Unix()
	}
	if !iv.To.IsZero() {
		to = iv.To.Unix()
	}
	return from, to
}

// segments splits one interface version at every change of its groups' rules.
func (e *Engine) segments(v *inventory.ENI, from, to int64) []segment {
	cuts := []int64{from}
	for _, g := range v.Groups {
		for _, gv := range e.inv.GroupVersions(g) {
			gf, gt := bounds(gv.Valid)
			if gf > from && gf < to {
				cuts = append(cuts, gf)
			}
			if gt > from && gt < to {
				cuts = append(cuts, gt)
			}
		}
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i] < cuts[j] })
	var out []segment
	for i, c := range cuts {
		if i > 0 && c == cuts[i-1] {
			continue
		}
		end := to
		for _, n := range cuts[i+1:] {
			if n > c {
				end = n
				break
			}
		}
		seg := segment{from: c, to: end, addrs: v.Addrs, prefixes: v.Prefixes, noGroups: len(v.Groups) == 0}
		at := time.Unix(c, 0)
		if c == math.MinInt64 {
			at = time.Time{}
		}
		for _, g := range v.Groups {
			gv, ok := e.groupAt(g, c, at)
			if !ok {
				continue
			}
			for _, r := range gv.Rules {
				cr := e.compile(r)
				if r.Egress {
					seg.egress = append(seg.egress, cr)
				} else {
					seg.ingress = append(seg.ingress, cr)
				}
			}
		}
		sortByRank(seg.ingress)
		sortByRank(seg.egress)
		out = append(out, seg)
	}
	return out
}

// groupAt returns the group version in force at c; for the unbounded start it
// takes the earliest version.
func (e *Engine) groupAt(id string, c int64, at time.Time) (*inventory.Group, bool) {
	if c == math.MinInt64 {
		vs := e.inv.GroupVersions(id)
		if len(vs) == 0 {
			return nil, false
		}
		return vs[0], true
	}
	return e.inv.GroupAt(id, at)
}

func (e *Engine) compile(r inventory.Rule) compiled {
	c := compiled{idx: int32(e.byKey[r.Key()]), proto: r.Protocol, from: r.FromPort, to: r.ToPort, kind: r.Source.Kind}
	switch r.Source.Kind {
	case inventory.SourceCIDR:
		c.prefix = r.Source.Prefix.Masked()
		c.rankSize = math.Ldexp(1, c.prefix.Addr().BitLen()-c.prefix.Bits())
		if c.prefix.IsValid() && c.prefix.Addr().Is4() {
			b := c.prefix.Addr().As4()
			c.is4 = true
			c.net4 = binary.BigEndian.Uint32(b[:])
			c.mask4 = uint32(uint64(0xffffffff) << (32 - c.prefix.Bits()))
		}
	case inventory.SourceGroup:
		c.group = r.Source.ID
		c.unresolved = e.unresolved[c.idx]
	case inventory.SourcePrefixList:
		if pl, ok := e.inv.PrefixList(r.Source.ID); ok {
			c.entries = pl.Entries
			for _, p := range pl.Entries {
				c.rankSize += math.Ldexp(1, p.Addr().BitLen()-p.Bits())
			}
		} else {
			c.rankSize, c.unresolved = math.Inf(1), true
		}
	}
	return c
}

// sortByRank orders rules so the first match of a flow is the rule to credit
// first: group references (best practice), then the smallest source, the
// narrowest ports, a specific protocol, and the rule key for determinism.
func sortByRank(cs []compiled) {
	class := func(c compiled) int {
		switch c.kind {
		case inventory.SourceGroup:
			return 0
		case inventory.SourceCIDR:
			return 1
		}
		return 2
	}
	width := func(c compiled) int64 {
		if c.proto == -1 || c.from < 0 {
			return 1 << 20
		}
		return int64(c.to) - int64(c.from)
	}
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if ca, cb := class(a), class(b); ca != cb {
			return ca < cb
		}
		if a.rankSize != b.rankSize {
			return a.rankSize < b.rankSize
		}
		if wa, wb := width(a), width(b); wa != wb {
			return wa < wb
		}
		if (a.proto == -1) != (b.proto == -1) {
			return b.proto == -1
		}
		return a.idx < b.idx
	})
}

// segmentsOf returns the segments of an interface, false when it is unknown.
func (e *Engine) segmentsOf(eni []byte) ([]segment, bool) {
	segs, ok := e.enis[string(eni)]
	return segs, ok && len(segs) > 0
}

// pickSegment returns the segment of segs (sorted, not empty) in force at t,
// the nearest one when t falls outside every segment.
func pickSegment(segs []segment, t int64) *segment {
	if len(segs) == 1 {
		return &segs[0]
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].to > t })
	if i == len(segs) {
		i = len(segs) - 1
	}
	return &segs[i]
}

// inGroup reports whether one of the memberships ms (of one address) puts it,
// at t, on an interface in group g.
func inGroup(ms []membership, g string, t int64) bool {
	for _, m := range ms {
		if t < m.from || t >= m.to {
			continue
		}
		for _, x := range m.groups {
			if x == g {
				return true
			}
		}
	}
	return false
}

// matchesPort reports whether the rule's protocol and port range allow proto/port.
func (c *compiled) matchesPort(proto uint8, port uint16) bool {
	if c.proto != -1 && c.proto != int16(proto) {
		return false
	}
	if c.proto != -1 && (proto == 6 || proto == 17) && c.from >= 0 {
		if int32(port) < c.from || int32(port) > c.to {
			return false
		}
	}
	return true
}

// matchesList reports whether a prefix-list source allows addr. An unknown
// list matches nothing: crediting it would take flows (and their "primary"
// credit) from rules that can be judged, and the rule is kept anyway.
func (c *compiled) matchesList(addr netip.Addr) bool {
	for _, p := range c.entries {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// hasAddr reports whether a is one of the segment's interface addresses,
// delegated prefixes included.
func (s *segment) hasAddr(a netip.Addr) bool {
	for _, x := range s.addrs {
		if x == a {
			return true
		}
	}
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ruleLess orders rules for reports: group, ingress before egress, key.
func ruleLess(a, b inventory.Rule) bool {
	if a.GroupID != b.GroupID {
		return a.GroupID < b.GroupID
	}
	if a.Egress != b.Egress {
		return !a.Egress
	}
	return strings.Compare(a.Key(), b.Key()) < 0
}
