package analysis

import (
	"fmt"
	"math/bits"
	"sort"

	"github.com/cinch-sg/cinch/advisor"
)

// RuleSet is a set of rule indexes of one engine (a bitset). The zero value
// is empty; Add grows it.
type RuleSet struct{ w []uint64 }

// Remove takes rule i out of the set.
func (s *RuleSet) Remove(i int) {
	if k := i >> 6; k < len(s.w) {
		s.w[k] &^= 1 << (uint(i) & 63)
	}
}

// Add puts rule i in the set.
func (s *RuleSet) Add(i int) {
	k := i >> 6
	if k >= len(s.w) {
		s.w = append(s.w, make([]uint64, k+1-len(s.w))...)
	}
	s.w[k] |= 1 << (uint(i) & 63)
}

// Has reports whether rule i is in the set.
func (s *RuleSet) Has(i int) bool {
	k := i >> 6
	return k < len(s.w) && s.w[k]&(1<<(uint(i)&63)) != 0
}

// AddAll puts rules 0 to n-1 in the set.
func (s *RuleSet) AddAll(n int) {
	for i := range n {
		s.Add(i)
	}
}

// Union adds o's rules to s.
func (s *RuleSet) Union(o *RuleSet) {
	if len(o.w) > len(s.w) {
		s.w = append(s.w, make([]uint64, len(o.w)-len(s.w))...)
	}
	for k, x := range o.w {
		s.w[k] |= x
	}
}

// Clear empties the set, keeping its storage.
func (s *RuleSet) Clear() { clear(s.w) }

// Len returns the number of rules in the set.
func (s *RuleSet) Len() int {
	n := 0
	for _, x := range s.w {
		n += bits.OnesCount64(x)
	}
	return n
}

// Each calls fn for every rule of the set, in increasing order.
func (s *RuleSet) Each(fn func(i int)) {
	for k, x := range s.w {
		for x != 0 {
			fn(k<<6 + bits.TrailingZeros64(x))
			x &= x - 1
		}
	}
}

// Track makes Observe add every rule it credits to set, so that an
// incremental evaluation re-judges only those rules (nil stops tracking).
// The judgement of a rule holding records of uncertain initiator also
// depends on the port evidence, which any record may change: an incremental
// evaluation re-judges those rules (EvidenceDependent) where the verdicts on
// the ports they read (PortDeps) changed (PortJudge).
func (a *Accumulator) Track(set *RuleSet) { a.track = set }

// AddUsed adds every rule a holds usage of to set.
func (a *Accumulator) AddUsed(set *RuleSet) {
	for i := range a.rules {
		if a.rules[i].Sketch != nil {
			set.Add(i)
		}
	}
}

// EvidenceDependent reports whether the judgement of rule i depends on the
// port evidence (it holds records of uncertain initiator).
func (a *Accumulator) EvidenceDependent(i int) bool { return len(a.rules[i].Uncertain) > 0 }

// PortVerdicts is the port evidence's judgement of every port.
type PortVerdicts struct{ v *verdicts }

// PortVerdicts returns the judgement of a's port evidence.
func (a *Accumulator) PortVerdicts() PortVerdicts { return PortVerdicts{a.portVerdicts()} }

// Equal reports whether v and o judge every port alike.
func (v PortVerdicts) Equal(o PortVerdicts) bool {
	if v.v == nil || o.v == nil {
		return v.v == o.v
	}
	return *v.v == *o.v
}

// SetPortVerdicts makes a judge its rules under v (a PortJudge's verdicts on
// the evidence it was merged from) instead of under its own evidence's: for
// an accumulator merged with MergeRulesNoEvidence. Merging into a afterwards
// drops v.
func (a *Accumulator) SetPortVerdicts(v PortVerdicts) { a.verdicts = v.v }

// MergeUsage adds o's usage of the rules in set to a, and nothing else
// (statistics, port evidence and unknown interfaces are left out): for rules
// found to need judging after a merge.
func (a *Accumulator) MergeUsage(o *Accumulator, set *RuleSet) error {
	if a.eng != o.eng {
		return fmt.Errorf("analysis: merge of accumulators of different engines")
	}
	for i := range o.rules {
		if or := &o.rules[i]; or.Sketch != nil && set.Has(i) {
			a.rules[i].merge(or, a.cfg)
		}
	}
	return nil
}

// MergeRules is Merge for the rules in set only: o's usage of other rules is
// left out; statistics, unknown interfaces and the port evidence are merged
// whole.
func (a *Accumulator) MergeRules(o *Accumulator, set *RuleSet) error {
	return a.merge(o, set, true)
}

// MergeRulesNoEvidence is MergeRules without the port evidence, for a caller
// that judges it apart (PortJudge): hand the verdicts over with
// SetPortVerdicts before judging; a then has no verdicts of its own.
func (a *Accumulator) MergeRulesNoEvidence(o *Accumulator, set *RuleSet) error {
	a.evApart = true
	return a.merge(o, set, false)
}

// Suggestion judges rule i (Engine().Rules()[i]) on a's usage alone; qualify
// it with Coverage().Apply before showing it (Report does both).
func (a *Accumulator) Suggestion(i int, cfg advisor.Config) advisor.Suggestion {
	return a.judge(i, cfg)
}

// Window returns the observation window of the usage a holds.
func (a *Accumulator) Window() advisor.Window {
	var w advisor.Window
	if a.stats.WindowFrom != 0 {
		w.From = unixUTC(a.stats.WindowFrom)
	}
	if a.stats.WindowTo != 0 {
		w.To = unixUTC(a.stats.WindowTo)
	}
	return w
}

// ReportOrder returns the indexes of the rules a report judges, in the order
// of its suggestions (by group, ingress first, then rule key): the rules of
// the groups' current versions. A rule that was in a group earlier in the
// window and is no longer (replaced, revoked, its group deleted) carries the
// traffic it let in then, but gets no suggestion.
func (e *Engine) ReportOrder() []int {
	order := make([]int, 0, len(e.rules))
	for i, r := range e.rules {
		if e.Current(r.Key()) {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(i, j int) bool { return ruleLess(e.rules[order[i]], e.rules[order[j]]) })
	return order
}
