package analysis

import (
	"fmt"

	"github.com/cinch-sg/cinch/sketch"
)

// RuleSnapshot is one rule's usage in serialized form, keyed by the rule's
// stable key so it survives inventory reloads.
type RuleSnapshot struct {
	Key     string
	Sketch  []byte
	Primary uint64
}

// Snapshot is an accumulator in serialized form (checkpoints).
type Snapshot struct {
	Rules   []RuleSnapshot
	Stats   Stats
	Unknown map[string]uint64
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
		s.Rules = append(s.Rules, RuleSnapshot{Key: a.eng.rules[i].Key(), Sketch: b, Primary: rs.Primary})
	}
	for k, v := range a.unknown {
		s.Unknown[k] = *v
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
		sk := sketch.New(a.cfg)
		if err := sk.UnmarshalBinary(r.Sketch); err != nil {
			return dropped, fmt.Errorf("analysis: restore rule %s: %w", r.Key, err)
		}
		rs := &a.rules[i]
		if rs.Sketch == nil {
			rs.Sketch = sk
		} else {
			rs.Sketch.Merge(sk)
		}
		rs.Primary += r.Primary
	}
	o := &Accumulator{eng: a.eng, rules: nil, unknown: map[string]*uint64{}, stats: s.Stats}
	for k, v := range s.Unknown {
		n := v
		o.unknown[k] = &n
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
	return n
}
