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
	// RuleSince is when the judged rule came into the group, when that is
	// known and later than the start of the window (zero otherwise): the
	// rule is judged over its own lifetime only.
	RuleSince time.Time
}

// ApplyCoverage qualifies a verdict with what was observed of its group's
// interfaces (obs nil: coverage not assessed, the suggestion is unchanged):
//   - no interface carried the group: keep, reason no-interfaces (an unused
//     group is still referenced by launch templates and groups scaled to zero,
//     and its rules would be needed the moment it is attached again);
//   - an interface was not observed: keep, reason not-observed, naming it;
//   - the rule came into the group after the observed span ended (RuleSince),
//     or it is unused over a lifetime shorter than cfg.MinHistory: keep,
//     reason new-rule — too little was observed of it to remove it;
//   - otherwise the verdict stands, with confidence low and reason
//     short-history when the observed span (from RuleSince, when later) is
//     shorter than cfg.MinHistory,
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
	from := observedFrom(obs)
	c := &Coverage{Interfaces: obs.Interfaces, Unobserved: []string{}}
	limit := cfg.MaxUnobservedListed
	if limit <= 0 {
		limit = DefaultMaxUnobservedListed
	}
	c.Unobserved = append(c.Unobserved, obs.Unobserved[:min(limit, len(obs.Unobserved))]...)
	c.UnobservedMore = len(obs.Unobserved) - len(c.Unobserved)
	if !from.IsZero() && !obs.To.IsZero() && from.Before(obs.To) {
		c.ObservedFrom = from.UTC().Format(time.RFC3339)
		c.ObservedTo = obs.To.UTC().Format(time.RFC3339)
	}
	return c
}

// observedFrom is the start of the span a rule is judged over: the group's
// observed span, from the rule's creation when that is later.
func observedFrom(obs *GroupObservation) time.Time {
	if !obs.RuleSince.IsZero() && obs.From.Before(obs.RuleSince) {
		return obs.RuleSince // the rule's own lifetime
	}
	return obs.From
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
	case !obs.RuleSince.IsZero() && (obs.To.IsZero() || !obs.RuleSince.Before(obs.To)):
		return keep(ReasonNewRule)
	case !obs.RuleSince.IsZero() && obs.To.Sub(obs.RuleSince) < cfg.MinHistory &&
		s.Verdict == VerdictRemove && slices.Contains(s.Reasons, ReasonNoTraffic):
		// Unused over a lifetime shorter than the minimum history: someone
		// just put it there (often to replace a wider rule whose traffic
		// it carries from now on); removing it needs more than that.
		return keep(ReasonNewRule)
	}
	if s.Confidence == "" {
		s.Confidence = ConfidenceHigh // coverage never raises a low confidence (an uncertain initiator)
	}
	if from := observedFrom(obs); from.IsZero() || obs.To.Sub(from) < cfg.MinHistory {
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
