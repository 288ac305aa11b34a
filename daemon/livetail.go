package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/inventory/awsapi"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/livetail"
)

// readLiveTail feeds CloudWatch Logs Live Tail events through the pipeline
// until ctx ends; its shard's state is checkpointed like any other. Sampling
// and the gaps between sessions are logged with the source's counters,
// counted in metrics, and mark the time they cover as partially logged, so
// that no proposal resting on it has high confidence.
func (d *Daemon) readLiveTail(ctx context.Context) {
	lt := d.cfg.LiveTail
	cfg, err := awsapi.LoadAWSConfig(ctx, awsapi.Config{})
	if err != nil {
		d.log.Error("live tail", "err", err)
		return
	}
	if region := arnRegion(lt.LogGroups[0]); region != "" {
		cfg.Region = region
	}
	src, err := livetail.New(cfg, livetail.Config{LogGroups: lt.LogGroups, FilterPattern: lt.FilterPattern, Restart: true}, d.log)
	if err != nil {
		d.log.Error("live tail", "err", err)
		return
	}
	key := "livetail:" + strings.Join(lt.LogGroups, ",")
	s, _ := d.newShardFor(key)
	d.mu.Lock()
	d.shards[key] = s
	d.mu.Unlock()
	dec := newDecoder(d.formats)
	sk := shardSink{d: d, s: s}
	var meta envelope.Meta
	report := time.NewTicker(time.Minute)
	defer report.Stop()
	// lastEnd is the latest record end seen: a gap between sessions runs
	// from it to the first record of the next session.
	var lastEnd int64
	err = src.Run(ctx, func(ev *livetail.Event) error {
		d.met.RecordsConsumed.Inc()
		if ev.Sampled {
			d.met.LiveTailSampled.Inc()
		}
		meta = envelope.Meta{LogGroup: ev.Group, LogStream: ev.Stream}
		// Live Tail pushes at most 500 events a second: one lock per event
		// never keeps an evaluation waiting for the network.
		s.mu.Lock()
		defer s.mu.Unlock()
		if !dec.line(ev.Message, &meta, &sk) {
			return nil
		}
		d.met.RecordsParsed.Inc()
		rec := &dec.rec
		// Records were left out around a sampled one, and between two
		// sessions: the time they cover is partially logged, for every
		// interface (a capture window is up to ten minutes either side).
		const g = analysis.ObservationTolerance
		switch {
		case ev.Sampled:
			s.acc.MarkPartial(rec.Start-g, rec.End+g)
		case ev.Resumed && lastEnd > 0:
			s.acc.MarkPartial(lastEnd-g, max(rec.End, lastEnd)+g)
			d.met.LiveTailGaps.Inc()
		}
		lastEnd = max(lastEnd, rec.End)
		s.unsaved = true
		select {
		case <-report.C:
			sk.tally.flush(&d.logGroups) // for /readyz: a log group none of whose lines parse
			st := src.Stats()
			d.log.Info("live tail", "events", st.Events, "sessions", st.Sessions, "session_limits", st.Timeouts,
				"sampled_updates", st.SampledUpdates, "updates", st.Updates, "sampled_events", st.SampledEvents)
		default:
		}
		return nil
	})
	s.mu.Lock()
	sk.tally.flush(&d.logGroups)
	s.mu.Unlock()
	if err != nil {
		d.log.Error("live tail stopped", "err", err)
	}
	st := src.Stats()
	d.log.Info("live tail ended", "events", st.Events, "sessions", st.Sessions, "sampled_updates", st.SampledUpdates)
}

// arnRegion returns the region of an ARN ("" when it has none).
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}
