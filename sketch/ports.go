package sketch

import (
	"math/bits"
	"slices"
	"unsafe"
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
//
// Each port (each bucket, when coarse) also keeps the latest time slot it was seen in
// (see [Config.Slot]), so that [Sketch.Expire] can drop the ports that left a window.
type PortSet struct {
	exact []uint16 // sorted, when c == nil
	times []uint32 // last slot of exact[i]
	c     *coarse  // the buckets, nil while exact
}

// coarse is the bucket form of a [PortSet], in one allocation so that a port set
// header stays small (three words fewer per protocol of every sketch).
type coarse struct {
	buckets [portBuckets / 64]uint64 // bit b set: some port in [64b, 64b+63] seen
	// edges holds, per set bucket, the offsets of the lowest (high 8 bits)
	// and highest (low 8 bits) port seen in it.
	edges  [portBuckets]uint16
	btimes [portBuckets]uint32 // last slot of bucket b
}

// addCoarse records port, seen in time slot ts, in a coarse set.
func (ps *PortSet) addCoarse(port uint16, ts uint32) {
	b, off := port/PortBucketSize, port%PortBucketSize
	ps.c.btimes[b] = max(ps.c.btimes[b], ts)
	if ps.c.buckets[b/64]&(1<<(b%64)) == 0 {
		ps.c.buckets[b/64] |= 1 << (b % 64)
		ps.c.edges[b] = off<<8 | off
		return
	}
	if e := ps.c.edges[b]; off < e>>8 || off > e&0xff {
		ps.c.edges[b] = min(e>>8, off)<<8 | max(e&0xff, off)
	}
}

// bucketEdges returns the lowest and highest port seen in set bucket b.
func (ps *PortSet) bucketEdges(b uint16) (uint16, uint16) {
	base := b * PortBucketSize
	return base + ps.c.edges[b]>>8, base + ps.c.edges[b]&0xff
}

// Add inserts port. It does not allocate when the port (or, coarse, its bucket) is
// already present.
func (ps *PortSet) Add(port uint16) { ps.addAt(port, 0) }

// addAt inserts port seen in time slot ts.
func (ps *PortSet) addAt(port uint16, ts uint32) {
	if ps.c != nil {
		ps.addCoarse(port, ts)
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
	ps.c = new(coarse)
	for i, p := range ps.exact {
		ps.addCoarse(p, ps.times[i])
	}
	ps.exact, ps.times = nil, nil
}

// Union adds every port of o to ps; o is unchanged.
func (ps *PortSet) Union(o *PortSet) {
	if o.c != nil {
		if ps.c == nil {
			ps.coarsen()
		}
		for k := range &ps.c.buckets {
			a, b := ps.c.buckets[k], o.c.buckets[k]
			for u := a | b; u != 0; u &= u - 1 {
				bk := k*64 + bits.TrailingZeros64(u)
				bit := uint64(1) << (bk % 64)
				switch {
				case a&bit != 0 && b&bit != 0:
					x, y := ps.c.edges[bk], o.c.edges[bk]
					ps.c.edges[bk] = min(x>>8, y>>8)<<8 | max(x&0xff, y&0xff)
				case b&bit != 0:
					ps.c.edges[bk] = o.c.edges[bk]
				}
			}
			ps.c.buckets[k] = a | b
		}
		for b, t := range &o.c.btimes {
			ps.c.btimes[b] = max(ps.c.btimes[b], t)
		}
		return
	}
	if ps.c != nil {
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
	if ps.c != nil {
		left := false
		for k, t := range &ps.c.btimes {
			if t < b {
				ps.c.buckets[k/64] &^= 1 << (k % 64)
				ps.c.btimes[k], ps.c.edges[k] = 0, 0
			} else if ps.c.buckets[k/64]&(1<<(k%64)) != 0 {
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
	if ps.c != nil {
		for k := range &ps.c.btimes {
			if ps.c.buckets[k/64]&(1<<(k%64)) != 0 {
				ps.c.btimes[k] = ts
			}
		}
	}
}

// Contains reports whether port is in the set (for a coarse set: whether it lies
// between the lowest and highest port seen in its bucket).
func (ps *PortSet) Contains(port uint16) bool {
	if ps.c != nil {
		b := port / PortBucketSize
		if ps.c.buckets[b/64]&(1<<(b%64)) == 0 {
			return false
		}
		lo, hi := ps.bucketEdges(b)
		return port >= lo && port <= hi
	}
	_, found := slices.BinarySearch(ps.exact, port)
	return found
}

// Exact reports whether the set knows its ports exactly (at most [MaxExactPorts]).
func (ps *PortSet) Exact() bool { return ps.c == nil }

// Len returns the number of ports in the set; for a coarse set, the number of ports
// between the lowest and highest seen in each bucket (an upper bound).
func (ps *PortSet) Len() int {
	if ps.c == nil {
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
	if ps.c == nil {
		for _, p := range ps.exact {
			add(p, p)
		}
		return out
	}
	for i, w := range &ps.c.buckets {
		for w != 0 {
			b := uint16(i*64 + bits.TrailingZeros64(w))
			w &= w - 1
			add(ps.bucketEdges(b))
		}
	}
	return out
}

// Clone returns an independent copy of ps.
func (ps *PortSet) Clone() *PortSet {
	c := &PortSet{}
	if ps.c != nil {
		cc := *ps.c
		c.c = &cc
	} else if len(ps.exact) > 0 {
		c.exact = append(make([]uint16, 0, len(ps.exact)), ps.exact...)
		c.times = append(make([]uint32, 0, len(ps.times)), ps.times...)
	}
	return c
}

// Equal reports whether ps and o hold the same ports at the same granularity, seen
// last in the same time slots.
func (ps *PortSet) Equal(o *PortSet) bool {
	if (ps.c == nil) != (o.c == nil) {
		return false
	}
	if ps.c != nil {
		if ps.c.buckets != o.c.buckets || ps.c.btimes != o.c.btimes {
			return false
		}
		for i, w := range &ps.c.buckets {
			for ; w != 0; w &= w - 1 {
				if b := i*64 + bits.TrailingZeros64(w); ps.c.edges[b] != o.c.edges[b] {
					return false
				}
			}
		}
		return true
	}
	return slices.Equal(ps.exact, o.exact) && slices.Equal(ps.times, o.times)
}

// memSize returns the bytes held outside the PortSet header.
func (ps *PortSet) memSize() int {
	if ps.c != nil {
		return int(unsafe.Sizeof(coarse{}))
	}
	return 2*cap(ps.exact) + 4*cap(ps.times)
}
