// Package sketch keeps, per security-group rule, a small mergeable summary of who used
// the rule: the observed source addresses as a binary radix tree with a node budget,
// counters (flows, packets, bytes, first and last seen) and the ports seen per protocol.
//
// # Address tree
//
// IPv4 and IPv6 sources live in two separate families, each with its own budget N
// ([Config.MaxNodes]). A family stores its radix tree as the ordered set of its leaves:
// a sorted slice of disjoint prefixes called items. An item is exact (a single /32 or
// /128 address) or an aggregate (a shorter prefix with a HyperLogLog, see package hll,
// counting the distinct addresses collapsed into it). Internal nodes are implicit: the
// longest common prefix of neighbouring items. Lookup is a binary search, and observing
// an address that falls in an existing item does not allocate.
//
// The leaf set is canonical. Each family has a cut depth D, initially the full width
// (32 or 128). For the set S of addresses observed, C_D(S) groups S by /D prefix; a group
// of one address is an exact item, a group of two or more an aggregate at the longest
// common prefix of the group (length ≥ D) with the HLL of all its addresses. D is the
// largest depth for which C_D(S) has at most N items. Lowering D collapses the deepest
// branch points first, so the subtrees that go are the least informative ones: those that
// distinguish addresses sharing the longest prefixes. An insert only ever lowers D, and a
// merge starts from the smaller of the two cuts and lowers it further while the union has
// too many items. Since the result C(S) depends only on the set S (HLLs merge by register
// maximum, which also depends only on S), merging is exactly commutative and associative,
// and merging sketches equals observing all their records in one sketch.
//
// # Ports
//
// Ports are kept per protocol as a [PortSet]: exact up to [MaxExactPorts] ports, then to
// [PortBucketSize]-port buckets, again canonically.
//
// # Memory
//
// A sketch never holds more than [Config.MaxBytes] bytes whatever the traffic (about
// 1.8 MiB with the default config, most of it coarse port sets and their last-seen times),
// plus 48 bytes per time slot of a windowed sketch; one with at most a hundred sources
// holds under 4 KiB (2.4 KB for IPv4, 3.9 KB for IPv6), since no aggregate exists while
// a family has at most N sources: an item takes 12 bytes (IPv4) or 24 (IPv6), its
// time included. Slices grow geometrically but never beyond their budget.
//
// # Time
//
// A windowed sketch ([Config.Slot] > 0) keeps its counters per time slot and, on every
// item and port, the latest slot it was seen in, so that [Sketch.Expire] can drop what
// left a sliding window without keeping a sketch per slot. Item and port times merge
// by maximum and slots by sum, so merging stays commutative and associative. A sketch
// with per-slot counters (not [Config.TimesOnly]) also keeps per item a 32-bit mask of
// the slots it was seen in, up to 31 before its latest (merged by OR once aligned),
// from which [Sketch.SeriesSources] counts the distinct sources of each slot: 4 bytes
// per item.
package sketch

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"unsafe"

	"github.com/cinch-sg/cinch/sketch/hll"
)

// Configuration defaults and limits.
const (
	// DefaultMaxNodes is the default per-family item budget.
	DefaultMaxNodes = 128
	// DefaultHLLPrecision is the default precision of aggregate HyperLogLogs.
	DefaultHLLPrecision = 10
	// MaxMaxNodes is the largest accepted per-family item budget.
	MaxMaxNodes = 1 << 16
)

// Config sets a sketch's budget.
type Config struct {
	// MaxNodes is the most items (leaves) kept per address family; values below 1 mean
	// DefaultMaxNodes, values above MaxMaxNodes are clamped.
	MaxNodes int
	// Slot, in seconds, makes the sketch windowed (see [Sketch.Expire]): its counters
	// are kept per time slot of this length, and every item and port remembers the
	// latest slot it was seen in. 0 (or negative) keeps totals only; values above
	// 2^31 are clamped.
	Slot int64
	// HLLPrecision is the precision of aggregate HyperLogLogs; 0 means
	// DefaultHLLPrecision, other values are clamped to [hll.MinPrecision, hll.MaxPrecision].
	HLLPrecision uint8
	// TimesOnly, with Slot > 0, keeps the times of items and ports but no counters per
	// slot: the counters are then totals that Expire leaves as they are (for sketches
	// whose counters nobody reads, such as a -1 rule's per-protocol sketches).
	TimesOnly bool
}

// DefaultConfig returns the default configuration (128 items per family, HLL p=10).
func DefaultConfig() Config {
	return Config{MaxNodes: DefaultMaxNodes, HLLPrecision: DefaultHLLPrecision}
}

func (c Config) normalize() Config {
	switch {
	case c.MaxNodes < 1:
		c.MaxNodes = DefaultMaxNodes
	case c.MaxNodes > MaxMaxNodes:
		c.MaxNodes = MaxMaxNodes
	}
	switch {
	case c.HLLPrecision == 0:
		c.HLLPrecision = DefaultHLLPrecision
	case c.HLLPrecision < hll.MinPrecision:
		c.HLLPrecision = hll.MinPrecision
	case c.HLLPrecision > hll.MaxPrecision:
		c.HLLPrecision = hll.MaxPrecision
	}
	c.Slot = min(max(c.Slot, 0), maxSlot)
	if c.Slot == 0 {
		c.TimesOnly = false
	}
	return c
}

// maxSlot is the longest slot, in seconds (what an encoding holds).
const maxSlot = 1 << 31

// seenSlot is the slot length in which the sketch's families keep per-item seen masks:
// Slot when the sketch counts per slot (Slot > 0, not TimesOnly), else 0.
func (c Config) seenSlot() uint32 {
	if c.TimesOnly {
		return 0
	}
	return uint32(c.Slot)
}

// MaxBytes is the bound on [Sketch.MemSize] for sketches with this configuration, time
// slots excepted (48 bytes each, see [Sketch.Expire]):
//
//	size of Sketch
//	+ per family (IPv4 items of 12 bytes, IPv6 items of 24): (N+1) items, (N+1) HLL
//	  pointers, when counting per slot a seen set header and (N+1) 4-byte seen
//	  masks, and N HLLs of at most hll.MaxBytes(p)
//	+ 256 protocols × (entry header + 128 bytes of port buckets + 2 KiB of bucket edges
//	  + 4,096 bytes of port times).
//
// On 64-bit platforms the default config gives 1,911,596 bytes: 282,624 for 2·128 dense
// p=10 HLLs (what millions of random sources produce), about 1.6 MB for 256 protocols
// with coarse port sets, their bucket edges and last-seen times, the rest items. Real rules stay far below:
// a hundred sources take 2.4–3.9 KB.
func (c Config) MaxBytes() int {
	c = c.normalize()
	n := c.MaxNodes
	ptr := int(unsafe.Sizeof((*hll.Sketch)(nil)))
	seen := 0
	if c.seenSlot() > 0 {
		ptr += 4 // a seen mask per item
		seen = int(unsafe.Sizeof(seenSet{}))
	}
	fam := func(itemSize int) int { return seen + (n+1)*(itemSize+ptr) + n*hll.MaxBytes(c.HLLPrecision) }
	return int(unsafe.Sizeof(Sketch{})) +
		fam(int(unsafe.Sizeof(item[v4]{}))) + fam(int(unsafe.Sizeof(item[v6]{}))) +
		256*(int(unsafe.Sizeof(protoPorts{}))+int(unsafe.Sizeof(coarse{})))
}

// protoPorts is the port set of one protocol.
type protoPorts struct {
	ports PortSet
	proto uint8
}

// Sketch summarises the traffic one rule let in. Create it with [New]; the counters may
// be read directly. A Sketch is not safe for concurrent use.
type Sketch struct {
	// Flows counts observed records.
	Flows uint64
	// Packets sums the records' packets.
	Packets uint64
	// Bytes sums the records' bytes.
	Bytes uint64
	// FirstSeen is the earliest record start, unix seconds; zero when none.
	FirstSeen int64
	// LastSeen is the latest record end, unix seconds; zero when none.
	LastSeen int64

	cfg    Config
	fam4   family[v4]
	fam6   family[v6]
	protos []protoPorts // sorted by proto

	// slots holds the counters per time slot, sorted by start (Config.Slot > 0).
	slots []Slot

	// Caches of the last IPv4 source (1<<32 | address) and the last protocol and
	// port (1<<24 | proto<<16 | port) observed, zero when none, with the time slot
	// they were observed in. Observing a source or port seen before in the same slot
	// leaves the sketch unchanged (its form depends only on the set of sources and
	// ports and their latest slots), so a repeat skips the lookup.
	last4    uint64
	lastPort uint32
	lastTS   uint32
}

// New returns an empty sketch with configuration cfg (normalised, see [Config]).
func New(cfg Config) *Sketch {
	s := &Sketch{cfg: cfg.normalize(), fam4: newFamily[v4](), fam6: newFamily[v6]()}
	s.fam4.keepSeen(s.cfg.seenSlot())
	s.fam6.keepSeen(s.cfg.seenSlot())
	return s
}

// Config returns the sketch's (normalised) configuration.
func (s *Sketch) Config() Config { return s.cfg }

// Observe records one flow from src to proto/port carrying packets and bytes between
// start and end (unix seconds, zero meaning unknown; a reversed pair is swapped). IPv4-mapped IPv6 sources count as
// IPv4; an invalid src updates counters and ports only. It does not allocate when the
// source, protocol and port were seen before.
//
// A windowed sketch ([Config.Slot] > 0) files the record in the slot of its start (its
// end when the start is zero); it allocates when a record opens a new slot.
func (s *Sketch) Observe(src netip.Addr, proto uint8, port uint16, packets, bytes uint64, start, end int64) {
	s.Flows++
	s.Packets += packets
	s.Bytes += bytes
	s.seen(start, end)
	var ts uint32
	if s.cfg.Slot > 0 {
		ts = s.observeSlot(packets, bytes, start, end, !s.cfg.TimesOnly)
		if ts != s.lastTS {
			s.last4, s.lastPort, s.lastTS = 0, 0, ts
		}
	}
	s.observeAddr(src, ts)
	if pp := 1<<24 | uint32(proto)<<16 | uint32(port); pp != s.lastPort {
		s.portSet(proto).addAt(port, ts)
		s.lastPort = pp
	}
}

func (s *Sketch) observeAddr(src netip.Addr, ts uint32) {
	switch {
	case src.Is4() || src.Is4In6():
		b := src.Unmap().As4()
		a := binary.BigEndian.Uint32(b[:])
		if k := 1<<32 | uint64(a); k != s.last4 {
			s.fam4.observe(v4(a), s.cfg.MaxNodes, s.cfg.HLLPrecision, ts)
			s.last4 = k
		}
	case src.Is6():
		b := src.As16()
		a := v6{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
		s.fam6.observe(a, s.cfg.MaxNodes, s.cfg.HLLPrecision, ts)
	}
}

func (s *Sketch) seen(first, last int64) { widen(&s.FirstSeen, &s.LastSeen, first, last) }

// widen extends [*firstSeen, *lastSeen] to a flow's [first, last] (either
// may be 0: unknown; they may come in either order).
func widen(firstSeen, lastSeen *int64, first, last int64) {
	if first == 0 {
		first = last
	}
	if last == 0 {
		last = first
	}
	if first > last {
		first, last = last, first
	}
	if first != 0 && (*firstSeen == 0 || first < *firstSeen) {
		*firstSeen = first
	}
	if last != 0 && (*lastSeen == 0 || last > *lastSeen) {
		*lastSeen = last
	}
}

// portSet returns the port set of proto, adding an empty one if needed.
func (s *Sketch) portSet(proto uint8) *PortSet {
	i := 0
	for ; i < len(s.protos) && s.protos[i].proto < proto; i++ {
	}
	if i == len(s.protos) || s.protos[i].proto != proto {
		s.protos = insertCapped(s.protos, i, protoPorts{proto: proto}, 256)
	}
	return &s.protos[i].ports
}

// Merge adds o into s; o is unchanged. Merge is commutative and associative, and merging
// equals observing both sketches' records in one. Sketches of different configurations
// merge into the smaller budget and precision.
func (s *Sketch) Merge(o *Sketch) {
	if o == s {
		o = s.Clone()
	}
	s.Flows += o.Flows
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.seen(o.FirstSeen, o.LastSeen)
	s.mergeSlots(o)
	s.fam4.keepSeen(s.cfg.seenSlot())
	s.fam6.keepSeen(s.cfg.seenSlot())
	s.last4, s.lastPort = 0, 0

	p := min(s.cfg.HLLPrecision, o.cfg.HLLPrecision)
	if p < s.cfg.HLLPrecision {
		for _, f := range [][]*hll.Sketch{s.fam4.aggs, s.fam6.aggs} {
			for i, h := range f {
				f[i] = fold(h, p)
			}
		}
	}
	s.cfg.HLLPrecision = p
	s.cfg.MaxNodes = min(s.cfg.MaxNodes, o.cfg.MaxNodes)
	conv := func(h *hll.Sketch) *hll.Sketch { return fold(h, p) }
	s.fam4.union(&o.fam4, s.cfg.MaxNodes, p, conv)
	s.fam6.union(&o.fam6, s.cfg.MaxNodes, p, conv)

	for i := range o.protos {
		s.portSet(o.protos[i].proto).Union(&o.protos[i].ports)
	}
}

// fold returns a copy of h at precision p ≤ h.Precision().
func fold(h *hll.Sketch, p uint8) *hll.Sketch {
	f, err := h.Fold(p)
	if err != nil {
		panic("sketch: internal error: " + err.Error()) // p never exceeds h's precision
	}
	return f
}

// Clone returns an independent deep copy of s.
func (s *Sketch) Clone() *Sketch {
	c := *s
	c.fam4 = s.fam4.clone()
	c.fam6 = s.fam6.clone()
	c.slots = nil
	if len(s.slots) > 0 {
		c.slots = append(make([]Slot, 0, len(s.slots)), s.slots...)
	}
	c.protos = nil
	if len(s.protos) > 0 {
		c.protos = make([]protoPorts, len(s.protos))
		for i, pp := range s.protos {
			c.protos[i] = protoPorts{proto: pp.proto, ports: *pp.ports.Clone()}
		}
	}
	return &c
}

// Item is one leaf of the address tree.
type Item struct {
	// Prefix is the item's prefix: a /32 or /128 when exact; IPv4 prefixes are IPv4.
	Prefix netip.Prefix
	// Exact is true for a single observed address.
	Exact bool
	// Count is 1 for an exact item, else the estimated number of distinct addresses
	// (at least 2, at most the prefix's size).
	Count uint64
}

// Items returns every item, IPv4 first then IPv6, each in address order. Every observed
// source lies in exactly one item.
func (s *Sketch) Items() []Item {
	out := make([]Item, 0, len(s.fam4.items)+len(s.fam6.items))
	out = appendItems(out, &s.fam4)
	return appendItems(out, &s.fam6)
}

func appendItems[K key[K]](out []Item, f *family[K]) []Item {
	for _, it := range f.items {
		out = append(out, Item{
			Prefix: netip.PrefixFrom(it.key.addr(), it.bits()),
			Exact:  it.agg() < 0,
			Count:  f.count(it),
		})
	}
	return out
}

// DistinctSources returns the number of distinct sources: exact, with estimated false,
// while no aggregate exists; otherwise the sum of the exact items and the aggregates'
// estimates. The aggregates are disjoint and their errors independent, so the sum is at
// least as accurate as one sketch-wide HLL of the same precision would be.
func (s *Sketch) DistinctSources() (n uint64, estimated bool) {
	for _, it := range s.fam4.items {
		n += s.fam4.count(it)
	}
	for _, it := range s.fam6.items {
		n += s.fam6.count(it)
	}
	return n, len(s.fam4.aggs)+len(s.fam6.aggs) > 0
}

// Protocols returns the protocols seen, ascending.
func (s *Sketch) Protocols() []uint8 {
	out := make([]uint8, len(s.protos))
	for i, pp := range s.protos {
		out[i] = pp.proto
	}
	return out
}

// Ports returns a copy of the ports seen for proto, nil if the protocol was not seen.
func (s *Sketch) Ports(proto uint8) *PortSet {
	for i := range s.protos {
		if s.protos[i].proto == proto {
			return s.protos[i].ports.Clone()
		}
	}
	return nil
}

// MemSize returns the bytes s holds: its header, the capacity of its slices and the size
// of its HLLs and port sets. It never exceeds s.Config().MaxBytes().
func (s *Sketch) MemSize() int {
	n := int(unsafe.Sizeof(*s)) + s.fam4.memSize() + s.fam6.memSize() +
		cap(s.protos)*int(unsafe.Sizeof(protoPorts{})) + cap(s.slots)*int(unsafe.Sizeof(Slot{}))
	for i := range s.protos {
		n += s.protos[i].ports.memSize()
	}
	return n
}

// Equal reports structural equality: same counters, configuration, items (with equal
// HLL registers) and port sets.
func (s *Sketch) Equal(o *Sketch) bool {
	if s.Flows != o.Flows || s.Packets != o.Packets || s.Bytes != o.Bytes ||
		s.FirstSeen != o.FirstSeen || s.LastSeen != o.LastSeen || s.cfg != o.cfg ||
		!s.fam4.equal(&o.fam4) || !s.fam6.equal(&o.fam6) || len(s.protos) != len(o.protos) ||
		!slices.Equal(s.slots, o.slots) {
		return false
	}
	return slices.EqualFunc(s.protos, o.protos, func(a, b protoPorts) bool {
		return a.proto == b.proto && a.ports.Equal(&b.ports)
	})
}
