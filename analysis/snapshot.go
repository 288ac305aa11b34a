package analysis

import (
	"fmt"

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
}

// UncertainSnapshot is an UncertainPart, serialized.
type UncertainSnapshot struct {
	Protocol uint8
	Likely   bool
	Sketch   []byte
	Primary  uint64
}

// ProtocolSnapshot is one protocol's sketch of a -1 rule, serialized.
type ProtocolSnapshot struct {
	Protocol uint8
	Sketch   []byte
}

// Snapshot is an accumulator in serialized form (checkpoints).
type Snapshot struct {
	Rules   []RuleSnapshot
	Stats   Stats
	Unknown map[string]uint64
	// Evidence is the port evidence per interface id (tables: TCP local,
	// TCP remote, UDP local, UDP remote).
	Evidence map[string][]EvidenceTable
	// Observed is each interface's observation (coverage); absent in
	// snapshots written before coverage existed.
	Observed []ObservationSnapshot
}

// ObservationSnapshot is one interface's Observation in serialized form:
// intervals as flat (from, to) pairs.
type ObservationSnapshot struct {
	InterfaceID          string
	On, Rejects, Skipped []int64
	End                  int64
}

// Snapshot serializes the accumulator.
func (a *Accumulator) Snapshot() (Snapshot, error) {
	s := Snapshot{Stats: a.stats, Unknown: make(map[string]uint64, len(a.unknown))}
	for i := range a.rules {
		rs := &a.rules[i]
		if rs.Sketch == nil {
			continue
		}
		b, err := rs.Sketch.MarshalBinary()
		if err != nil {
			return Snapshot{}, fmt.Errorf("analysis: snapshot rule %s: %w", a.eng.rules[i].Key(), err)
		}
		snap := RuleSnapshot{Key: a.eng.rules[i].Key(), Sketch: b, Primary: rs.Primary}
		for _, ps := range rs.ByProtocol {
			pb, err := ps.Sketch.MarshalBinary()
			if err != nil {
				return Snapshot{}, fmt.Errorf("analysis: snapshot rule %s: %w", a.eng.rules[i].Key(), err)
			}
			snap.ByProtocol = append(snap.ByProtocol, ProtocolSnapshot{Protocol: ps.Protocol, Sketch: pb})
		}
		for _, up := range rs.Uncertain {
			ub, err := up.Sketch.MarshalBinary()
			if err != nil {
				return Snapshot{}, fmt.Errorf("analysis: snapshot rule %s: %w", a.eng.rules[i].Key(), err)
			}
			snap.Uncertain = append(snap.Uncertain, UncertainSnapshot{Protocol: up.Protocol, Likely: up.Likely, Sketch: ub, Primary: up.Primary})
		}
		s.Rules = append(s.Rules, snap)
	}
	for k, v := range a.unknown {
		s.Unknown[k] = *v
	}
	for _, k := range a.ObservedInterfaces() {
		o := a.obs.m[k]
		s.Observed = append(s.Observed, ObservationSnapshot{InterfaceID: k,
			On: append([]int64(nil), o.On.Pairs()...), Rejects: append([]int64(nil), o.Rejects.Pairs()...),
			Skipped: append([]int64(nil), o.Skipped.Pairs()...), End: o.End})
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

// Restore adds a snapshot's usage to a. Rules the engine no longer knows are
// dropped and counted in the returned number.
func (a *Accumulator) Restore(s Snapshot) (dropped int, err error) {
	for _, r := range s.Rules {
		i, ok := a.eng.byKey[r.Key]
		if !ok {
			dropped++
			continue
		}
		o := RuleState{Sketch: sketch.New(a.cfg), Primary: r.Primary}
		if err := o.Sketch.UnmarshalBinary(r.Sketch); err != nil {
			return dropped, fmt.Errorf("analysis: restore rule %s: %w", r.Key, err)
		}
		for _, ps := range r.ByProtocol {
			sk := sketch.New(a.cfg)
			if err := sk.UnmarshalBinary(ps.Sketch); err != nil {
				return dropped, fmt.Errorf("analysis: restore rule %s protocol %d: %w", r.Key, ps.Protocol, err)
			}
			o.ByProtocol = append(o.ByProtocol, ProtocolSketch{Protocol: ps.Protocol, Sketch: sk})
		}
		for _, us := range r.Uncertain {
			sk := sketch.New(a.cfg)
			if err := sk.UnmarshalBinary(us.Sketch); err != nil {
				return dropped, fmt.Errorf("analysis: restore rule %s uncertain part: %w", r.Key, err)
			}
			o.Uncertain = append(o.Uncertain, UncertainPart{Protocol: us.Protocol, Likely: us.Likely, Sketch: sk, Primary: us.Primary})
		}
		a.rules[i].merge(&o, a.cfg)
	}
	o := &Accumulator{eng: a.eng, rules: nil, unknown: map[string]*uint64{}, stats: s.Stats, obs: newObservations(), evidence: map[string]*endpointEvidence{}}
	for k, ts := range s.Evidence {
		if len(ts) != evTables {
			return dropped, fmt.Errorf("analysis: restore evidence of %s: %d tables, want %d", k, len(ts), evTables)
		}
		ev := &endpointEvidence{}
		for i := range ev.t {
			if err := ts[i].check(); err != nil {
				return dropped, fmt.Errorf("analysis: restore evidence of %s: %w", k, err)
			}
			ev.t[i] = ts[i]
		}
		o.evidence[k] = ev
	}
	for k, v := range s.Unknown {
		n := v
		o.unknown[k] = &n
	}
	for _, x := range s.Observed {
		if len(x.On)%2 != 0 || len(x.Rejects)%2 != 0 || len(x.Skipped)%2 != 0 {
			return dropped, fmt.Errorf("analysis: restore observation of %s: odd interval bounds", x.InterfaceID)
		}
		o.obs.m[x.InterfaceID] = &Observation{On: SpansOf(x.On...), Rejects: SpansOf(x.Rejects...), Skipped: SpansOf(x.Skipped...), End: x.End}
	}
	o.rules = make([]RuleState, len(a.rules))
	if err := a.Merge(o); err != nil {
		return dropped, err
	}
	return dropped, nil
}

// Rebind returns an accumulator on eng holding a's usage, matched by rule
// key (after an inventory reload). Rules eng lacks are dropped.
func (a *Accumulator) Rebind(eng *Engine) *Accumulator {
	n := NewAccumulator(eng, a.cfg)
	for i := range a.rules {
		rs := a.rules[i]
		if rs.Sketch == nil {
			continue
		}
		if j, ok := eng.byKey[a.eng.rules[i].Key()]; ok {
			n.rules[j] = rs
		}
	}
	n.stats = a.stats
	n.unknown = a.unknown
	n.obs = a.obs
	n.obs.lastID, n.obs.last = nil, nil
	n.evidence = a.evidence
	return n
}
