package analysis

import (
	"bytes"
	"encoding/gob"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// model is the set of covered unit slots [i, i+1) of a small time line.
type model [80]bool

func (m *model) add(f, t int64) {
	for i := f; i < t; i++ {
		m[i] = true
	}
}

func checkCanonical(t *testing.T, s *Spans) {
	t.Helper()
	p := s.Pairs()
	for i := 0; i+1 < len(p); i += 2 {
		if p[i] >= p[i+1] {
			t.Fatalf("empty interval in %v", p)
		}
		if i+2 < len(p) && p[i+1] >= p[i+2] {
			t.Fatalf("overlapping or touching intervals in %v", p)
		}
	}
}

func toModel(s *Spans) model {
	var m model
	for i := range s.Len() {
		f, t := s.At(i)
		m.add(f, t)
	}
	return m
}

func randSpans(r *rand.Rand, n int) (Spans, model) {
	var s Spans
	var m model
	for range n {
		f := r.Int64N(60)
		t := f + r.Int64N(6)
		s.Add(f, t)
		m.add(f, t)
	}
	return s, m
}

func TestSpansMatchModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s, m := randSpans(r, r.IntN(12))
		checkCanonical(t, &s)
		if got := toModel(&s); got != m {
			t.Fatalf("spans %v cover %v, want %v", s.Pairs(), got, m)
		}
		f := r.Int64N(60)
		to := f + r.Int64N(8)
		covers, overlaps := true, false
		for i := f; i < to; i++ {
			covers = covers && m[i]
			overlaps = overlaps || m[i]
		}
		if s.Covers(f, to) != covers || s.Overlaps(f, to) != overlaps {
			t.Fatalf("%v: Covers(%d,%d)=%v Overlaps=%v, want %v %v", s.Pairs(), f, to, s.Covers(f, to), s.Overlaps(f, to), covers, overlaps)
		}
		var gm model
		g := s.Gaps(f, to, nil)
		for i := 0; i < len(g); i += 2 {
			gm.add(g[i], g[i+1])
		}
		for i := f; i < to; i++ {
			if gm[i] == m[i] {
				t.Fatalf("%v: Gaps(%d,%d)=%v wrong at %d", s.Pairs(), f, to, g, i)
			}
		}
		// expire drops exactly the intervals ending by before.
		before := r.Int64N(64)
		e := s.Clone()
		e.expire(before)
		for i := range s.Len() {
			fi, ti := s.At(i)
			if (ti > before) != e.Covers(fi, ti) {
				t.Fatalf("expire(%d) of %v gave %v", before, s.Pairs(), e.Pairs())
			}
		}
	}
}

func TestSpansMergeIsCommutativeAndAssociative(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		a, _ := randSpans(r, r.IntN(8))
		b, _ := randSpans(r, r.IntN(8))
		c, _ := randSpans(r, r.IntN(8))
		ab := a.Clone()
		ab.Merge(&b)
		ba := b.Clone()
		ba.Merge(&a)
		if !slices.Equal(ab.Pairs(), ba.Pairs()) {
			t.Fatalf("a∪b %v != b∪a %v", ab.Pairs(), ba.Pairs())
		}
		abc := ab.Clone()
		abc.Merge(&c)
		bc := b.Clone()
		bc.Merge(&c)
		abc2 := a.Clone()
		abc2.Merge(&bc)
		if !slices.Equal(abc.Pairs(), abc2.Pairs()) {
			t.Fatalf("(a∪b)∪c %v != a∪(b∪c) %v", abc.Pairs(), abc2.Pairs())
		}
		checkCanonical(t, &abc)
	}
}

// observeAcc returns an accumulator on an inventory with one interface.
func observeAcc(t *testing.T) *Accumulator {
	t.Helper()
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-1", Rules: []inventory.Rule{{GroupID: "sg-1", Protocol: 6, FromPort: 443, ToPort: 443, Source: inventory.CIDRSource(netip.MustParsePrefix("0.0.0.0/0"))}}})
	inv.AddENI(inventory.ENI{ID: "eni-1", Groups: []string{"sg-1"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}})
	return NewAccumulator(NewEngine(inv), sketch.DefaultConfig())
}

func parseRec(t *testing.T, line string) flowlog.Record {
	t.Helper()
	var rec flowlog.Record
	if err := flowlog.NewParser(flowlog.DefaultFormat()).Parse([]byte(line), &rec); err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return rec
}

func TestObserveEveryStatusAndAction(t *testing.T) {
	acc := observeAcc(t)
	G := int64(ObservationTolerance)
	for _, l := range []string{
		"2 123456789012 eni-1 198.51.100.1 10.0.0.1 40000 443 6 3 300 1000 1060 ACCEPT OK",
		"2 123456789012 eni-1 198.51.100.1 10.0.0.1 40000 23 6 3 300 1100 1160 REJECT OK",
		"2 123456789012 eni-1 - - - - - - - 5000 5060 - NODATA",
		"2 123456789012 eni-1 - - - - - - - 9000 9060 - SKIPDATA",
		"2 123456789012 eni-unknown 198.51.100.1 10.0.0.9 40000 443 6 3 300 1000 1060 ACCEPT OK",
	} {
		rec := parseRec(t, l)
		acc.Observe(&rec)
	}
	o := acc.Observation("eni-1")
	if o == nil {
		t.Fatal("eni-1 not observed")
	}
	if want := []int64{1000, 1060 + G, 5000, 5060 + G}; !slices.Equal(o.On.Pairs(), want) {
		t.Fatalf("on %v, want %v", o.On.Pairs(), want)
	}
	if want := []int64{1100, 1160 + G}; !slices.Equal(o.Rejects.Pairs(), want) {
		t.Fatalf("rejects %v, want %v", o.Rejects.Pairs(), want)
	}
	if want := []int64{9000, 9061}; !slices.Equal(o.Skipped.Pairs(), want) {
		t.Fatalf("skipped %v, want %v", o.Skipped.Pairs(), want)
	}
	if o.End != 9060 {
		t.Fatalf("end %d", o.End)
	}
	if u := acc.Observation("eni-unknown"); u == nil || !u.On.Covers(1000, 1060) {
		t.Fatal("an interface the inventory lacks is observed too")
	}

	// Snapshot round trip through gob, and a snapshot without the field.
	snap, err := acc.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(snap); err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatal(err)
	}
	r := NewAccumulator(acc.Engine(), sketch.DefaultConfig())
	if _, err := r.Restore(back); err != nil {
		t.Fatal(err)
	}
	if got := r.Observation("eni-1"); got == nil || !slices.Equal(got.On.Pairs(), o.On.Pairs()) || !slices.Equal(got.Rejects.Pairs(), o.Rejects.Pairs()) || !slices.Equal(got.Skipped.Pairs(), o.Skipped.Pairs()) || got.End != o.End {
		t.Fatalf("restored %+v, want %+v", got, o)
	}
	type oldSnapshot struct {
		Rules   []RuleSnapshot
		Stats   Stats
		Unknown map[string]uint64
	}
	buf.Reset()
	if err := gob.NewEncoder(&buf).Encode(oldSnapshot{Stats: Stats{Records: 3}}); err != nil {
		t.Fatal(err)
	}
	var old Snapshot
	if err := gob.NewDecoder(&buf).Decode(&old); err != nil {
		t.Fatalf("a snapshot from before coverage does not decode: %v", err)
	}
	r2 := NewAccumulator(acc.Engine(), sketch.DefaultConfig())
	if _, err := r2.Restore(old); err != nil || r2.Stats().Records != 3 {
		t.Fatalf("old snapshot: %v %+v", err, r2.Stats())
	}

	// Expire drops what lies wholly before.
	acc.ExpireObservations(5000)
	if o := acc.Observation("eni-1"); o.On.Len() != 1 || o.Rejects.Len() != 0 || o.Skipped.Len() != 1 {
		t.Fatalf("after expire(5000): %v %v", o.On.Pairs(), o.Skipped.Pairs())
	}
	if acc.Observation("eni-unknown") != nil {
		t.Fatal("an interface whose observation all lies before the cut is dropped")
	}
}

func TestObservationMergeMatchesOneAccumulator(t *testing.T) {
	// Records split over three accumulators, merged in two orders, equal the
	// records observed by one.
	r := rand.New(rand.NewPCG(5, 6))
	one := observeAcc(t)
	eng := one.Engine()
	parts := []*Accumulator{NewAccumulator(eng, sketch.DefaultConfig()), NewAccumulator(eng, sketch.DefaultConfig()), NewAccumulator(eng, sketch.DefaultConfig())}
	for i := range 300 {
		var rec flowlog.Record
		rec.InterfaceID = []byte([]string{"eni-1", "eni-2", "eni-3"}[r.IntN(3)])
		rec.Start = r.Int64N(100000)
		rec.End = rec.Start + r.Int64N(600)
		rec.LogStatus = []flowlog.LogStatus{flowlog.StatusOK, flowlog.StatusNoData, flowlog.StatusSkipData}[r.IntN(3)]
		rec.Action = []flowlog.Action{flowlog.ActionAccept, flowlog.ActionReject}[r.IntN(2)]
		one.Observe(&rec)
		parts[i%3].Observe(&rec)
	}
	m1 := NewAccumulator(one.Engine(), sketch.DefaultConfig())
	for _, p := range parts {
		if err := m1.Merge(p); err != nil {
			t.Fatal(err)
		}
	}
	m2 := NewAccumulator(one.Engine(), sketch.DefaultConfig())
	for _, i := range []int{2, 0, 1} {
		if err := m2.Merge(parts[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range one.ObservedInterfaces() {
		want := one.Observation(id)
		for _, m := range []*Accumulator{m1, m2} {
			got := m.Observation(id)
			if !slices.Equal(got.On.Pairs(), want.On.Pairs()) || !slices.Equal(got.Rejects.Pairs(), want.Rejects.Pairs()) || !slices.Equal(got.Skipped.Pairs(), want.Skipped.Pairs()) || got.End != want.End {
				t.Fatalf("%s merged %+v, want %+v", id, got, want)
			}
		}
	}
}

// Observation intervals round-trip through their compact snapshot form.
func TestPackSpans(t *testing.T) {
	for _, pairs := range [][]int64{nil, {100, 700}, {-50, 10, 20, 30, 1764000000, 1764000600}, {0, 0}} {
		got, err := unpackSpans(packSpans(pairs))
		if err != nil || !slices.Equal(got, pairs) {
			t.Errorf("%v: got %v, %v", pairs, got, err)
		}
	}
	if _, err := unpackSpans([]byte{0x02, 0xff}); err == nil {
		t.Error("a cut-short encoding decoded")
	}
}
