package daemon

import (
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/daemon/api"
)

// windowSlots is the most time slots a window is cut into.
const windowSlots = 30

// windowSlot returns the expiry granularity, in seconds: the window cut into
// at most windowSlots slots, each a whole number of buckets (30d with 1h
// buckets: 1-day slots; 6h with 1h buckets: 1-hour slots).
func windowSlot(window, bucket time.Duration) int64 {
	w, b := int64(window.Seconds()), int64(bucket.Seconds())
	if b <= 0 {
		b = 3600
	}
	if w <= 0 {
		return b
	}
	n := (w + b*windowSlots - 1) / (b * windowSlots)
	return max(n, 1) * b
}

// maxSkew is how far ahead of the wall clock a record's end may move the
// event-time clock: records from further in the future are counted, but the
// clock stops at wall + maxSkew, so that one bad timestamp cannot expire the
// whole window.
const maxSkew = 5 * 60

// clock is the daemon's event-time clock, unix seconds: the watermark (the
// latest record end of every partition, own and peers'), capped at wall
// clock + maxSkew. It drives the window, expiry, dedupe and stopped-matching
// alike, and never jumps to the wall clock: replayed or delayed traffic is
// judged at its own time. It is zero until a record arrives.
func clock(watermark, wall int64) int64 {
	return min(watermark, wall+maxSkew)
}

// partitions returns the current engine and the state of every partition
// the daemon holds: its own shards (the first own of them), then the peers'
// (read from ClickHouse) it does not own — with current, only the peers' on
// the current engine.
func (d *Daemon) partitions(current bool) (eng *analysis.Engine, shards []*shard, own int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	shards = make([]*shard, 0, len(d.shards)+len(d.peers))
	owned := map[string]bool{}
	for k, s := range d.shards {
		shards = append(shards, s)
		owned[checkpointPath(d.cfg.StateDir, k)] = true
	}
	own = len(shards)
	for f, p := range d.peers {
		if !owned[f] && (!current || p.shard.eng == d.eng) {
			shards = append(shards, p.shard)
		}
	}
	return d.eng, shards, own
}

// evaluate judges the rules whose usage changed since the last evaluation
// and publishes what changed: verdicts, and rules that stopped (or resumed)
// matching traffic. Every rule is judged again after an inventory reload and
// when the set of partitions (own or peers') changes.
func (d *Daemon) evaluate() {
	start := time.Now()
	eng, shards, own := d.partitions(true)

	var watermark int64
	for _, s := range shards {
		s.mu.Lock()
		watermark = max(watermark, s.watermark)
		s.mu.Unlock()
	}
	now := clock(watermark, time.Now().Unix())
	window := int64(d.cfg.Analysis.Window.Std().Seconds())
	dedupe := int64(d.cfg.Analysis.DedupeWindow.Std().Seconds())

	// First the rules to judge: those the shards changed, or all of them.
	full := d.lastEval.IsZero() || eng != d.lastEng || len(shards) != len(d.lastShards)
	current := make(map[*shard]bool, len(shards))
	for _, s := range shards {
		current[s] = true
		if !d.lastShards[s] {
			full = true
		}
	}
	d.lastShards, d.lastEng = current, eng
	changed := full
	var set analysis.RuleSet
	batches := 0
	// The port evidence is judged apart, again only where it changed: first
	// each shard's is scanned, then the changed interfaces' copied (below).
	d.ports.Begin()
	for i, s := range shards {
		s.mu.Lock()
		if s.eng != eng {
			s.rebind(eng)
		}
		if now > 0 {
			s.expire(now-window, now-dedupe)
		}
		s.scanEvidence(d.ports)
		if i < own {
			batches += s.batches.len()
			d.met.DedupeEvicted.Add(float64(s.batches.evicted))
			s.batches.evicted = 0
		}
		if s.dirty {
			changed = true
			s.dirty = false
		}
		if s.takeChanged(&set) {
			full = true
		}
		s.mu.Unlock()
	}
	d.met.DedupeBatches.Set(float64(batches))
	n := len(eng.Rules())
	if full {
		d.evDependent.Clear()
		d.deps = make([]analysis.PortDeps, n)
		d.met.RulesUnresolved.Set(float64(eng.UnresolvedCount()))
		set.AddAll(n)
		d.sugs = make([]advisor.Suggestion, n)
		d.lastSeen = make([]int64, n)
		d.order = eng.ReportOrder()
		d.keys = make([]string, n)
		for i, r := range eng.Rules() {
			d.keys[i] = r.Key()
		}
		d.met.SetRules(d.keys)
	}
	// The merge only needs the window's totals: an untimed accumulator skips
	// copying every rule's time slots.
	mcfg := d.scfg
	mcfg.Slot = 0
	merged := analysis.NewAccumulator(eng, mcfg)
	for _, s := range shards {
		s.mu.Lock()
		err := s.mergeRulesInto(merged, &set, d.ports)
		s.mu.Unlock()
		if err != nil {
			d.log.Error("merge failed", "shard", s.key, "err", err)
		}
	}
	v, diff := d.ports.Judge()
	merged.SetPortVerdicts(v)
	// Rules whose judgement rests on the port evidence are judged again where
	// its verdicts on the ports they read changed.
	if !full {
		var extra analysis.RuleSet
		d.evDependent.Each(func(i int) {
			if i < n && !set.Has(i) && d.deps[i].Changed(diff) {
				extra.Add(i)
			}
		})
		if extra.Len() > 0 {
			for _, s := range shards {
				s.mu.Lock()
				err := s.mergeUsageInto(merged, &extra)
				s.mu.Unlock()
				if err != nil {
					d.log.Error("merge failed", "shard", s.key, "err", err)
				}
			}
			set.Union(&extra)
		}
	}
	judged := 0
	set.Each(func(i int) {
		if i >= n {
			return
		}
		d.sugs[i] = merged.Suggestion(i, d.acfg)
		d.lastSeen[i] = merged.Rule(i).LastSeen()
		if merged.EvidenceDependent(i) {
			d.evDependent.Add(i)
			d.deps[i] = merged.PortDeps(i)
		} else {
			d.evDependent.Remove(i)
			d.deps[i] = nil
		}
		judged++
	})
	// Stopped matching is a matter of time passing, so check it every time.
	d.checkStopped(eng, now, &set)
	if !changed {
		return
	}
	rep := advisor.Report{Window: merged.Window(), Suggestions: make([]advisor.Suggestion, 0, n), Unattributed: merged.Unattributed()}
	keys := make([]string, 0, n)
	// Coverage changes without any rule's usage changing, so it qualifies
	// every verdict at each evaluation (cheap: per group, not per record).
	cov := merged.Coverage()
	d.met.SetInterfaces(cov.Observed, cov.Unobserved)
	for _, i := range d.order {
		rep.Suggestions = append(rep.Suggestions, cov.Apply(d.keys[i], d.sugs[i], d.acfg))
		keys = append(keys, d.keys[i])
	}
	asOf := time.Unix(now, 0)
	if now == 0 {
		asOf = start // no record yet: the report is of nothing, as of now
	}
	d.toClickHouse(d.hub.Update(rep, keys, asOf)...)
	d.lastEval = start
	d.met.AdvisorEvaluated(time.Since(start), judged)
	st := merged.Stats()
	for outcome, v := range map[string]uint64{
		"inbound": st.Inbound, "outbound": st.Outbound, "ambiguous": st.Ambiguous, "reply": st.Responses,
		"rejected": st.Rejected, "nodata": st.NoData, "skipdata": st.SkipData, "unknown-direction": st.Undetermined,
		"unknown-interface": st.Unattributed, "no-rule": st.Unmatched, "no-groups": st.NoGroups,
	} {
		d.met.WindowRecords.WithLabelValues(outcome).Set(float64(v))
	}
	counts := map[string]float64{advisor.VerdictKeep: 0, advisor.VerdictNarrow: 0, advisor.VerdictRemove: 0}
	for _, s := range rep.Suggestions {
		counts[s.Verdict]++
	}
	for v, c := range counts {
		d.met.RulesByVerdict.WithLabelValues(v).Set(c)
	}
}

// checkStopped emits an event and sets a metric when a rule that matched
// traffic has not matched for Analysis.StoppedMatchingAfter, and again when
// it resumes.
func (d *Daemon) checkStopped(eng *analysis.Engine, now int64, judged *analysis.RuleSet) {
	after := int64(d.cfg.Analysis.StoppedMatchingAfter.Std().Seconds())
	rules := eng.Rules()
	for i, r := range rules {
		last := d.lastSeen[i]
		if last == 0 {
			continue
		}
		key := d.keys[i]
		if judged.Has(i) {
			d.met.RuleLastMatch.WithLabelValues(r.GroupID, r.ID, key).Set(float64(last))
		}
		stopped := now-last > after
		if stopped == d.stopped[key] {
			continue
		}
		d.stopped[key] = stopped
		typ, val := "rule-resumed", 0.0
		if stopped {
			typ, val = "rule-stopped-matching", 1.0
		}
		d.met.RuleStoppedMatching.WithLabelValues(r.GroupID, key).Set(val)
		ev := api.Event{Type: typ, RuleKey: key, Time: time.Unix(now, 0)}
		if s, ok := d.hub.Suggestion(key); ok {
			ev.Suggestion = &s
		}
		d.toClickHouse(d.hub.Publish(ev))
		d.log.Info("rule "+typ, "rule", key, "last_seen", time.Unix(last, 0).UTC())
	}
}

// mergeUsageInto adds the shard's usage of the rules in set, and nothing
// else, to dst. The caller holds mu.
func (s *shard) mergeUsageInto(dst *analysis.Accumulator, set *analysis.RuleSet) error {
	if s.acc == nil {
		return nil
	}
	return dst.MergeUsage(s.acc, set)
}
