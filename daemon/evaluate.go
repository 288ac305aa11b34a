package daemon

import (
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

// evaluate merges every shard, judges the rules, and publishes what changed:
// verdicts, and rules that stopped (or resumed) matching traffic.
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

	merged := analysis.NewAccumulator(eng, d.scfg)
	changed := d.lastEval.IsZero() || eng != d.lastEng
	d.lastEng = eng
	for _, s := range shards {
		s.mu.Lock()
		if s.eng != eng {
			s.rebind(eng)
		}
		s.expire(now, window, dedupe)
		if s.dirty {
			changed = true
			s.dirty = false
		}
		err := s.mergeInto(merged)
		s.mu.Unlock()
		if err != nil {
			d.log.Error("merge failed", "shard", s.key, "err", err)
		}
	}
	// Stopped matching is a matter of time passing, so check it every time.
	d.checkStopped(eng, merged, now)
	if !changed {
		return
	}
	rep, keys := merged.ReportKeys(d.acfg)
	d.hub.Update(rep, keys, time.Unix(now, 0))
	d.lastEval = start
	d.met.AdvisorEvaluations.Inc()
	d.met.AdvisorDuration.Observe(time.Since(start).Seconds())
	counts := map[string]float64{advisor.VerdictKeep: 0, advisor.VerdictNarrow: 0, advisor.VerdictRemove: 0}
	for _, s := range rep.Suggestions {
		counts[s.Verdict]++
	}
	for v, n := range counts {
		d.met.RulesByVerdict.WithLabelValues(v).Set(n)
	}
}

// checkStopped emits an event and sets a metric when a rule that matched
// traffic has not matched for Analysis.StoppedMatchingAfter, and again when
// it resumes.
func (d *Daemon) checkStopped(eng *analysis.Engine, merged *analysis.Accumulator, now int64) {
	after := int64(d.cfg.Analysis.StoppedMatchingAfter.Std().Seconds())
	rules := eng.Rules()
	keys := make([]string, 0, len(rules))
	for i, r := range rules {
		key := r.Key()
		keys = append(keys, key)
		rs := merged.Rule(i)
		if rs.Sketch == nil || rs.Sketch.LastSeen == 0 {
			continue
		}
		last := rs.Sketch.LastSeen
		d.met.RuleLastMatch.WithLabelValues(r.GroupID, r.ID, key).Set(float64(last))
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
		d.hub.Publish(ev)
		d.log.Info("rule "+typ, "rule", key, "last_seen", time.Unix(last, 0).UTC())
	}
	d.met.SetRules(keys)
}
