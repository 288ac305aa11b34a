package hll

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func fill(s *Sketch, r *rand.Rand, n int) {
	for range n {
		s.InsertHash(Hash128(r.Uint64(), r.Uint64()))
	}
}

func TestEstimateAccuracy(t *testing.T) {
	for _, p := range []uint8{10, 14} {
		for _, n := range []int{1000, 100_000, 1_000_000} {
			s := New(p)
			// Sequential IPv4-like keys: the hash, not the input, must spread them.
			for i := range n {
				s.InsertHash(Hash128(0, 0xffff00000000|uint64(i)))
			}
			est := s.Estimate()
			rel := math.Abs(float64(est)-float64(n)) / float64(n)
			if bound := 3 * RelativeError(p); rel > bound {
				t.Errorf("p=%d n=%d: estimate %d, relative error %.4f > %.4f", p, n, est, rel, bound)
			}
		}
	}
}

func TestEstimateSmallExact(t *testing.T) {
	s := New(10)
	if s.Estimate() != 0 {
		t.Fatalf("empty estimate = %d", s.Estimate())
	}
	for i := range 20 {
		s.InsertHash(Hash128(1, uint64(i)))
		s.InsertHash(Hash128(1, uint64(i))) // duplicates do not count
	}
	if e := s.Estimate(); e != 20 {
		t.Fatalf("estimate of 20 distinct = %d", e)
	}
}

func randomSketch(r *rand.Rand, p uint8, n int) *Sketch {
	s := New(p)
	fill(s, r, n)
	return s
}

func merged(t *testing.T, a, b *Sketch) *Sketch {
	t.Helper()
	c := a.Clone()
	if err := c.Merge(b); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMergeCommutativeAssociative(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []uint8{4, 8, 10, 12} {
		for _, sizes := range [][3]int{{0, 3, 5}, {10, 20, 30}, {100, 400, 1}, {5000, 10, 200}} {
			a, b, c := randomSketch(r, p, sizes[0]), randomSketch(r, p, sizes[1]), randomSketch(r, p, sizes[2])
			ab, ba := merged(t, a, b), merged(t, b, a)
			if !ab.Equal(ba) || ab.Dense() != ba.Dense() {
				t.Errorf("p=%d %v: a∪b != b∪a", p, sizes)
			}
			l, rr := merged(t, merged(t, a, b), c), merged(t, a, merged(t, b, c))
			if !l.Equal(rr) || l.Dense() != rr.Dense() {
				t.Errorf("p=%d %v: (a∪b)∪c != a∪(b∪c)", p, sizes)
			}
		}
	}
}

func TestMergeEqualsInsertAll(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	hs := make([]uint64, 3000)
	for i := range hs {
		hs[i] = r.Uint64()
	}
	all, a, b := New(11), New(11), New(11)
	for i, h := range hs {
		all.InsertHash(h)
		if i%3 == 0 {
			a.InsertHash(h)
		} else {
			b.InsertHash(h)
		}
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if !a.Equal(all) {
		t.Fatal("merge of halves differs from inserting everything")
	}
}

func TestMergePrecisionMismatch(t *testing.T) {
	err := New(10).Merge(New(11))
	if !errors.Is(err, ErrPrecisionMismatch) {
		t.Fatalf("err = %v, want ErrPrecisionMismatch", err)
	}
}

func TestFoldMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{10, 1000, 50_000} {
		hi, lo := New(14), New(10)
		for range n {
			h := r.Uint64()
			hi.InsertHash(h)
			lo.InsertHash(h)
		}
		f, err := hi.Fold(10)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Equal(lo) {
			t.Errorf("n=%d: fold(14→10) differs from direct p=10 sketch", n)
		}
	}
	if _, err := New(10).Fold(12); err == nil {
		t.Error("fold to a higher precision succeeded")
	}
}

func TestSparseToDense(t *testing.T) {
	for _, p := range []uint8{4, 10, 11, 16} {
		s := New(p)
		ref := make([]uint8, 1<<p) // reference registers
		r := rand.New(rand.NewPCG(uint64(p), 7))
		limit := s.sparseLimit()
		for !s.Dense() {
			h := r.Uint64()
			s.InsertHash(h)
			idx := h >> (64 - p)
			ref[idx] = max(ref[idx], min(uint8(leadingZeros(h<<p))+1, 65-p))
			if !s.Dense() && s.MemSize() > MaxBytes(p) {
				t.Fatalf("p=%d: sparse MemSize %d > MaxBytes %d", p, s.MemSize(), MaxBytes(p))
			}
		}
		nz := 0
		for i, v := range ref {
			if s.get(uint32(i)) != v {
				t.Fatalf("p=%d: register %d = %d after densify, want %d", p, i, s.get(uint32(i)), v)
			}
			if v != 0 {
				nz++
			}
		}
		if nz != limit+1 {
			t.Errorf("p=%d: became dense at %d non-zero registers, want %d", p, nz, limit+1)
		}
		if s.MemSize() != MaxBytes(p) {
			t.Errorf("p=%d: dense MemSize %d, want %d", p, s.MemSize(), MaxBytes(p))
		}
	}
}

func leadingZeros(x uint64) int {
	n := 0
	for i := 63; i >= 0 && x&(1<<uint(i)) == 0; i-- {
		n++
	}
	return n
}

func TestEncodeDecodeIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for _, p := range []uint8{4, 10, 12, 16} {
		for _, n := range []int{0, 1, 50, 3000, 100_000} {
			s := randomSketch(r, p, n)
			prefix := []byte("xy")
			b := s.AppendBinary(prefix)
			b = append(b, 0xEE) // trailing data is not consumed
			d, k, err := Decode(b[2:])
			if err != nil {
				t.Fatalf("p=%d n=%d: %v", p, n, err)
			}
			if k != len(b)-3 {
				t.Errorf("p=%d n=%d: consumed %d, want %d", p, n, k, len(b)-3)
			}
			if !d.Equal(s) || d.Dense() != s.Dense() || d.Estimate() != s.Estimate() {
				t.Errorf("p=%d n=%d: decoded sketch differs", p, n)
			}
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	good := randomSketch(rand.New(rand.NewPCG(1, 1)), 10, 20).AppendBinary(nil)
	cases := map[string][]byte{
		"empty":       nil,
		"version":     append([]byte{9}, good[1:]...),
		"precision":   append([]byte{1, 3}, good[2:]...),
		"form":        append([]byte{1, 10, 7}, good[3:]...),
		"truncated":   good[:len(good)-1],
		"dense short": {1, 4, formDense, 1, 2},
		"dense reg":   append([]byte{1, 4, formDense}, make([]byte, 15)...),
	}
	cases["dense reg"] = append(cases["dense reg"], 200)
	unsorted := append([]byte(nil), good...)
	unsorted[4], unsorted[5], unsorted[6], unsorted[7] = unsorted[6], unsorted[7], unsorted[4], unsorted[5]
	cases["unsorted"] = unsorted
	for name, b := range cases {
		if _, _, err := Decode(b); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("%s: err = %v, want ErrInvalidEncoding", name, err)
		}
	}
}

func TestInsertHashZeroAllocsDense(t *testing.T) {
	s := randomSketch(rand.New(rand.NewPCG(2, 2)), 14, 100_000)
	if !s.Dense() {
		t.Fatal("sketch not dense")
	}
	var h uint64 = 12345
	allocs := testing.AllocsPerRun(1000, func() {
		h = h*6364136223846793005 + 1442695040888963407
		s.InsertHash(h)
	})
	if allocs != 0 {
		t.Fatalf("InsertHash allocates %.1f times per call on a dense sketch", allocs)
	}
}

func TestHash128Spreads(t *testing.T) {
	// Adjacent addresses must land in all buckets about evenly.
	var buckets [16]int
	for i := range 16000 {
		buckets[Hash128(0, uint64(i))>>60]++
	}
	for b, n := range buckets {
		if n < 800 || n > 1200 {
			t.Errorf("bucket %d has %d of 16000 hashes", b, n)
		}
	}
	if Hash128(1, 2) == Hash128(2, 1) {
		t.Error("Hash128 symmetric in its words")
	}
}

func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(4, 4))
	f.Add(randomSketch(r, 4, 3).AppendBinary(nil))
	f.Add(randomSketch(r, 12, 30).AppendBinary(nil))
	f.Add(randomSketch(r, 4, 300).AppendBinary(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, n, err := Decode(b)
		if err != nil {
			return
		}
		again := s.AppendBinary(nil)
		if string(again) != string(b[:n]) {
			t.Fatalf("re-encoding differs")
		}
		s.Estimate()
	})
}

func BenchmarkInsertHashDense(b *testing.B) {
	s := randomSketch(rand.New(rand.NewPCG(2, 2)), 10, 100_000)
	var h uint64
	b.ReportAllocs()
	for b.Loop() {
		h += 0x9e3779b97f4a7c15
		s.InsertHash(h)
	}
}
