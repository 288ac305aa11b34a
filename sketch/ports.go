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
//
// Each port (each bucket, when coarse) also keeps the latest time slot it was seen in
// (see [Config.Slot]), so that [Sketch.Expire] can drop the ports that left a window.
type PortSet struct {
	exact   []uint16                  // sorted, when buckets == nil
	times   []uint32                  // last slot of exact[i]
	buckets *[portBuckets / 64]uint64 // bit b set: some port in [64b, 64b+63] seen
	btimes  *[portBuckets]uint32      // last slot of bucket b, when coarse
}

// Add inserts port. It does not allocate when the port (or, coarse, its bucket) is
// already present.
func (ps *PortSet) Add(port uint16) { ps.addAt(port, 0) }

// addAt inserts port seen in time slot ts.
func (ps *PortSet) addAt(port uint16, ts uint32) {
	if ps.buckets != nil {
		b := port / PortBucketSize
		ps.buckets[b/64] |= 1 << (b % 64)
		ps.btimes[b] = max(ps.btimes[b], ts)
		return
	}
	i, found := slices.BinarySearch(ps.exact, port)
	if found {
		ps.times[i] = max(ps.times[i], ts)
		return
	}
	if len(ps.exact) < MaxExactPorts {
		ps.exact = insertCapped(ps.exact, i, port, MaxExactPorts)
		ps.times = insertCapped(ps.times, i, ts, MaxExactPorts)
		return
	}
	ps.coarsen()
	ps.addAt(port, ts)
}

func (ps *PortSet) coarsen() {
	ps.buckets = new([portBuckets / 64]uint64)
	ps.btimes = new([portBuckets]uint32)
	for i, p := range ps.exact {
		b := p / PortBucketSize
		ps.buckets[b/64] |= 1 << (b % 64)
		ps.btimes[b] = max(ps.btimes[b], ps.times[i])
	}
	ps.exact, ps.times = nil, nil
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
		for b, t := range o.btimes {
			ps.btimes[b] = max(ps.btimes[b], t)
		}
		return
	}
	if ps.buckets != nil {
		for i, p := range o.exact {
			ps.addAt(p, o.times[i])
		}
		return
	}
	n := len(ps.exact) + len(o.exact)
	merged, times := make([]uint16, 0, n), make([]uint32, 0, n)
	i, j := 0, 0
	for i < len(ps.exact) || j < len(o.exact) {
		switch {
		case j == len(o.exact) || (i < len(ps.exact) && ps.exact[i] < o.exact[j]):
			merged, times = append(merged, ps.exact[i]), append(times, ps.times[i])
			i++
		case i == len(ps.exact) || o.exact[j] < ps.exact[i]:
			merged, times = append(merged, o.exact[j]), append(times, o.times[j])
			j++
		default:
			merged, times = append(merged, ps.exact[i]), append(times, max(ps.times[i], o.times[j]))
			i++
			j++
		}
	}
	ps.exact, ps.times = slices.Clip(merged), slices.Clip(times)
	if len(merged) > MaxExactPorts {
		ps.coarsen()
	}
}

// expire drops the ports (buckets) last seen before slot b and reports whether
// the set is now empty. A coarse set stays coarse until it empties.
func (ps *PortSet) expire(b uint32) bool {
	if ps.buckets != nil {
		left := false
		for k, t := range ps.btimes {
			if t < b {
				ps.buckets[k/64] &^= 1 << (k % 64)
				ps.btimes[k] = 0
			} else if ps.buckets[k/64]&(1<<(k%64)) != 0 {
				left = true
			}
		}
		if !left {
			*ps = PortSet{}
		}
		return !left
	}
	w := 0
	for i, p := range ps.exact {
		if ps.times[i] >= b {
			ps.exact[w], ps.times[w] = p, ps.times[i]
			w++
		}
	}
	ps.exact, ps.times = ps.exact[:w], ps.times[:w]
	return w == 0
}

// stamp sets every port's (bucket's) time to ts.
func (ps *PortSet) stamp(ts uint32) {
	for i := range ps.times {
		ps.times[i] = ts
	}
	if ps.buckets != nil {
		for k := range ps.btimes {
			if ps.buckets[k/64]&(1<<(k%64)) != 0 {
				ps.btimes[k] = ts
			}
		}
	}
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
		b, t := *ps.buckets, *ps.btimes
		c.buckets, c.btimes = &b, &t
	} else if len(ps.exact) > 0 {
		c.exact = append(make([]uint16, 0, len(ps.exact)), ps.exact...)
		c.times = append(make([]uint32, 0, len(ps.times)), ps.times...)
	}
	return c
}

// Equal reports whether ps and o hold the same ports at the same granularity, seen
// last in the same time slots.
func (ps *PortSet) Equal(o *PortSet) bool {
	if (ps.buckets == nil) != (o.buckets == nil) {
		return false
	}
	if ps.buckets != nil {
		return *ps.buckets == *o.buckets && *ps.btimes == *o.btimes
	}
	return slices.Equal(ps.exact, o.exact) && slices.Equal(ps.times, o.times)
}

// memSize returns the bytes held outside the PortSet header.
func (ps *PortSet) memSize() int {
	if ps.buckets != nil {
		return portBuckets/8 + 4*portBuckets
	}
	return 2*cap(ps.exact) + 4*cap(ps.times)
}
