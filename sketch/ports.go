package sketch

import (
	"math/bits"
	"slices"
)

// Port-set limits.
const (
	// MaxExactPorts is the most ports a [PortSet] keeps exactly.
	MaxExactPorts = 64
	// PortBucketSize is the width of the buckets a coarse [PortSet] records.
	PortBucketSize = 64
	portBuckets    = 65536 / PortBucketSize
)

// PortRange is an inclusive range of ports.
type PortRange struct {
	From, To uint16
}

// PortSet is the set of ports seen for one protocol. It is canonical: an exact sorted
// set while it holds at most [MaxExactPorts] ports, beyond that a bitmap of 1024 buckets
// of [PortBucketSize] ports each with, per bucket seen, the lowest and highest port seen
// in it, so ports are then known to lie between those two. Union is commutative and
// associative (bitmaps OR, edges by min and max). The zero value is an empty set.
type PortSet struct {
	exact   []uint16                  // sorted, when buckets == nil
	buckets *[portBuckets / 64]uint64 // bit b set: some port in [64b, 64b+63] seen
	// edges holds, for each set bucket in increasing order, the offsets of the
	// lowest (high 8 bits) and highest (low 8 bits) port seen in it: at most
	// 2 KiB.
	edges []uint16
}

// rank returns the index in edges of bucket b (set or where it would go).
func (ps *PortSet) rank(b uint16) int {
	w := int(b / 64)
	n := 0
	for _, x := range ps.buckets[:w] {
		n += bits.OnesCount64(x)
	}
	return n + bits.OnesCount64(ps.buckets[w]&(1<<(b%64)-1))
}

// addCoarse records port in a coarse set.
func (ps *PortSet) addCoarse(port uint16) {
	b, off := port/PortBucketSize, port%PortBucketSize
	i := ps.rank(b)
	if ps.buckets[b/64]&(1<<(b%64)) == 0 {
		ps.buckets[b/64] |= 1 << (b % 64)
		if len(ps.edges) == cap(ps.edges) {
			// grow within the bound of one edge per bucket
			n := make([]uint16, len(ps.edges), min(max(2*cap(ps.edges), 8), portBuckets))
			copy(n, ps.edges)
			ps.edges = n
		}
		ps.edges = slices.Insert(ps.edges, i, off<<8|off)
		return
	}
	lo, hi := ps.edges[i]>>8, ps.edges[i]&0xff
	ps.edges[i] = min(lo, off)<<8 | max(hi, off)
}

// bucketEdges returns the lowest and highest port seen in set bucket b
// whose index in edges is i.
func (ps *PortSet) bucketEdges(b uint16, i int) (uint16, uint16) {
	base := b * PortBucketSize
	if i >= len(ps.edges) {
		return base, base + PortBucketSize - 1
	}
	return base + ps.edges[i]>>8, base + ps.edges[i]&0xff
}

// Add inserts port. It does not allocate when the port (or, coarse, its bucket) is
// already present.
func (ps *PortSet) Add(port uint16) {
	if ps.buckets != nil {
		ps.addCoarse(port)
		return
	}
	i, found := slices.BinarySearch(ps.exact, port)
	if found {
		return
	}
	if len(ps.exact) < MaxExactPorts {
		ps.exact = insertCapped(ps.exact, i, port, MaxExactPorts)
		return
	}
	ps.coarsen()
	ps.Add(port)
}

func (ps *PortSet) coarsen() {
	ps.buckets = new([portBuckets / 64]uint64)
	ps.edges = nil
	for _, p := range ps.exact {
		ps.addCoarse(p)
	}
	ps.exact = nil
}

// Union adds every port of o to ps; o is unchanged.
func (ps *PortSet) Union(o *PortSet) {
	if o.buckets != nil {
		if ps.buckets == nil {
			ps.coarsen()
		}
		var edges []uint16
		i, j := 0, 0
		for k := range ps.buckets {
			a, b := ps.buckets[k], o.buckets[k]
			for u := a | b; u != 0; u &= u - 1 {
				bit := uint64(1) << bits.TrailingZeros64(u)
				e := uint16(0xffff)
				switch {
				case a&bit != 0 && b&bit != 0:
					x, y := ps.edgeAt(i), o.edgeAt(j)
					e = min(x>>8, y>>8)<<8 | max(x&0xff, y&0xff)
					i, j = i+1, j+1
				case a&bit != 0:
					e = ps.edgeAt(i)
					i++
				default:
					e = o.edgeAt(j)
					j++
				}
				edges = append(edges, e)
			}
			ps.buckets[k] = a | b
		}
		ps.edges = edges
		return
	}
	if ps.buckets != nil {
		for _, p := range o.exact {
			ps.Add(p)
		}
		return
	}
	merged := make([]uint16, 0, len(ps.exact)+len(o.exact))
	merged = append(append(merged, ps.exact...), o.exact...)
	slices.Sort(merged)
	merged = slices.Compact(merged)
	if len(merged) <= MaxExactPorts {
		ps.exact = append(make([]uint16, 0, len(merged)), merged...)
		return
	}
	ps.exact = merged
	ps.coarsen()
}

// edgeAt returns edges[i], or a whole bucket for a set decoded without edges.
func (ps *PortSet) edgeAt(i int) uint16 {
	if i < len(ps.edges) {
		return ps.edges[i]
	}
	return PortBucketSize - 1
}

// Contains reports whether port is in the set (for a coarse set: whether it lies
// between the lowest and highest port seen in its bucket).
func (ps *PortSet) Contains(port uint16) bool {
	if ps.buckets != nil {
		b := port / PortBucketSize
		if ps.buckets[b/64]&(1<<(b%64)) == 0 {
			return false
		}
		lo, hi := ps.bucketEdges(b, ps.rank(b))
		return port >= lo && port <= hi
	}
	_, found := slices.BinarySearch(ps.exact, port)
	return found
}

// Exact reports whether the set knows its ports exactly (at most [MaxExactPorts]).
func (ps *PortSet) Exact() bool { return ps.buckets == nil }

// Len returns the number of ports in the set; for a coarse set, the number of ports
// between the lowest and highest seen in each bucket (an upper bound).
func (ps *PortSet) Len() int {
	if ps.buckets == nil {
		return len(ps.exact)
	}
	n := 0
	for _, r := range ps.Ranges() {
		n += int(r.To) - int(r.From) + 1
	}
	return n
}

// Min returns the smallest port, 0 when empty.
func (ps *PortSet) Min() uint16 {
	r := ps.Ranges()
	if len(r) == 0 {
		return 0
	}
	return r[0].From
}

// Max returns the largest port, 0 when empty.
func (ps *PortSet) Max() uint16 {
	r := ps.Ranges()
	if len(r) == 0 {
		return 0
	}
	return r[len(r)-1].To
}

// Ranges returns the set as sorted maximal runs of contiguous ports; for a coarse set,
// per bucket the span from its lowest to its highest port seen, spans of neighbouring
// buckets joined when they touch.
func (ps *PortSet) Ranges() []PortRange {
	var out []PortRange
	add := func(from, to uint16) {
		if n := len(out); n > 0 && uint32(out[n-1].To)+1 == uint32(from) {
			out[n-1].To = to
			return
		}
		out = append(out, PortRange{From: from, To: to})
	}
	if ps.buckets == nil {
		for _, p := range ps.exact {
			add(p, p)
		}
		return out
	}
	k := 0
	for i, w := range ps.buckets {
		for w != 0 {
			b := uint16(i*64 + bits.TrailingZeros64(w))
			w &= w - 1
			lo, hi := ps.bucketEdges(b, k)
			k++
			add(lo, hi)
		}
	}
	return out
}

// Clone returns an independent copy of ps.
func (ps *PortSet) Clone() *PortSet {
	c := &PortSet{}
	if ps.buckets != nil {
		b := *ps.buckets
		c.buckets = &b
		c.edges = slices.Clone(ps.edges)
	} else if len(ps.exact) > 0 {
		c.exact = append(make([]uint16, 0, len(ps.exact)), ps.exact...)
	}
	return c
}

// Equal reports whether ps and o hold the same ports at the same granularity.
func (ps *PortSet) Equal(o *PortSet) bool {
	if (ps.buckets == nil) != (o.buckets == nil) {
		return false
	}
	if ps.buckets != nil {
		return *ps.buckets == *o.buckets && slices.Equal(ps.edges, o.edges)
	}
	return slices.Equal(ps.exact, o.exact)
}

// memSize returns the bytes held outside the PortSet header.
func (ps *PortSet) memSize() int {
	if ps.buckets != nil {
		return portBuckets/8 + 2*cap(ps.edges)
	}
	return 2 * cap(ps.exact)
}
