package kafka

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newCluster starts an in-process fake Kafka cluster with seeded topics.
func newCluster(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// testConfig is a consumer config with fast group heartbeats.
func testConfig(brokers []string, group string, topics ...string) Config {
	return Config{
		Brokers:           brokers,
		Topics:            topics,
		Group:             group,
		ClientID:          "cinch-test",
		SessionTimeout:    10 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
	}
}

// testLogger writes to the test log (debug level when verbose).
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// produceN writes n records to each partition 0..parts-1 of topic, with
// values "<prefix>-<partition>-<i>".
func produceN(t *testing.T, brokers []string, topic string, parts int32, n int, prefix string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for p := range parts {
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d-%d", prefix, p, i)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// waitFor polls cond until it holds or the timeout expires.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ledger records every handled record across consumers.
type ledger struct {
	mu      sync.Mutex
	offsets map[Partition][]int64
	values  map[Partition][]string
}

func newLedger() *ledger {
	return &ledger{offsets: make(map[Partition][]int64), values: make(map[Partition][]string)}
}

func (l *ledger) add(p Partition, recs []Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		l.offsets[p] = append(l.offsets[p], r.Offset)
		l.values[p] = append(l.values[p], string(r.Value))
	}
}

func (l *ledger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, o := range l.offsets {
		n += len(o)
	}
	return n
}

func (l *ledger) get(p Partition) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.offsets[p])
}

// checkRange asserts that partition p was handled exactly at offsets
// from..to-1, once each, in order.
func (l *ledger) checkRange(t *testing.T, p Partition, from, to int64) {
	t.Helper()
	got := l.get(p)
	var want []int64
	for o := from; o < to; o++ {
		want = append(want, o)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: handled offsets %s, want exactly %d..%d in order", p, summarize(got), from, to-1)
	}
}

func summarize(os []int64) string {
	if len(os) <= 12 {
		return fmt.Sprint(os)
	}
	return fmt.Sprintf("%v ... %v (%d offsets)", os[:6], os[len(os)-6:], len(os))
}

// testHandler implements Handler like the daemon: it tracks the next offset
// of each owned partition and returns it from Revoked as its checkpoint.
type testHandler struct {
	led *ledger

	mu       sync.Mutex
	resume   map[Partition]int64 // returned by Assigned
	next     map[Partition]int64
	assigned [][]Partition
	revoked  [][]Partition
	lost     [][]Partition
	// noCheckpoint makes Revoked return nothing to commit.
	noCheckpoint bool
	// durable, when non-nil, is a checkpoint that survives Lost (like the
	// daemon's state directory): Handle saves the next offsets there and
	// Assigned resumes from it.
	durable map[Partition]int64
	// hook, when set, runs at the start of Handle.
	hook func(ctx context.Context, p Partition, recs []Record)
}

func newTestHandler(led *ledger) *testHandler {
	return &testHandler{led: led, next: make(map[Partition]int64)}
}

func (h *testHandler) Assigned(_ context.Context, ps []Partition) map[Partition]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.assigned = append(h.assigned, ps)
	out := make(map[Partition]int64)
	for _, p := range ps {
		if o, ok := h.resume[p]; ok {
			out[p] = o
		}
		if o, ok := h.durable[p]; ok {
			out[p] = o
		}
	}
	return out
}

func (h *testHandler) Revoked(_ context.Context, ps []Partition) map[Partition]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.revoked = append(h.revoked, ps)
	out := make(map[Partition]int64)
	for _, p := range ps {
		if o, ok := h.next[p]; ok && !h.noCheckpoint {
			out[p] = o
		}
		delete(h.next, p)
	}
	return out
}

func (h *testHandler) Lost(_ context.Context, ps []Partition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lost = append(h.lost, ps)
	for _, p := range ps {
		delete(h.next, p)
	}
}

func (h *testHandler) Handle(ctx context.Context, p Partition, recs []Record) {
	if h.hook != nil {
		h.hook(ctx, p, recs)
	}
	h.led.add(p, recs)
	h.mu.Lock()
	h.next[p] = recs[len(recs)-1].Offset + 1
	if h.durable != nil {
		h.durable[p] = h.next[p]
	}
	h.mu.Unlock()
}

func (h *testHandler) revokedSet() map[Partition]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[Partition]bool)
	for _, ps := range h.revoked {
		for _, p := range ps {
			out[p] = true
		}
	}
	return out
}

func (h *testHandler) assignedCalls() [][]Partition {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.assigned)
}

// running is a Consumer whose Run executes in a goroutine.
type running struct {
	c      *Consumer
	cancel context.CancelFunc
	done   chan error
}

// start creates a consumer and runs it until the test ends.
func start(t *testing.T, cfg Config, h Handler) *running {
	t.Helper()
	c, err := New(cfg, h, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop cancels Run, checks it returned nil and closes the consumer.
func (r *running) stop() {
	r.cancel()
	r.c.Close()
}

// wait returns Run's result, failing after timeout.
func (r *running) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // keep it for later callers
		return err
	case <-time.After(timeout):
		t.Fatalf("Run did not return within %s", timeout)
		return nil
	}
}

func allPartitions(topic string, n int32) []Partition {
	ps := make([]Partition, n)
	for i := range n {
		ps[i] = Partition{Topic: topic, Partition: i}
	}
	return ps
}
