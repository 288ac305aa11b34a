package advisor

import (
	"slices"
	"time"
)

// DefaultMinHistory is the minimum span of observation below which a
// verdict's confidence is low: two weeks, so that weekly jobs show.
const DefaultMinHistory = 14 * 24 * time.Hour

// DefaultMaxUnobservedListed bounds the unobserved interfaces a suggestion
// names; the rest are counted in UnobservedMore.
const DefaultMaxUnobservedListed = 10

// GroupObservation is what the flow logs showed of the interfaces that
// carried one security group during the window (analysis computes it).
type GroupObservation struct {
	// Interfaces counts the interfaces that carried the group during the window.
	Interfaces int
	// Unobserved lists, sorted, those whose logging was not seen over the
	// whole time they carried the group.
	Unobserved []string
	// From and To bound the latest span over which every interface carrying
	// the group was observed (zero when there is none).
	From, To time.Time
	// Partial is set when records were skipped (SKIPDATA) on one of them
	// while it carried the group.
	Partial bool
}

// ApplyCoverage qualifies a verdict with what was observed of its group's
// interfaces (obs nil: coverage not assessed, the suggestion is unchanged):
//   - no interface carried the group: keep, reason no-interfaces (an unused
//     group is still referenced by launch templates and groups scaled to zero,
//     and its rules would be needed the moment it is attached again);
//   - an interface was not observed: keep, reason not-observed, naming it;
//   - otherwise the verdict stands, with confidence low and reason
//     short-history when the observed span is shorter than cfg.MinHistory,
//     or partial-logging after SKIPDATA.
//
// Keeps for want of observation have confidence low: they rest on no evidence.
func ApplyCoverage(s Suggestion, obs *GroupObservation, cfg Config) Suggestion {
	if obs == nil {
		return s
	}
	return ApplyCoverageOf(s, obs, CoverageOf(obs, cfg), cfg)
}

// CoverageOf returns the coverage evidence (Evidence.Coverage) that
// ApplyCoverage gives the suggestions of a group observed as obs: made once,
// it may be shared by all of them (nothing modifies it afterwards).
func CoverageOf(obs *GroupObservation, cfg Config) *Coverage {
	c := &Coverage{Interfaces: obs.Interfaces, Unobserved: []string{}}
	limit := cfg.MaxUnobservedListed
	if limit <= 0 {
		limit = DefaultMaxUnobservedListed
	}
	c.Unobserved = append(c.Unobserved, obs.Unobserved[:min(limit, len(obs.Unobserved))]...)
	c.UnobservedMore = len(obs.Unobserved) - len(c.Unobserved)
	if !obs.From.IsZero() && !obs.To.IsZero() {
		c.ObservedFrom = obs.From.UTC().Format(time.RFC3339)
		c.ObservedTo = obs.To.UTC().Format(time.RFC3339)
	}
	return c
}

// ApplyCoverageOf is ApplyCoverage with the group's coverage evidence c
// (CoverageOf(obs, cfg)) made once for all the group's suggestions.
func ApplyCoverageOf(s Suggestion, obs *GroupObservation, c *Coverage, cfg Config) Suggestion {
	s.Evidence.Coverage = c
	// Reasons are appended below: never into the caller's array.
	if len(s.Reasons) == 0 {
		s.Reasons = nil
	} else {
		s.Reasons = slices.Clip(s.Reasons)
	}
	keep := func(reason string) Suggestion {
		if s.Verdict != VerdictKeep {
			s.Verdict, s.Proposed, s.Reasons = VerdictKeep, []RuleSpec{s.Rule}, nil
		}
		s.Reasons = append(s.Reasons, reason)
		s.Confidence = ConfidenceLow
		return s
	}
	switch {
	case obs.Interfaces == 0:
		return keep(ReasonNoInterfaces)
	case len(obs.Unobserved) > 0:
		return keep(ReasonNotObserved)
	}
	if s.Confidence == "" {
		s.Confidence = ConfidenceHigh // coverage never raises a low confidence (an uncertain initiator)
	}
	if obs.From.IsZero() || obs.To.Sub(obs.From) < cfg.MinHistory {
		s.Confidence = ConfidenceLow
		s.Reasons = append(s.Reasons, ReasonShortHistory)
	}
	if obs.Partial {
		s.Confidence = ConfidenceLow
		s.Reasons = append(s.Reasons, ReasonPartialLogging)
	}
	return s
}

// Proposes reports whether s changes its rule (remove or narrow).
func (s *Suggestion) Proposes() bool { return s.Verdict == VerdictRemove || s.Verdict == VerdictNarrow }
