package analysis

import (
	"sort"

	"github.com/cinch-sg/cinch/stream/flowlog"
)

// ObservationTolerance is G, in seconds: a record covering [start, end]
// shows that the interface's logging was on over [start, end+G). Flow logs
// write one record per capture window (an aggregation interval of at most
// 10 minutes) for an interface whose logging is on, NODATA when it was idle,
// so consecutive records of a logged interface lie at most one aggregation
// interval apart; G bridges that gap and nothing wider.
const ObservationTolerance = 600

// Spans is a canonical set of half-open time intervals [from, to) in unix
// seconds: sorted, disjoint and not touching, stored as flat pairs. Its union
// (Add, Merge) is exact, commutative and associative.
type Spans struct {
	p []int64 // from0, to0, from1, to1, ...
}

// Len returns the number of intervals.
func (s *Spans) Len() int { return len(s.p) / 2 }

// At returns interval i.
func (s *Spans) At(i int) (from, to int64) { return s.p[2*i], s.p[2*i+1] }

// Empty reports whether the set holds nothing.
func (s *Spans) Empty() bool { return len(s.p) == 0 }

// Add unions [from, to) into the set. Adding to or inside the last interval
// (records of an interface mostly arrive in time order) allocates nothing.
func (s *Spans) Add(from, to int64) {
	if to <= from {
		return
	}
	n := len(s.p)
	// Fast paths: extends or lies in the last interval, or comes after it.
	if n > 0 {
		lf, lt := s.p[n-2], s.p[n-1]
		if from >= lf && from <= lt {
			if to > lt {
				s.p[n-1] = to
			}
			return
		}
		if from > lt {
			s.p = append(s.p, from, to)
			return
		}
	} else {
		s.p = append(s.p, from, to)
		return
	}
	// General case: first interval whose end reaches from.
	i := sort.Search(n/2, func(k int) bool { return s.p[2*k+1] >= from })
	j := i // first interval starting after to
	for j < n/2 && s.p[2*j] <= to {
		j++
	}
	if i == j {
		// No overlap: insert at i.
		s.p = append(s.p, 0, 0)
		copy(s.p[2*i+2:], s.p[2*i:n])
		s.p[2*i], s.p[2*i+1] = from, to
		return
	}
	nf, nt := min(from, s.p[2*i]), max(to, s.p[2*j-1])
	s.p[2*i], s.p[2*i+1] = nf, nt
	if j > i+1 {
		s.p = append(s.p[:2*i+2], s.p[2*j:]...)
	}
}

// Merge unions o into s.
func (s *Spans) Merge(o *Spans) {
	for i := 0; i < len(o.p); i += 2 {
		s.Add(o.p[i], o.p[i+1])
	}
}

// Covers reports whether [from, to) lies inside one interval of the set.
func (s *Spans) Covers(from, to int64) bool {
	if to <= from {
		return true
	}
	i := sort.Search(len(s.p)/2, func(k int) bool { return s.p[2*k+1] > from })
	return i < len(s.p)/2 && s.p[2*i] <= from && s.p[2*i+1] >= to
}

// Overlaps reports whether some interval of the set meets [from, to).
func (s *Spans) Overlaps(from, to int64) bool {
	if to <= from {
		return false
	}
	i := sort.Search(len(s.p)/2, func(k int) bool { return s.p[2*k+1] > from })
	return i < len(s.p)/2 && s.p[2*i] < to
}

// Gaps appends to dst the parts of [from, to) that the set does not cover,
// in order.
func (s *Spans) Gaps(from, to int64, dst []int64) []int64 {
	cur := from
	i := sort.Search(len(s.p)/2, func(k int) bool { return s.p[2*k+1] > from })
	for ; i < len(s.p)/2 && cur < to; i++ {
		f, t := s.p[2*i], s.p[2*i+1]
		if f >= to {
			break
		}
		if f > cur {
			dst = append(dst, cur, f)
		}
		cur = max(cur, t)
	}
	if cur < to {
		dst = append(dst, cur, to)
	}
	return dst
}

// expire drops the intervals that end at or before before.
func (s *Spans) expire(before int64) {
	i := sort.Search(len(s.p)/2, func(k int) bool { return s.p[2*k+1] > before })
	if i > 0 {
		s.p = append(s.p[:0], s.p[2*i:]...)
	}
}

// Clone returns a copy of the set.
func (s *Spans) Clone() Spans { return Spans{p: append([]int64(nil), s.p...)} }

// Pairs returns the intervals as flat pairs (from, to, from, to, ...); the
// slice is the set's own.
func (s *Spans) Pairs() []int64 { return s.p }

// SpansOf builds a set from flat pairs, in any order and overlapping.
func SpansOf(pairs ...int64) Spans {
	var s Spans
	for i := 0; i+1 < len(pairs); i += 2 {
		s.Add(pairs[i], pairs[i+1])
	}
	return s
}

// Observation is what the records of one interface show of its logging:
// when it was on (each record with a time covers [start, end+G)): On from
// accepted-traffic and NODATA records, Rejects from REJECT records (they
// count too, unless the flow-log configuration shows that the interface is
// logged REJECT-only, which says nothing of accepted traffic); when records
// were skipped (SKIPDATA, [start, end]); and the latest record end.
//
// Memory: two intervals (32 bytes) per stretch of continuous logging; two
// intervals of the same set lie more than G apart, so a window of W seconds
// holds at most W/G+1 of them per interface (4,321 for 30 days, typically 1).
type Observation struct {
	On, Rejects, Skipped Spans
	End                  int64 // latest record end (unix s)
}

func (o *Observation) merge(x *Observation) {
	o.On.Merge(&x.On)
	o.Rejects.Merge(&x.Rejects)
	o.Skipped.Merge(&x.Skipped)
	o.End = max(o.End, x.End)
}

func (o *Observation) expire(before int64) {
	o.On.expire(before)
	o.Rejects.expire(before)
	o.Skipped.expire(before)
}

func (o *Observation) empty() bool { return o.On.Empty() && o.Rejects.Empty() && o.Skipped.Empty() }

func (o *Observation) clone() *Observation {
	return &Observation{On: o.On.Clone(), Rejects: o.Rejects.Clone(), Skipped: o.Skipped.Clone(), End: o.End}
}

// observations is every interface's Observation, with the one last
// observed (records of one interface often come in runs).
type observations struct {
	m      map[string]*Observation
	lastID []byte
	last   *Observation
}

func newObservations() observations { return observations{m: map[string]*Observation{}} }

// observe records what rec shows of its interface's logging. Lines that fail
// to parse never get here; records without an interface or a time observe
// nothing. It allocates only for an interface's first record and when its
// records arrive out of order.
func (a *Accumulator) observe(rec *flowlog.Record) {
	if len(rec.InterfaceID) == 0 || (rec.Start == 0 && rec.End == 0) {
		return
	}
	from, to := rec.Start, rec.End
	if from == 0 {
		from = to
	}
	if to < from {
		to = from
	}
	ob := &a.obs
	var o *Observation
	if ob.last != nil && string(rec.InterfaceID) == string(ob.lastID) {
		o = ob.last
	} else {
		o = ob.m[string(rec.InterfaceID)]
		if o == nil {
			o = &Observation{}
			ob.m[string(rec.InterfaceID)] = o
		}
		ob.lastID = append(ob.lastID[:0], rec.InterfaceID...)
		ob.last = o
	}
	switch {
	case rec.LogStatus == flowlog.StatusSkipData:
		o.Skipped.Add(from, to+1)
	case rec.LogStatus != flowlog.StatusNoData && rec.Action == flowlog.ActionReject:
		o.Rejects.Add(from, to+ObservationTolerance)
	default:
		o.On.Add(from, to+ObservationTolerance)
	}
	o.End = max(o.End, to)
}

// allInterfaces keys the marks that concern every interface: times over
// which the input is known to have missed records, whatever their interface.
// No record has an empty interface id, so it never meets one.
const allInterfaces = ""

// MarkPartial records that the input missed records of any interface over
// [from, to) (unix s) — Live Tail's sampling, or the gap between two of its
// sessions. Every group an interface carried then is judged as after
// SKIPDATA: its verdicts stand, with low confidence (partial-logging). The
// mark merges, checkpoints and expires like the records' observations.
func (a *Accumulator) MarkPartial(from, to int64) {
	if to <= from {
		return
	}
	o := a.obs.m[allInterfaces]
	if o == nil {
		o = &Observation{}
		a.obs.m[allInterfaces] = o
	}
	o.Skipped.Add(from, to)
}

// Observation returns what the records showed of interface id's logging
// (nil when no record of it was seen). The result is the accumulator's own.
func (a *Accumulator) Observation(id string) *Observation { return a.obs.m[id] }

// ObservedInterfaces returns the ids of the interfaces records were seen of, sorted.
func (a *Accumulator) ObservedInterfaces() []string {
	out := make([]string, 0, len(a.obs.m))
	for k := range a.obs.m {
		if k != allInterfaces {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// mergeObservations adds o's observations to a.
func (a *Accumulator) mergeObservations(o *Accumulator) { a.obs.merge(&o.obs) }

func (ob *observations) merge(o *observations) {
	for k, v := range o.m {
		if p := ob.m[k]; p != nil {
			p.merge(v)
		} else {
			ob.m[k] = v.clone()
		}
	}
}

// expire drops the observation state that lies wholly before before (unix
// s): intervals that end by then, and interfaces left empty.
func (ob *observations) expire(before int64) {
	for k, o := range ob.m {
		o.expire(before)
		if o.empty() && o.End < before {
			delete(ob.m, k)
		}
	}
	ob.lastID, ob.last = nil, nil
}

// ExpireObservations drops the observation state wholly before before (unix
// s), for the daemon's window.
func (a *Accumulator) ExpireObservations(before int64) { a.obs.expire(before) }

// observationWindow returns the span of the records a observed: the earliest
// start and the latest end (zero when none).
func (a *Accumulator) observationWindow() (from, to int64) {
	first := true
	for k, o := range a.obs.m {
		if k == allInterfaces {
			continue // marks, not records: they may reach beyond the records
		}
		for _, s := range []*Spans{&o.On, &o.Rejects, &o.Skipped} {
			if s.Empty() {
				continue
			}
			if f, _ := s.At(0); first || f < from {
				from, first = f, false
			}
		}
		to = max(to, o.End)
	}
	return from, to
}
