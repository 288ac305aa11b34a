package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Dead-letter headers added by [Consumer.DeadLetter].
const (
	HeaderError           = "cinch-error"
	HeaderSourceTopic     = "cinch-source-topic"
	HeaderSourcePartition = "cinch-source-partition"
	HeaderSourceOffset    = "cinch-source-offset"
)

const (
	// revokeCommitTimeout bounds the synchronous commit of revoked partitions.
	revokeCommitTimeout = 15 * time.Second
	// errorBackoff paces the poll loop while polls return only errors.
	errorBackoff = 250 * time.Millisecond
)

// ErrClosed is returned by Run on a closed Consumer.
var ErrClosed = errors.New("kafka: consumer closed")

// Partition identifies one topic partition.
type Partition struct {
	Topic     string // Topic is the topic name.
	Partition int32  // Partition is the partition number.
}

// String returns "topic/partition".
func (p Partition) String() string { return p.Topic + "/" + strconv.Itoa(int(p.Partition)) }

// comparePartitions orders partitions by topic, then partition number.
func comparePartitions(a, b Partition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// Header is one Kafka record header.
type Header struct {
	Key   string // Key is the header name.
	Value []byte // Value is the raw header value.
}

// Record is one consumed Kafka record. Its byte slices are not reused by the
// consumer; a handler may keep them.
type Record struct {
	Partition           // Partition is where the record was read.
	Offset    int64     // Offset is the record's offset in its partition.
	Key       []byte    // Key is the record key (nil when absent).
	Value     []byte    // Value is the raw payload (a CloudWatch envelope, lines, ...).
	Timestamp time.Time // Timestamp is the record's Kafka timestamp.
	Headers   []Header  // Headers are the record headers, in order.
}

// Header returns the value of the first header named key.
func (r Record) Header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// Handler receives partition lifecycle events and records. Assigned, Revoked
// and Lost are never called while Handle runs: rebalances happen between
// polls. They are called from the consumer's goroutines, Handle from Run's.
type Handler interface {
	// Assigned is called with partitions newly assigned to this member and
	// returns, per partition, the offset to resume from (the checkpoint's
	// next offset), or -1 (or no entry) to use the group's committed offset,
	// or the partition's start (end with StartAtEnd) when there is none.
	Assigned(ctx context.Context, ps []Partition) map[Partition]int64
	// Revoked is called with partitions about to be taken away (rebalance,
	// shutdown): the handler checkpoints them and returns the next offsets
	// to commit, which are committed synchronously before the rebalance
	// completes.
	Revoked(ctx context.Context, ps []Partition) map[Partition]int64
	// Lost is called with partitions lost without a chance to commit
	// (session expiry, fatal group errors): the handler drops their state.
	Lost(ctx context.Context, ps []Partition)
	// Handle processes records of one partition in offset order (one poll's
	// worth). It reports its own errors; they never stop the stream. With
	// Config.Concurrency > 1 it is called concurrently for different
	// partitions (never for the same one).
	Handle(ctx context.Context, p Partition, recs []Record)
}

// Stats are the consumer's cumulative counters.
type Stats struct {
	// Polls is the number of polls that returned records.
	Polls int64
	// Records is the number of records passed to Handler.Handle.
	Records int64
	// FetchErrors counts fetch errors reported by polls (franz-go retries).
	FetchErrors int64
	// CommitErrors counts failed commits (Commit and revoke commits).
	CommitErrors int64
	// DeadLettered counts records produced to the dead-letter topic.
	DeadLettered int64
	// DeadLetterDropped counts dead-letter records not written: disabled
	// dead-lettering, or a failed produce.
	DeadLetterDropped int64
	// DeadLetterFailed counts dead-letter records that could not be written
	// (a missing topic, a failed produce); DeadLetterDropped includes them.
	DeadLetterFailed int64
}

// Consumer consumes Config.Topics as a member of Config.Group and hands the
// records to a Handler, leaving offsets to the Handler (see the package
// documentation). Create it with New, run it with Run, stop it by cancelling
// Run's context and calling Close.
type Consumer struct {
	cfg Config
	h   Handler
	log *slog.Logger
	cl  *kgo.Client
	adm *kadm.Client

	closeCtx    context.Context // cancelled by Close; stops Run
	closeCancel context.CancelFunc
	closeOnce   sync.Once

	runMu   sync.Mutex
	running bool
	closed  bool
	runDone chan struct{}

	// commitMu orders Commit against revocation: Commit holds it shared
	// from its ownership check until its commit is done; revocation takes
	// it exclusively to disown partitions, so no Commit can land after (and
	// rewind) the revoke's commit.
	commitMu sync.RWMutex

	mu        sync.Mutex
	assigned  map[Partition]struct{} // partitions this member owns
	pending   map[Partition]int64    // Handler.Assigned offsets not yet consumed from
	positions map[Partition]int64    // next offset to consume, when known

	polls, records, fetchErrors, commitErrors atomic.Int64
	deadLettered, deadLetterDropped           atomic.Int64
	deadLetterFailures                        atomic.Int64

	dlqProblem atomic.Pointer[error] // see DeadLetterProblem
	dlqKick    chan struct{}         // capacity 1: check the topic again
	dlqLogged  atomic.Int64          // unix nanoseconds of the last failure logged
}

// New validates cfg and creates a Consumer. It does not contact the brokers;
// Run joins the group. A nil logger discards logs.
func New(cfg Config, h Handler, logger *slog.Logger) (*Consumer, error) {
	if h == nil {
		return nil, errors.New("kafka: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger = orDiscard(logger).With("component", "kafka-consumer", "group", cfg.Group)
	c := &Consumer{
		cfg:       cfg,
		h:         h,
		log:       logger,
		assigned:  make(map[Partition]struct{}),
		pending:   make(map[Partition]int64),
		positions: make(map[Partition]int64),
		dlqKick:   make(chan struct{}, 1),
	}
	c.closeCtx, c.closeCancel = context.WithCancel(context.Background())

	opts, err := clientOpts(cfg, logger)
	if err != nil {
		return nil, err
	}
	reset := kgo.NewOffset().AtStart()
	if cfg.StartAtEnd {
		reset = kgo.NewOffset().AtEnd()
	}
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(reset),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.AdjustFetchOffsetsFn(c.adjustOffsets),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
	)
	if cfg.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(cfg.FetchMaxBytes))
	}
	if cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout))
	}
	if cfg.HeartbeatInterval > 0 {
		opts = append(opts, kgo.HeartbeatInterval(cfg.HeartbeatInterval))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new consumer client: %w", err)
	}
	c.cl = cl
	c.adm = kadm.NewClient(cl)
	logger.Info("kafka consumer configured", "config", cfg)
	return c, nil
}

// Run polls records and hands them to the Handler until ctx is cancelled or
// Close is called; then it returns nil. Broker outages are retried by
// franz-go and logged; they never end Run. Only one Run may be active.
func (c *Consumer) Run(ctx context.Context) error {
	c.runMu.Lock()
	switch {
	case c.closed:
		c.runMu.Unlock()
		return ErrClosed
	case c.running:
		c.runMu.Unlock()
		return errors.New("kafka: Run is already running")
	}
	c.running = true
	done := make(chan struct{})
	c.runDone = done
	c.runMu.Unlock()
	defer func() {
		c.runMu.Lock()
		c.running = false
		close(done)
		c.runMu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	stop := context.AfterFunc(c.closeCtx, cancel)
	defer stop()
	if c.cfg.DeadLetterTopic != "" {
		wg.Go(func() { c.watchDeadLetter(ctx) })
	}

	maxRecords := c.cfg.MaxPollRecords
	if maxRecords == 0 {
		maxRecords = defaultMaxPollRecords
	}
	c.log.Info("kafka consumer running")
	for {
		if ctx.Err() != nil {
			c.log.Info("kafka consumer stopped")
			return nil
		}
		fetches := c.cl.PollRecords(ctx, maxRecords)
		if fetches.IsClientClosed() {
			c.cl.AllowRebalance()
			return fmt.Errorf("kafka: poll: %w", kgo.ErrClientClosed)
		}
		n, nerr := c.dispatch(ctx, fetches)
		// Rebalance callbacks may run only now, between polls.
		c.cl.AllowRebalance()
		if n == 0 && nerr > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(errorBackoff):
			}
		}
	}
}

// dispatch hands one poll's records to the Handler, per partition in offset
// order, and logs fetch errors. It returns the number of records handled and
// of fetch errors.
func (c *Consumer) dispatch(ctx context.Context, fetches kgo.Fetches) (handled, fetchErrs int) {
	var order []Partition
	byPart := make(map[Partition][]Record)
	for _, f := range fetches {
		for _, t := range f.Topics {
			for _, p := range t.Partitions {
				if p.Err != nil {
					if ctx.Err() != nil && (errors.Is(p.Err, context.Canceled) || errors.Is(p.Err, context.DeadlineExceeded)) {
						continue
					}
					fetchErrs++
					c.fetchErrors.Add(1)
					c.log.Warn("kafka fetch error", "topic", t.Topic, "partition", p.Partition, "err", p.Err)
				}
				if len(p.Records) == 0 {
					continue
				}
				key := Partition{Topic: t.Topic, Partition: p.Partition}
				if _, ok := byPart[key]; !ok {
					order = append(order, key)
				}
				recs := byPart[key]
				for _, r := range p.Records {
					recs = append(recs, convertRecord(r))
				}
				byPart[key] = recs
			}
		}
	}
	if len(order) == 0 {
		return 0, fetchErrs
	}
	c.polls.Add(1)
	handle := func(p Partition) int {
		if ctx.Err() != nil {
			// Unhandled records are consumed again from the checkpoint.
			return 0
		}
		recs := byPart[p]
		c.h.Handle(ctx, p, recs)
		c.records.Add(int64(len(recs)))
		c.mu.Lock()
		c.positions[p] = recs[len(recs)-1].Offset + 1
		delete(c.pending, p)
		c.mu.Unlock()
		return len(recs)
	}
	workers := min(max(c.cfg.Concurrency, 1), len(order))
	if workers == 1 {
		for _, p := range order {
			handled += handle(p)
		}
		return handled, fetchErrs
	}
	// Partitions are independent: handle them on several goroutines, each
	// partition on one, in offset order.
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		sum  atomic.Int64
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(order) {
					return
				}
				sum.Add(int64(handle(order[i])))
			}
		}()
	}
	wg.Wait()
	handled = int(sum.Load())
	return handled, fetchErrs
}

func convertRecord(r *kgo.Record) Record {
	out := Record{
		Partition: Partition{Topic: r.Topic, Partition: r.Partition},
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
	}
	if len(r.Headers) > 0 {
		out.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			out.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return out
}

// toPartitions flattens a franz-go topic → partitions map, sorted.
func toPartitions(m map[string][]int32) []Partition {
	var ps []Partition
	for t, parts := range m {
		for _, p := range parts {
			ps = append(ps, Partition{Topic: t, Partition: p})
		}
	}
	slices.SortFunc(ps, comparePartitions)
	return ps
}

// onAssigned asks the Handler where to resume the new partitions; the
// offsets are applied by adjustOffsets once franz-go has fetched the group's
// committed offsets.
func (c *Consumer) onAssigned(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	ps := toPartitions(m)
	if len(ps) == 0 {
		return
	}
	resume := c.h.Assigned(ctx, ps)
	explicit := make(map[string]int64)
	c.mu.Lock()
	for _, p := range ps {
		c.assigned[p] = struct{}{}
		delete(c.positions, p)
		delete(c.pending, p)
		if o, ok := resume[p]; ok && o >= 0 {
			c.pending[p] = o
			c.positions[p] = o
			explicit[p.String()] = o
		}
	}
	c.mu.Unlock()
	for p := range resume {
		if !slices.Contains(ps, p) {
			c.log.Warn("kafka: handler returned a resume offset for a partition not being assigned; ignored", "partition", p.String())
		}
	}
	c.log.Info("kafka partitions assigned", "partitions", partitionNames(ps), "resume_offsets", explicit)
}

// adjustOffsets replaces the fetched committed offsets with the Handler's
// resume offsets. A resume offset stays pending until records are handled
// from it, so that a re-fetch (an interrupted session) applies it again.
func (c *Consumer) adjustOffsets(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, parts := range offsets {
		for part, off := range parts {
			p := Partition{Topic: t, Partition: part}
			if o, ok := c.pending[p]; ok {
				parts[part] = kgo.NewOffset().At(o).WithEpoch(-1)
				c.positions[p] = o
				continue
			}
			if eo := off.EpochOffset(); eo.Offset >= 0 {
				c.positions[p] = eo.Offset // committed offset
			}
		}
	}
	return offsets, nil
}

// onRevoked lets the Handler checkpoint the partitions and commits the
// offsets it returns before the rebalance continues.
func (c *Consumer) onRevoked(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	ps := toPartitions(m)
	if len(ps) == 0 {
		return
	}
	c.disown(ps)
	offsets := c.h.Revoked(ctx, ps)
	commit := make(map[Partition]int64, len(offsets))
	for p, o := range offsets {
		switch {
		case !slices.Contains(ps, p):
			c.log.Warn("kafka: handler returned a commit offset for a partition not being revoked; ignored", "partition", p.String())
		case o >= 0:
			commit[p] = o
		}
	}
	cctx, cancel := context.WithTimeout(ctx, revokeCommitTimeout)
	err := c.commit(cctx, commit)
	cancel()
	if err != nil {
		c.log.Error("kafka: commit of revoked partitions failed; they will be re-consumed from the previous commit", "partitions", partitionNames(ps), "err", err)
	}
	c.log.Info("kafka partitions revoked", "partitions", partitionNames(ps), "committed", len(commit))
}

// onLost tells the Handler that partitions were lost without a commit.
func (c *Consumer) onLost(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	ps := toPartitions(m)
	if len(ps) == 0 {
		return
	}
	c.disown(ps)
	c.h.Lost(ctx, ps)
	c.log.Warn("kafka partitions lost", "partitions", partitionNames(ps))
}

// disown removes partitions from this member's state once in-flight Commit
// calls are done; later Commit calls skip them.
func (c *Consumer) disown(ps []Partition) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		delete(c.assigned, p)
		delete(c.pending, p)
		delete(c.positions, p)
	}
}

func partitionNames(ps []Partition) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// Commit synchronously commits next-offsets (call it after a durable
// checkpoint). Offsets of partitions this member does not own (any more) are
// skipped: the offsets returned by Handler.Revoked are the final commit, and
// a Commit never lands after them. Negative offsets are skipped. A pending
// revocation waits for Commit, so give it a bounded context.
func (c *Consumer) Commit(ctx context.Context, offsets map[Partition]int64) error {
	c.commitMu.RLock()
	defer c.commitMu.RUnlock()
	owned := make(map[Partition]int64, len(offsets))
	var skipped []string
	c.mu.Lock()
	for p, o := range offsets {
		if _, ok := c.assigned[p]; ok && o >= 0 {
			owned[p] = o
		} else {
			skipped = append(skipped, p.String())
		}
	}
	c.mu.Unlock()
	if len(skipped) > 0 {
		c.log.Debug("kafka: commit skips partitions not owned", "partitions", skipped)
	}
	c.flushDeadLetters(ctx)
	return c.commit(ctx, owned)
}

// commit commits offsets synchronously and reports per-partition errors.
func (c *Consumer) commit(ctx context.Context, offsets map[Partition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	m := make(map[string]map[int32]kgo.EpochOffset)
	for p, o := range offsets {
		if m[p.Topic] == nil {
			m[p.Topic] = make(map[int32]kgo.EpochOffset)
		}
		m[p.Topic][p.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var errs []error
	c.cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					errs = append(errs, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err))
				}
			}
		}
	})
	if len(errs) > 0 {
		c.commitErrors.Add(1)
		return fmt.Errorf("kafka: commit offsets: %w", errors.Join(errs...))
	}
	return nil
}

// DeadLetter produces rec's raw key and value (and headers) to the
// dead-letter topic, adding the headers cinch-error=reason,
// cinch-source-topic, cinch-source-partition and cinch-source-offset. With
// dead-lettering disabled it only counts the record and returns nil. While
// the topic is known to be missing it returns ErrDeadLetterUnavailable at
// once. It waits for the broker's answer: the daemon uses DeadLetterAsync.
func (c *Consumer) DeadLetter(ctx context.Context, rec Record, reason string) error {
	if c.cfg.DeadLetterTopic == "" {
		c.deadLetterDropped.Add(1)
		return nil
	}
	if err := c.DeadLetterProblem(); err != nil {
		c.deadLetterDropped.Add(1)
		c.deadLetterFailures.Add(1)
		return fmt.Errorf("%w: %w", ErrDeadLetterUnavailable, err)
	}
	r := deadLetterRecord(c.cfg.DeadLetterTopic, rec, reason)
	if err := c.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		c.deadLetterDropped.Add(1)
		c.deadLetterFailures.Add(1)
		return fmt.Errorf("kafka: dead-letter %s@%d to %s: %w", rec.Partition, rec.Offset, c.cfg.DeadLetterTopic, err)
	}
	c.deadLettered.Add(1)
	return nil
}

func deadLetterRecord(topic string, rec Record, reason string) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(rec.Headers)+4)
	for _, h := range rec.Headers {
		hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(rec.Partition.Partition), 10)},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
	)
	return &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: hs}
}

// Lag returns, per partition this member owns, the end offset (high
// watermark) minus the consumed position: the next offset to handle, or,
// before any record was handled, the resume offset, the committed offset,
// or the partition's start (end with StartAtEnd).
func (c *Consumer) Lag(ctx context.Context) (map[Partition]int64, error) {
	c.mu.Lock()
	owned := slices.SortedFunc(maps.Keys(c.assigned), comparePartitions)
	positions := maps.Clone(c.positions)
	c.mu.Unlock()
	lag := make(map[Partition]int64, len(owned))
	if len(owned) == 0 {
		return lag, nil
	}
	var topics []string
	for _, p := range owned {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
	}
	ends, err := c.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("kafka: lag: list end offsets: %w", err)
	}
	committed := c.cl.CommittedOffsets()
	var starts kadm.ListedOffsets
	var errs []error
	for _, p := range owned {
		end, ok := ends.Lookup(p.Topic, p.Partition)
		if !ok || end.Err != nil {
			errs = append(errs, fmt.Errorf("%s: end offset: %w", p, cmp.Or(end.Err, errors.New("not listed"))))
			continue
		}
		pos, ok := positions[p]
		if !ok {
			if eo, has := committed[p.Topic][p.Partition]; has && eo.Offset >= 0 {
				pos, ok = eo.Offset, true
			}
		}
		if !ok && c.cfg.StartAtEnd {
			pos, ok = end.Offset, true
		}
		if !ok {
			if starts == nil {
				if starts, err = c.adm.ListStartOffsets(ctx, topics...); err != nil {
					return nil, fmt.Errorf("kafka: lag: list start offsets: %w", err)
				}
			}
			start, has := starts.Lookup(p.Topic, p.Partition)
			if !has || start.Err != nil {
				errs = append(errs, fmt.Errorf("%s: start offset: %w", p, cmp.Or(start.Err, errors.New("not listed"))))
				continue
			}
			pos = start.Offset
		}
		lag[p] = max(end.Offset-pos, 0)
	}
	if len(errs) > 0 {
		return lag, fmt.Errorf("kafka: lag: %w", errors.Join(errs...))
	}
	return lag, nil
}

// Ping checks that a broker is reachable and accepts the TLS and SASL
// settings; unlike polling (which retries forever), it reports
// authentication and certificate errors directly. Use it at startup and for
// readiness.
func (c *Consumer) Ping(ctx context.Context) error {
	if err := c.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: ping brokers %v: %w", c.cfg.Brokers, err)
	}
	return nil
}

// Assignment returns the partitions this member owns, sorted.
func (c *Consumer) Assignment() []Partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.SortedFunc(maps.Keys(c.assigned), comparePartitions)
}

// Stats returns the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Polls:             c.polls.Load(),
		Records:           c.records.Load(),
		FetchErrors:       c.fetchErrors.Load(),
		CommitErrors:      c.commitErrors.Load(),
		DeadLettered:      c.deadLettered.Load(),
		DeadLetterDropped: c.deadLetterDropped.Load(),
		DeadLetterFailed:  c.deadLetterFailures.Load(),
	}
}

// Close stops a running Run (waiting for it to return), then leaves the
// group: the Handler's Revoked runs for every owned partition and its offsets
// are committed, so another member takes over at once. Close is idempotent.
func (c *Consumer) Close() {
	c.closeOnce.Do(func() {
		c.closeCancel()
		c.runMu.Lock()
		c.closed = true
		running, done := c.running, c.runDone
		c.runMu.Unlock()
		if running {
			<-done
		}
		c.flushDeadLetters(context.Background())
		c.cl.CloseAllowingRebalance()
		c.log.Info("kafka consumer closed")
	})
}
