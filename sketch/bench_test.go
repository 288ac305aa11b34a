package sketch

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// BenchmarkObserveHit observes sources already in the sketch: the per-record steady state.
func BenchmarkObserveHit(b *testing.B) {
	for _, bc := range []struct {
		name    string
		sources int
		slot    int64
	}{{"exact100", 100, 0}, {"aggregated1e5", 100_000, 0}, {"exact100-windowed", 100, 86400}, {"aggregated1e5-windowed", 100_000, 86400}} {
		b.Run(bc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			srcs := make([]netip.Addr, bc.sources)
			cfg := DefaultConfig()
			cfg.Slot = bc.slot
			s := New(cfg)
			for i := range srcs {
				srcs[i] = v4addr(r.Uint32())
				s.Observe(srcs[i], 6, 443, 1, 1, 1, 2)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Observe(srcs[i%len(srcs)], 6, 443, 3, 400, 1, 2)
				i++
			}
		})
	}
}

// BenchmarkObserveRandom observes a new random IPv4 or IPv6 source every record.
func BenchmarkObserveRandom(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	srcs := make([]netip.Addr, 1<<16)
	for i := range srcs {
		if i%2 == 0 {
			srcs[i] = v4addr(r.Uint32())
		} else {
			srcs[i] = v6addr(r.Uint64(), r.Uint64())
		}
	}
	s := New(DefaultConfig())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Observe(srcs[i&(len(srcs)-1)], 6, 443, 1, 1, 1, 2)
		i++
	}
}

// BenchmarkMerge merges one sketch into an accumulator.
func BenchmarkMerge(b *testing.B) {
	for _, bc := range []struct {
		name    string
		sources int
	}{{"exact100", 100}, {"aggregated1e5", 100_000}} {
		b.Run(bc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, 6))
			mk := func() *Sketch {
				s := New(DefaultConfig())
				for range bc.sources {
					s.Observe(genAddr(r), 6, uint16(r.IntN(100)), 1, 1, 1, 2)
				}
				return s
			}
			acc, o := mk(), mk()
			b.ReportAllocs()
			for b.Loop() {
				acc.Merge(o)
			}
		})
	}
}
