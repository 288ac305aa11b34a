package daemon

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/sinks/clickhouse"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// chSink connects the daemon to ClickHouse (config section clickhouse): it
// publishes every checkpoint (the partition's bytes and its rules' usage per
// bucket), the suggestions and events the hub publishes and the review
// decisions; it reads the other instances' partitions back; and it holds
// back a partition's Kafka offset commit until the rows derived from the
// records before it are written, so that an outage loses nothing.
type chSink struct {
	s        *clickhouse.Sink
	instance string
	cancel   context.CancelFunc
	done     chan struct{}
	loading  atomic.Bool // a peer load is under way

	mu      sync.Mutex
	pending map[kafka.Partition][]pendingCommit // puts not yet known flushed, in order
	durable map[kafka.Partition]int64           // highest offset whose rows are written
	sent    map[string]*shardSent               // by shard key: what was published
}

// pendingCommit is an offset whose rows went out with sequence number seq.
type pendingCommit struct {
	seq    uint64
	offset int64
}

// shardSent remembers what a shard published: per bucket the statistics at
// the last publication (a bucket whose statistics did not change has no new
// usage), per bucket and rule the flows published.
type shardSent struct {
	eng   *analysis.Engine
	flows map[[2]int64]uint64 // (slot start, rule index) -> flows
}

// openClickHouse prepares the sink when the configuration asks for one.
func (d *Daemon) openClickHouse() error {
	c := d.cfg.ClickHouse
	if c == nil {
		return nil
	}
	inst := c.Instance
	if inst == "" {
		host, _ := os.Hostname()
		inst = host + " " + d.ln.Addr().String()
	}
	s, err := clickhouse.New(clickhouse.Config{Addr: c.Addr, Database: c.Database, Username: c.Username, Password: c.Password,
		BatchSize: c.BatchSize, FlushInterval: c.FlushInterval.Std(), Buffer: c.Buffer, Retention: c.Retention.Std(),
		Instance: inst}, d.log.With("sink", "clickhouse"))
	if err != nil {
		return err
	}
	d.ch = &chSink{s: s, instance: inst, pending: map[kafka.Partition][]pendingCommit{},
		durable: map[kafka.Partition]int64{}, sent: map[string]*shardSent{}}
	d.registerClickHouseMetrics()
	return nil
}

func (d *Daemon) registerClickHouseMetrics() {
	s := d.ch.s
	d.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cinch_clickhouse_backlog_rows",
			Help: "Rows waiting to be written to ClickHouse."}, func() float64 { return float64(s.Backlog()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cinch_clickhouse_flush_failures_total",
			Help: "Writes to ClickHouse that failed (retried with backoff)."}, func() float64 { return float64(s.Status().Failures) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cinch_clickhouse_rows_written_total",
			Help: "Rows written to ClickHouse."}, func() float64 { return float64(s.Status().Written) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cinch_clickhouse_rows_dropped_total",
			Help: "Suggestion, event and review rows dropped because the buffer was full during an outage."},
			func() float64 { return float64(s.Status().Dropped) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cinch_clickhouse_up",
			Help: "1 when the last write to ClickHouse succeeded."}, func() float64 {
			if s.Status().Failing {
				return 0
			}
			return 1
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cinch_clickhouse_last_flush_timestamp_seconds",
			Help: "Time of the last successful write to ClickHouse."}, func() float64 {
			if t := s.Status().LastFlush; !t.IsZero() {
				return float64(t.UnixNano()) / 1e9
			}
			return 0
		}),
	)
}

// clickHouseReady is why ClickHouse makes the daemon not ready ("" when it does not).
func (d *Daemon) clickHouseReady() error {
	if d.ch == nil {
		return nil
	}
	st := d.ch.s.Status()
	if st.Failing {
		return fmt.Errorf("clickhouse: %d rows waiting, %d failed writes, offsets not committed: %s", st.Backlog, st.Failures, st.LastError)
	}
	return nil
}

// startClickHouse starts the writer and the review listener. Call it before
// the first evaluation.
func (d *Daemon) startClickHouse(ctx context.Context, wg *sync.WaitGroup) {
	if d.ch == nil {
		return
	}
	sctx, cancel := context.WithCancel(context.Background())
	d.ch.cancel, d.ch.done = cancel, make(chan struct{})
	go func() {
		defer close(d.ch.done)
		d.ch.s.Run(sctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.listenReviews(ctx)
	}()
}

// stopClickHouse writes what waits (bounded by ctx), commits the offsets it
// made durable, and stops the writer.
func (d *Daemon) stopClickHouse(ctx context.Context) error {
	if d.ch == nil || d.ch.cancel == nil {
		return nil
	}
	err := d.ch.s.Flush(ctx)
	if err != nil {
		// Nothing is lost: the offsets of what is not written stay uncommitted
		// and the records are read again at the next start.
		d.log.Warn("clickhouse: rows not written at shutdown; their offsets are not committed",
			"backlog", d.ch.s.Backlog(), "err", err)
		err = nil
	} else if d.consumer != nil {
		d.mu.Lock()
		owned := map[kafka.Partition]int64{}
		for k := range d.shards {
			if p, ok := parsePartitionKey(k); ok {
				owned[p] = 1<<63 - 1 // as far as is written
			}
		}
		d.mu.Unlock()
		if offs := d.ch.gate(owned); len(offs) > 0 {
			err = d.consumer.Commit(ctx, offs)
		}
	}
	d.ch.cancel()
	<-d.ch.done
	if cerr := d.ch.s.Close(); cerr != nil {
		d.log.Warn("clickhouse: close", "err", cerr)
	}
	return err
}

// listenReviews writes review decisions (the hub's review events).
func (d *Daemon) listenReviews(ctx context.Context) {
	d.hub.Follow(ctx, d.hub.Version(), d.reviewToClickHouse)
}

func (d *Daemon) reviewToClickHouse(ev api.Event) {
	if ev.Type != api.EventReview || ev.Review == nil {
		return
	}
	r := ev.Review
	d.ch.s.PutReviews(clickhouse.ReviewRow{Time: r.Time, Version: ev.Version, Instance: d.ch.instance, RuleKey: r.RuleKey,
		Decision: r.Decision, Comment: r.Comment, Reviewer: r.By})
	d.ch.s.PutEvents(clickhouse.EventRow{Time: ev.Time, Version: ev.Version, Instance: d.ch.instance, Type: ev.Type,
		RuleKey: r.RuleKey, Verdict: r.Decision})
}

// toClickHouse queues the suggestions and events the hub published.
func (d *Daemon) toClickHouse(evs ...api.Event) {
	if d.ch == nil || len(evs) == 0 {
		return
	}
	var sugs []clickhouse.SuggestionRow
	events := make([]clickhouse.EventRow, 0, len(evs))
	for _, ev := range evs {
		row := clickhouse.EventRow{Time: ev.Time, Version: ev.Version, Instance: d.ch.instance, Type: ev.Type, RuleKey: ev.RuleKey}
		if ev.Suggestion != nil {
			row.GroupID, row.Verdict = ev.Suggestion.GroupID, ev.Suggestion.Verdict
			if ev.Type == api.EventVerdictChanged {
				sugs = append(sugs, clickhouse.SuggestionRow{Time: ev.Time, Version: ev.Version, Instance: d.ch.instance,
					RuleKey: ev.RuleKey, Suggestion: *ev.Suggestion})
			}
		}
		if ev.Previous != nil {
			row.PreviousVerdict = ev.Previous.Verdict
			if row.GroupID == "" {
				row.GroupID = ev.Previous.GroupID
			}
		}
		events = append(events, row)
	}
	if len(sugs) > 0 {
		d.ch.s.PutSuggestions(sugs...)
	}
	d.ch.s.PutEvents(events...)
}

// publishShard queues a shard's checkpoint and the usage rows, one per rule
// and time slot of the window (flows, packets, bytes and distinct sources of
// the slot, see sketch.Sketch.SeriesSources), of the slots that changed since
// its last publication. The caller holds s.mu; data is
// the checkpoint just taken.
func (d *Daemon) publishShard(s *shard, data []byte) {
	if d.ch == nil {
		return
	}
	c := d.ch
	version := uint64(max(s.next, 0))
	c.mu.Lock()
	sent := c.sent[s.key]
	if sent == nil || sent.eng != s.eng {
		sent = &shardSent{eng: s.eng, flows: map[[2]int64]uint64{}}
		c.sent[s.key] = sent
	}
	c.mu.Unlock()
	var rows []clickhouse.UsageRow
	live := map[[2]int64]bool{}
	if s.acc != nil {
		rules := s.acc.Engine().Rules()
		for i, r := range rules {
			var srcs []sketch.SlotSources // counted only when a slot changed (it walks the sketch)
			counted := false
			for j, sl := range s.acc.Series(i) {
				k := [2]int64{sl.Start, int64(i)}
				live[k] = true
				if sent.flows[k] == sl.Flows {
					continue
				}
				sent.flows[k] = sl.Flows
				if !counted {
					srcs, counted = s.acc.SeriesSources(i), true
				}
				var src sketch.SlotSources // none when the sketch keeps no per-slot counts
				if j < len(srcs) {
					src = srcs[j]
				}
				rows = append(rows, clickhouse.UsageRow{Bucket: time.Unix(sl.Start, 0), BucketSeconds: uint32(s.scfg.Slot),
					GroupID: r.GroupID, RuleKey: r.Key(), RuleID: r.ID, Direction: r.Direction(), Protocol: r.Protocol,
					FromPort: r.FromPort, ToPort: r.ToPort, Source: r.Source.String(), Partition: s.key,
					Flows: sl.Flows, Packets: sl.Packets, Bytes: sl.Bytes, Sources: src.Sources, SourcesEstimated: src.Estimated,
					FirstSeen: time.Unix(sl.FirstSeen, 0), LastSeen: time.Unix(sl.LastSeen, 0), Version: version})
			}
		}
	}
	for k := range sent.flows { // expired slots
		if !live[k] {
			delete(sent.flows, k)
		}
	}
	if len(rows) > 0 {
		c.s.PutUsage(rows)
	}
	seq := c.s.PutSketch(clickhouse.SketchRow{Partition: s.key, Version: version, NextOffset: s.next, Watermark: s.watermark,
		Instance: c.instance, Written: time.Now(), Data: data})
	if p, ok := parsePartitionKey(s.key); ok && s.next >= 0 {
		c.mu.Lock()
		c.pending[p] = append(c.pending[p], pendingCommit{seq: seq, offset: s.next})
		c.mu.Unlock()
	}
}

// gate returns, of the offsets checkpointing would commit, those whose rows
// are written: per partition the highest written offset not beyond the one
// asked. Without ClickHouse it returns offsets unchanged.
func (c *chSink) gate(offsets map[kafka.Partition]int64) map[kafka.Partition]int64 {
	if c == nil {
		return offsets
	}
	flushed := c.s.Flushed()
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, list := range c.pending {
		n := 0
		for _, pc := range list {
			if pc.seq > flushed {
				break
			}
			c.durable[p] = max(c.durable[p], pc.offset)
			n++
		}
		c.pending[p] = list[n:]
		if len(c.pending[p]) == 0 {
			delete(c.pending, p)
		}
	}
	out := make(map[kafka.Partition]int64, len(offsets))
	for p, o := range offsets {
		if dur, ok := c.durable[p]; ok {
			out[p] = min(o, dur)
		}
	}
	return out
}

// forget drops what is known of partitions this instance no longer owns, so
// that a later owner's commits are never moved back.
func (d *Daemon) forgetCommits(ps ...kafka.Partition) {
	if d.ch == nil {
		return
	}
	d.ch.mu.Lock()
	defer d.ch.mu.Unlock()
	for _, p := range ps {
		delete(d.ch.pending, p)
		delete(d.ch.durable, p)
		delete(d.ch.sent, partitionKey(p))
	}
}

// commitOffset is the offset to commit for a partition being revoked whose
// checkpoint includes next: next once its rows are written (waiting a few
// seconds for them), else the highest written one; ok is false when none is.
func (d *Daemon) commitOffset(ctx context.Context, p kafka.Partition, next int64) (int64, bool) {
	if d.ch == nil {
		return next, true
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d.ch.s.Flush(ctx)
	o, ok := d.ch.gate(map[kafka.Partition]int64{p: next})[p]
	d.forgetCommits(p)
	return o, ok
}

// readCheckpoint returns a partition's checkpoint: the local file, or
// ClickHouse's when that one is newer (another instance owned the partition
// since); ClickHouse unreachable, the local file.
func (d *Daemon) readCheckpoint(key string) ([]byte, error) {
	data, err := os.ReadFile(checkpointPath(d.cfg.StateDir, key))
	if d.ch == nil {
		return data, err
	}
	if d.ch.s.Status().Failing {
		d.log.Warn("clickhouse is failing; restoring the partition from the local checkpoint", "shard", key)
		return data, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cerr := d.ch.s.Migrate(ctx)
	var row clickhouse.SketchRow
	var ok bool
	if cerr == nil {
		row, ok, cerr = d.ch.s.Sketch(ctx, key)
	}
	switch {
	case cerr != nil:
		d.log.Warn("clickhouse: cannot read the partition's checkpoint; using the local one", "shard", key, "err", cerr)
		return data, err
	case !ok:
		return data, err
	case err != nil:
		return row.Data, nil
	}
	d.mu.Lock()
	eng := d.eng
	d.mu.Unlock()
	local := d.newShard(key, eng, int64(d.cfg.Analysis.Bucket.Std().Seconds()))
	if local.restore(data) == nil && local.next >= row.NextOffset {
		return data, nil
	}
	d.log.Info("restoring the partition from ClickHouse (newer than the local checkpoint)", "shard", key,
		"next_offset", row.NextOffset, "instance", row.Instance)
	return row.Data, nil
}

// loadPeersClickHouse reads, in the background, the latest checkpoints of
// the partitions other instances own. The state directory stays local.
func (d *Daemon) loadPeersClickHouse() {
	if !d.ch.loading.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer d.ch.loading.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := d.ch.s.Migrate(ctx)
		var vers map[string]uint64
		if err == nil {
			vers, err = d.ch.s.SketchVersions(ctx)
		}
		if err != nil {
			d.log.Debug("clickhouse: cannot list peer checkpoints", "err", err)
			return
		}
		d.mu.Lock()
		eng := d.eng
		owned := map[string]bool{}
		for k := range d.shards {
			owned[k] = true
		}
		d.mu.Unlock()
		seen := map[string]bool{}
		for key, v := range vers {
			if owned[key] {
				continue
			}
			f := checkpointPath(d.cfg.StateDir, key)
			seen[f] = true
			d.mu.Lock()
			p := d.peers[f]
			d.mu.Unlock()
			if p != nil && p.version == v && p.shard.eng == eng {
				continue
			}
			row, ok, err := d.ch.s.Sketch(ctx, key)
			if err != nil || !ok {
				continue
			}
			s := d.newShard(key, eng, int64(d.cfg.Analysis.Bucket.Std().Seconds()))
			if err := s.restore(row.Data); err != nil {
				d.log.Warn("cannot read a peer checkpoint from ClickHouse", "shard", key, "err", err)
				continue
			}
			d.mu.Lock()
			if _, mine := d.shards[key]; !mine {
				d.peers[f] = &peerShard{version: row.Version, shard: s}
			}
			d.mu.Unlock()
		}
		d.mu.Lock()
		for f := range d.peers {
			if !seen[f] {
				delete(d.peers, f)
			}
		}
		d.mu.Unlock()
	}()
}
