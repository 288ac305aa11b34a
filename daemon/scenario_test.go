package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsjson"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// scenario is a simulated account, its traffic as CloudWatch payloads, and
// the files `cinch analyze` would read.
type scenario struct {
	dir      string
	acct     *simulate.Account
	payloads []simulate.Payload
	records  int      // distinct records in the payloads
	lines    [][]byte // the same records as flow-log lines
	topic    string
}

var richFormat = flowlog.MustParseFormat(simulate.RichFormat)

// writeInventory writes the account's security groups and interfaces as the
// AWS CLI prints them, to sg.json and eni.json in sc.dir.
func (sc *scenario) writeInventory(t testing.TB) {
	t.Helper()
	for name, w := range map[string]func(io.Writer) error{"sg.json": sc.acct.WriteSecurityGroups, "eni.json": sc.acct.WriteNetworkInterfaces} {
		f, err := os.Create(filepath.Join(sc.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := w(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

func newScenario(t testing.TB, records int, seed uint64) *scenario {
	t.Helper()
	sc := &scenario{dir: t.TempDir(), topic: fmt.Sprintf("flows-%d-%d", seed, time.Now().UnixNano())}
	cfg := simulate.DefaultConfig()
	cfg.Seed = seed
	sc.acct = simulate.NewAccount(cfg)
	sc.writeInventory(t)
	tr := sc.acct.Traffic(seed, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	enc := simulate.NewEnvelopes(richFormat, "123456789012", seed<<32)
	for sc.records < records {
		n := min(200, records-sc.records)
		flows := make([]simulate.Flow, n)
		for i := range flows {
			flows[i] = tr.Next()
			sc.lines = append(sc.lines, simulate.AppendLine(nil, &flows[i], richFormat))
		}
		ps, err := enc.Encode(flows)
		if err != nil {
			t.Fatal(err)
		}
		sc.payloads = append(sc.payloads, ps...)
		sc.records += n
	}
	return sc
}

func (sc *scenario) inventory(t testing.TB) *inventory.Inventory {
	inv := inventory.New()
	for _, f := range []string{"sg.json", "eni.json"} {
		if _, err := awsjson.LoadFile(inv, filepath.Join(sc.dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	return inv
}

// expected is what `cinch analyze` computes from the same records.
func (sc *scenario) expected(t testing.TB, cfg config.Config) advisor.Report {
	eng := analysis.NewEngine(sc.inventory(t))
	acc := analysis.NewAccumulator(eng, sketch.Config{MaxNodes: cfg.Analysis.NodeBudget, HLLPrecision: sketch.DefaultHLLPrecision})
	p := flowlog.NewParser(richFormat)
	var rec flowlog.Record
	for _, l := range sc.lines {
		if err := p.Parse(l, &rec); err != nil {
			t.Fatal(err)
		}
		acc.Observe(&rec)
	}
	return acc.Report(advisor.Config{WildcardThreshold: cfg.Analysis.WildcardThreshold, MaxCIDRs: cfg.Analysis.MaxCIDRs, MaxPortRanges: cfg.Analysis.MaxPortRanges,
		MinHistory: cfg.Analysis.MinHistory.Std(), MaxUnobservedListed: advisor.DefaultMaxUnobservedListed})
}

func (sc *scenario) config(brokers []string, stateDir, group string) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.StateDir = stateDir
	cfg.Kafka = &config.Kafka{Brokers: brokers, Topics: []string{sc.topic}, Group: group, ClientID: "cinch-test",
		DeadLetterTopic: sc.topic + "-dlq"}
	cfg.Inventory.SecurityGroups = []string{filepath.Join(sc.dir, "sg.json")}
	cfg.Inventory.NetworkInterfaces = []string{filepath.Join(sc.dir, "eni.json")}
	cfg.Formats.LogGroups = map[string]string{simulate.LogGroup: simulate.RichFormat}
	cfg.Analysis.EvaluateInterval = config.Duration(100 * time.Millisecond)
	cfg.Checkpoint.Interval = config.Duration(300 * time.Millisecond)
	cfg.Auth.Tokens = []config.Token{{Name: "tester", Role: config.RoleViewer, Token: testToken}}
	return cfg
}

// testToken is the viewer token of the test daemons.
const testToken = "test-viewer-token-0123456789"

// produce sends payloads[from:to] with their log stream as key.
func (sc *scenario) produce(t testing.TB, brokers []string, from, to int) {
	t.Helper()
	p, err := kafka.NewProducer(kafka.Config{Brokers: brokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, pl := range sc.payloads[from:to] {
		p.ProduceAsync(ctx, sc.topic, []byte(pl.LogStream), pl.Data)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func (sc *scenario) createTopics(t testing.TB, brokers []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: brokers}, 4, sc.topic, sc.topic+"-dlq"); err != nil {
		t.Fatal(err)
	}
}

// running is a daemon started in-process.
type running struct {
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, cfg config.Config) *running {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CINCH_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	d, err := New(Options{Config: cfg, Logger: logger, OpenReads: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("daemon.Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("daemon did not stop within a minute")
	}
}

// getReport fetches /api/v1/suggestions from a daemon.
func getReport(t testing.TB, addr string) (advisor.Report, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/suggestions", nil)
	if err != nil {
		return advisor.Report{}, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return advisor.Report{}, err
	}
	defer resp.Body.Close()
	var rep advisor.Report
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return rep, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return rep, json.NewDecoder(resp.Body).Decode(&rep)
}

// normalize makes reports comparable: JSON round trip.
func normalize(t testing.TB, rep advisor.Report) string {
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitReport waits (bounded) until the API at addr serves want.
func waitReport(t testing.TB, addr string, want advisor.Report, limit time.Duration) {
	t.Helper()
	wantS := normalize(t, want)
	deadline := time.Now().Add(limit)
	var last string
	var lastErr error
	for time.Now().Before(deadline) {
		rep, err := getReport(t, addr)
		lastErr = err
		if err == nil {
			last = normalize(t, rep)
			if last == wantS {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("daemon at %s never served the expected suggestions within %v (last error: %v)\n%s", addr, limit, lastErr, diffReports(t, last, wantS))
}

func diffReports(t testing.TB, got, want string) string {
	var g, w advisor.Report
	json.Unmarshal([]byte(got), &g)
	json.Unmarshal([]byte(want), &w)
	var b strings.Builder
	fmt.Fprintf(&b, "got %d suggestions, want %d; window got %v want %v\n", len(g.Suggestions), len(w.Suggestions), g.Window, w.Window)
	for i := range min(len(g.Suggestions), len(w.Suggestions)) {
		if !reflect.DeepEqual(g.Suggestions[i], w.Suggestions[i]) {
			fmt.Fprintf(&b, "first difference at %d:\n got  %+v\n want %+v\n", i, g.Suggestions[i], w.Suggestions[i])
			break
		}
	}
	if !reflect.DeepEqual(g.Unattributed, w.Unattributed) {
		fmt.Fprintf(&b, "unattributed got %v want %v\n", g.Unattributed, w.Unattributed)
	}
	return b.String()
}

// scenarioEquivalence: the daemon's suggestions equal `cinch analyze` on the
// same records, with every payload delivered twice (at-least-once).
func scenarioEquivalence(t *testing.T, brokers []string) {
	sc := newScenario(t, 20000, 11)
	sc.createTopics(t, brokers)
	cfg := sc.config(brokers, t.TempDir(), "g-"+sc.topic)
	r := start(t, cfg)
	sc.produce(t, brokers, 0, len(sc.payloads))
	sc.produce(t, brokers, 0, len(sc.payloads)/2) // duplicates: same event ids
	waitReport(t, r.d.Addr().String(), sc.expected(t, cfg), 90*time.Second)
	dups := 0
	for _, p := range sc.payloads[:len(sc.payloads)/2] {
		dups += p.Records
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.d.met.DuplicatesDropped) < float64(dups) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(r.d.met.DuplicatesDropped); got != float64(dups) {
		t.Errorf("duplicates dropped = %v, want %d", got, dups)
	}
}

// scenarioTwoInstances: two daemons in one group split the partitions; each
// serves the merged verdicts, equal to one instance's.
func scenarioTwoInstances(t *testing.T, brokers []string) {
	sc := newScenario(t, 20000, 12)
	sc.createTopics(t, brokers)
	state := t.TempDir()
	group := "g2-" + sc.topic
	a := start(t, sc.config(brokers, state, group))
	b := start(t, sc.config(brokers, state, group))
	// Both members own partitions before traffic arrives.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && (len(a.d.consumer.Assignment()) == 0 || len(b.d.consumer.Assignment()) == 0) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(a.d.consumer.Assignment()) == 0 || len(b.d.consumer.Assignment()) == 0 {
		t.Fatalf("partitions not split: %v / %v", a.d.consumer.Assignment(), b.d.consumer.Assignment())
	}
	sc.produce(t, brokers, 0, len(sc.payloads))
	want := sc.expected(t, sc.config(brokers, state, group))
	var wg sync.WaitGroup
	for _, r := range []*running{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitReport(t, r.d.Addr().String(), want, 90*time.Second)
		}()
	}
	wg.Wait()
	pa, pb := testutil.ToFloat64(a.d.met.RecordsParsed), testutil.ToFloat64(b.d.met.RecordsParsed)
	if pa == 0 || pb == 0 || int(pa+pb) != sc.records {
		t.Errorf("records parsed by the instances: %v + %v, want %d in all, both > 0", pa, pb, sc.records)
	}
}

// scenarioDeadLetter: a broken payload and a malformed line go to the
// dead-letter topic with the reason, and the stream goes on.
func scenarioDeadLetter(t *testing.T, brokers []string) {
	sc := newScenario(t, 400, 13)
	sc.createTopics(t, brokers)
	cfg := sc.config(brokers, t.TempDir(), "g3-"+sc.topic)
	r := start(t, cfg)
	p, err := kafka.NewProducer(kafka.Config{Brokers: brokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if err := p.Produce(ctx, sc.topic, nil, []byte("\x1f\x8bnot gzip at all")); err != nil {
		t.Fatal(err)
	}
	if err := p.Produce(ctx, sc.topic, nil, []byte("2 123 eni-1 not a flow log line\n")); err != nil {
		t.Fatal(err)
	}
	sc.produce(t, brokers, 0, len(sc.payloads))
	waitReport(t, r.d.Addr().String(), sc.expected(t, cfg), 60*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.d.met.DeadLettered) < 2 {
		time.Sleep(100 * time.Millisecond)
	}
	if got := testutil.ToFloat64(r.d.met.DeadLettered); got != 2 {
		t.Fatalf("dead-lettered %v records, want 2", got)
	}
	if got := testutil.ToFloat64(r.d.met.RecordsFailed.WithLabelValues("envelope")); got != 1 {
		t.Errorf("envelope failures %v, want 1", got)
	}
	// Read the dead letters back.
	dl := readTopic(t, brokers, sc.topic+"-dlq", 2)
	reasons := ""
	for _, rec := range dl {
		h, _ := rec.Header("cinch-error")
		reasons += string(h) + "\n"
	}
	if !strings.Contains(reasons, "envelope") || !strings.Contains(reasons, "field-count") {
		t.Errorf("dead-letter reasons:\n%s", reasons)
	}
}

// readTopic consumes n records of a topic with a throwaway group.
func readTopic(t testing.TB, brokers []string, topic string, n int) []kafka.Record {
	t.Helper()
	col := &collector{want: n, done: make(chan struct{})}
	c, err := kafka.New(kafka.Config{Brokers: brokers, Topics: []string{topic}, Group: "reader-" + topic}, col, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go c.Run(ctx)
	select {
	case <-col.done:
	case <-ctx.Done():
		t.Fatalf("read %d of %d records from %s", len(col.recs), n, topic)
	}
	cancel()
	c.Close()
	col.mu.Lock()
	defer col.mu.Unlock()
	return col.recs
}

type collector struct {
	mu   sync.Mutex
	recs []kafka.Record
	want int
	done chan struct{}
}

func (c *collector) Assigned(context.Context, []kafka.Partition) map[kafka.Partition]int64 {
	return nil
}
func (c *collector) Revoked(context.Context, []kafka.Partition) map[kafka.Partition]int64 { return nil }
func (c *collector) Lost(context.Context, []kafka.Partition)                              {}
func (c *collector) Handle(_ context.Context, _ kafka.Partition, recs []kafka.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		r.Value = bytes.Clone(r.Value)
		c.recs = append(c.recs, r)
	}
	if len(c.recs) >= c.want && c.want > 0 {
		c.want = 0
		close(c.done)
	}
}

// scenarioRestart: a daemon stopped mid-stream (gracefully here; the e2e
// test kills a process with SIGKILL) resumes from its checkpoint: no record
// lost, none counted twice.
func scenarioRestart(t *testing.T, brokers []string) {
	sc := newScenario(t, 20000, 14)
	sc.createTopics(t, brokers)
	state := t.TempDir()
	cfg := sc.config(brokers, state, "g4-"+sc.topic)
	r := start(t, cfg)
	half := len(sc.payloads) / 2
	sc.produce(t, brokers, 0, half)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.d.met.RecordsParsed) < float64(sc.records/4) {
		time.Sleep(50 * time.Millisecond)
	}
	r.stop(t)
	sc.produce(t, brokers, half, len(sc.payloads))
	r2 := start(t, cfg)
	waitReport(t, r2.d.Addr().String(), sc.expected(t, cfg), 90*time.Second)
}
