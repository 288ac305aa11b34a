package analysis

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/cinch-sg/cinch/sketch"
)

// RuleSnapshot is one rule's usage in serialized form, keyed by the rule's
// stable key so it survives inventory reloads.
type RuleSnapshot struct {
	Key        string
	Sketch     []byte
	Primary    uint64
	ByProtocol []ProtocolSnapshot // -1 rules only
	Uncertain  []UncertainSnapshot
	// PrimarySlots splits Primary per time slot (windowed accumulators).
	PrimarySlots []SlotCount
}

// UncertainSnapshot is an UncertainPart, serialized.
type UncertainSnapshot struct {
	Protocol uint8
	Likely   bool
	Sketch   []byte
	Primary  uint64
	// PrimarySlots splits Primary per time slot (windowed accumulators).
	PrimarySlots []SlotCount
}

// ProtocolSnapshot is one protocol's sketch of a -1 rule, serialized.
type ProtocolSnapshot struct {
	Protocol uint8
	Sketch   []byte
}

// SlotSnapshot is the stats and unknown interfaces of one time slot.
type SlotSnapshot struct {
	Start   int64
	Stats   Stats
	Unknown map[string]uint64
}

// Snapshot is an accumulator in serialized form (checkpoints). Rules holds
// the rules of the engine and the orphans (rules it lacks, kept by key).
type Snapshot struct {
	Rules   []RuleSnapshot
	Stats   Stats
	Unknown map[string]uint64
	// Slot is the time slot of a windowed accumulator (0: not windowed, as
	// every snapshot written before windowing), and Slots its stats per slot.
	Slot  int64
	Slots []SlotSnapshot
	// Evidence is the port evidence per interface id (tables: TCP local,
	// TCP remote, UDP local, UDP remote).
	Evidence map[string][]EvidenceTable
	// Observed is each interface's observation (coverage); absent in
	// snapshots written before coverage existed.
	Observed []ObservationSnapshot
}

// ObservationSnapshot is one interface's Observation in serialized form.
// Snapshots written before compact form hold the intervals as flat (from,
// to) pairs in On, Rejects and Skipped; later ones hold them delta-encoded
// in the *Packed fields (see packSpans), about a third of the size: an
// interface whose records are sparse (no NODATA between them) has up to one
// interval per 10 minutes of window.
type ObservationSnapshot struct {
	InterfaceID                            string
	On, Rejects, Skipped                   []int64
	End                                    int64
	OnPacked, RejectsPacked, SkippedPacked []byte
}

// packSpans encodes sorted, disjoint flat pairs as varints: the first start,
// then each interval's length and the gap to the next start.
func packSpans(p []int64) []byte {
	if len(p) == 0 {
		return nil
	}
	out := binary.AppendVarint(nil, p[0])
	for i := 0; i < len(p); i += 2 {
		out = binary.AppendUvarint(out, uint64(p[i+1]-p[i]))
		if i+2 < len(p) {
			out = binary.AppendUvarint(out, uint64(p[i+2]-p[i+1]))
		}
	}
	return out
}

// unpackSpans decodes packSpans' form.
func unpackSpans(b []byte) ([]int64, error) {
	if len(b) == 0 {
		return nil, nil
	}
	start, n := binary.Varint(b)
	if n <= 0 {
		return nil, fmt.Errorf("bad interval encoding")
	}
	b = b[n:]
	var out []int64
	for {
		length, n := binary.Uvarint(b)
		if n <= 0 || length > 1<<40 {
			return nil, fmt.Errorf("bad interval encoding")
		}
		b = b[n:]
		out = append(out, start, start+int64(length))
		if len(b) == 0 {
			return out, nil
		}
		gap, n := binary.Uvarint(b)
		if n <= 0 || gap > 1<<40 {
			return nil, fmt.Errorf("bad interval encoding")
		}
		b = b[n:]
		start += int64(length) + int64(gap)
	}
}

func snapshotRule(key string, rs *RuleState) (RuleSnapshot, error) {
	b, err := rs.Sketch.MarshalBinary()
	if err != nil {
		return RuleSnapshot{}, fmt.Errorf("analysis: snapshot rule %s: %w", key, err)
	}
	snap := RuleSnapshot{Key: key, Sketch: b, Primary: rs.Primary, PrimarySlots: rs.primary}
	for _, ps := range rs.ByProtocol {
		pb, err := ps.Sketch.MarshalBinary()
		if err != nil {
			return RuleSnapshot{}, fmt.Errorf("analysis: snapshot rule %s: %w", key, err)
		}
		snap.ByProtocol = append(snap.ByProtocol, ProtocolSnapshot{Protocol: ps.Protocol, Sketch: pb})
	}
	for _, up := range rs.Uncertain {
		ub, err := up.Sketch.MarshalBinary()
		if err != nil {
			return RuleSnapshot{}, fmt.Errorf("analysis: snapshot rule %s: %w", key, err)
		}
		snap.Uncertain = append(snap.Uncertain, UncertainSnapshot{Protocol: up.Protocol, Likely: up.Likely, Sketch: ub,
			Primary: up.Primary, PrimarySlots: up.primary})
	}
	return snap, nil
}

// Snapshot serializes the accumulator.
func (a *Accumulator) Snapshot() (Snapshot, error) {
	s := Snapshot{Stats: a.stats, Unknown: make(map[string]uint64, len(a.unknown)), Slot: a.cfg.Slot}
	for i := range a.rules {
		rs := &a.rules[i]
		if rs.Sketch == nil {
			continue
		}
		snap, err := snapshotRule(a.eng.rules[i].Key(), rs)
		if err != nil {
			return Snapshot{}, err
		}
		s.Rules = append(s.Rules, snap)
	}
	keys := make([]string, 0, len(a.orphans))
	for k := range a.orphans {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		snap, err := snapshotRule(k, a.orphans[k])
		if err != nil {
			return Snapshot{}, err
		}
		s.Rules = append(s.Rules, snap)
	}
	for k, v := range a.unknown {
		s.Unknown[k] = *v
	}
	for _, sl := range a.slots {
		ss := SlotSnapshot{Start: sl.Start, Stats: sl.stats}
		if len(sl.unknown) > 0 {
			ss.Unknown = make(map[string]uint64, len(sl.unknown))
			for k, v := range sl.unknown {
				ss.Unknown[k] = *v
			}
		}
		s.Slots = append(s.Slots, ss)
	}
	ids := a.ObservedInterfaces()
	if a.obs.m[allInterfaces] != nil {
		ids = append(ids, allInterfaces)
	}
	for _, k := range ids {
		o := a.obs.m[k]
		s.Observed = append(s.Observed, ObservationSnapshot{InterfaceID: k, End: o.End,
			OnPacked: packSpans(o.On.Pairs()), RejectsPacked: packSpans(o.Rejects.Pairs()), SkippedPacked: packSpans(o.Skipped.Pairs())})
	}
	if len(a.evidence) > 0 {
		s.Evidence = make(map[string][]EvidenceTable, len(a.evidence))
		for k, ev := range a.evidence {
			c := ev.clone()
			s.Evidence[k] = c.t[:]
		}
	}
	return s, nil
}

// Restore adds a snapshot's usage to a. Rules the engine lacks are kept by
// key as orphans (see Rebind), counted in the returned number.
//
// A snapshot that is not windowed (written before windowing), or windowed
// with another slot, restored into a windowed accumulator is filed whole in
// the slot of its latest record, so it ages out at once when that slot does.
func (a *Accumulator) Restore(s Snapshot) (orphaned int, err error) {
	return a.RestoreAt(s, s.Stats.WindowTo)
}

// RestoreAt is Restore, filing a snapshot that must be re-filed (see Restore)
// in the slot of time t instead.
func (a *Accumulator) RestoreAt(s Snapshot, t int64) (orphaned int, err error) {
	refile := a.cfg.Slot > 0 && s.Slot != a.cfg.Slot
	if t == 0 {
		t = s.Stats.WindowTo
	}
	o := NewAccumulator(a.eng, a.cfg)
	read := func(key string, b []byte, cfg sketch.Config) (*sketch.Sketch, error) {
		sk := sketch.New(cfg)
		if err := sk.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("analysis: restore rule %s: %w", key, err)
		}
		if refile {
			sk.Stamp(cfg, t)
		}
		return sk, nil
	}
	for _, r := range s.Rules {
		rs := RuleState{Primary: r.Primary, primary: r.PrimarySlots}
		if rs.Sketch, err = read(r.Key, r.Sketch, a.cfg); err != nil {
			return orphaned, err
		}
		for _, ps := range r.ByProtocol {
			sk, err := read(r.Key, ps.Sketch, protocolConfig(a.cfg))
			if err != nil {
				return orphaned, err
			}
			rs.ByProtocol = append(rs.ByProtocol, ProtocolSketch{Protocol: ps.Protocol, Sketch: sk})
		}
		for _, us := range r.Uncertain {
			sk, err := read(r.Key, us.Sketch, a.cfg)
			if err != nil {
				return orphaned, err
			}
			up := UncertainPart{Protocol: us.Protocol, Likely: us.Likely, Sketch: sk, Primary: us.Primary, primary: us.PrimarySlots}
			if refile {
				up.primary = refiled(us.Primary, t, a.cfg.Slot)
			}
			rs.Uncertain = append(rs.Uncertain, up)
		}
		if refile {
			rs.primary = refiled(r.Primary, t, a.cfg.Slot)
		}
		if i, ok := a.eng.byKey[r.Key]; ok {
			o.rules[i].merge(&rs, a.cfg)
		} else {
			orphaned++
			o.adoptOrphan(r.Key, &rs)
		}
	}
	o.stats = s.Stats
	for k, v := range s.Unknown {
		n := v
		o.unknown[k] = &n
	}
	for k, ts := range s.Evidence {
		if len(ts) != evTables {
			return orphaned, fmt.Errorf("analysis: restore evidence of %s: %d tables, want %d", k, len(ts), evTables)
		}
		ev := &endpointEvidence{}
		for i := range ev.t {
			if err := ts[i].check(); err != nil {
				return orphaned, fmt.Errorf("analysis: restore evidence of %s: %w", k, err)
			}
			ev.t[i] = ts[i]
		}
		o.evidence[k] = ev
	}
	for _, x := range s.Observed {
		for _, f := range []struct {
			packed []byte
			pairs  *[]int64
		}{{x.OnPacked, &x.On}, {x.RejectsPacked, &x.Rejects}, {x.SkippedPacked, &x.Skipped}} {
			if len(f.packed) == 0 {
				continue
			}
			p, err := unpackSpans(f.packed)
			if err != nil {
				return orphaned, fmt.Errorf("analysis: restore observation of %s: %w", x.InterfaceID, err)
			}
			*f.pairs = append(*f.pairs, p...)
		}
		if len(x.On)%2 != 0 || len(x.Rejects)%2 != 0 || len(x.Skipped)%2 != 0 {
			return orphaned, fmt.Errorf("analysis: restore observation of %s: odd interval bounds", x.InterfaceID)
		}
		o.obs.m[x.InterfaceID] = &Observation{On: SpansOf(x.On...), Rejects: SpansOf(x.Rejects...), Skipped: SpansOf(x.Skipped...), End: x.End}
	}
	switch {
	case refile:
		sl := statSlot{Start: slotStart(t, a.cfg.Slot), stats: s.Stats, unknown: map[string]*uint64{}}
		mergeUnknown(sl.unknown, o.unknown)
		o.slots = []statSlot{sl}
	case a.cfg.Slot > 0:
		for _, ss := range s.Slots {
			sl := statSlot{Start: ss.Start, stats: ss.Stats}
			if len(ss.Unknown) > 0 {
				sl.unknown = make(map[string]*uint64, len(ss.Unknown))
				for k, v := range ss.Unknown {
					n := v
					sl.unknown[k] = &n
				}
			}
			o.slots = append(o.slots, sl)
		}
	}
	if err := a.Merge(o); err != nil {
		return orphaned, err
	}
	return orphaned, nil
}

// Rebind returns an accumulator on eng holding a's usage, matched by rule
// key (after an inventory reload). The usage of rules eng lacks is kept by
// key as an orphan, and given back when a later engine has the rule again:
// usage belongs to the rule's key and ends only when the window ages it out.
func (a *Accumulator) Rebind(eng *Engine) *Accumulator {
	n := NewAccumulator(eng, a.cfg)
	for i := range a.rules {
		rs := a.rules[i]
		if rs.Sketch == nil {
			continue
		}
		key := a.eng.rules[i].Key()
		if j, ok := eng.byKey[key]; ok {
			n.rules[j] = rs
		} else {
			n.adoptOrphan(key, &rs)
		}
	}
	for k, rs := range a.orphans {
		if j, ok := eng.byKey[k]; ok {
			n.rules[j].merge(rs, a.cfg)
		} else {
			n.adoptOrphan(k, rs)
		}
	}
	n.stats = a.stats
	n.unknown = a.unknown
	n.slots = a.slots
	n.obs = a.obs
	n.obs.lastID, n.obs.last = nil, nil
	n.evidence = a.evidence
	return n
}

// refiled is the per-slot split of n primary records filed whole in the slot
// of time t.
func refiled(n uint64, t, slot int64) []SlotCount {
	if n == 0 {
		return nil
	}
	return []SlotCount{{Start: slotStart(t, slot), N: n}}
}
