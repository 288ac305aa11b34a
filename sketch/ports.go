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
// of [PortBucketSize] ports each, so ports are then known to bucket granularity. Union is
// commutative and associative. The zero value is an empty set.
type PortSet struct {
	exact   []uint16                  // sorted, when buckets == nil
	buckets *[portBuckets / 64]uint64 // bit b set: some port in [64b, 64b+63] seen
}

// Add inserts port. It does not allocate when the port (or, coarse, its bucket) is
// already present.
func (ps *PortSet) Add(port uint16) {
	if ps.buckets != nil {
		b := port / PortBucketSize
		ps.buckets[b/64] |= 1 << (b % 64)
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
	for _, p := range ps.exact {
		b := p / PortBucketSize
		ps.buckets[b/64] |= 1 << (b % 64)
	}
	ps.exact = nil
}

// Union adds every port of o to ps; o is unchanged.
func (ps *PortSet) Union(o *PortSet) {
	if o.buckets != nil {
		if ps.buckets == nil {
			ps.coarsen()
		}
		for i, w := range o.buckets {
			ps.buckets[i] |= w
		}
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

// Contains reports whether port is in the set (for a coarse set: whether its bucket is).
func (ps *PortSet) Contains(port uint16) bool {
	if ps.buckets != nil {
		b := port / PortBucketSize
		return ps.buckets[b/64]&(1<<(b%64)) != 0
	}
	_, found := slices.BinarySearch(ps.exact, port)
	return found
}

// Exact reports whether the set knows its ports exactly (at most [MaxExactPorts]).
func (ps *PortSet) Exact() bool { return ps.buckets == nil }

// Len returns the number of ports in the set; for a coarse set, the number of ports the
// recorded buckets cover (an upper bound).
func (ps *PortSet) Len() int {
	if ps.buckets == nil {
		return len(ps.exact)
	}
	n := 0
	for _, w := range ps.buckets {
		n += bits.OnesCount64(w)
	}
	return n * PortBucketSize
}

// Min returns the smallest port (for a coarse set, the start of the first bucket), 0 when
// empty.
func (ps *PortSet) Min() uint16 {
	r := ps.Ranges()
	if len(r) == 0 {
		return 0
	}
	return r[0].From
}

// Max returns the largest port (for a coarse set, the end of the last bucket), 0 when
// empty.
func (ps *PortSet) Max() uint16 {
	r := ps.Ranges()
	if len(r) == 0 {
		return 0
	}
	return r[len(r)-1].To
}

// Ranges returns the set as sorted maximal runs of contiguous ports; for a coarse set,
// runs of contiguous buckets.
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
	for i, w := range ps.buckets {
		for w != 0 {
			b := uint16(i*64 + bits.TrailingZeros64(w))
			w &= w - 1
			add(b*PortBucketSize, b*PortBucketSize+PortBucketSize-1)
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
		return *ps.buckets == *o.buckets
	}
	return slices.Equal(ps.exact, o.exact)
}

// memSize returns the bytes held outside the PortSet header.
func (ps *PortSet) memSize() int {
	if ps.buckets != nil {
		return portBuckets / 8
	}
	return 2 * cap(ps.exact)
}
