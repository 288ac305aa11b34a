// Package clickhouse is the daemon's ClickHouse sink: it owns the schema
// (versioned, idempotent migrations recorded in schema_migrations), buffers
// rows in memory and writes them in batches with retries, and reads back the
// partitions' checkpoints through which daemon instances meet.
//
// It speaks the native protocol through clickhouse-go/v2, pinned at v2.26.0:
// the newest release whose batch insert works against ClickHouse 18.16 (from
// v2.27.0 the driver sends INSERT ... FORMAT Native, which 18.16 answers with
// no columns). The SQL runs on 18.16 and on current releases.
//
// Rows are of two kinds. Rule usage and checkpoints are state: a newer row
// for the same key supersedes an older one (ReplacingMergeTree), so the
// buffer keeps only the latest per key and its size is bounded by the
// daemon's state. Suggestions, events and reviews are appended; at most
// Config.Buffer of them wait, the oldest dropped (and counted) beyond. Apply
// runs are appended too, bounded by Config.Buffer on their own.
//
// Every Put returns a sequence number; Flushed reports the highest sequence
// number whose rows are all in ClickHouse, so a caller can hold back what
// depends on them (the daemon's Kafka offset commits).
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config configures a Sink.
type Config struct {
	// Addr is the server's native-protocol address, host:port.
	Addr string
	// Database holds the tables (default "cinch").
	Database string
	// Username and Password authenticate (default user "default", no password).
	Username, Password string
	// BatchSize is the number of rows that triggers a flush before the
	// interval (default 10000); an insert sends at most this many rows.
	BatchSize int
	// FlushInterval is the longest a row waits (default 1s).
	FlushInterval time.Duration
	// Buffer bounds the appended rows (suggestions, events, reviews)
	// waiting while ClickHouse is unreachable (default 100000).
	Buffer int
	// Instance names this writer in the rows (default: none).
	Instance string
	// Retention drops partitions of rule_usage, suggestions and events older
	// than this (0: keep everything).
	Retention time.Duration
	// MaxBackoff bounds the wait between failed flushes (default 10s).
	MaxBackoff time.Duration
}

// Defaults for Config.
const (
	DefaultDatabase      = "cinch"
	DefaultBatchSize     = 10000
	DefaultFlushInterval = time.Second
	DefaultBuffer        = 100000
	DefaultMaxBackoff    = 10 * time.Second
)

var dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) normalize() error {
	if c.Addr == "" {
		return errors.New("clickhouse: addr is empty")
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if !dbName.MatchString(c.Database) {
		return fmt.Errorf("clickhouse: database %q: letters, digits and _ only", c.Database)
	}
	if c.Username == "" {
		c.Username = "default"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Buffer <= 0 {
		c.Buffer = DefaultBuffer
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	return nil
}

// Sink writes to ClickHouse. Its methods are safe for concurrent use.
type Sink struct {
	cfg  Config
	log  *slog.Logger
	conn driver.Conn
	kick chan struct{}

	mu       sync.Mutex
	seq      uint64 // last sequence number given out
	usage    map[usageKey]UsageRow
	sketches map[string]SketchRow
	sugs     []SuggestionRow
	events   []EventRow
	reviews  []ReviewRow
	applies  []ApplyRow
	flushMu  sync.Mutex // one flush at a time

	flushed   atomic.Uint64
	migrated  atomic.Bool
	failures  atomic.Uint64
	dropped   atomic.Uint64
	written   atomic.Uint64
	failing   atomic.Bool
	lastErr   atomic.Pointer[string]
	lastFlush atomic.Int64 // unix nanoseconds of the last successful flush
}

type usageKey struct {
	partition, rule string
	bucket          int64
}

// New returns a sink for cfg. It does not connect: Run migrates and flushes,
// retrying while the server is unreachable.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := ch.Open(&ch.Options{
		Addr:             []string{cfg.Addr},
		Auth:             ch.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password},
		DialTimeout:      5 * time.Second,
		ReadTimeout:      60 * time.Second,
		Compression:      &ch.Compression{Method: ch.CompressionLZ4},
		MaxOpenConns:     4,
		MaxIdleConns:     2,
		ConnMaxLifetime:  10 * time.Minute,
		ConnOpenStrategy: ch.ConnOpenInOrder,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: open %s: %w", cfg.Addr, err)
	}
	return &Sink{cfg: cfg, log: log, conn: conn, kick: make(chan struct{}, 1),
		usage: map[usageKey]UsageRow{}, sketches: map[string]SketchRow{}}, nil
}

// Database is the database the sink writes to.
func (s *Sink) Database() string { return s.cfg.Database }

// Close closes the connections. Rows not flushed are lost; call Flush first.
func (s *Sink) Close() error { return s.conn.Close() }

// Run migrates the schema, then flushes every FlushInterval (or when
// BatchSize rows wait) until ctx is cancelled, retrying failures with
// exponential backoff; on cancellation it tries one last flush (bounded by
// 10 s) and returns nil.
func (s *Sink) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	next := time.Now().Add(s.cfg.FlushInterval) // time of the next attempt
	lastRetention := time.Time{}
	for {
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := s.Flush(fctx)
			cancel()
			if err != nil {
				s.log.Warn("clickhouse: rows not written at shutdown", "backlog", s.Backlog(), "err", err)
			}
			return nil
		case <-timer.C:
		case <-s.kick:
			timer.Stop()
			if backoff > 0 && time.Now().Before(next) {
				continue // a full batch waits, but the backoff holds
			}
		}
		err := s.Flush(ctx)
		if err == nil && s.cfg.Retention > 0 && time.Since(lastRetention) > time.Hour {
			if err = s.DropBefore(ctx, time.Now().Add(-s.cfg.Retention)); err == nil {
				lastRetention = time.Now()
			}
		}
		if err != nil {
			backoff = min(max(2*backoff, 200*time.Millisecond), s.cfg.MaxBackoff)
			next = time.Now().Add(backoff/2 + rand.N(backoff/2+1)) // jitter, so instances do not retry in step
			continue
		}
		backoff = 0
		next = time.Now().Add(s.cfg.FlushInterval)
	}
}

// Migrate brings the schema to SchemaVersion. It is idempotent and safe to
// run from several instances at once.
func (s *Sink) Migrate(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	db := s.cfg.Database
	for _, stmt := range []string{createDatabase, createMigrations} {
		if err := s.exec(ctx, withDB(stmt, db)); err != nil {
			return err
		}
	}
	applied := map[uint32]bool{}
	rows, err := s.conn.Query(ctx, withDB(qAppliedMigrations, db))
	if err != nil {
		return fmt.Errorf("clickhouse: migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("clickhouse: migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("clickhouse: migrations: %w", err)
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		for _, stmt := range m.statements {
			if err := s.exec(ctx, withDB(stmt, db)); err != nil {
				return fmt.Errorf("clickhouse: migration %d (%s): %w", m.version, m.name, err)
			}
		}
		b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations")
		if err != nil {
			return fmt.Errorf("clickhouse: migration %d: record: %w", m.version, err)
		}
		if err := b.Append(m.version, m.name, time.Now(), s.cfg.Instance); err != nil {
			return fmt.Errorf("clickhouse: migration %d: record: %w", m.version, err)
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("clickhouse: migration %d: record: %w", m.version, err)
		}
		s.log.Info("clickhouse: migration applied", "version", m.version, "name", m.name)
	}
	s.migrated.Store(true)
	return nil
}

// exec runs an idempotent DDL statement. Another instance running the same
// statement at the same moment can make it fail ("already exists"), so a
// failure is retried once: the second run finds the object and succeeds.
func (s *Sink) exec(ctx context.Context, stmt string) error {
	err := s.conn.Exec(ctx, stmt)
	if err == nil {
		return nil
	}
	select {
	case <-ctx.Done():
		return err
	case <-time.After(200 * time.Millisecond):
	}
	if err2 := s.conn.Exec(ctx, stmt); err2 != nil {
		return fmt.Errorf("clickhouse: %w", err2)
	}
	return nil
}

// Ping checks the connection.
func (s *Sink) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// next returns the next sequence number and wakes the flusher when a batch
// is full. The caller holds mu.
func (s *Sink) nextLocked() uint64 {
	s.seq++
	if s.backlogLocked() >= s.cfg.BatchSize {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return s.seq
}

// PutUsage queues rule-usage rows; a row replaces a queued one of the same
// partition, rule and bucket.
func (s *Sink) PutUsage(rows []UsageRow) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		s.usage[usageKey{r.Partition, r.RuleKey, r.Bucket.Unix()}] = r
	}
	return s.nextLocked()
}

// PutSketch queues a partition's checkpoint, replacing a queued one.
func (s *Sink) PutSketch(r SketchRow) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Instance == "" {
		r.Instance = s.cfg.Instance
	}
	s.sketches[r.Partition] = r
	return s.nextLocked()
}

// PutSuggestions queues published suggestions.
func (s *Sink) PutSuggestions(rows ...SuggestionRow) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sugs = bound(s, append(s.sugs, rows...), len(s.events)+len(s.reviews))
	return s.nextLocked()
}

// PutEvents queues events.
func (s *Sink) PutEvents(rows ...EventRow) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = bound(s, append(s.events, rows...), len(s.sugs)+len(s.reviews))
	return s.nextLocked()
}

// PutReviews queues review decisions.
func (s *Sink) PutReviews(rows ...ReviewRow) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reviews = bound(s, append(s.reviews, rows...), len(s.sugs)+len(s.events))
	return s.nextLocked()
}

// PutApplies queues the rows of an apply run. They are bounded by Buffer on
// their own: a flood of other rows never pushes an apply out.
func (s *Sink) PutApplies(rows ...ApplyRow) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applies = bound(s, append(s.applies, rows...), 0)
	return s.nextLocked()
}

// bound drops the oldest rows of q once q and the others appended rows
// waiting exceed the buffer, counting them. The caller holds mu.
func bound[T any](s *Sink, q []T, others int) []T {
	over := len(q) + others - s.cfg.Buffer
	if over <= 0 {
		return q
	}
	n := min(over, len(q))
	s.dropped.Add(uint64(n))
	return append(q[:0:0], q[n:]...)
}

func (s *Sink) backlogLocked() int {
	return len(s.usage) + len(s.sketches) + len(s.sugs) + len(s.events) + len(s.reviews) + len(s.applies)
}

// Backlog is the number of rows waiting to be written.
func (s *Sink) Backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backlogLocked()
}

// Flushed is the highest sequence number whose rows are all written.
func (s *Sink) Flushed() uint64 { return s.flushed.Load() }

// Status describes the sink for metrics and readiness.
type Status struct {
	Backlog   int
	Failures  uint64 // failed flushes since start
	Dropped   uint64 // appended rows dropped because the buffer was full
	Written   uint64 // rows written
	Failing   bool   // the last flush failed
	LastError string
	LastFlush time.Time // zero when never
}

// Status returns the sink's current status.
func (s *Sink) Status() Status {
	st := Status{Backlog: s.Backlog(), Failures: s.failures.Load(), Dropped: s.dropped.Load(),
		Written: s.written.Load(), Failing: s.failing.Load()}
	if p := s.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	if n := s.lastFlush.Load(); n != 0 {
		st.LastFlush = time.Unix(0, n)
	}
	return st
}

// Flush migrates if needed and writes every queued row. On error the rows
// not written stay queued (unless newer rows of the same key replaced them).
func (s *Sink) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	err := s.flush(ctx)
	if err != nil {
		s.failures.Add(1)
		s.failing.Store(true)
		msg := err.Error()
		s.lastErr.Store(&msg)
		s.log.Warn("clickhouse: flush failed; rows kept for a retry", "backlog", s.Backlog(), "err", err)
		return err
	}
	s.failing.Store(false)
	s.lastFlush.Store(time.Now().UnixNano())
	return nil
}

func (s *Sink) flush(ctx context.Context) error {
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	upto := s.seq
	usage, sketches := s.usage, s.sketches
	sugs, events, reviews, applies := s.sugs, s.events, s.reviews, s.applies
	s.usage, s.sketches = map[usageKey]UsageRow{}, map[string]SketchRow{}
	s.sugs, s.events, s.reviews, s.applies = nil, nil, nil, nil
	s.mu.Unlock()

	var errs []error
	// Usage before checkpoints: a reader that sees a partition's checkpoint
	// finds the usage rows it covers.
	if err := s.insertUsage(ctx, usage); err != nil {
		errs = append(errs, err)
		s.mu.Lock()
		for k, r := range usage {
			if _, newer := s.usage[k]; !newer {
				s.usage[k] = r
			}
		}
		s.mu.Unlock()
	}
	if len(errs) == 0 {
		if err := s.insertSketches(ctx, sketches); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 { // requeue checkpoints not sent
		s.mu.Lock()
		for k, r := range sketches {
			if _, newer := s.sketches[k]; !newer {
				s.sketches[k] = r
			}
		}
		s.mu.Unlock()
	}
	// Appended rows: requeue only the batches not sent, so a retry adds no
	// duplicates.
	if n, err := insertRows(ctx, s, "suggestions", sugs, suggestionValues); err != nil {
		errs = append(errs, err)
		s.mu.Lock()
		s.sugs = bound(s, append(sugs[n:], s.sugs...), len(s.events)+len(s.reviews))
		s.mu.Unlock()
	}
	if n, err := insertRows(ctx, s, "events", events, eventValues); err != nil {
		errs = append(errs, err)
		s.mu.Lock()
		s.events = bound(s, append(events[n:], s.events...), len(s.sugs)+len(s.reviews))
		s.mu.Unlock()
	}
	if n, err := insertRows(ctx, s, "reviews", reviews, reviewValues); err != nil {
		errs = append(errs, err)
		s.mu.Lock()
		s.reviews = bound(s, append(reviews[n:], s.reviews...), len(s.sugs)+len(s.events))
		s.mu.Unlock()
	}
	if n, err := insertRows(ctx, s, "applies", applies, applyValues); err != nil {
		errs = append(errs, err)
		s.mu.Lock()
		s.applies = bound(s, append(applies[n:], s.applies...), 0)
		s.mu.Unlock()
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.flushed.Store(upto)
	return nil
}

func (s *Sink) insertUsage(ctx context.Context, m map[usageKey]UsageRow) error {
	rows := make([]UsageRow, 0, len(m))
	for _, r := range m {
		rows = append(rows, r)
	}
	_, err := insertRows(ctx, s, "rule_usage", rows, s.usageValues)
	return err
}

func (s *Sink) insertSketches(ctx context.Context, m map[string]SketchRow) error {
	rows := make([]SketchRow, 0, len(m))
	for _, r := range m {
		rows = append(rows, r)
	}
	_, err := insertRows(ctx, s, "sketches", rows, sketchValues)
	return err
}

// insertRows sends rows to table in batches of BatchSize and returns how
// many were sent.
func insertRows[T any](ctx context.Context, s *Sink, table string, rows []T, values func(*T) []any) (int, error) {
	sent := 0
	for sent < len(rows) {
		n := min(len(rows)-sent, s.cfg.BatchSize)
		b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.cfg.Database+"."+table)
		if err != nil {
			return sent, fmt.Errorf("clickhouse: insert into %s: %w", table, err)
		}
		for i := range rows[sent : sent+n] {
			if err := b.Append(values(&rows[sent+i])...); err != nil {
				b.Abort()
				return sent, fmt.Errorf("clickhouse: insert into %s: %w", table, err)
			}
		}
		if err := b.Send(); err != nil {
			return sent, fmt.Errorf("clickhouse: insert into %s: %w", table, err)
		}
		s.written.Add(uint64(n))
		sent += n
	}
	return sent, nil
}
