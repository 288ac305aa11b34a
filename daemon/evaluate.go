package daemon

import (
	"slices"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/daemon/api"
)

// now is the daemon's clock in unix seconds: the wall clock for live
// traffic, the newest record time when replaying traffic older than the window.
func (d *Daemon) now(watermark int64) int64 {
	wall := time.Now().Unix()
	if watermark > 0 && wall-watermark > int64(d.cfg.Analysis.Window.Std().Seconds()) {
		return watermark
	}
	return wall
}

// evaluate judges the rules whose usage changed since the last evaluation
// and publishes what changed: verdicts, and rules that stopped (or resumed)
// matching traffic. Every rule is judged again after an inventory reload and
// when the set of partitions (own or peers') changes.
func (d *Daemon) evaluate() {
	start := time.Now()
	d.mu.Lock()
	eng := d.eng
	shards := make([]*shard, 0, len(d.shards)+len(d.peers))
	owned := map[string]bool{}
	for k, s := range d.shards {
		shards = append(shards, s)
		owned[checkpointPath(d.cfg.StateDir, k)] = true
	}
	for f, p := range d.peers {
		if !owned[f] && p.shard.eng == eng {
			shards = append(shards, p.shard)
		}
	}
	d.mu.Unlock()

	var watermark int64
	for _, s := range shards {
		s.mu.Lock()
		watermark = max(watermark, s.watermark)
		s.mu.Unlock()
	}
	now := d.now(watermark)
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
	for _, s := range shards {
		s.mu.Lock()
		if s.eng != eng {
			s.rebind(eng)
		}
		s.expire(now, window, dedupe)
		if owned[checkpointPath(d.cfg.StateDir, s.key)] {
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
		d.chunks = make([][]uint16, n)
		d.verdicts = analysis.PortVerdicts{}
		d.met.RulesUnresolved.Set(float64(eng.UnresolvedCount()))
	}
	if full {
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
	merged := analysis.NewAccumulator(eng, d.scfg)
	for _, s := range shards {
		s.mu.Lock()
		err := s.mergeRulesInto(merged, &set)
		s.mu.Unlock()
		if err != nil {
			d.log.Error("merge failed", "shard", s.key, "err", err)
		}
	}
	// Rules whose judgement rests on the port evidence are judged again where
	// its verdicts on their ports changed.
	v := merged.PortVerdicts()
	if !full {
		diff := v.Changed(d.verdicts)
		var extra analysis.RuleSet
		d.evDependent.Each(func(i int) {
			if i < n && !set.Has(i) && slices.ContainsFunc(d.chunks[i], diff.Has) {
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
	d.verdicts = v
	judged := 0
	set.Each(func(i int) {
		if i >= n {
			return
		}
		d.sugs[i] = merged.Suggestion(i, d.acfg)
		d.lastSeen[i] = merged.Rule(i).LastSeen()
		if merged.EvidenceDependent(i) {
			d.evDependent.Add(i)
			d.chunks[i] = merged.PortChunks(i)
		} else {
			d.evDependent.Remove(i)
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
		rep.Suggestions = append(rep.Suggestions, cov.Apply(d.sugs[i], d.acfg))
		keys = append(keys, d.keys[i])
	}
	d.toClickHouse(d.hub.Update(rep, keys, time.Unix(now, 0))...)
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

// mergeUsageInto adds the usage of the rules in set, and nothing else, of
// every bucket to dst (after mergeRulesInto in the same evaluation, whose
// cache of closed buckets it reuses when still valid). The caller holds mu.
func (s *shard) mergeUsageInto(dst *analysis.Accumulator, set *analysis.RuleSet) error {
	var newest int64
	first := true
	for b := range s.buckets {
		if first || b > newest {
			newest, first = b, false
		}
	}
	if first {
		return nil
	}
	if s.closed != nil && s.closedTo == newest && s.closed.Engine() == s.eng {
		if err := dst.MergeUsage(s.closed, set); err != nil {
			return err
		}
		return dst.MergeUsage(s.buckets[newest], set)
	}
	for _, acc := range s.buckets {
		if err := dst.MergeUsage(acc, set); err != nil {
			return err
		}
	}
	return nil
}
