package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestConsumeAllExactlyOnceInOrder(t *testing.T) {
	const topic, parts, n = "flows", 4, 250
	brokers := newCluster(t, parts, topic)
	produceN(t, brokers, topic, parts, n, "v")

	led := newLedger()
	r := start(t, testConfig(brokers, "g-all", topic), newTestHandler(led))
	waitFor(t, 20*time.Second, "all records", func() bool { return led.total() >= parts*n })
	time.Sleep(200 * time.Millisecond) // let any duplicate show up

	for _, p := range allPartitions(topic, parts) {
		led.checkRange(t, p, 0, n)
		led.mu.Lock()
		for i, v := range led.values[p] {
			if want := fmt.Sprintf("v-%d-%d", p.Partition, i); v != want {
				t.Errorf("%s offset %d: value %q, want %q", p, i, v, want)
				break
			}
		}
		led.mu.Unlock()
	}
	if st := r.c.Stats(); st.Records != parts*n {
		t.Errorf("Stats.Records = %d, want %d", st.Records, parts*n)
	}

	// Run returns nil promptly on cancel.
	r.cancel()
	start := time.Now()
	if err := r.wait(t, 3*time.Second); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s to return after cancel", d)
	}
}

func TestResumeFromHandlerOffsets(t *testing.T) {
	const topic, parts, n = "flows", 4, 100
	brokers := newCluster(t, parts, topic)
	produceN(t, brokers, topic, parts, n, "v")

	led := newLedger()
	h := newTestHandler(led)
	h.resume = map[Partition]int64{
		{topic, 0}: 10,
		{topic, 1}: 50,
		{topic, 2}: -1, // committed offset; none -> start
		// partition 3: no entry -> same as -1
	}
	r := start(t, testConfig(brokers, "g-resume", topic), h)
	want := int64(90 + 50 + 100 + 100)
	waitFor(t, 20*time.Second, "records from resume offsets", func() bool { return int64(led.total()) >= want })
	time.Sleep(200 * time.Millisecond)

	led.checkRange(t, Partition{topic, 0}, 10, n)
	led.checkRange(t, Partition{topic, 1}, 50, n)
	led.checkRange(t, Partition{topic, 2}, 0, n)
	led.checkRange(t, Partition{topic, 3}, 0, n)

	lag, err := r.c.Lag(context.Background())
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	for _, p := range allPartitions(topic, parts) {
		if l, ok := lag[p]; !ok || l != 0 {
			t.Errorf("lag %s = %d (present %v), want 0", p, l, ok)
		}
	}
}

func TestResumeFromCommittedOffsets(t *testing.T) {
	const topic, parts, n, group = "flows", 4, 100, "g-committed"
	brokers := newCluster(t, parts, topic)
	produceN(t, brokers, topic, parts, n, "v")

	// First run: consume everything, commit chosen offsets, stop without
	// a revoke checkpoint so the chosen commits stay.
	led1 := newLedger()
	h1 := newTestHandler(led1)
	h1.noCheckpoint = true
	r1 := start(t, testConfig(brokers, group, topic), h1)
	waitFor(t, 20*time.Second, "first run", func() bool { return led1.total() >= parts*n })
	commits := map[Partition]int64{{topic, 0}: 40, {topic, 1}: 60, {topic, 2}: n, {topic, 3}: 0}
	if err := r1.c.Commit(context.Background(), commits); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	r1.stop()
	if err := r1.wait(t, 5*time.Second); err != nil {
		t.Fatalf("first Run: %v", err)
	}

	// The group's committed offsets are what Commit wrote.
	adm := newAdmin(t, brokers)
	fetched, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	for p, want := range commits {
		got, ok := fetched.Lookup(p.Topic, p.Partition)
		if !ok || got.At != want {
			t.Errorf("committed %s = %d (present %v), want %d", p, got.At, ok, want)
		}
	}

	// Second run: Assigned returns -1 everywhere -> committed offsets.
	led2 := newLedger()
	h2 := newTestHandler(led2)
	h2.resume = map[Partition]int64{{topic, 0}: -1, {topic, 1}: -1, {topic, 2}: -1, {topic, 3}: -1}
	r2 := start(t, testConfig(brokers, group, topic), h2)
	want := (n - 40) + (n - 60) + 0 + n
	waitFor(t, 20*time.Second, "second run", func() bool { return led2.total() >= want })
	time.Sleep(200 * time.Millisecond)
	led2.checkRange(t, Partition{topic, 0}, 40, n)
	led2.checkRange(t, Partition{topic, 1}, 60, n)
	led2.checkRange(t, Partition{topic, 2}, n, n)
	led2.checkRange(t, Partition{topic, 3}, 0, n)

	lag, err := r2.c.Lag(context.Background())
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	if want := map[Partition]int64{{topic, 0}: 0, {topic, 1}: 0, {topic, 2}: 0, {topic, 3}: 0}; !maps.Equal(lag, want) {
		t.Errorf("Lag = %v, want %v", lag, want)
	}
}

func TestTwoMembersSplitAndRebalance(t *testing.T) {
	const topic, parts, n, group = "flows", 6, 100, "g-split"
	brokers := newCluster(t, parts, topic)
	produceN(t, brokers, topic, parts, n, "a")

	led := newLedger()
	ha, hb := newTestHandler(led), newTestHandler(led)
	ra := start(t, testConfig(brokers, group, topic), ha)
	waitFor(t, 20*time.Second, "member A consumed the first batch", func() bool { return led.total() >= parts*n })
	if got := len(ra.c.Assignment()); got != parts {
		t.Fatalf("A owns %d partitions alone, want %d", got, parts)
	}

	rb := start(t, testConfig(brokers, group, topic), hb)
	waitFor(t, 30*time.Second, "both members own partitions", func() bool {
		a, b := ra.c.Assignment(), rb.c.Assignment()
		return len(a) > 0 && len(b) > 0 && len(a)+len(b) == parts
	})
	a, b := ra.c.Assignment(), rb.c.Assignment()
	for _, p := range b {
		if slices.Contains(a, p) {
			t.Fatalf("partition %s owned by both members", p)
		}
	}

	// A's revoked partitions are exactly those now assigned to B, and the
	// revoke committed A's checkpoint (the next offset, n) for each.
	revoked := ha.revokedSet()
	if !maps.Equal(revoked, setOf(b)) {
		t.Errorf("A revoked %v, B owns %v", revoked, b)
	}
	var bAssigned []Partition
	for _, ps := range hb.assignedCalls() {
		bAssigned = append(bAssigned, ps...)
	}
	slices.SortFunc(bAssigned, comparePartitions)
	if !slices.Equal(bAssigned, b) {
		t.Errorf("B Assigned callbacks %v, B owns %v", bAssigned, b)
	}
	// A stale Commit from A (a late checkpoint) must not rewind B's
	// partitions.
	stale := make(map[Partition]int64)
	for _, p := range b {
		stale[p] = 1
	}
	if err := ra.c.Commit(context.Background(), stale); err != nil {
		t.Fatalf("stale Commit: %v", err)
	}
	fetched, err := newAdmin(t, brokers).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	for _, p := range b {
		if got, ok := fetched.Lookup(p.Topic, p.Partition); !ok || got.At != n {
			t.Errorf("committed %s after revoke = %d (present %v), want %d", p, got.At, ok, n)
		}
	}

	// A second batch is split between the members; across both, every
	// record is handled exactly once, in order per partition.
	produceN(t, brokers, topic, parts, n, "b")
	waitFor(t, 20*time.Second, "second batch", func() bool { return led.total() >= 2*parts*n })
	time.Sleep(300 * time.Millisecond)
	for _, p := range allPartitions(topic, parts) {
		led.checkRange(t, p, 0, 2*n)
	}
	if ra.c.Stats().Records == 0 || rb.c.Stats().Records == 0 {
		t.Errorf("records not split: A %d, B %d", ra.c.Stats().Records, rb.c.Stats().Records)
	}
}

func TestCloseLeavesGroupPromptly(t *testing.T) {
	const topic, parts, n, group = "flows", 4, 50, "g-close"
	brokers := newCluster(t, parts, topic)
	produceN(t, brokers, topic, parts, n, "a")

	led := newLedger()
	ha, hb := newTestHandler(led), newTestHandler(led)
	cfg := testConfig(brokers, group, topic)
	cfg.SessionTimeout = 30 * time.Second // takeover by expiry would be slow
	ra := start(t, cfg, ha)
	waitFor(t, 20*time.Second, "A consumed", func() bool { return led.total() >= parts*n })
	rb := start(t, cfg, hb)
	waitFor(t, 30*time.Second, "both members own partitions", func() bool {
		return len(ra.c.Assignment()) > 0 && len(rb.c.Assignment()) > 0
	})
	aOwned := ra.c.Assignment()

	// Close without cancelling: Run returns nil and the group is left.
	closed := time.Now()
	ra.c.Close()
	if err := ra.wait(t, 5*time.Second); err != nil {
		t.Errorf("Run after Close = %v, want nil", err)
	}
	waitFor(t, 8*time.Second, "B takes over all partitions", func() bool { return len(rb.c.Assignment()) == parts })
	t.Logf("takeover %s after Close", time.Since(closed))
	revoked := ha.revokedSet()
	for _, p := range aOwned {
		if !revoked[p] {
			t.Errorf("Close did not revoke %s on A", p)
		}
	}

	// A's final checkpoint was committed: B resumes after it, so a new
	// batch is handled once and nothing from the first batch repeats.
	produceN(t, brokers, topic, parts, n, "b")
	waitFor(t, 20*time.Second, "second batch", func() bool { return led.total() >= 2*parts*n })
	time.Sleep(300 * time.Millisecond)
	for _, p := range allPartitions(topic, parts) {
		led.checkRange(t, p, 0, 2*n)
	}

	if err := ra.c.Run(context.Background()); err != ErrClosed {
		t.Errorf("Run on closed consumer = %v, want ErrClosed", err)
	}
}

func TestDeadLetter(t *testing.T) {
	const topic, dlq = "flows", "flows-dlq"
	brokers := newCluster(t, 2, topic, dlq)

	cfg := testConfig(brokers, "g-dlq", topic)
	cfg.DeadLetterTopic = dlq
	led := newLedger()
	h := newTestHandler(led)
	var c *Consumer
	dlErrs := make(chan error, 10)
	h.hook = func(ctx context.Context, _ Partition, recs []Record) {
		for _, r := range recs {
			if strings.HasPrefix(string(r.Value), "bad") {
				dlErrs <- c.DeadLetter(ctx, r, "decode: not gzip")
			}
		}
	}
	c, err := New(cfg, h, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })

	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	rs := []*kgo.Record{
		{Topic: topic, Partition: 1, Value: []byte("good-0")},
		{Topic: topic, Partition: 1, Key: []byte("eni-1"), Value: []byte("bad\x00payload"), Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("lambda")}}},
	}
	if err := prod.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-dlErrs:
		if err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bad record not handled")
	}

	got := consumeAll(t, brokers, dlq, 1)
	r := got[0]
	if string(r.Key) != "eni-1" || string(r.Value) != "bad\x00payload" {
		t.Errorf("DLQ record key %q value %q", r.Key, r.Value)
	}
	want := map[string]string{
		"origin":              "lambda",
		HeaderError:           "decode: not gzip",
		HeaderSourceTopic:     topic,
		HeaderSourcePartition: "1",
		HeaderSourceOffset:    "1",
	}
	hdrs := make(map[string]string)
	for _, h := range r.Headers {
		hdrs[h.Key] = string(h.Value)
	}
	if !maps.Equal(hdrs, want) {
		t.Errorf("DLQ headers %v, want %v", hdrs, want)
	}
	if st := c.Stats(); st.DeadLettered != 1 || st.DeadLetterDropped != 0 {
		t.Errorf("stats %+v, want 1 dead-lettered", st)
	}
}

func TestDeadLetterDisabledCounts(t *testing.T) {
	brokers := newCluster(t, 1, "flows")
	c, err := New(testConfig(brokers, "g", "flows"), newTestHandler(newLedger()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := Record{Partition: Partition{"flows", 0}, Offset: 3, Value: []byte("x")}
	if err := c.DeadLetter(context.Background(), rec, "bad"); err != nil {
		t.Fatalf("DeadLetter disabled = %v, want nil", err)
	}
	if st := c.Stats(); st.DeadLetterDropped != 1 || st.DeadLettered != 0 {
		t.Errorf("stats %+v, want 1 dropped", st)
	}
}

func TestLagReportsBacklog(t *testing.T) {
	const topic, parts, n = "flows", 4, 50
	brokers := newCluster(t, parts, topic)
	produceN(t, brokers, topic, parts, n, "v")

	led := newLedger()
	h := newTestHandler(led)
	h.resume = map[Partition]int64{{topic, 0}: 20}
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h.hook = func(ctx context.Context, _ Partition, _ []Record) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	r := start(t, testConfig(brokers, "g-lag", topic), h)
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("no records handled")
	}

	// Nothing handled yet: lag is the backlog from each resume position.
	lag, err := r.c.Lag(context.Background())
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	want := map[Partition]int64{{topic, 0}: n - 20, {topic, 1}: n, {topic, 2}: n, {topic, 3}: n}
	if !maps.Equal(lag, want) {
		t.Errorf("Lag while blocked = %v, want %v", lag, want)
	}

	close(release)
	waitFor(t, 20*time.Second, "all consumed", func() bool { return led.total() >= n-20+3*n })
	lag, err = r.c.Lag(context.Background())
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	for p, l := range lag {
		if l != 0 {
			t.Errorf("lag %s = %d after catching up, want 0", p, l)
		}
	}
	if len(lag) != parts {
		t.Errorf("lag has %d partitions, want %d", len(lag), parts)
	}
}

func TestCommitSkipsPartitionsNotOwned(t *testing.T) {
	const topic, group = "flows", "g-notowned"
	brokers := newCluster(t, 2, topic)
	produceN(t, brokers, topic, 2, 5, "v")
	led := newLedger()
	r := start(t, testConfig(brokers, group, topic), newTestHandler(led))
	waitFor(t, 20*time.Second, "consumed", func() bool { return led.total() >= 10 })
	err := r.c.Commit(context.Background(), map[Partition]int64{{topic, 0}: 5, {"other", 0}: 7, {topic, 1}: -1})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	fetched, err := newAdmin(t, brokers).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := fetched.Lookup(topic, 0); !ok || got.At != 5 {
		t.Errorf("committed %s/0 = %d, want 5", topic, got.At)
	}
	for _, p := range []Partition{{"other", 0}, {topic, 1}} {
		if got, ok := fetched.Lookup(p.Topic, p.Partition); ok && got.At >= 0 {
			t.Errorf("committed %s = %d, want nothing", p, got.At)
		}
	}
}

func TestRunTwiceRejected(t *testing.T) {
	brokers := newCluster(t, 1, "flows")
	r := start(t, testConfig(brokers, "g", "flows"), newTestHandler(newLedger()))
	// The group may assign partitions before the goroutine of start calls
	// Run (the client joins as it is created): wait for Run itself.
	waitFor(t, 10*time.Second, "Run to start", func() bool {
		r.c.runMu.Lock()
		defer r.c.runMu.Unlock()
		return r.c.running
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.c.Run(ctx); err == nil || err == ErrClosed {
		t.Errorf("second Run = %v, want already-running error", err)
	}
}

func TestNewRejectsInvalid(t *testing.T) {
	if _, err := New(Config{}, newTestHandler(newLedger()), nil); err == nil {
		t.Error("New with empty config succeeded")
	}
	if _, err := New(testConfig([]string{"127.0.0.1:1"}, "g", "t"), nil, nil); err == nil {
		t.Error("New with nil handler succeeded")
	}
}

func TestPartitionAndRecordHelpers(t *testing.T) {
	p := Partition{"flows", 12}
	if p.String() != "flows/12" {
		t.Errorf("String = %q", p.String())
	}
	r := Record{Headers: []Header{{"a", []byte("1")}, {"b", []byte("2")}, {"a", []byte("3")}}}
	if v, ok := r.Header("a"); !ok || string(v) != "1" {
		t.Errorf("Header(a) = %q %v", v, ok)
	}
	if _, ok := r.Header("c"); ok {
		t.Error("Header(c) found")
	}
	dl := deadLetterRecord("dlq", Record{Partition: p, Offset: 99}, "why")
	if v := headerOf(dl, HeaderSourceOffset); v != "99" {
		t.Errorf("offset header %q", v)
	}
	if v := headerOf(dl, HeaderSourcePartition); v != strconv.Itoa(12) {
		t.Errorf("partition header %q", v)
	}
}

func headerOf(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

func setOf(ps []Partition) map[Partition]bool {
	m := make(map[Partition]bool, len(ps))
	for _, p := range ps {
		m[p] = true
	}
	return m
}

func newAdmin(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// consumeAll reads want records from topic (no group) or fails.
func consumeAll(t *testing.T, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: got %d of %d records", topic, len(out), want)
		}
		out = append(out, fs.Records()...)
	}
	return out
}
