package sketch

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

type rec struct {
	src   netip.Addr
	proto uint8
	port  uint16
	t     int64
}

const testSlot = 3600

func genRecs(r *rand.Rand, n, sources, ports int, from, span int64) []rec {
	srcs := make([]netip.Addr, sources)
	for i := range srcs {
		srcs[i] = genAddr(r)
	}
	out := make([]rec, n)
	for i := range out {
		out[i] = rec{src: srcs[r.IntN(sources)], proto: []uint8{6, 17}[r.IntN(2)], port: uint16(r.IntN(ports)), t: from + r.Int64N(span)}
	}
	return out
}

func observeAll(cfg Config, recs []rec, keep func(rec) bool) *Sketch {
	s := New(cfg)
	for _, x := range recs {
		if keep == nil || keep(x) {
			s.Observe(x.src, x.proto, x.port, 3, 300, x.t, x.t+30)
		}
	}
	return s
}

// covers reports whether every item of small lies inside an item of big.
func covers(big, small *Sketch) bool {
	bi := big.Items()
	for _, it := range small.Items() {
		ok := false
		for _, b := range bi {
			if b.Prefix.Bits() <= it.Prefix.Bits() && b.Prefix.Contains(it.Prefix.Addr()) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Expiring a windowed sketch at a slot boundary gives exactly the sketch of the
// records of the remaining slots while the sources fit the budget and the ports stay
// exact, and a cover of it otherwise; the counters are always exact.
func TestExpireEqualsObservingTheWindow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Slot = testSlot
	r := rand.New(rand.NewPCG(1, 2))
	const from = 1_700_000_000 - 1_700_000_000%testSlot
	for round := range 40 {
		sources, ports := 1+r.IntN(100), 1+r.IntN(60)
		wide := round%4 == 3
		if wide {
			sources, ports = 2000, 5000
		}
		recs := genRecs(r, 3000, sources, ports, from, 48*testSlot)
		all := observeAll(cfg, recs, nil)
		// Cut inside the data, at a slot boundary or not: the expiry granularity is
		// the slot, so a cut mid-slot keeps that whole slot.
		cut := from + r.Int64N(48*testSlot)
		keepFrom := cut - cut%testSlot
		all.Expire(cut)
		want := observeAll(cfg, recs, func(x rec) bool { return x.t >= keepFrom })
		if all.Flows != want.Flows || all.Packets != want.Packets || all.Bytes != want.Bytes ||
			all.FirstSeen != want.FirstSeen || all.LastSeen != want.LastSeen {
			t.Fatalf("round %d: counters %d/%d/%d %d-%d, want %d/%d/%d %d-%d", round,
				all.Flows, all.Packets, all.Bytes, all.FirstSeen, all.LastSeen,
				want.Flows, want.Packets, want.Bytes, want.FirstSeen, want.LastSeen)
		}
		if !wide {
			if !all.Equal(want) {
				t.Fatalf("round %d (%d sources, %d ports): expired sketch differs from the window's", round, sources, ports)
			}
		} else if !covers(all, want) {
			t.Fatalf("round %d: expired sketch does not cover the window's sources", round)
		}
		for _, p := range want.Protocols() {
			ap, wp := all.Ports(p), want.Ports(p)
			for _, rg := range wp.Ranges() {
				if !ap.Contains(rg.From) || !ap.Contains(rg.To) {
					t.Fatalf("round %d: port %d of the window lost", round, rg.From)
				}
			}
		}
		// A round trip keeps everything, and observing more after expiry still
		// matches (or covers) observing the window directly.
		b, err := all.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back := New(cfg)
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !back.Equal(all) {
			t.Fatalf("round %d: round trip differs", round)
		}
		more := genRecs(r, 500, sources, ports, from+48*testSlot, 4*testSlot)
		for _, x := range more {
			all.Observe(x.src, x.proto, x.port, 3, 300, x.t, x.t+30)
		}
		want = observeAll(cfg, append(recs, more...), func(x rec) bool { return x.t >= keepFrom })
		if all.Flows != want.Flows || (!wide && !all.Equal(want)) || !covers(all, want) {
			t.Fatalf("round %d: after more traffic the sketch differs from the window's", round)
		}
	}
}

// Merging windowed sketches, expired or not, is commutative and associative, and
// expiry commutes with merging.
func TestWindowedMergeAlgebra(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Slot = testSlot
	cfg.MaxNodes = 16
	r := rand.New(rand.NewPCG(3, 4))
	const from = 1_700_000_000 - 1_700_000_000%testSlot
	for round := range 30 {
		var sk [3]*Sketch
		for i := range sk {
			sk[i] = observeAll(cfg, genRecs(r, 400, 1+r.IntN(60), 1+r.IntN(100), from, 24*testSlot), nil)
			if r.IntN(2) == 0 {
				sk[i].Expire(from + r.Int64N(24*testSlot))
			}
		}
		m := func(a, b *Sketch) *Sketch { c := a.Clone(); c.Merge(b); return c }
		ab, ba := m(sk[0], sk[1]), m(sk[1], sk[0])
		if !ab.Equal(ba) {
			t.Fatalf("round %d: merge not commutative", round)
		}
		l, rr := m(ab, sk[2]), m(sk[0], m(sk[1], sk[2]))
		if !l.Equal(rr) {
			t.Fatalf("round %d: merge not associative", round)
		}
		cut := from + r.Int64N(24*testSlot)
		e1 := l.Clone()
		e1.Expire(cut)
		var parts [3]*Sketch
		for i := range sk {
			parts[i] = sk[i].Clone()
			parts[i].Expire(cut)
		}
		e2 := m(m(parts[0], parts[1]), parts[2])
		if e1.Flows != e2.Flows || e1.Bytes != e2.Bytes || e1.FirstSeen != e2.FirstSeen || e1.LastSeen != e2.LastSeen {
			t.Fatalf("round %d: expiry does not commute with merge on counters", round)
		}
		if !covers(e1, e2) {
			t.Fatalf("round %d: expire-after-merge does not cover merge-after-expire", round)
		}
	}
}

// A version 1 encoding (no times) still reads, and Stamp files it in one slot.
func TestVersion1ReadsAndStamps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := observeAll(DefaultConfig(), genRecs(r, 300, 40, 10, 1_700_000_000, 3600), nil)
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite as version 1: drop the slot field (a single 0 byte after precision).
	i := len(magic) + 1
	_, n := uvarintAt(b[i:])
	i += n + 1
	v1 := append(append(append([]byte{}, b[:len(magic)]...), 1), b[len(magic)+1:i]...)
	v1 = append(v1, b[i+1:]...)
	var back Sketch
	if err := back.UnmarshalBinary(v1); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) {
		t.Fatal("version 1 decode differs")
	}
	back.Stamp(Config{Slot: testSlot}, 1_700_000_000)
	if len(back.Series()) != 1 || back.Series()[0].Flows != s.Flows {
		t.Fatalf("stamped series %+v", back.Series())
	}
	if back.Expire(1_700_000_000 + 2*testSlot); back.Flows != 0 || len(back.Items()) != 0 || len(back.Protocols()) != 0 {
		t.Fatalf("stamped sketch did not expire whole: %d flows, %d items", back.Flows, len(back.Items()))
	}
}

func uvarintAt(b []byte) (uint64, int) {
	var v uint64
	for i, c := range b {
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// The per-record path of a windowed sketch does not allocate once its sources,
// ports and slot exist.
func TestWindowedObserveAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Slot = testSlot
	s := New(cfg)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	s.Observe(a, 6, 443, 1, 1, 1_700_000_000, 1_700_000_010)
	s.Observe(b, 6, 443, 1, 1, 1_700_000_000, 1_700_000_010)
	n := testing.AllocsPerRun(1000, func() {
		s.Observe(a, 6, 443, 1, 1, 1_700_000_001, 1_700_000_010)
		s.Observe(b, 6, 443, 1, 1, 1_700_000_002, 1_700_000_010)
	})
	if n != 0 {
		t.Fatalf("%v allocations per record", n)
	}
}

// A times-only windowed sketch expires its sources and ports like a counting
// one, keeps no slots, and survives a round trip.
func TestTimesOnlyExpire(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Slot = testSlot
	tcfg := cfg
	tcfg.TimesOnly = true
	r := rand.New(rand.NewPCG(7, 8))
	const from = 1_700_000_000 - 1_700_000_000%testSlot
	for round := range 20 {
		recs := genRecs(r, 2000, 1+r.IntN(100), 1+r.IntN(60), from, 24*testSlot)
		full, times := observeAll(cfg, recs, nil), observeAll(tcfg, recs, nil)
		if len(times.Series()) != 0 {
			t.Fatal("a times-only sketch keeps slots")
		}
		cut := from + r.Int64N(26*testSlot)
		full.Expire(cut)
		empty := times.Expire(cut)
		if !reflect.DeepEqual(full.Items(), times.Items()) || !reflect.DeepEqual(full.Protocols(), times.Protocols()) {
			t.Fatalf("round %d: times-only expiry differs", round)
		}
		if empty != (full.Flows == 0) {
			t.Fatalf("round %d: empty %v, flows %d", round, empty, full.Flows)
		}
		b, _ := times.MarshalBinary()
		var back Sketch
		if err := back.UnmarshalBinary(b); err != nil || !back.Equal(times) {
			t.Fatalf("round %d: round trip: %v", round, err)
		}
	}
}

// distinctPerSlot is the ground truth: the distinct sources of each slot's records.
func distinctPerSlot(recs []rec, keep func(rec) bool) map[int64]int {
	sets := map[int64]map[netip.Addr]bool{}
	for _, x := range recs {
		if keep != nil && !keep(x) {
			continue
		}
		st := x.t - x.t%testSlot
		if sets[st] == nil {
			sets[st] = map[netip.Addr]bool{}
		}
		sets[st][x.src.Unmap()] = true // v4-mapped IPv6 counts as IPv4
	}
	out := map[int64]int{}
	for st, set := range sets {
		out[st] = len(set)
	}
	return out
}

// checkSources compares a sketch's per-slot sources with the truth: exact and not
// estimated while every family fits its budget (no aggregate).
func checkSources(t *testing.T, what string, s *Sketch, want map[int64]int) {
	t.Helper()
	series, srcs := s.Series(), s.SeriesSources()
	if len(srcs) != len(series) || len(series) != len(want) {
		t.Fatalf("%s: %d slots, %d source counts, want %d slots", what, len(series), len(srcs), len(want))
	}
	for j, sl := range series {
		if got := srcs[j]; got.Sources != uint64(want[sl.Start]) || got.Estimated {
			t.Fatalf("%s: slot %d: %+v, want %d exact", what, sl.Start, got, want[sl.Start])
		}
	}
}

// The distinct sources per slot are exact while the sources fit the budget, whatever
// the order of the records, and stay so through merges, expiry and a round trip.
func TestSeriesSourcesExact(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Slot = testSlot
	r := rand.New(rand.NewPCG(7, 8))
	const from = 1_700_000_000 - 1_700_000_000%testSlot
	for round := range 30 {
		// At most 30 slots (the daemon's window), records in random time order.
		recs := genRecs(r, 1+r.IntN(3000), 1+r.IntN(120), 1+r.IntN(30), from, int64(1+r.IntN(30))*testSlot)
		all := observeAll(cfg, recs, nil)
		checkSources(t, "observe", all, distinctPerSlot(recs, nil))

		// Sketches of parts of the records merge into the same counts.
		cut := r.IntN(len(recs) + 1)
		a, b := observeAll(cfg, recs[:cut], nil), observeAll(cfg, recs[cut:], nil)
		a.Merge(b)
		if !a.Equal(all) {
			t.Fatalf("round %d: merged halves differ from the whole", round)
		}
		checkSources(t, "merge", a, distinctPerSlot(recs, nil))

		// Expiry forgets the expired slots' sightings and keeps the others.
		before := from + r.Int64N(31*testSlot)
		keepFrom := before - before%testSlot
		all.Expire(before)
		keep := func(x rec) bool { return x.t >= keepFrom }
		checkSources(t, "expire", all, distinctPerSlot(recs, keep))
		if want := observeAll(cfg, recs, keep); !all.Equal(want) {
			t.Fatalf("round %d: expired sketch differs from the window's", round)
		}
		enc, err := all.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Sketch
		if err := back.UnmarshalBinary(enc); err != nil || !back.Equal(all) {
			t.Fatalf("round %d: round trip: %v", round, err)
		}
	}
}

// Beyond the budget the counts of the slots an aggregate was seen in are estimates,
// and a sketch without per-slot counters has none.
func TestSeriesSourcesEstimated(t *testing.T) {
	cfg := Config{MaxNodes: 8, Slot: testSlot}
	r := rand.New(rand.NewPCG(9, 10))
	const from = 1_700_000_000 - 1_700_000_000%testSlot
	recs := genRecs(r, 5000, 500, 10, from, 10*testSlot)
	s := observeAll(cfg, recs, nil)
	want := distinctPerSlot(recs, nil)
	for j, sl := range s.SeriesSources() {
		st := s.Series()[j].Start
		if !sl.Estimated {
			t.Fatalf("slot %d: %+v not estimated with aggregates", st, sl)
		}
		// An aggregate counts all its addresses: about the family's sources at most.
		if sl.Sources < uint64(want[st])/2 || sl.Sources > 2*500 {
			t.Fatalf("slot %d: %d sources, %d true", st, sl.Sources, want[st])
		}
	}
	for _, c := range []Config{DefaultConfig(), {Slot: testSlot, TimesOnly: true}} {
		if got := observeAll(c, recs, nil).SeriesSources(); got != nil {
			t.Fatalf("%+v: per-slot sources %v without per-slot counters", c, got)
		}
	}
}

// A version 3 encoding (no seen masks) still reads: the sources of the newest slot
// stay exact, those of older slots are marked estimated and are lower bounds, and the
// rest of the sketch is unchanged.
func TestVersion3Reads(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Slot = testSlot
	r := rand.New(rand.NewPCG(11, 12))
	const from = 1_700_000_000 - 1_700_000_000%testSlot
	recs := genRecs(r, 2000, 80, 20, from, 6*testSlot)
	s := observeAll(cfg, recs, nil)
	var old Sketch
	if err := old.UnmarshalBinary(s.appendBinary(3)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(old.Items(), s.Items()) || !reflect.DeepEqual(old.Series(), s.Series()) {
		t.Fatal("version 3 decode differs")
	}
	want := distinctPerSlot(recs, nil)
	srcs := old.SeriesSources()
	for j, sl := range old.Series() {
		got := srcs[j]
		newest := j == len(srcs)-1
		if got.Estimated == newest || got.Sources > uint64(want[sl.Start]) || (newest && got.Sources != uint64(want[sl.Start])) {
			t.Fatalf("slot %d (newest %v): %+v, true %d", sl.Start, newest, got, want[sl.Start])
		}
	}
	// Once the slots before it expire, every count is exact again.
	old.Expire(from + 5*testSlot)
	checkSources(t, "expired", &old, distinctPerSlot(recs, func(x rec) bool { return x.t >= from+5*testSlot }))
	// Re-encoded as version 4, it keeps saying which counts are estimates.
	var again Sketch
	s2 := observeAll(cfg, recs, nil)
	var old2 Sketch
	_ = old2.UnmarshalBinary(s2.appendBinary(3))
	enc, _ := old2.MarshalBinary()
	if err := again.UnmarshalBinary(enc); err != nil || !again.Equal(&old2) {
		t.Fatalf("version 3 state re-encoded: %v", err)
	}
}
