package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/cinch-sg/cinch/sketch/hll"
)

// magic opens every encoded sketch; encodingVersion follows it.
const (
	magic           = "CNSK"
	encodingVersion = 4
)

// ErrInvalidEncoding is wrapped by every error [Sketch.UnmarshalBinary] returns for
// malformed input.
var ErrInvalidEncoding = errors.New("sketch: invalid encoding")

// MarshalBinary encodes s in cinch's versioned binary form:
//
//	"CNSK" version(4) uvarint MaxNodes, HLLPrecision byte, uvarint Slot, when Slot > 0 a
//	  flags byte (1: TimesOnly),
//	uvarint Flows, Packets, Bytes, varint FirstSeen, LastSeen,
//	when Slot > 0 and not TimesOnly: uvarint slot count, per slot: uvarint Start/Slot (the first) or its
//	  difference to the previous one, uvarint Flows, Packets, Bytes, varint
//	  FirstSeen-Start, LastSeen-Start,
//	IPv4 family, IPv6 family: depth byte, when Slot > 0 and not TimesOnly uvarint
//	  seenFrom/Slot, uvarint count, items: address (4 or 16 bytes, big-endian), prefix
//	  length byte, when Slot > 0 uvarint last slot/Slot and, unless TimesOnly, the
//	  uvarint seen mask (bit k: seen in slot last − k·Slot), and for aggregates the hll
//	  encoding,
//	uvarint protocol count, per protocol: number byte, form byte (0 exact: uvarint count
//	  and 2-byte big-endian ports, when Slot > 0 followed by each port's uvarint last
//	  slot/Slot; 2 coarse with edges: 16 little-endian uint64 bucket words, then per set
//	  bucket the offsets of its lowest and highest port seen, a byte each, then, when
//	  Slot > 0, each set bucket's uvarint last slot/Slot).
//
// Older encodings are still read: version 3 (as version 4 without seen masks and
// seenFrom: each item is read as seen in its latest slot only, and seenFrom as the
// latest of those, so that the per-slot sources of earlier slots say they are lower
// bounds), version 2 (as version 3, coarse port sets in form 1:
// the bucket words and times without edges, read as whole buckets) and version 1 (no
// Slot, no times; coarse port sets in form 1 or 2), as an untimed sketch.
func (s *Sketch) MarshalBinary() ([]byte, error) {
	return s.appendBinary(encodingVersion), nil
}

// appendBinary encodes s in version 4 or, for tests of the reader, version 3 (without
// seen masks).
func (s *Sketch) appendBinary(version byte) []byte {
	b := make([]byte, 0, 64)
	b = append(b, magic...)
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(s.cfg.MaxNodes))
	b = append(b, s.cfg.HLLPrecision)
	slot := s.cfg.Slot
	b = binary.AppendUvarint(b, uint64(slot))
	if slot > 0 {
		flags := byte(0)
		if s.cfg.TimesOnly {
			flags = 1
		}
		b = append(b, flags)
	}
	b = binary.AppendUvarint(b, s.Flows)
	b = binary.AppendUvarint(b, s.Packets)
	b = binary.AppendUvarint(b, s.Bytes)
	b = binary.AppendVarint(b, s.FirstSeen)
	b = binary.AppendVarint(b, s.LastSeen)
	if slot > 0 && !s.cfg.TimesOnly {
		b = binary.AppendUvarint(b, uint64(len(s.slots)))
		prev := int64(0)
		for _, sl := range s.slots {
			b = binary.AppendUvarint(b, uint64(sl.Start/slot-prev))
			prev = sl.Start / slot
			b = binary.AppendUvarint(b, sl.Flows)
			b = binary.AppendUvarint(b, sl.Packets)
			b = binary.AppendUvarint(b, sl.Bytes)
			b = binary.AppendVarint(b, sl.FirstSeen-sl.Start)
			b = binary.AppendVarint(b, sl.LastSeen-sl.Start)
		}
	}
	seen := version >= 4 && s.cfg.seenSlot() > 0
	b = appendFamily(b, &s.fam4, slot, seen)
	b = appendFamily(b, &s.fam6, slot, seen)
	b = binary.AppendUvarint(b, uint64(len(s.protos)))
	for i := range s.protos {
		ps := &s.protos[i].ports
		b = append(b, s.protos[i].proto)
		if ps.c != nil {
			b = append(b, 2)
			for _, w := range &ps.c.buckets {
				b = binary.LittleEndian.AppendUint64(b, w)
			}
			for k, w := range &ps.c.buckets {
				for ; w != 0; w &= w - 1 {
					e := ps.c.edges[k*64+bits.TrailingZeros64(w)]
					b = append(b, byte(e>>8), byte(e))
				}
			}
			if slot > 0 {
				for k, t := range &ps.c.btimes {
					if ps.c.buckets[k/64]&(1<<(k%64)) != 0 {
						b = binary.AppendUvarint(b, uint64(int64(t)/slot))
					}
				}
			}
			continue
		}
		b = append(b, 0)
		b = binary.AppendUvarint(b, uint64(len(ps.exact)))
		for _, p := range ps.exact {
			b = binary.BigEndian.AppendUint16(b, p)
		}
		if slot > 0 {
			for _, t := range ps.times {
				b = binary.AppendUvarint(b, uint64(int64(t)/slot))
			}
		}
	}
	return b
}

func appendFamily[K key[K]](b []byte, f *family[K], slot int64, seen bool) []byte {
	b = append(b, f.depth)
	if seen {
		b = binary.AppendUvarint(b, uint64(int64(f.seenFrom())/slot))
	}
	b = binary.AppendUvarint(b, uint64(len(f.items)))
	for i, it := range f.items {
		b = it.key.appendTo(b)
		b = append(b, byte(it.bits()))
		if slot > 0 {
			b = binary.AppendUvarint(b, uint64(int64(it.last)/slot))
		}
		if seen {
			m := uint32(1) // a counting family keeps masks once it has items
			if f.sn != nil {
				m = f.sn.seen[i]
			}
			b = binary.AppendUvarint(b, uint64(m))
		}
		if g := it.agg(); g >= 0 {
			b = f.aggs[g].AppendBinary(b)
		}
	}
	return b
}

// reader decodes with sticky errors.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("sketch: unmarshal: "+format+": %w", append(args, ErrInvalidEncoding)...)
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("%s: truncated", what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte(what string) byte {
	if v := r.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(v) {
		r.fail("%s: bad varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 || n != uvarintLen(uint64(v)<<1^uint64(v>>63)) {
		r.fail("%s: bad varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// uvarintLen is the length of the shortest uvarint encoding of v; longer encodings are
// rejected so that every sketch has exactly one encoding.
func uvarintLen(v uint64) int {
	return max(1, (bits.Len64(v)+6)/7)
}

// UnmarshalBinary replaces s with the sketch encoded in b by [Sketch.MarshalBinary]. It
// checks every structural invariant (canonical leaf set, sorted ports, no trailing
// bytes) and returns an error wrapping [ErrInvalidEncoding] for anything else, leaving s
// unchanged; it never panics.
func (s *Sketch) UnmarshalBinary(b []byte) error {
	r := &reader{b: b}
	if string(r.take(len(magic), "magic")) != magic {
		r.fail("bad magic")
	}
	version := r.byte("version")
	if r.err == nil && (version < 1 || version > encodingVersion) {
		r.fail("unsupported version %d", version)
	}
	var t Sketch
	n := r.uvarint("max nodes")
	if r.err == nil && (n < 1 || n > MaxMaxNodes) {
		r.fail("max nodes %d out of range", n)
	}
	t.cfg.MaxNodes = int(n)
	t.cfg.HLLPrecision = r.byte("precision")
	if r.err == nil && (t.cfg.HLLPrecision < hll.MinPrecision || t.cfg.HLLPrecision > hll.MaxPrecision) {
		r.fail("precision %d out of range", t.cfg.HLLPrecision)
	}
	if version >= 2 {
		sl := r.uvarint("slot")
		if r.err == nil && sl > 1<<31 {
			r.fail("slot %d out of range", sl)
		}
		t.cfg.Slot = int64(sl)
		if sl > 0 {
			switch r.byte("flags") {
			case 0:
			case 1:
				t.cfg.TimesOnly = true
			default:
				r.fail("bad flags")
			}
		}
	}
	t.Flows = r.uvarint("flows")
	t.Packets = r.uvarint("packets")
	t.Bytes = r.uvarint("bytes")
	t.FirstSeen = r.varint("first seen")
	t.LastSeen = r.varint("last seen")
	if r.err == nil && ((t.FirstSeen == 0) != (t.LastSeen == 0) || t.FirstSeen > t.LastSeen) {
		r.fail("bad first/last seen %d/%d", t.FirstSeen, t.LastSeen)
	}
	readSlots(r, &t)
	t.fam4 = readFamily(r, t.cfg, version, func(b []byte) v4 { return v4(binary.BigEndian.Uint32(b)) })
	t.fam6 = readFamily(r, t.cfg, version, func(b []byte) v6 {
		return v6{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
	})
	readPorts(r, &t, version)
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return r.err
	}
	*s = t
	return nil
}

// readTime reads a time slot (times Slot) of a windowed sketch; 0 when untimed.
func readTime(r *reader, slot int64, what string) uint32 {
	if slot <= 0 {
		return 0
	}
	v := r.uvarint(what)
	if r.err == nil && v > math.MaxUint32/uint64(slot) {
		r.fail("%s %d out of range", what, v)
		return 0
	}
	return uint32(int64(v) * slot)
}

// readSlots reads a windowed sketch's slots and checks that they sum to its counters.
func readSlots(r *reader, t *Sketch) {
	slot := t.cfg.Slot
	if slot <= 0 || t.cfg.TimesOnly || r.err != nil {
		return
	}
	n := r.uvarint("slot count")
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("%d slots", n)
	}
	if r.err != nil {
		return
	}
	var flows, packets, bytes uint64
	prev := int64(0)
	for i := range int(n) {
		d := r.uvarint("slot start")
		if r.err == nil && (d > math.MaxUint32/uint64(slot) || (i > 0 && d == 0)) {
			r.fail("slot %d: bad start", i)
		}
		prev += int64(d)
		sl := Slot{Start: prev * slot}
		sl.Flows = r.uvarint("slot flows")
		sl.Packets = r.uvarint("slot packets")
		sl.Bytes = r.uvarint("slot bytes")
		sl.FirstSeen = sl.Start + r.varint("slot first seen")
		sl.LastSeen = sl.Start + r.varint("slot last seen")
		if r.err != nil {
			return
		}
		if sl.Start > math.MaxUint32 || sl.Flows == 0 {
			r.fail("slot %d: out of range or empty", i)
			return
		}
		flows, packets, bytes = flows+sl.Flows, packets+sl.Packets, bytes+sl.Bytes
		t.slots = append(t.slots, sl)
	}
	if flows != t.Flows || packets != t.Packets || bytes != t.Bytes {
		r.fail("slots do not sum to the counters")
	}
}

func readFamily[K key[K]](r *reader, cfg Config, version byte, parse func([]byte) K) family[K] {
	var z K
	w := z.width()
	f := family[K]{depth: r.byte("depth")}
	seen := version >= 4 && cfg.seenSlot() > 0
	var sn seenSet
	if seen {
		f.slot = cfg.seenSlot()
		sn.from = readTime(r, cfg.Slot, "seen from")
	}
	n := r.uvarint("item count")
	if r.err != nil {
		return f
	}
	d := int(f.depth)
	if d > w || n > uint64(cfg.MaxNodes) || n > uint64(len(r.b)) {
		r.fail("family of %d items at depth %d", n, d)
		return f
	}
	f.items = make([]item[K], 0, n)
	splits := 0 // aggregates spanning both halves of their /depth block
	for i := range int(n) {
		kb := r.take(w/8, "address")
		bl := int(r.byte("prefix length"))
		if r.err != nil {
			return f
		}
		it := mkItem(parse(kb), bl, -1, 0)
		it.last = readTime(r, cfg.Slot, "item time")
		if seen {
			m := r.uvarint("seen mask")
			if r.err == nil && (m > math.MaxUint32 || m&1 == 0) {
				r.fail("item %d: bad seen mask", i)
			}
			sn.seen = append(sn.seen, uint32(m))
		}
		if r.err != nil {
			return f
		}
		if bl < d || bl > w || it.key.masked(bl) != it.key {
			r.fail("item %d: bad prefix", i)
			return f
		}
		if i > 0 {
			prev := f.items[i-1]
			if !prev.key.less(it.key) || prev.key.lcp(it.key) >= d {
				r.fail("item %d: unsorted or in its neighbour's block", i)
				return f
			}
		}
		if bl < w {
			h, k, err := hll.Decode(r.b)
			if err != nil {
				r.fail("item %d: %w", i, err)
				return f
			}
			r.b = r.b[k:]
			if h.Precision() != cfg.HLLPrecision || h.Empty() {
				r.fail("item %d: bad aggregate", i)
				return f
			}
			f.aggs = append(f.aggs, h)
			it.setAgg(bl, len(f.aggs)-1)
			if bl == d {
				splits++
			}
		}
		f.items = append(f.items, it)
	}
	// The cut must be the largest that fits: one level deeper there would be too many
	// groups (each item is its own /depth+1 block; an aggregate at exactly /depth spans two).
	// From version 2, expiry may leave a cut that is only as deep as the shallowest
	// aggregate allows (see Sketch.Expire): one at exactly /depth is then enough.
	if d < w && ((version == 1 && int(n)+splits <= cfg.MaxNodes) || splits == 0) {
		r.fail("depth %d is not maximal", d)
	}
	if len(f.aggs) > 0 {
		f.aggs = append(make([]*hll.Sketch, 0, len(f.aggs)), f.aggs...)
	}
	if seen && len(f.items) == 0 && sn.from != 0 {
		r.fail("seen from %d without items", sn.from)
	}
	if seen && len(f.items) > 0 {
		sn.seen = append(make([]uint32, 0, len(sn.seen)), sn.seen...)
		f.sn = &sn
	} else if !seen {
		f.keepSeen(cfg.seenSlot()) // older versions: each item seen in its latest slot
	}
	return f
}

func readPorts(r *reader, t *Sketch, version byte) {
	n := r.uvarint("protocol count")
	if r.err != nil {
		return
	}
	if n > 256 {
		r.fail("%d protocols", n)
		return
	}
	for i := range int(n) {
		proto := r.byte("protocol")
		form := r.byte("port form")
		if r.err != nil {
			return
		}
		if i > 0 && t.protos[i-1].proto >= proto {
			r.fail("protocols unsorted")
			return
		}
		var ps PortSet
		switch form {
		case 0:
			k := r.uvarint("port count")
			if r.err == nil && (k < 1 || k > MaxExactPorts) {
				r.fail("%d exact ports", k)
			}
			raw := r.take(2*int(k), "ports")
			if r.err != nil {
				return
			}
			ps.exact = make([]uint16, k)
			ps.times = make([]uint32, k)
			for j := range ps.exact {
				ps.exact[j] = binary.BigEndian.Uint16(raw[2*j:])
				if j > 0 && ps.exact[j-1] >= ps.exact[j] {
					r.fail("ports unsorted")
					return
				}
			}
			for j := range ps.times {
				ps.times[j] = readTime(r, t.cfg.Slot, "port time")
			}
		case 1, 2:
			raw := r.take(portBuckets/8, "port buckets")
			if r.err != nil {
				return
			}
			ps.c = new(coarse)
			set := 0
			for j := range &ps.c.buckets {
				ps.c.buckets[j] = binary.LittleEndian.Uint64(raw[8*j:])
				set += bits.OnesCount64(ps.c.buckets[j])
			}
			// More than 64 ports never fit one bucket, but expiry may leave one.
			if set < 2 && (version == 1 || set < 1) {
				r.fail("coarse port set of %d buckets", set)
				return
			}
			var raw2 []byte
			if form == 2 {
				if raw2 = r.take(2*set, "bucket edges"); r.err != nil {
					return
				}
			}
			j := 0
			for k, w := range &ps.c.buckets {
				for ; w != 0; w &= w - 1 {
					bk := k*64 + bits.TrailingZeros64(w)
					if form == 1 {
						ps.c.edges[bk] = PortBucketSize - 1 // whole buckets
						continue
					}
					lo, hi := raw2[2*j], raw2[2*j+1]
					j++
					if lo > hi || hi >= PortBucketSize {
						r.fail("bucket edges %d-%d", lo, hi)
						return
					}
					ps.c.edges[bk] = uint16(lo)<<8 | uint16(hi)
				}
			}
			for k := range &ps.c.btimes {
				if ps.c.buckets[k/64]&(1<<(k%64)) != 0 {
					ps.c.btimes[k] = readTime(r, t.cfg.Slot, "port bucket time")
				}
			}
		default:
			r.fail("port form %d", form)
			return
		}
		t.protos = append(t.protos, protoPorts{proto: proto, ports: ps})
	}
	t.protos = append(make([]protoPorts, 0, len(t.protos)), t.protos...)
}
