// Package hll implements the HyperLogLog distinct-count sketch used by cinch's per-rule
// source sketches.
//
// cinch keeps its own implementation rather than a third-party one because its needs are
// narrow and strict:
//   - keys are fixed-size addresses (two uint64 words), hashed by [Hash128] without
//     building a byte slice;
//   - the per-record insert ([Sketch.InsertHash]) must not allocate once the sketch is
//     dense, because it runs for every flow-log record;
//   - small aggregates must stay small, so a sketch starts in a compact sparse form (a
//     sorted slice of index+rho entries, 2 bytes each for p ≤ 10, 4 bytes otherwise) and
//     switches to dense one-byte registers only when the sparse form would outgrow them;
//   - sketches are persisted (restarts, ClickHouse), so the binary encoding is versioned
//     and owned by cinch ([Sketch.AppendBinary], [Decode]).
//
// The representation is a function of the register contents alone (sparse while at most
// 2^p/entrySize registers are non-zero, dense beyond), so merging is commutative and
// associative down to the representation.
package hll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unsafe"
)

// Precision limits accepted by [New].
const (
	// MinPrecision is the smallest supported precision (16 registers).
	MinPrecision = 4
	// MaxPrecision is the largest supported precision (65536 registers).
	MaxPrecision = 16
)

// encodingVersion is the first byte of every encoded sketch.
const encodingVersion = 1

const (
	formSparse = 0
	formDense  = 1
)

// ErrInvalidEncoding is wrapped by every error [Decode] returns for malformed input.
var ErrInvalidEncoding = errors.New("hll: invalid encoding")

// ErrPrecisionMismatch is returned by [Sketch.Merge] for sketches of different precision.
var ErrPrecisionMismatch = errors.New("hll: precision mismatch")

// Sketch is a HyperLogLog sketch with 2^p registers. The zero value is not usable; create
// sketches with [New] or [Decode].
type Sketch struct {
	sp16  []uint16 // sparse entries idx<<6|rho, sorted by idx, when p <= 10
	sp32  []uint32 // sparse entries idx<<6|rho, sorted by idx, when p > 10
	dense []uint8  // one register per byte once dense; nil while sparse
	p     uint8
}

// New returns an empty sketch of precision p (2^p registers). It panics if p is outside
// [MinPrecision, MaxPrecision], which is a programming error.
func New(p uint8) *Sketch {
	if p < MinPrecision || p > MaxPrecision {
		panic(fmt.Sprintf("hll: precision %d out of range [%d, %d]", p, MinPrecision, MaxPrecision))
	}
	return &Sketch{p: p}
}

// RelativeError is the standard error 1.04/sqrt(2^p) of a precision-p estimate.
func RelativeError(p uint8) float64 {
	return 1.04 / math.Sqrt(float64(uint64(1)<<p))
}

// MaxBytes is the most memory [Sketch.MemSize] reports for a sketch of precision p.
func MaxBytes(p uint8) int {
	return int(unsafe.Sizeof(Sketch{})) + 1<<p
}

// Hash128 mixes a 128-bit key (an IPv6 address, or an IPv4 address in its v4-mapped
// form) into a well-distributed 64-bit hash, using two rounds of the MurmurHash3 64-bit
// finaliser.
func Hash128(hi, lo uint64) uint64 {
	h := fmix64(hi + 0x9e3779b97f4a7c15)
	return fmix64(h ^ (lo + 0xc2b2ae3d27d4eb4f))
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// Precision returns p: the sketch has 2^p registers.
func (s *Sketch) Precision() uint8 { return s.p }

func (s *Sketch) m() int        { return 1 << s.p }
func (s *Sketch) maxRho() uint8 { return 65 - s.p }

// sparseLimit is the most sparse entries kept before switching to dense registers: the
// sparse form never takes more bytes than the dense one.
func (s *Sketch) sparseLimit() int {
	if s.p <= 10 {
		return s.m() / 2
	}
	return s.m() / 4
}

// InsertHash adds a 64-bit hash to the sketch. It does not allocate once the sketch is
// dense, nor when the hash does not raise a register; in sparse form, adding a register
// costs an amortised small allocation.
func (s *Sketch) InsertHash(h uint64) {
	idx := uint32(h >> (64 - s.p))
	rho := uint8(bits.LeadingZeros64(h<<s.p)) + 1
	rho = min(rho, s.maxRho())
	s.set(idx, rho)
}

func (s *Sketch) set(idx uint32, rho uint8) {
	if s.dense != nil {
		if s.dense[idx] < rho {
			s.dense[idx] = rho
		}
		return
	}
	var full bool
	if s.p <= 10 {
		s.sp16, full = sparseSet(s.sp16, idx, rho, s.sparseLimit())
	} else {
		s.sp32, full = sparseSet(s.sp32, idx, rho, s.sparseLimit())
	}
	if full {
		s.toDense()
		s.dense[idx] = max(s.dense[idx], rho)
	}
}

type entry interface{ ~uint16 | ~uint32 }

// sparseSearch returns the position of register idx in a sorted entry slice,
// or where it would be inserted.
func sparseSearch[T entry](es []T, idx uint32) int {
	lo, hi := 0, len(es)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if uint32(es[m])>>6 < idx {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// sparseSet raises register idx to rho in a sorted entry slice. It reports full, leaving
// es unchanged, when a new entry would exceed limit.
func sparseSet[T entry](es []T, idx uint32, rho uint8, limit int) ([]T, bool) {
	lo := sparseSearch(es, idx)
	if lo < len(es) && uint32(es[lo])>>6 == idx {
		if uint8(es[lo]&63) < rho {
			es[lo] = T(idx<<6 | uint32(rho))
		}
		return es, false
	}
	if len(es) >= limit {
		return es, true
	}
	if len(es) == cap(es) {
		grown := make([]T, len(es), min(max(4, 2*cap(es)), limit))
		copy(grown, es)
		es = grown
	}
	es = es[:len(es)+1]
	copy(es[lo+1:], es[lo:])
	es[lo] = T(idx<<6 | uint32(rho))
	return es, false
}

func (s *Sketch) toDense() {
	d := make([]uint8, s.m())
	s.each(func(idx uint32, r uint8) { d[idx] = r })
	s.sp16, s.sp32, s.dense = nil, nil, d
}

// each calls f for every non-zero register in index order.
func (s *Sketch) each(f func(idx uint32, r uint8)) {
	switch {
	case s.dense != nil:
		for i, r := range s.dense {
			if r != 0 {
				f(uint32(i), r)
			}
		}
	case s.p <= 10:
		for _, e := range s.sp16 {
			f(uint32(e)>>6, uint8(e&63))
		}
	default:
		for _, e := range s.sp32 {
			f(e>>6, uint8(e&63))
		}
	}
}

// get returns register idx.
func (s *Sketch) get(idx uint32) uint8 {
	if s.dense != nil {
		return s.dense[idx]
	}
	if s.p <= 10 {
		return sparseGet(s.sp16, idx)
	}
	return sparseGet(s.sp32, idx)
}

func sparseGet[T entry](es []T, idx uint32) uint8 {
	lo := sparseSearch(es, idx)
	if lo < len(es) && uint32(es[lo])>>6 == idx {
		return uint8(es[lo] & 63)
	}
	return 0
}

// nonZero returns the number of non-zero registers.
func (s *Sketch) nonZero() int {
	switch {
	case s.dense != nil:
		n := 0
		for _, r := range s.dense {
			if r != 0 {
				n++
			}
		}
		return n
	case s.p <= 10:
		return len(s.sp16)
	default:
		return len(s.sp32)
	}
}

// Dense reports whether the sketch uses dense registers.
func (s *Sketch) Dense() bool { return s.dense != nil }

// Empty reports whether nothing was inserted.
func (s *Sketch) Empty() bool { return s.nonZero() == 0 }

// Estimate returns the estimated number of distinct hashes inserted: the HyperLogLog
// harmonic-mean estimator, with linear counting in the small range (estimate ≤ 2.5·2^p
// while some register is zero). With 64-bit hashes no large-range correction is needed.
func (s *Sketch) Estimate() uint64 {
	m := float64(s.m())
	var sum float64
	nz := 0
	s.each(func(_ uint32, r uint8) {
		sum += 1 / float64(uint64(1)<<r)
		nz++
	})
	zeros := s.m() - nz
	sum += float64(zeros)
	var alpha float64
	switch s.m() {
	case 16:
		alpha = 0.673
	case 32:
		alpha = 0.697
	case 64:
		alpha = 0.709
	default:
		alpha = 0.7213 / (1 + 1.079/m)
	}
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return uint64(e + 0.5)
}

// Merge folds o into s (register-wise maximum); o is unchanged. Both must have the same
// precision. Merge is commutative and associative.
func (s *Sketch) Merge(o *Sketch) error {
	if s.p != o.p {
		return fmt.Errorf("hll: merge precision %d into %d: %w", o.p, s.p, ErrPrecisionMismatch)
	}
	if s == o {
		return nil
	}
	if s.dense == nil && o.dense == nil {
		if s.p <= 10 {
			s.sp16 = sparseUnion(s.sp16, o.sp16)
			if len(s.sp16) > s.sparseLimit() {
				s.toDense()
			}
		} else {
			s.sp32 = sparseUnion(s.sp32, o.sp32)
			if len(s.sp32) > s.sparseLimit() {
				s.toDense()
			}
		}
		return nil
	}
	if s.dense == nil {
		s.toDense()
	}
	if o.dense != nil {
		for i, r := range o.dense {
			if s.dense[i] < r {
				s.dense[i] = r
			}
		}
		return nil
	}
	o.each(func(idx uint32, r uint8) {
		if s.dense[idx] < r {
			s.dense[idx] = r
		}
	})
	return nil
}

// sparseUnion returns the register-wise maximum of two sorted entry slices in a new,
// exactly sized slice.
func sparseUnion[T entry](a, b []T) []T {
	out := make([]T, len(a)+len(b))
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		x, y := a[i], b[j]
		switch xi, yi := x>>6, y>>6; {
		case xi < yi:
			out[n] = x
			i++
		case yi < xi:
			out[n] = y
			j++
		default: // same index: the larger rho wins
			out[n] = max(x, y)
			i++
			j++
		}
		n++
	}
	n += copy(out[n:], a[i:])
	n += copy(out[n:], b[j:])
	if n == len(out) {
		return out
	}
	return append(make([]T, 0, n), out[:n]...)
}

// Fold returns a copy of s reduced to precision p ≤ s.Precision(). The result is exactly
// the sketch that inserting the same hashes at precision p would have produced.
func (s *Sketch) Fold(p uint8) (*Sketch, error) {
	if p > s.p || p < MinPrecision {
		return nil, fmt.Errorf("hll: fold precision %d to %d: %w", s.p, p, ErrPrecisionMismatch)
	}
	if p == s.p {
		return s.Clone(), nil
	}
	out := New(p)
	shift := s.p - p
	s.each(func(idx uint32, r uint8) {
		low := idx & (1<<shift - 1)
		var rho uint8
		if low != 0 {
			rho = shift - uint8(bits.Len32(low)) + 1
		} else {
			rho = shift + r
		}
		out.set(idx>>shift, rho)
	})
	return out, nil
}

// Clone returns an independent copy of s.
func (s *Sketch) Clone() *Sketch {
	c := &Sketch{p: s.p}
	if s.dense != nil {
		c.dense = append([]uint8(nil), s.dense...)
	}
	if len(s.sp16) > 0 {
		c.sp16 = append([]uint16(nil), s.sp16...)
	}
	if len(s.sp32) > 0 {
		c.sp32 = append([]uint32(nil), s.sp32...)
	}
	return c
}

// Equal reports whether s and o have the same precision and register contents.
func (s *Sketch) Equal(o *Sketch) bool {
	if s.p != o.p || s.nonZero() != o.nonZero() {
		return false
	}
	eq := true
	s.each(func(idx uint32, r uint8) {
		if eq && o.get(idx) != r {
			eq = false
		}
	})
	return eq
}

// MemSize returns the bytes held by the sketch: its header plus the capacity of its
// register storage. It never exceeds [MaxBytes].
func (s *Sketch) MemSize() int {
	return int(unsafe.Sizeof(*s)) + 2*cap(s.sp16) + 4*cap(s.sp32) + cap(s.dense)
}

// AppendBinary appends the versioned binary encoding of s to dst: version byte,
// precision, form (0 sparse, 1 dense), then for sparse a uvarint count and fixed-size
// little-endian entries (2 bytes for p ≤ 10, else 4), for dense the 2^p registers.
func (s *Sketch) AppendBinary(dst []byte) []byte {
	if s.dense != nil {
		dst = append(dst, encodingVersion, s.p, formDense)
		return append(dst, s.dense...)
	}
	dst = append(dst, encodingVersion, s.p, formSparse)
	if s.p <= 10 {
		dst = binary.AppendUvarint(dst, uint64(len(s.sp16)))
		for _, e := range s.sp16 {
			dst = binary.LittleEndian.AppendUint16(dst, e)
		}
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.sp32)))
	for _, e := range s.sp32 {
		dst = binary.LittleEndian.AppendUint32(dst, e)
	}
	return dst
}

// Decode reads one sketch encoded by [Sketch.AppendBinary] from the start of b and
// returns it with the number of bytes consumed. Malformed input yields an error wrapping
// [ErrInvalidEncoding]; Decode never panics.
func Decode(b []byte) (*Sketch, int, error) {
	if len(b) < 3 {
		return nil, 0, fmt.Errorf("hll: decode header: truncated: %w", ErrInvalidEncoding)
	}
	if b[0] != encodingVersion {
		return nil, 0, fmt.Errorf("hll: decode: unsupported version %d: %w", b[0], ErrInvalidEncoding)
	}
	p := b[1]
	if p < MinPrecision || p > MaxPrecision {
		return nil, 0, fmt.Errorf("hll: decode: precision %d out of range: %w", p, ErrInvalidEncoding)
	}
	s := New(p)
	off := 3
	switch b[2] {
	case formDense:
		if len(b)-off < s.m() {
			return nil, 0, fmt.Errorf("hll: decode dense registers: truncated: %w", ErrInvalidEncoding)
		}
		regs := b[off : off+s.m()]
		for i, r := range regs {
			if r > s.maxRho() {
				return nil, 0, fmt.Errorf("hll: decode: register %d value %d out of range: %w", i, r, ErrInvalidEncoding)
			}
		}
		s.dense = append([]uint8(nil), regs...)
		return s, off + s.m(), nil
	case formSparse:
		n, k := binary.Uvarint(b[off:])
		if k <= 0 || k != len(binary.AppendUvarint(nil, n)) { // canonical: shortest form
			return nil, 0, fmt.Errorf("hll: decode sparse count: %w", ErrInvalidEncoding)
		}
		off += k
		if n > uint64(s.sparseLimit()) {
			return nil, 0, fmt.Errorf("hll: decode: %d sparse entries exceed limit %d: %w", n, s.sparseLimit(), ErrInvalidEncoding)
		}
		size := 2
		if p > 10 {
			size = 4
		}
		if uint64(len(b)-off) < n*uint64(size) {
			return nil, 0, fmt.Errorf("hll: decode sparse entries: truncated: %w", ErrInvalidEncoding)
		}
		if size == 2 {
			s.sp16 = make([]uint16, 0, n)
		} else {
			s.sp32 = make([]uint32, 0, n)
		}
		prev := int64(-1)
		for i := range int(n) {
			var e uint32
			if size == 2 {
				e = uint32(binary.LittleEndian.Uint16(b[off+2*i:]))
			} else {
				e = binary.LittleEndian.Uint32(b[off+4*i:])
			}
			idx, r := e>>6, uint8(e&63)
			if int64(idx) <= prev || idx >= uint32(s.m()) || r == 0 || r > s.maxRho() {
				return nil, 0, fmt.Errorf("hll: decode: bad sparse entry %d: %w", i, ErrInvalidEncoding)
			}
			prev = int64(idx)
			if size == 2 {
				s.sp16 = append(s.sp16, uint16(e))
			} else {
				s.sp32 = append(s.sp32, e)
			}
		}
		return s, off + int(n)*size, nil
	default:
		return nil, 0, fmt.Errorf("hll: decode: unknown form %d: %w", b[2], ErrInvalidEncoding)
	}
}
