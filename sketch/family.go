package sketch

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"unsafe"

	"github.com/cinch-sg/cinch/sketch/hll"
)

// v4 is an IPv4 address as a 32-bit integer.
type v4 uint32

// v6 is an IPv6 address as two 64-bit words, most significant first.
type v6 struct{ hi, lo uint64 }

// key is the address type of one family.
type key[K any] interface {
	comparable
	less(K) bool
	lcp(K) int // common leading bits, the full width when equal
	masked(n int) K
	hash() uint64
	width() int
	addr() netip.Addr
	appendTo([]byte) []byte
	find(items []item[K]) int // number of items whose key is ≤ the receiver
}

func (a v4) less(b v4) bool { return a < b }
func (a v4) lcp(b v4) int   { return bits.LeadingZeros32(uint32(a ^ b)) }
func (a v4) masked(n int) v4 {
	return a & v4(^uint32(0)<<uint(32-n)) // n = 0 shifts by 32: mask 0
}
func (a v4) hash() uint64 { return hll.Hash128(0, 0xffff<<32|uint64(a)) } // v4-mapped
func (v4) width() int     { return 32 }
func (a v4) addr() netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}
func (a v4) appendTo(b []byte) []byte { return binary.BigEndian.AppendUint32(b, uint32(a)) }

func (a v6) less(b v6) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }
func (a v6) lcp(b v6) int {
	if x := a.hi ^ b.hi; x != 0 {
		return bits.LeadingZeros64(x)
	}
	return 64 + bits.LeadingZeros64(a.lo^b.lo)
}
func (a v6) masked(n int) v6 {
	if n <= 64 {
		return v6{a.hi & (^uint64(0) << uint(64-n)), 0}
	}
	return v6{a.hi, a.lo & (^uint64(0) << uint(128-n))}
}
func (a v6) hash() uint64 { return hll.Hash128(a.hi, a.lo) }
func (v6) width() int     { return 128 }
func (a v6) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], a.hi)
	binary.BigEndian.PutUint64(b[8:], a.lo)
	return netip.AddrFrom16(b)
}
func (a v6) appendTo(b []byte) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(b, a.hi), a.lo)
}

// item is one leaf of a family's radix tree: an exact address (bits == width, agg < 0) or
// an aggregate prefix whose HLL is aggs[agg]. key is masked to bits. The prefix length
// and the aggregate index share one word (meta) so that an IPv6 item takes 24 bytes
// and an IPv4 one 12, times included.
type item[K any] struct {
	key  K
	meta uint32 // prefix length in the low 8 bits, agg+1 above (0: exact)
	last uint32 // latest time slot of an address in the item (see Config.Slot)
}

// mkItem returns the item of key k, prefix length bits and aggregate agg (< 0: exact).
func mkItem[K any](k K, bits int, agg int, last uint32) item[K] {
	return item[K]{key: k, meta: uint32(bits) | uint32(agg+1)<<8, last: last}
}

// bits is the item's prefix length.
func (it *item[K]) bits() int { return int(uint8(it.meta)) }

// agg is the index of the item's HLL in its family's aggs, -1 when exact. A family
// never holds more than 2·MaxMaxNodes+2 HLLs (during a union), far below 2^24.
func (it *item[K]) agg() int { return int(it.meta>>8) - 1 }

// setAgg makes the item an aggregate of prefix length bits whose HLL is aggs[agg].
func (it *item[K]) setAgg(bits, agg int) { it.meta = uint32(bits) | uint32(agg+1)<<8 }

// family is the canonical leaf set of one address family (see the package doc): items
// sorted by key and pairwise disjoint, at most one per /depth block, at most N of them,
// depth the largest cut with that property.
type family[K key[K]] struct {
	items []item[K]
	aggs  []*hll.Sketch // aggregate HLLs, indexed by item.agg()
	// sn holds the items' seen masks in a sketch with per-slot counters, once the
	// family has had an item; nil otherwise (one word in other sketches).
	sn    *seenSet
	depth uint8
	// slot is the slot length of the seen masks, 0 when the family keeps none.
	slot uint32
}

// seenSet holds which slots each item of a family was seen in.
type seenSet struct {
	// seen holds a mask per item: bit k of seen[i] set when an address of items[i]
	// was seen in slot items[i].last − k·slot (bit 0 always set).
	seen []uint32
	// from is a slot before which seen may lack bits (the family was read from an
	// encoding without them): per-slot sources of earlier slots are lower bounds.
	from uint32
}

// seenBits is how many slots back from an item's latest one its seen mask reaches.
const seenBits = 32

// align returns mask m of an item last seen in slot last as the mask of slot to ≥ last.
func align(m, last, to, slot uint32) uint32 {
	if d := (to - last) / slot; d < seenBits {
		return m << d
	}
	return 0
}

// see returns mask m of an item last seen in slot last after it is seen in slot ts
// (relative to max(last, ts)).
func see(m, last, ts, slot uint32) uint32 {
	if ts > last {
		return align(m, last, ts, slot) | 1
	}
	if d := (last - ts) / slot; d < seenBits {
		m |= 1 << d
	}
	return m
}

// touch records that item i was seen in slot ts.
func (f *family[K]) touch(i int, ts uint32) {
	it := &f.items[i]
	if f.sn != nil {
		f.sn.seen[i] = see(f.sn.seen[i], it.last, ts, f.slot)
	}
	it.last = max(it.last, ts)
}

// keepSeen makes the family keep per-item seen masks in slots of length slot (> 0),
// each item seen in its latest slot only and from past them all when it had none,
// or drops them (slot 0). An empty family gets its masks with its first item.
func (f *family[K]) keepSeen(slot uint32) {
	switch {
	case slot == 0 || len(f.items) == 0:
		f.sn = nil
	case f.sn != nil && f.slot == slot:
	default:
		f.sn = &seenSet{seen: make([]uint32, len(f.items), cap(f.items))}
		for i, it := range f.items {
			f.sn.seen[i] = 1
			f.sn.from = max(f.sn.from, it.last)
		}
	}
	f.slot = slot
}

// masks returns the items' seen masks, nil when the family keeps none.
func (f *family[K]) masks() []uint32 {
	if f.sn == nil {
		return nil
	}
	return f.sn.seen
}

// seenFrom returns the slot before which the seen masks may lack bits, 0 if none.
func (f *family[K]) seenFrom() uint32 {
	if f.sn == nil {
		return 0
	}
	return f.sn.from
}

func newFamily[K key[K]]() family[K] {
	var z K
	return family[K]{depth: uint8(z.width())}
}

// find returns the number of items whose key is ≤ a: a branch-free binary search,
// implemented per address type so that the comparisons inline.
func (a v4) find(items []item[v4]) int {
	n := len(items)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n >> 1
		if items[base+half].key <= a {
			base += half
		}
		n -= half
	}
	if items[base].key <= a {
		base++
	}
	return base
}

func (a v6) find(items []item[v6]) int {
	n := len(items)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n >> 1
		if !a.less(items[base+half].key) {
			base += half
		}
		n -= half
	}
	if !a.less(items[base].key) {
		base++
	}
	return base
}

// observe adds address a seen in time slot ts, keeping at most n items; p is the HLL
// precision.
func (f *family[K]) observe(a K, n int, p uint8, ts uint32) {
	i := a.find(f.items)
	if i > 0 {
		it := &f.items[i-1]
		if a.masked(it.bits()) == it.key { // hit: no allocation
			if g := it.agg(); g >= 0 {
				f.aggs[g].InsertHash(a.hash())
			}
			if ts != it.last {
				f.touch(i-1, ts)
			}
			return
		}
	}
	d := int(f.depth)
	for _, j := range [2]int{i - 1, i} {
		if j >= 0 && j < len(f.items) && a.lcp(f.items[j].key) >= d {
			f.absorb(j, a, n, p)
			f.touch(j, ts)
			return
		}
	}
	var z K
	f.items = insertCapped(f.items, i, mkItem(a, z.width(), -1, ts), n+1)
	if f.slot > 0 {
		if f.sn == nil {
			f.sn = &seenSet{}
		}
		f.sn.seen = insertCapped(f.sn.seen, i, 1, n+1)
	}
	if len(f.items) > n {
		f.fit(n, p)
	}
}

// absorb merges address a, in the /depth block of item j but not inside it, into item j,
// which becomes (or stays) an aggregate at their longest common prefix.
func (f *family[K]) absorb(j int, a K, n int, p uint8) {
	it := &f.items[j]
	g := it.agg()
	if g < 0 {
		h := hll.New(p)
		h.InsertHash(it.key.hash())
		f.aggs = insertCapped(f.aggs, len(f.aggs), h, n+1)
		g = len(f.aggs) - 1
	}
	f.aggs[g].InsertHash(a.hash())
	nb := a.lcp(it.key)
	it.setAgg(nb, g)
	it.key = it.key.masked(nb)
}

// fit lowers depth to the largest cut leaving at most n items and regroups. Items must
// be canonical for the current depth (at most one per /depth block).
func (f *family[K]) fit(n int, p uint8) {
	if len(f.items) <= n {
		return
	}
	// groups(d) = 1 + #{adjacent pairs with lcp < d} for every d ≤ depth.
	var hist [129]int
	for i := 1; i < len(f.items); i++ {
		hist[f.items[i-1].key.lcp(f.items[i].key)]++
	}
	d, below := 0, 0
	for d < int(f.depth) && 1+below+hist[d] <= n {
		below += hist[d]
		d++
	}
	f.depth = uint8(d)
	f.regroup(p)
}

// regroup merges the items of each /depth block into one: an exact item when the block
// holds a single address, else an aggregate at the block's longest common prefix whose
// HLL unites the members'. Items must be sorted by key with bits ≥ depth; they may
// overlap (after a union), and the HLLs in aggs must be owned by f and of precision p.
// aggs is rebuilt in item order.
func (f *family[K]) regroup(p uint8) {
	var z K
	w, d, width := 0, int(f.depth), z.width()
	groups := 0
	for i := range f.items {
		if i == 0 || f.items[i].key.lcp(f.items[i-1].key) < d {
			groups++
		}
	}
	aggs := make([]*hll.Sketch, 0, groups)
	items := f.items
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].key.lcp(items[i].key) >= d {
			j++
		}
		lcp := items[i].key.lcp(items[j-1].key)
		var h *hll.Sketch
		var last, seen uint32
		for _, it := range items[i:j] {
			last = max(last, it.last)
		}
		for k, it := range items[i:j] {
			lcp = min(lcp, it.bits())
			if f.sn != nil {
				seen |= align(f.sn.seen[i+k], it.last, last, f.slot)
			}
			if g := it.agg(); g >= 0 {
				if h == nil {
					h = f.aggs[g]
				} else {
					_ = h.Merge(f.aggs[g]) // all HLLs of a sketch share its precision
				}
			}
		}
		out := mkItem(items[i].key.masked(lcp), lcp, -1, last)
		if lcp < width {
			if h == nil {
				h = hll.New(p)
			}
			for _, it := range items[i:j] {
				if it.agg() < 0 {
					h.InsertHash(it.key.hash())
				}
			}
			aggs = append(aggs, h)
			out.setAgg(lcp, len(aggs)-1)
		}
		items[w] = out
		if f.sn != nil {
			f.sn.seen[w] = seen
		}
		w++
		i = j
	}
	f.items = items[:w]
	if f.sn != nil {
		f.sn.seen = f.sn.seen[:w]
	}
	f.aggs = aggs
}

// insertCapped inserts v at index i, growing capacity geometrically but never beyond
// limit (when the slice already fits in it).
func insertCapped[T any](s []T, i int, v T, limit int) []T {
	if len(s) == cap(s) {
		grown := make([]T, len(s), max(len(s)+1, min(max(4, 2*cap(s)), limit)))
		copy(grown, s)
		s = grown
	}
	s = s[:len(s)+1]
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// union merges o into f (o unchanged; conv copies one of o's HLLs at f's precision p),
// regroups at the smaller cut and fits n items.
func (f *family[K]) union(o *family[K], n int, p uint8, conv func(*hll.Sketch) *hll.Sketch) {
	if f.slot > 0 && f.sn == nil && len(o.items) > 0 {
		f.sn = &seenSet{} // f is empty (see keepSeen)
	}
	items := make([]item[K], 0, len(f.items)+len(o.items))
	aggs := make([]*hll.Sketch, len(f.aggs), len(f.aggs)+len(o.aggs))
	copy(aggs, f.aggs)
	for _, h := range o.aggs {
		aggs = append(aggs, conv(h))
	}
	var seen []uint32
	if f.sn != nil {
		seen = make([]uint32, 0, len(f.items)+len(o.items))
		f.sn.from = max(f.sn.from, o.seenFrom())
	}
	off := len(f.aggs)
	i, j := 0, 0
	for i < len(f.items) || j < len(o.items) {
		if j == len(o.items) || (i < len(f.items) && !o.items[j].key.less(f.items[i].key)) {
			items = append(items, f.items[i])
			if f.sn != nil {
				seen = append(seen, f.sn.seen[i])
			}
			i++
			continue
		}
		it := o.items[j]
		if g := it.agg(); g >= 0 {
			it.setAgg(it.bits(), g+off)
		}
		items = append(items, it)
		if f.sn != nil {
			if o.sn != nil {
				seen = append(seen, o.sn.seen[j])
			} else { // o kept no masks: only its items' latest slots are known
				seen = append(seen, 1)
				f.sn.from = max(f.sn.from, it.last)
			}
		}
		j++
	}
	f.items, f.aggs = items, aggs
	if f.sn != nil {
		f.sn.seen = seen
	}
	f.depth = min(f.depth, o.depth)
	f.regroup(p)
	f.fit(n, p)
	f.items = append(make([]item[K], 0, len(f.items)), f.items...)
	if f.sn != nil {
		f.sn.seen = append(make([]uint32, 0, len(f.sn.seen)), f.sn.seen...)
	}
}

// clone returns a deep copy of f.
func (f *family[K]) clone() family[K] {
	c := family[K]{depth: f.depth, slot: f.slot}
	if len(f.items) > 0 {
		c.items = append(make([]item[K], 0, len(f.items)), f.items...)
	}
	if f.sn != nil {
		c.sn = &seenSet{from: f.sn.from, seen: append(make([]uint32, 0, len(f.sn.seen)), f.sn.seen...)}
	}
	if len(f.aggs) > 0 {
		c.aggs = make([]*hll.Sketch, len(f.aggs))
		for i, h := range f.aggs {
			c.aggs[i] = h.Clone()
		}
	}
	return c
}

// equal reports structural equality: same cut, same items, equal aggregate registers.
func (f *family[K]) equal(o *family[K]) bool {
	if f.depth != o.depth || len(f.items) != len(o.items) ||
		f.seenFrom() != o.seenFrom() || !slices.Equal(f.masks(), o.masks()) {
		return false
	}
	for i, a := range f.items {
		b := o.items[i]
		if a.key != b.key || a.bits() != b.bits() || a.last != b.last || (a.agg() < 0) != (b.agg() < 0) {
			return false
		}
		if a.agg() >= 0 && !f.aggs[a.agg()].Equal(o.aggs[b.agg()]) {
			return false
		}
	}
	return true
}

// count is the number of addresses in item it: 1 when exact, else its HLL estimate
// clamped to [2, size of the prefix].
func (f *family[K]) count(it item[K]) uint64 {
	if it.agg() < 0 {
		return 1
	}
	c := max(f.aggs[it.agg()].Estimate(), 2)
	if span := it.key.width() - it.bits(); span < 64 {
		c = min(c, uint64(1)<<span)
	}
	return c
}

// memSize returns the bytes held by the family's slices and HLLs.
func (f *family[K]) memSize() int {
	n := cap(f.items)*int(unsafe.Sizeof(item[K]{})) + cap(f.aggs)*int(unsafe.Sizeof((*hll.Sketch)(nil))) +
		4*cap(f.masks())
	if f.sn != nil {
		n += int(unsafe.Sizeof(seenSet{}))
	}
	for _, h := range f.aggs {
		n += h.MemSize()
	}
	return n
}

// expire drops the items last seen before slot b. The cut then rises to the shallowest
// surviving aggregate (the full width when none is left): the items are disjoint and
// were at most one per /depth block, so they still are at the deeper cut, and an
// aggregate cannot be split again. With no aggregate left the family is exactly the
// canonical leaf set of the addresses seen since b.
func (f *family[K]) expire(b uint32) {
	var z K
	w, depth := 0, z.width()
	var aggs []*hll.Sketch
	for i, it := range f.items {
		if it.last < b {
			continue
		}
		if g := it.agg(); g >= 0 {
			aggs = append(aggs, f.aggs[g])
			it.setAgg(it.bits(), len(aggs)-1)
			depth = min(depth, it.bits())
		}
		if f.sn != nil { // forget the slots before b
			m := f.sn.seen[i]
			if d := (it.last - b) / f.slot; d < seenBits-1 {
				m &= 1<<(d+1) - 1
			}
			f.sn.seen[w] = m
		}
		f.items[w] = it
		w++
	}
	f.items, f.aggs, f.depth = f.items[:w], aggs, uint8(depth)
	if f.sn != nil {
		f.sn.seen = f.sn.seen[:w]
		if f.sn.from <= b {
			f.sn.from = 0
		}
	}
}

// stamp sets every item's time to ts, seen in that slot only.
func (f *family[K]) stamp(ts uint32) {
	for i := range f.items {
		f.items[i].last = ts
	}
	if f.sn != nil {
		for i := range f.sn.seen {
			f.sn.seen[i] = 1
		}
		f.sn.from = 0
	}
}
