package analysis

import (
	"math"
	"sort"
	"sync"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
)

// carrier is one interface version carrying a group over [from, to), and
// when a flow-log configuration covering it (ALL or ACCEPT) began.
type carrier struct {
	eni      string
	from, to int64
	logged   int64 // MaxInt64: no flow-log configuration covers it
	// rejectOnly: flow logs cover it for rejected traffic only, so its
	// REJECT records do not show accepted traffic was logged.
	rejectOnly bool
}

// coverageIndex is the engine's groups with the interface versions that
// carried them, and the rules of the groups' current versions with when each
// came into its group, built on first use.
type coverageIndex struct {
	once     sync.Once
	groups   []string
	carriers map[string][]carrier
	// since maps the key of every rule of a group's current (open) version
	// to when it came into the group: the start of the latest run of
	// versions that hold it (math.MinInt64: since ever). A rule of no
	// current version is absent: it is no longer in the account.
	since map[string]int64
}

func (e *Engine) coverage() *coverageIndex {
	ci := &e.cov
	ci.once.Do(func() {
		ci.carriers = map[string][]carrier{}
		ci.groups = e.inv.Groups()
		ci.since = map[string]int64{}
		for _, g := range ci.groups {
			ci.addSince(e.inv.GroupVersions(g))
		}
		for _, id := range e.inv.ENIs() {
			for _, v := range e.inv.ENIVersions(id) {
				from, to := bounds(v.Valid)
				logged := int64(math.MaxInt64)
				if t, ok := e.inv.LoggedSince(v); ok {
					logged = t.Unix()
				}
				ro := e.inv.RejectOnly(v)
				for _, g := range v.Groups {
					ci.carriers[g] = append(ci.carriers[g], carrier{eni: id, from: from, to: to, logged: logged, rejectOnly: ro})
				}
			}
		}
	})
	return ci
}

// addSince records when each rule of a group's current version came into
// it: walking back from the current version, a rule's run ends at the first
// version without it or at a gap between versions. Each version's keys are
// made once.
func (ci *coverageIndex) addSince(vs []*inventory.Group) {
	if len(vs) == 0 || !vs[len(vs)-1].Valid.Open() {
		return // deleted
	}
	cur := vs[len(vs)-1]
	from, _ := bounds(cur.Valid)
	running := make(map[string]bool, len(cur.Rules))
	for _, r := range cur.Rules {
		k := r.Key()
		ci.since[k] = from
		running[k] = true
	}
	for i := len(vs) - 2; i >= 0 && len(running) > 0; i-- {
		if vs[i].Valid.To.IsZero() || vs[i].Valid.To.Before(vs[i+1].Valid.From) {
			return // a gap: nothing was in force before the next version
		}
		held := make(map[string]bool, len(vs[i].Rules))
		for _, r := range vs[i].Rules {
			held[r.Key()] = true
		}
		from, _ := bounds(vs[i].Valid)
		for k := range running {
			if held[k] {
				ci.since[k] = from // the previous version held it too, up to this one
			} else {
				delete(running, k)
			}
		}
	}
}

// Coverage is what the flow logs showed of the interfaces carrying each
// group during the window.
type Coverage struct {
	// From and To bound the window the coverage was judged over (unix s):
	// from the earliest record to the latest record end.
	From, To int64
	// since is the engine's rules' start in their groups (coverageIndex).
	since map[string]int64
	// Groups holds each group of the inventory's observation.
	Groups map[string]*advisor.GroupObservation
	// Observed and Unobserved count the interfaces that carried a group
	// during the window, by whether they were observed all that time.
	Observed, Unobserved int

	// evidence holds each group's advisor.CoverageOf, made by Apply for the
	// listing limit evLimit, shared by the group's suggestions.
	evidence map[string]*advisor.Coverage
	evLimit  int
}

// Coverage judges, for every group of the inventory, whether each interface
// that carried it during the window was observed all the while it did: by
// its own records (Observation, with tolerance G) or by a flow-log
// configuration of traffic type ALL or ACCEPT covering it (its id, subnet or
// VPC) since before. The window runs from the earliest record a saw to the
// latest record end; an interface's first G seconds in it (or in the group)
// need no record, as its first capture window may open after the window does.
// An interface carrying a group for less than G needs one observed second.
func (a *Accumulator) Coverage() *Coverage {
	ci := a.eng.coverage()
	wf, wt := a.observationWindow()
	if a.stats.WindowFrom != 0 && (wf == 0 || a.stats.WindowFrom < wf) {
		wf = a.stats.WindowFrom
	}
	wt = max(wt, a.stats.WindowTo)
	c := &Coverage{From: wf, To: wt, since: ci.since, Groups: make(map[string]*advisor.GroupObservation, len(ci.groups))}
	const G = ObservationTolerance
	all := a.obs.m[allInterfaces] // input known to be incomplete (MarkPartial)
	ifaceBad := map[string]bool{}
	withRejects := map[string]*Spans{} // an interface's records of either action
	var gaps []int64
	for _, g := range ci.groups {
		obs := &advisor.GroupObservation{}
		c.Groups[g] = obs
		var bad Spans
		first := true
		var gs, ge int64
		seen := map[string]bool{}
		unobserved := map[string]bool{}
		for _, cr := range ci.carriers[g] {
			from, to := max(cr.from, wf), min(cr.to, wt)
			if wt <= wf {
				// No record at all: nothing was observed.
				from, to = 0, 1
			}
			if from >= to {
				continue // did not carry the group during the window
			}
			if first || from < gs {
				gs = from
			}
			if first || to > ge {
				ge = to
			}
			first = false
			seen[cr.eni] = true
			if _, ok := ifaceBad[cr.eni]; !ok {
				ifaceBad[cr.eni] = false
			}
			reqFrom := min(from+G, to-1)
			gaps = gaps[:0]
			o := a.obs.m[cr.eni]
			if wt <= wf {
				gaps = append(gaps, from, to)
			} else if o != nil {
				on := &o.On
				if !cr.rejectOnly && !o.Rejects.Empty() {
					u := withRejects[cr.eni] // made once per interface, not per group and version
					if u == nil {
						c := o.On.Clone()
						c.Merge(&o.Rejects)
						u = &c
						withRejects[cr.eni] = u
					}
					on = u
				}
				gaps = on.Gaps(reqFrom, to, gaps)
				if o.Skipped.Overlaps(from, to) {
					obs.Partial = true
				}
			} else {
				gaps = append(gaps, reqFrom, to)
			}
			if all != nil && all.Skipped.Overlaps(from, to) {
				obs.Partial = true
			}
			for i := 0; i < len(gaps); i += 2 {
				f, t := gaps[i], min(gaps[i+1], cr.logged)
				if f < t {
					bad.Add(f, t)
					unobserved[cr.eni] = true
					ifaceBad[cr.eni] = true
				}
			}
		}
		obs.Interfaces = len(seen)
		for id := range unobserved {
			obs.Unobserved = append(obs.Unobserved, id)
		}
		sort.Strings(obs.Unobserved)
		if first {
			continue
		}
		span0 := gs
		if n := bad.Len(); n > 0 {
			_, span0 = bad.At(n - 1)
		}
		if span0 < ge && wt > wf {
			obs.From, obs.To = unixUTC(span0), unixUTC(ge)
		}
	}
	for _, b := range ifaceBad {
		if b {
			c.Unobserved++
		} else {
			c.Observed++
		}
	}
	return c
}

// Apply qualifies s, the suggestion for the rule of key, with its group's
// coverage over the rule's lifetime (advisor.ApplyCoverage). The suggestions
// of a group share its coverage evidence, made once (a rule that came into
// its group within the window has its own). Apply is not safe for
// concurrent use.
func (c *Coverage) Apply(key string, s advisor.Suggestion, cfg advisor.Config) advisor.Suggestion {
	obs := c.Groups[s.GroupID]
	if obs == nil {
		return advisor.ApplyCoverage(s, &advisor.GroupObservation{}, cfg)
	}
	if since, ok := c.since[key]; ok && since > c.From && since != math.MinInt64 {
		o := *obs
		o.RuleSince = unixUTC(since)
		return advisor.ApplyCoverage(s, &o, cfg)
	}
	if c.evidence == nil || c.evLimit != cfg.MaxUnobservedListed {
		c.evidence, c.evLimit = map[string]*advisor.Coverage{}, cfg.MaxUnobservedListed
	}
	ev := c.evidence[s.GroupID]
	if ev == nil {
		ev = advisor.CoverageOf(obs, cfg)
		c.evidence[s.GroupID] = ev
	}
	return advisor.ApplyCoverageOf(s, obs, ev, cfg)
}

// Current reports whether the rule of key is in its group's current
// version: a rule no longer in the account gets no suggestion.
func (e *Engine) Current(key string) bool {
	_, ok := e.coverage().since[key]
	return ok
}
