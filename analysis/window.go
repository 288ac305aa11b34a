package analysis

import (
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// A windowed accumulator is one whose sketch configuration has a time slot
// (sketch.Config.Slot > 0). It files every record in the slot of its start
// (its end when the start is zero): the per-rule sketches keep their counters
// per slot and the latest slot of every source and port, and the accumulator
// keeps its stats and unknown interfaces per slot. Expire then drops what lies
// before a slot boundary, so that one accumulator holds a sliding window
// instead of one accumulator per time bucket. Merging stays commutative and
// associative (slots add by start, times merge by maximum).

// protocolConfig is the configuration of a -1 rule's per-protocol sketches:
// only their sources and ports are read, so a windowed accumulator keeps
// their times but not their counters per slot.
func protocolConfig(cfg sketch.Config) sketch.Config {
	if cfg.Slot > 0 {
		cfg.TimesOnly = true
	}
	return cfg
}

// statSlot is the part of an accumulator's stats and unknown interfaces of one
// time slot.
type statSlot struct {
	Start   int64
	stats   Stats
	unknown map[string]*uint64
}

// slotStart returns the start of the slot of time t.
func slotStart(t, slot int64) int64 {
	m := t % slot
	if m < 0 {
		m += slot
	}
	return t - m
}

// recordTime is the time a record is filed under: its start, else its end.
func recordTime(rec *flowlog.Record) int64 {
	if rec.Start != 0 {
		return rec.Start
	}
	return rec.End
}

// slotOf returns the stats slot of rec, creating it.
func (a *Accumulator) slotOf(rec *flowlog.Record) *statSlot {
	st := slotStart(recordTime(rec), a.cfg.Slot)
	i := len(a.slots)
	for i > 0 && a.slots[i-1].Start > st {
		i--
	}
	if i > 0 && a.slots[i-1].Start == st {
		return &a.slots[i-1]
	}
	a.slots = append(a.slots, statSlot{})
	copy(a.slots[i+1:], a.slots[i:])
	a.slots[i] = statSlot{Start: st}
	return &a.slots[i]
}

// add files in sl what observing rec changed in the stats (before → now).
func (sl *statSlot) add(now, before *Stats, rec *flowlog.Record, out Outcome) {
	s := &sl.stats
	s.Records += now.Records - before.Records
	s.NoData += now.NoData - before.NoData
	s.SkipData += now.SkipData - before.SkipData
	s.Rejected += now.Rejected - before.Rejected
	s.Unattributed += now.Unattributed - before.Unattributed
	s.Undetermined += now.Undetermined - before.Undetermined
	s.Responses += now.Responses - before.Responses
	s.Inbound += now.Inbound - before.Inbound
	s.Outbound += now.Outbound - before.Outbound
	s.Ambiguous += now.Ambiguous - before.Ambiguous
	s.Unmatched += now.Unmatched - before.Unmatched
	s.NoGroups += now.NoGroups - before.NoGroups
	if out == Attributed {
		if s.WindowFrom == 0 || (rec.Start != 0 && rec.Start < s.WindowFrom) {
			s.WindowFrom = rec.Start
		}
		if rec.End > s.WindowTo {
			s.WindowTo = rec.End
		}
	}
}

// addStats adds o's counters to s, widening its time span.
func addStats(s *Stats, o Stats) {
	s.Records += o.Records
	s.NoData += o.NoData
	s.SkipData += o.SkipData
	s.Rejected += o.Rejected
	s.Unattributed += o.Unattributed
	s.Undetermined += o.Undetermined
	s.Responses += o.Responses
	s.Inbound += o.Inbound
	s.Outbound += o.Outbound
	s.Ambiguous += o.Ambiguous
	s.Unmatched += o.Unmatched
	s.NoGroups += o.NoGroups
	if o.WindowFrom != 0 && (s.WindowFrom == 0 || o.WindowFrom < s.WindowFrom) {
		s.WindowFrom = o.WindowFrom
	}
	if o.WindowTo > s.WindowTo {
		s.WindowTo = o.WindowTo
	}
}

func mergeUnknown(dst, src map[string]*uint64) {
	for k, v := range src {
		if p := dst[k]; p != nil {
			*p += *v
		} else {
			n := *v
			dst[k] = &n
		}
	}
}

// mergeSlots adds o's stats slots to a's.
func (a *Accumulator) mergeSlots(o *Accumulator) {
	if a.cfg.Slot <= 0 || len(o.slots) == 0 {
		return
	}
	out := make([]statSlot, 0, len(a.slots)+len(o.slots))
	i, j := 0, 0
	for i < len(a.slots) || j < len(o.slots) {
		switch {
		case j == len(o.slots) || (i < len(a.slots) && a.slots[i].Start < o.slots[j].Start):
			out = append(out, a.slots[i])
			i++
		default:
			sl := o.slots[j]
			c := statSlot{Start: sl.Start, stats: sl.stats}
			if i < len(a.slots) && a.slots[i].Start == sl.Start {
				c = a.slots[i]
				addStats(&c.stats, sl.stats)
				i++
			}
			if len(sl.unknown) > 0 {
				if c.unknown == nil {
					c.unknown = map[string]*uint64{}
				}
				mergeUnknown(c.unknown, sl.unknown) // copies: never shares o's counters
			}
			out = append(out, c)
			j++
		}
	}
	a.slots = out
}

// addCount adds n to the count of slot start in cs (sorted by start).
func addCount(cs []SlotCount, start int64, n uint64) []SlotCount {
	i := len(cs)
	for i > 0 && cs[i-1].Start > start {
		i--
	}
	if i > 0 && cs[i-1].Start == start {
		cs[i-1].N += n
		return cs
	}
	cs = append(cs, SlotCount{})
	copy(cs[i+1:], cs[i:])
	cs[i] = SlotCount{Start: start, N: n}
	return cs
}

// mergeCounts returns the slot-wise sum of a and b (a may be reused).
func mergeCounts(a, b []SlotCount) []SlotCount {
	for _, c := range b {
		a = addCount(a, c.Start, c.N)
	}
	return a
}

// expire drops what rs saw before slot b and reports whether it is now empty.
func (rs *RuleState) expire(before int64) bool {
	if rs.Sketch == nil {
		return true
	}
	empty := rs.Sketch.Expire(before)
	w := 0
	for _, up := range rs.Uncertain {
		if !up.Sketch.Expire(before) {
			up.Primary, up.primary = expireCounts(up.Primary, up.primary, before)
			rs.Uncertain[w] = up
			w++
		}
	}
	clear(rs.Uncertain[w:])
	rs.Uncertain = rs.Uncertain[:w]
	if empty && w == 0 {
		*rs = RuleState{}
		return true
	}
	w = 0
	for _, ps := range rs.ByProtocol {
		if !ps.Sketch.Expire(before) {
			rs.ByProtocol[w] = ps
			w++
		}
	}
	clear(rs.ByProtocol[w:])
	rs.ByProtocol = rs.ByProtocol[:w]
	rs.Primary, rs.primary = expireCounts(rs.Primary, rs.primary, before)
	return false
}

// expireCounts drops from cs (summing to total) the slots before before and
// returns the new total and slots.
func expireCounts(total uint64, cs []SlotCount, before int64) (uint64, []SlotCount) {
	k := 0
	for k < len(cs) && cs[k].Start < before {
		total -= cs[k].N
		k++
	}
	return total, append(cs[:0], cs[k:]...)
}

// oldest returns the start of the oldest time slot rs holds (false: none).
func (rs *RuleState) oldest() (int64, bool) {
	old, ok := rs.Sketch.Oldest()
	for _, up := range rs.Uncertain {
		if o, k := up.Sketch.Oldest(); k && (!ok || o < old) {
			old, ok = o, true
		}
	}
	return old, ok
}

// Expire drops from a windowed accumulator everything filed before the slot
// that contains before (unix seconds): the expiry granularity is the slot. The
// rules whose usage changed are added to the tracked set. Stats, unknown
// interfaces and the usage of orphaned rules expire alike; an accumulator that
// is not windowed is left as it is.
//
// The per-interface observations (coverage) and port evidence (attribution)
// expire at the same slot boundary.
func (a *Accumulator) Expire(before int64) {
	if a.cfg.Slot <= 0 {
		return
	}
	b := slotStart(before, a.cfg.Slot)
	if len(a.slots) > 0 && a.slots[0].Start >= b {
		return // every rule's oldest slot is one of the accumulator's
	}
	a.obs.expire(b)
	a.ExpireEvidence(b)
	if len(a.slots) == 0 {
		return
	}
	for i := range a.rules {
		rs := &a.rules[i]
		if rs.Sketch == nil {
			continue
		}
		if old, ok := rs.oldest(); ok && old >= b {
			continue
		}
		rs.expire(b)
		if a.track != nil {
			a.track.Add(i)
		}
	}
	for k, rs := range a.orphans {
		if rs.expire(b) {
			delete(a.orphans, k)
		}
	}
	k := 0
	for k < len(a.slots) && a.slots[k].Start < b {
		k++
	}
	a.slots = append(a.slots[:0], a.slots[k:]...)
	a.stats = Stats{}
	a.unknown = map[string]*uint64{}
	for _, sl := range a.slots {
		addStats(&a.stats, sl.stats)
		mergeUnknown(a.unknown, sl.unknown)
	}
	a.lastENI, a.lastSegs = a.lastENI[:0], nil
}

// Oldest returns the start of the oldest time slot a windowed accumulator
// holds, and false when it holds none.
func (a *Accumulator) Oldest() (int64, bool) {
	if len(a.slots) == 0 {
		return 0, false
	}
	return a.slots[0].Start, true
}

// Series returns rule i's usage per time slot, oldest first (nil when the
// accumulator is not windowed or the rule unused).
func (a *Accumulator) Series(i int) []sketch.Slot {
	if s := a.rules[i].Sketch; s != nil {
		return s.Series()
	}
	return nil
}

// SeriesSources returns rule i's distinct sources per time slot, aligned with
// Series (nil when the accumulator keeps no counters per slot or the rule is
// unused); see sketch.Sketch.SeriesSources.
func (a *Accumulator) SeriesSources(i int) []sketch.SlotSources {
	if s := a.rules[i].Sketch; s != nil {
		return s.SeriesSources()
	}
	return nil
}

// Orphans returns the number of rules whose usage is kept while the engine
// lacks them.
func (a *Accumulator) Orphans() int { return len(a.orphans) }

// adoptOrphan keeps the usage rs of a rule the engine lacks under its key.
func (a *Accumulator) adoptOrphan(key string, rs *RuleState) {
	if a.orphans == nil {
		a.orphans = map[string]*RuleState{}
	}
	if p := a.orphans[key]; p != nil {
		p.merge(rs, a.cfg)
		return
	}
	c := &RuleState{}
	c.merge(rs, a.cfg)
	a.orphans[key] = c
}
