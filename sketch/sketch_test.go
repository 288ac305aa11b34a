package sketch

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/cinch-sg/cinch/sketch/hll"
)

// record is one generated flow.
type record struct {
	src        netip.Addr
	proto      uint8
	port       uint16
	pkts, byts uint64
	start, end int64
}

func observe(s *Sketch, recs []record) *Sketch {
	for _, r := range recs {
		s.Observe(r.src, r.proto, r.port, r.pkts, r.byts, r.start, r.end)
	}
	return s
}

func v4addr(x uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], x)
	return netip.AddrFrom4(b)
}

func v6addr(hi, lo uint64) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// genAddr draws uniform and clustered IPv4 and IPv6 addresses, so that collapses happen
// at many depths.
func genAddr(r *rand.Rand) netip.Addr {
	switch r.IntN(6) {
	case 0:
		return v4addr(r.Uint32())
	case 1: // a few /24s
		return v4addr(0x0a000000 | uint32(r.IntN(4))<<8 | uint32(r.IntN(256)))
	case 2: // a few /30s and a /16
		if r.IntN(2) == 0 {
			return v4addr(0xc0a80000 | uint32(r.IntN(3))<<2 | uint32(r.IntN(4)))
		}
		return v4addr(0xac100000 | uint32(r.IntN(1<<16)))
	case 3:
		return v6addr(r.Uint64(), r.Uint64())
	case 4: // a few /64s with small host parts
		return v6addr(0x20010db800000000|uint64(r.IntN(3)), uint64(r.IntN(64)))
	default: // v4-mapped IPv6 counts as IPv4
		return netip.AddrFrom16(v4addr(0x0a000000 | uint32(r.IntN(1024))).As16())
	}
}

func genRecords(r *rand.Rand, n int) []record {
	recs := make([]record, n)
	for i := range recs {
		start := int64(1_700_000_000 + r.IntN(100_000))
		recs[i] = record{
			src: genAddr(r), proto: []uint8{6, 17, 1}[r.IntN(3)], port: uint16(r.IntN(200)),
			pkts: uint64(r.IntN(100)), byts: uint64(r.IntN(1 << 20)),
			start: start, end: start + int64(r.IntN(60)),
		}
		if r.IntN(10) == 0 {
			recs[i].port = uint16(r.IntN(65536)) // occasionally spread the ports
		}
	}
	return recs
}

func mergeOf(ss ...*Sketch) *Sketch {
	out := ss[0].Clone()
	for _, s := range ss[1:] {
		out.Merge(s)
	}
	return out
}

// checkInvariants verifies the leaf-set invariants and that every address in srcs is in
// exactly one item.
func checkInvariants(t *testing.T, s *Sketch, srcs []netip.Addr) {
	t.Helper()
	items := s.Items()
	var n4, n6 int
	for i, it := range items {
		if it.Prefix.Addr().Is4() {
			n4++
		} else {
			n6++
		}
		if it.Prefix.Masked() != it.Prefix {
			t.Fatalf("item %v not masked", it.Prefix)
		}
		if it.Exact != (it.Prefix.Bits() == it.Prefix.Addr().BitLen()) || (it.Exact && it.Count != 1) || it.Count == 0 {
			t.Fatalf("item %+v inconsistent", it)
		}
		if i > 0 && items[i-1].Prefix.Addr().Is4() == it.Prefix.Addr().Is4() &&
			(items[i-1].Prefix.Overlaps(it.Prefix) || !items[i-1].Prefix.Addr().Less(it.Prefix.Addr())) {
			t.Fatalf("items %v and %v overlap or unsorted", items[i-1].Prefix, it.Prefix)
		}
		if i > 0 && items[i-1].Prefix.Addr().Is6() && it.Prefix.Addr().Is4() {
			t.Fatalf("IPv4 item %v after IPv6", it.Prefix)
		}
	}
	if n4 > s.cfg.MaxNodes || n6 > s.cfg.MaxNodes {
		t.Fatalf("%d IPv4 / %d IPv6 items exceed budget %d", n4, n6, s.cfg.MaxNodes)
	}
	for _, a := range srcs {
		a = a.Unmap()
		c := 0
		for _, it := range items {
			if it.Prefix.Contains(a) {
				c++
			}
		}
		if c != 1 {
			t.Fatalf("address %v covered by %d items", a, c)
		}
	}
	if m := s.MemSize(); m > s.cfg.MaxBytes() {
		t.Fatalf("MemSize %d > MaxBytes %d", m, s.cfg.MaxBytes())
	}
}

func srcsOf(recs ...[]record) []netip.Addr {
	var out []netip.Addr
	for _, rs := range recs {
		for _, r := range rs {
			out = append(out, r.src)
		}
	}
	return out
}

func TestMergeProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for trial := range 300 {
		cfg := Config{MaxNodes: 1 + r.IntN(10), HLLPrecision: 4 + uint8(r.IntN(4))}
		ra, rb, rc := genRecords(r, r.IntN(60)), genRecords(r, r.IntN(60)), genRecords(r, r.IntN(200))
		a, b, c := observe(New(cfg), ra), observe(New(cfg), rb), observe(New(cfg), rc)
		a0, b0, c0 := a.Clone(), b.Clone(), c.Clone()
		all := observe(observe(observe(New(cfg), ra), rb), rc)

		if !mergeOf(a, b).Equal(mergeOf(b, a)) {
			t.Fatalf("trial %d: a∪b != b∪a", trial)
		}
		left, right := mergeOf(mergeOf(a, b), c), mergeOf(a, mergeOf(b, c))
		if !left.Equal(right) {
			t.Fatalf("trial %d: (a∪b)∪c != a∪(b∪c)", trial)
		}
		if !left.Equal(all) {
			t.Fatalf("trial %d: merge differs from observing everything in one sketch", trial)
		}
		if !a.Equal(a0) || !b.Equal(b0) || !c.Equal(c0) {
			t.Fatalf("trial %d: Merge changed its argument", trial)
		}
		self := a.Clone()
		self.Merge(self)
		if n, _ := self.DistinctSources(); n != func() uint64 { n, _ := a.DistinctSources(); return n }() || self.Flows != 2*a.Flows {
			t.Fatalf("trial %d: self-merge wrong", trial)
		}
		checkInvariants(t, all, srcsOf(ra, rb, rc))
		checkInvariants(t, a, srcsOf(ra))
	}
}

func TestMergeDifferentConfigs(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for trial := range 100 {
		ra, rb := genRecords(r, 100), genRecords(r, 100)
		big, small := Config{MaxNodes: 12, HLLPrecision: 9}, Config{MaxNodes: 5, HLLPrecision: 6}
		a, b := observe(New(big), ra), observe(New(small), rb)
		want := observe(observe(New(small), ra), rb)
		if got := mergeOf(a, b); !got.Equal(want) {
			t.Fatalf("trial %d: big∪small differs from the small-config sketch of all records", trial)
		}
		if got := mergeOf(b, a); !got.Equal(want) {
			t.Fatalf("trial %d: small∪big differs from the small-config sketch of all records", trial)
		}
	}
}

func TestCollapseExample(t *testing.T) {
	s := New(Config{MaxNodes: 2})
	for _, a := range []string{"10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.0.2", "2001:db8::1", "::ffff:10.0.1.1"} {
		s.Observe(netip.MustParseAddr(a), 6, 22, 1, 100, 10, 20)
	}
	want := []Item{
		{netip.MustParsePrefix("10.0.0.0/30"), false, 2},
		{netip.MustParsePrefix("10.0.1.1/32"), true, 1},
		{netip.MustParsePrefix("2001:db8::1/128"), true, 1},
	}
	got := s.Items()
	if len(got) != len(want) {
		t.Fatalf("Items() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Items()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n, est := s.DistinctSources(); n != 4 || !est {
		t.Errorf("DistinctSources() = %d, %v; want 4, true", n, est)
	}
	if s.Flows != 6 || s.Packets != 6 || s.Bytes != 600 || s.FirstSeen != 10 || s.LastSeen != 20 {
		t.Errorf("counters = %d %d %d %d %d", s.Flows, s.Packets, s.Bytes, s.FirstSeen, s.LastSeen)
	}
	// A third /30 neighbour joins the aggregate; a far address forces the cut up to /23's
	// split: 10.0.0.0/23 then holds everything IPv4.
	s.Observe(netip.MustParseAddr("10.0.0.3"), 6, 22, 1, 1, 0, 0)
	s.Observe(netip.MustParseAddr("192.168.0.1"), 6, 22, 1, 1, 0, 0)
	got = s.Items()
	if got[0].Prefix != netip.MustParsePrefix("10.0.0.0/23") || got[0].Count != 4 || got[1].Prefix != netip.MustParsePrefix("192.168.0.1/32") {
		t.Fatalf("after collapse Items() = %v", got)
	}
}

func TestExactWhileWithinBudget(t *testing.T) {
	s := New(DefaultConfig())
	for i := range 128 {
		s.Observe(v4addr(0x0a000000+uint32(i)*3), 6, 443, 1, 1, 1, 2)
	}
	if n, est := s.DistinctSources(); n != 128 || est {
		t.Fatalf("DistinctSources() = %d, %v; want 128 exact", n, est)
	}
	for _, it := range s.Items() {
		if !it.Exact {
			t.Fatalf("aggregate %v within budget", it.Prefix)
		}
	}
}

func TestDistinctCountAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	s := New(DefaultConfig())
	seen := make(map[uint32]struct{}, 1_000_000)
	for len(seen) < 1_000_000 {
		x := r.Uint32()
		seen[x] = struct{}{}
		s.Observe(v4addr(x), 6, 443, 1, 1, 0, 0)
		switch len(seen) {
		case 1_000, 30_000, 300_000, 1_000_000:
			n, _ := s.DistinctSources()
			rel := math.Abs(float64(n)-float64(len(seen))) / float64(len(seen))
			if bound := 3 * hll.RelativeError(s.cfg.HLLPrecision); rel > bound {
				t.Errorf("%d sources: estimate %d, relative error %.4f > %.4f", len(seen), n, rel, bound)
			}
			t.Logf("%d sources: estimate %d (%.2f%%)", len(seen), n, 100*rel)
		}
	}
}

func TestMemoryBoundAdversarial(t *testing.T) {
	cfg := DefaultConfig()
	s := New(cfg)
	r := rand.New(rand.NewPCG(41, 42))
	maxSeen := 0
	for i := range 2_000_000 {
		if i%2 == 0 {
			s.Observe(v4addr(r.Uint32()), 6, uint16(r.Uint32()), 1, 1, 0, 0)
		} else {
			s.Observe(v6addr(r.Uint64(), r.Uint64()), uint8(r.Uint32()), uint16(r.Uint32()), 1, 1, 0, 0)
		}
		if i%20_000 == 0 {
			maxSeen = max(maxSeen, s.MemSize())
		}
	}
	maxSeen = max(maxSeen, s.MemSize())
	if n := len(s.Items()); n > 2*cfg.MaxNodes {
		t.Errorf("%d items > 2N = %d", n, 2*cfg.MaxNodes)
	}
	if maxSeen > cfg.MaxBytes() {
		t.Errorf("MemSize %d > MaxBytes %d", maxSeen, cfg.MaxBytes())
	}
	t.Logf("2e6 random sources, 256 protocols: MemSize %d (bound %d), %d items", s.MemSize(), cfg.MaxBytes(), len(s.Items()))
}

// A windowed sketch with per-slot counters stays within MaxBytes too, slots aside.
func TestMemoryBoundAdversarialWindowed(t *testing.T) {
	cfg := Config{Slot: 60}
	s := New(cfg)
	r := rand.New(rand.NewPCG(43, 44))
	maxSeen := 0
	for i := range 400_000 {
		t0 := int64(1_700_000_000 + r.IntN(3600)) // 60 slots, in random order
		if i%2 == 0 {
			s.Observe(v4addr(r.Uint32()), 6, uint16(r.Uint32()), 1, 1, t0, t0)
		} else {
			s.Observe(v6addr(r.Uint64(), r.Uint64()), uint8(r.Uint32()), uint16(r.Uint32()), 1, 1, t0, t0)
		}
		if i%10_000 == 0 {
			maxSeen = max(maxSeen, s.MemSize()-cap(s.slots)*int(unsafe.Sizeof(Slot{})))
		}
	}
	if maxSeen > cfg.MaxBytes() {
		t.Errorf("MemSize %d > MaxBytes %d", maxSeen, cfg.MaxBytes())
	}
}

func TestSmallRuleMemory(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(), {Slot: 86400}} {
		r := rand.New(rand.NewPCG(51, 52))
		for name, gen := range map[string]func() netip.Addr{
			"ipv4":  func() netip.Addr { return v4addr(r.Uint32()) },
			"ipv6":  func() netip.Addr { return v6addr(r.Uint64(), r.Uint64()) },
			"mixed": func() netip.Addr { return genAddr(r) },
		} {
			s := New(cfg)
			for range 100 {
				a := gen()
				for range 3 { // repeated flows from the same source
					s.Observe(a, 6, 443, 10, 1000, 1, 2)
				}
				s.Observe(a, 17, uint16(r.IntN(40)), 1, 100, 1, 2)
			}
			// Items and ports carry their latest time slot (12-byte IPv4 and 24-byte
			// IPv6 items); a windowed sketch's per-slot counters come on top: 48
			// bytes per slot and a 4-byte seen mask per item (distinct sources per
			// slot).
			perSlot := cap(s.slots)*int(unsafe.Sizeof(Slot{})) + 4*(cap(s.fam4.masks())+cap(s.fam6.masks()))
			m := s.MemSize() - perSlot
			if m > 4096 {
				t.Errorf("%s, slot %d: 100 sources take %d bytes > 4 KiB", name, cfg.Slot, m)
			} else {
				t.Logf("%s, slot %d: 100 sources take %d bytes (+%d of per-slot counters: %d in all)", name, cfg.Slot, m, perSlot, s.MemSize())
			}
		}
	}
}

func TestObserveHitZeroAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	s := New(Config{MaxNodes: 16})
	recs := genRecords(r, 2000) // collapses: exact items and aggregates
	observe(s, recs)
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		rec := recs[i%len(recs)]
		i++
		s.Observe(rec.src, rec.proto, rec.port, 3, 400, rec.start, rec.end)
	})
	if allocs != 0 {
		t.Fatalf("Observe of a seen source/protocol/port allocates %.2f per call", allocs)
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for trial := range 200 {
		cfg := Config{MaxNodes: 1 + r.IntN(20), HLLPrecision: 4 + uint8(r.IntN(8))}
		s := observe(New(cfg), genRecords(r, r.IntN(400)))
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var d Sketch
		if err := d.UnmarshalBinary(b); err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if !d.Equal(s) {
			t.Fatalf("trial %d: decoded sketch differs", trial)
		}
		// The decoded sketch keeps working like the original.
		more := genRecords(r, 50)
		if !observe(&d, more).Equal(observe(s, more)) {
			t.Fatalf("trial %d: decoded sketch diverges", trial)
		}
	}
	var d Sketch
	if b, _ := New(DefaultConfig()).MarshalBinary(); d.UnmarshalBinary(b) != nil || !d.Equal(New(DefaultConfig())) {
		t.Fatal("empty sketch does not round-trip")
	}
}

func TestUnmarshalRejectsGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	s := observe(New(Config{MaxNodes: 4, HLLPrecision: 5}), genRecords(r, 300))
	good, _ := s.MarshalBinary()
	orig := s.Clone()
	for n := range len(good) {
		if err := s.UnmarshalBinary(good[:n]); !errors.Is(err, ErrInvalidEncoding) {
			t.Fatalf("truncated to %d bytes: err = %v", n, err)
		}
	}
	for _, b := range [][]byte{nil, []byte("CNSK\x02"), append(append([]byte(nil), good...), 0)} {
		if err := s.UnmarshalBinary(b); !errors.Is(err, ErrInvalidEncoding) {
			t.Fatalf("%q: err = %v", b, err)
		}
	}
	if !s.Equal(orig) {
		t.Fatal("failed UnmarshalBinary changed the sketch")
	}
}

func TestPortSet(t *testing.T) {
	var ps PortSet
	for _, p := range []uint16{443, 80, 81, 82, 8080, 80} {
		ps.Add(p)
	}
	want := []PortRange{{80, 82}, {443, 443}, {8080, 8080}}
	if got := ps.Ranges(); !equalRanges(got, want) || ps.Len() != 5 || !ps.Exact() || ps.Min() != 80 || ps.Max() != 8080 {
		t.Fatalf("Ranges() = %v Len %d Min %d Max %d", got, ps.Len(), ps.Min(), ps.Max())
	}
	for p := range uint16(64) {
		ps.Add(1000 + p) // 1000..1063: buckets 15 and 16
	}
	// Coarse, each bucket keeps the lowest and highest port seen in it: the
	// ranges are no wider than the ports seen at their ends.
	if ps.Exact() || !ps.Contains(80) || !ps.Contains(81) || ps.Contains(127) || ps.Contains(200) {
		t.Fatal("coarse set wrong")
	}
	want = []PortRange{{80, 82}, {443, 443}, {1000, 1063}, {8080, 8080}}
	if got := ps.Ranges(); !equalRanges(got, want) || ps.Len() != 69 || ps.Min() != 80 || ps.Max() != 8080 {
		t.Fatalf("coarse Ranges() = %v Len %d", got, ps.Len())
	}
	var other PortSet
	for _, p := range []uint16{100, 8070, 60000, 1100} {
		other.Add(p)
	}
	other.coarsen()
	ps.Union(&other)
	want = []PortRange{{80, 100}, {443, 443}, {1000, 1063}, {1100, 1100}, {8070, 8080}, {60000, 60000}}
	if got := ps.Ranges(); !equalRanges(got, want) {
		t.Fatalf("coarse union Ranges() = %v", got)
	}
	var back Sketch
	s := New(DefaultConfig())
	s.protos = []protoPorts{{proto: 6, ports: *ps.Clone()}}
	b, err := s.MarshalBinary()
	if err != nil || back.UnmarshalBinary(b) != nil || !back.Ports(6).Equal(&ps) {
		t.Fatalf("coarse port set with edges does not survive encoding: %v", err)
	}
	var empty PortSet
	if empty.Len() != 0 || empty.Min() != 0 || empty.Max() != 0 || len(empty.Ranges()) != 0 {
		t.Fatal("empty set not empty")
	}
	var top PortSet
	top.Add(65535)
	top.Add(65534)
	if got := top.Ranges(); !equalRanges(got, []PortRange{{65534, 65535}}) {
		t.Fatalf("Ranges() = %v", got)
	}
}

func equalRanges(a, b []PortRange) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPortSetUnionProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	gen := func() ([]uint16, *PortSet) {
		ports := make([]uint16, r.IntN(50))
		for i := range ports {
			ports[i] = uint16(r.IntN(3000))
		}
		ps := &PortSet{}
		for _, p := range ports {
			ps.Add(p)
		}
		return ports, ps
	}
	union := func(a, b *PortSet) *PortSet { c := a.Clone(); c.Union(b); return c }
	for range 500 {
		pa, a := gen()
		pb, b := gen()
		pc, c := gen()
		if !union(a, b).Equal(union(b, a)) || !union(union(a, b), c).Equal(union(a, union(b, c))) {
			t.Fatal("union not commutative/associative")
		}
		all := &PortSet{}
		for _, p := range append(append(pa, pb...), pc...) {
			all.Add(p)
		}
		if !union(union(a, b), c).Equal(all) {
			t.Fatal("union differs from adding every port")
		}
	}
}

func TestProtocolsAndPorts(t *testing.T) {
	s := New(DefaultConfig())
	a := netip.MustParseAddr("203.0.113.7")
	s.Observe(a, 17, 53, 1, 1, 0, 0)
	s.Observe(a, 6, 22, 1, 1, 0, 0)
	s.Observe(a, 6, 23, 1, 1, 0, 0)
	if got := s.Protocols(); len(got) != 2 || got[0] != 6 || got[1] != 17 {
		t.Fatalf("Protocols() = %v", got)
	}
	if got := s.Ports(6).Ranges(); !equalRanges(got, []PortRange{{22, 23}}) {
		t.Fatalf("Ports(6) = %v", got)
	}
	if s.Ports(1) != nil {
		t.Fatal("Ports of an unseen protocol not nil")
	}
	s.Ports(6).Add(9999) // a copy
	if s.Ports(6).Contains(9999) {
		t.Fatal("Ports returned internal state")
	}
}

func FuzzUnmarshal(f *testing.F) {
	r := rand.New(rand.NewPCG(101, 102))
	for _, n := range []int{0, 3, 40, 400} {
		b, _ := observe(New(Config{MaxNodes: 4, HLLPrecision: 4}), genRecords(r, n)).MarshalBinary()
		f.Add(b)
	}
	for _, n := range []int{3, 400} { // windowed, counting or times-only, expired
		for _, only := range []bool{false, true} {
			s := New(Config{MaxNodes: 4, HLLPrecision: 4, Slot: 60, TimesOnly: only})
			for i, rec := range genRecords(r, n) {
				s.Observe(rec.src, rec.proto, rec.port, 1, 100, int64(1000+i), int64(1010+i))
			}
			s.Expire(1000 + int64(n/2))
			b, _ := s.MarshalBinary()
			f.Add(b)
		}
	}
	f.Add([]byte("CNSK\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sketch
		if err := s.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrInvalidEncoding) {
				t.Fatalf("error %v does not wrap ErrInvalidEncoding", err)
			}
			return
		}
		again, _ := s.MarshalBinary()
		if b[len(magic)] == encodingVersion && string(again) != string(b) {
			t.Fatalf("accepted input is not the canonical encoding")
		}
		var d Sketch
		if err := d.UnmarshalBinary(again); err != nil || !d.Equal(&s) {
			t.Fatalf("accepted input does not round-trip: %v", err)
		}
		// Whatever was accepted must be safe to use.
		s.Items()
		s.DistinctSources()
		s.Observe(netip.MustParseAddr("10.1.2.3"), 6, 1, 1, 1, 1, 1)
		s.Observe(netip.MustParseAddr("2001:db8::7"), 6, 1, 1, 1, 1, 1)
		s.Merge(&d)
		_ = s.MemSize()
	})
}
