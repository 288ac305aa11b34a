package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/inventory/awsapi"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/livetail"
)

// readLiveTail feeds CloudWatch Logs Live Tail events through the pipeline
// until ctx ends; its shard's state is checkpointed like any other. Sampling
// and session ends are logged with the source's counters.
func (d *Daemon) readLiveTail(ctx context.Context) {
	lt := d.cfg.LiveTail
	c := awsapi.Config{}
	if d.cfg.Inventory.AWS != nil {
		c.Regions = d.cfg.Inventory.AWS.Regions
	}
	cfg, err := awsapi.LoadAWSConfig(ctx, c)
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
	parsers := map[string]*flowlog.Parser{}
	sk := shardSink{d: d, s: s}
	var rec flowlog.Record
	var meta envelope.Meta
	n := 0
	report := time.NewTicker(time.Minute)
	defer report.Stop()
	err = src.Run(ctx, func(group, stream string, msg []byte) error {
		p := parsers[group]
		if p == nil {
			f := d.formats.logGroup[group]
			if f == nil {
				f = d.formats.def
			}
			p = flowlog.NewParser(f)
			parsers[group] = p
		}
		d.met.RecordsConsumed.Inc()
		if err := p.Parse(msg, &rec); err != nil {
			reason := "malformed"
			if pe, ok := err.(*flowlog.ParseError); ok {
				reason = pe.Reason
			}
			d.met.RecordsFailed.WithLabelValues(reason).Inc()
			return nil
		}
		d.met.RecordsParsed.Inc()
		meta = envelope.Meta{LogGroup: group, LogStream: stream}
		// Live Tail pushes at most 500 events a second: one lock per event
		// never keeps an evaluation waiting for the network.
		s.mu.Lock()
		sk.record(&rec, &meta)
		s.unsaved = true
		s.mu.Unlock()
		n++
		select {
		case <-report.C:
			st := src.Stats()
			d.log.Info("live tail", "events", st.Events, "sessions", st.Sessions, "session_limits", st.Timeouts,
				"sampled_updates", st.SampledUpdates, "updates", st.Updates, "sampled_events", st.SampledEvents)
		default:
		}
		return nil
	})
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
