package sketch

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

// Slot is the usage a windowed sketch saw in one time slot (see [Config.Slot]).
type Slot struct {
	// Start is the slot's start, unix seconds, a multiple of Config.Slot.
	Start int64
	// Flows, Packets and Bytes sum the slot's records.
	Flows, Packets, Bytes uint64
	// FirstSeen is the earliest start and LastSeen the latest end of its records.
	FirstSeen, LastSeen int64
}

// slotOf returns the start of the slot of time t (slot > 0), clamped to what a uint32
// holds (the times items and ports keep).
func slotOf(t, slot int64) uint32 {
	t -= ((t % slot) + slot) % slot
	return uint32(min(max(t, 0), math.MaxUint32-slot+1))
}

// observeSlot returns the start of the slot of a record and, when count is set, adds
// the record to that slot's counters.
func (s *Sketch) observeSlot(packets, bytes uint64, start, end int64, count bool) uint32 {
	t := start
	if t == 0 {
		t = end
	}
	ts := slotOf(t, s.cfg.Slot)
	if !count {
		return ts
	}
	st := int64(ts)
	i := len(s.slots)
	for i > 0 && s.slots[i-1].Start > st {
		i--
	}
	if i == 0 || s.slots[i-1].Start != st {
		s.slots = insertCapped(s.slots, i, Slot{Start: st}, math.MaxInt)
		i++
	}
	sl := &s.slots[i-1]
	sl.Flows++
	sl.Packets += packets
	sl.Bytes += bytes
	widen(&sl.FirstSeen, &sl.LastSeen, start, end)
	return ts
}

// mergeSlots adds o's slots to s's. Sketches of different slot lengths merge into a
// sketch without slots (Config.Slot 0), which can no longer expire.
func (s *Sketch) mergeSlots(o *Sketch) {
	if s.cfg.Slot != o.cfg.Slot || s.cfg.TimesOnly != o.cfg.TimesOnly {
		s.cfg.Slot, s.cfg.TimesOnly, s.slots = 0, false, nil
		return
	}
	if len(o.slots) == 0 {
		return
	}
	out := make([]Slot, 0, len(s.slots)+len(o.slots))
	i, j := 0, 0
	for i < len(s.slots) || j < len(o.slots) {
		switch {
		case j == len(o.slots) || (i < len(s.slots) && s.slots[i].Start < o.slots[j].Start):
			out = append(out, s.slots[i])
			i++
		case i == len(s.slots) || o.slots[j].Start < s.slots[i].Start:
			out = append(out, o.slots[j])
			j++
		default:
			a, b := s.slots[i], o.slots[j]
			a.Flows += b.Flows
			a.Packets += b.Packets
			a.Bytes += b.Bytes
			if b.FirstSeen != 0 && (a.FirstSeen == 0 || b.FirstSeen < a.FirstSeen) {
				a.FirstSeen = b.FirstSeen
			}
			a.LastSeen = max(a.LastSeen, b.LastSeen)
			out = append(out, a)
			i++
			j++
		}
	}
	s.slots = out
}

// CloneUntimed returns a deep copy of s without its slots, as an untimed sketch
// (Config.Slot 0): what merging into a sketch that only needs the window's totals
// wants.
func (s *Sketch) CloneUntimed() *Sketch {
	slots := s.slots
	s.slots = nil
	c := s.Clone()
	s.slots = slots
	c.cfg.Slot, c.cfg.TimesOnly = 0, false
	c.fam4.keepSeen(0)
	c.fam6.keepSeen(0)
	return c
}

// Series returns a copy of the per-slot counters, oldest first (nil when the sketch
// is not windowed).
func (s *Sketch) Series() []Slot {
	if len(s.slots) == 0 {
		return nil
	}
	return append([]Slot(nil), s.slots...)
}

// Oldest returns the start of the oldest slot, and false when there is none.
func (s *Sketch) Oldest() (int64, bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	return s.slots[0].Start, true
}

// Expire drops from a windowed sketch everything last seen before the slot that
// contains before: the slots' counters, the exact sources, the aggregates none of
// whose addresses was seen since, the ports (or coarse port buckets). The counters
// then sum the remaining slots. It reports whether the sketch is now empty.
//
// What remains is what observing only the records of the remaining slots would have
// produced, with two exceptions that can only make it cover more: an aggregate stays
// whole (prefix and HyperLogLog) while any of its addresses is recent, and a port set
// that became coarse stays coarse until every bucket has aged out. With no aggregate
// and no coarse port set left, the sketch equals the one those records would build.
// A sketch that is not windowed is left as it is.
func (s *Sketch) Expire(before int64) bool {
	if s.cfg.Slot <= 0 {
		return s.Flows == 0
	}
	b := slotOf(before, s.cfg.Slot)
	if !s.cfg.TimesOnly {
		if len(s.slots) == 0 || s.slots[0].Start >= int64(b) {
			return s.Flows == 0 // every item and port was seen in a slot still held
		}
		k := 0
		for k < len(s.slots) && s.slots[k].Start < int64(b) {
			k++
		}
		s.slots = append(s.slots[:0], s.slots[k:]...)
		s.Flows, s.Packets, s.Bytes, s.FirstSeen, s.LastSeen = 0, 0, 0, 0, 0
		for _, sl := range s.slots {
			s.Flows += sl.Flows
			s.Packets += sl.Packets
			s.Bytes += sl.Bytes
			s.seen(sl.FirstSeen, sl.LastSeen)
		}
	}
	s.fam4.expire(b)
	s.fam6.expire(b)
	w := 0
	for _, pp := range s.protos {
		if !pp.ports.expire(b) {
			s.protos[w] = pp
			w++
		}
	}
	clear(s.protos[w:])
	s.protos = s.protos[:w]
	s.last4, s.lastPort = 0, 0
	if s.cfg.TimesOnly && len(s.fam4.items)+len(s.fam6.items)+len(s.protos) == 0 {
		s.Flows, s.Packets, s.Bytes, s.FirstSeen, s.LastSeen = 0, 0, 0, 0, 0
	}
	return s.Flows == 0
}

// Stamp files everything an untimed sketch holds (one decoded from a version 1
// encoding, which kept no times) in the slot of time t under cfg's Slot (> 0) and
// TimesOnly, making it windowed. It serves to read state written before sketches kept
// time.
func (s *Sketch) Stamp(cfg Config, t int64) {
	if cfg.Slot <= 0 {
		return
	}
	s.cfg.Slot, s.cfg.TimesOnly = min(cfg.Slot, maxSlot), cfg.TimesOnly
	ts := slotOf(t, s.cfg.Slot)
	s.fam4.keepSeen(s.cfg.seenSlot())
	s.fam6.keepSeen(s.cfg.seenSlot())
	s.slots = nil
	if s.Flows > 0 && !cfg.TimesOnly {
		s.slots = []Slot{{Start: int64(ts), Flows: s.Flows, Packets: s.Packets, Bytes: s.Bytes, FirstSeen: s.FirstSeen, LastSeen: s.LastSeen}}
	}
	s.fam4.stamp(ts)
	s.fam6.stamp(ts)
	for i := range s.protos {
		s.protos[i].ports.stamp(ts)
	}
	s.last4, s.lastPort, s.lastTS = 0, 0, 0
}

// SlotSources is the number of distinct sources a windowed sketch saw in one time slot.
type SlotSources struct {
	// Sources counts the distinct source addresses of the slot's records.
	Sources uint64
	// Estimated is false when Sources is exact. It is true when an aggregate was
	// seen in the slot (its HyperLogLog estimate of all the addresses it holds,
	// seen in the slot or not, is counted: an upper estimate) or when the sketch
	// cannot tell which of its sources were seen in the slot (a slot 32 or more
	// slots before a source's latest one, or one older than the sketch's state
	// read from an encoding that lacked them: a lower bound).
	Estimated bool
}

// SeriesSources returns the distinct sources of each slot, aligned with [Sketch.Series]
// (nil when the sketch keeps no counters per slot). Each exact source remembers the
// slots it was seen in among the 32 up to its latest, which merges and expires exactly
// like the rest of the sketch, so the count is exact while no aggregate is involved.
func (s *Sketch) SeriesSources() []SlotSources {
	if len(s.slots) == 0 || s.cfg.seenSlot() == 0 {
		return nil
	}
	out := make([]SlotSources, len(s.slots))
	slotSources(out, s.slots, &s.fam4)
	slotSources(out, s.slots, &s.fam6)
	return out
}

func slotSources[K key[K]](out []SlotSources, slots []Slot, f *family[K]) {
	if len(f.items) == 0 || f.sn == nil {
		return
	}
	slot := int64(f.slot)
	index := func(start int64) int {
		j, ok := slices.BinarySearchFunc(slots, start, func(sl Slot, t int64) int { return cmp.Compare(sl.Start, t) })
		if !ok {
			return -1
		}
		return j
	}
	var newest int64
	for i := range f.items {
		it := &f.items[i]
		newest = max(newest, int64(it.last))
		n, agg := f.count(*it), it.agg() >= 0
		for m := f.sn.seen[i]; m != 0; m &= m - 1 {
			if j := index(int64(it.last) - int64(bits.TrailingZeros32(m))*slot); j >= 0 {
				out[j].Sources += n
				out[j].Estimated = out[j].Estimated || agg
			}
		}
	}
	for j, sl := range slots {
		if sl.Start < int64(f.sn.from) || newest-sl.Start >= seenBits*slot {
			out[j].Estimated = true
		}
	}
}
