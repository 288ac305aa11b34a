//go:build e2e

package daemon

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/internal/chtest"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// chConfig is a ClickHouse section writing to a database of the test's own.
func chConfig(t *testing.T, db string) *config.ClickHouse {
	t.Cleanup(func() { chQuery(t, "DROP DATABASE IF EXISTS "+db) })
	return &config.ClickHouse{Addr: chtest.Env(t, "CINCH_TEST_CLICKHOUSE_ADDR"), Database: db,
		FlushInterval: config.Duration(100 * time.Millisecond)}
}

const reviewerToken = "test-reviewer-token-0123456789"

func chDB(name string) string { return fmt.Sprintf("cinch_%s_%d", name, time.Now().UnixNano()) }

// chQuery runs a statement through ClickHouse's HTTP interface.
func chQuery(t *testing.T, sql string) (string, error) {
	resp, err := http.Post(chtest.Env(t, "CINCH_TEST_CLICKHOUSE_HTTP_URL"), "text/plain", strings.NewReader(sql))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

func chRun(t *testing.T, env string) {
	t.Helper()
	if out, err := exec.Command("bash", "-c", chtest.Env(t, env)).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", env, err, out)
	}
}

// chContents is what Grafana would read of a database: every rule's usage
// per bucket and partition number, and the latest verdict of every rule.
func chContents(t *testing.T, db string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT group_id, rule_key, bucket, replaceRegexpOne(partition, '^.*/', '') AS p, flows, packets, bytes, sources
		 FROM ` + db + `.rule_usage FINAL ORDER BY group_id, rule_key, bucket, p`,
		`SELECT rule_key, argMax(verdict, tuple(time, version)), argMax(proposed, tuple(time, version)) FROM ` + db + `.suggestions GROUP BY rule_key ORDER BY rule_key`,
	} {
		out, err := chQuery(t, q+" FORMAT TSV")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(out)
		b.WriteString("--\n")
	}
	return b.String()
}

// cut returns the first payload index from n on that ends a chunk of
// encoded flows (newScenario encodes 200 at a time, and a chunk's payloads
// group them by log stream), so that payloads[:cut] hold exactly the first
// records of sc.lines.
func (sc *scenario) cut(n int) int {
	records := 0
	for i, p := range sc.payloads {
		if i >= n && records%200 == 0 {
			return i
		}
		records += p.Records
	}
	return len(sc.payloads)
}

// expectedPrefix is what `cinch analyze` computes from the records of the
// first n payloads (n a cut).
func (sc *scenario) expectedPrefix(t testing.TB, cfg config.Config, n int) advisor.Report {
	records := 0
	for _, p := range sc.payloads[:n] {
		records += p.Records
	}
	eng := analysis.NewEngine(sc.inventory(t))
	acc := analysis.NewAccumulator(eng, sketch.Config{MaxNodes: cfg.Analysis.NodeBudget, HLLPrecision: sketch.DefaultHLLPrecision})
	p := flowlog.NewParser(richFormat)
	var rec flowlog.Record
	for _, l := range sc.lines[:records] {
		if err := p.Parse(l, &rec); err != nil {
			t.Fatal(err)
		}
		acc.Observe(&rec)
	}
	return acc.Report(advisor.Config{WildcardThreshold: cfg.Analysis.WildcardThreshold, MaxCIDRs: cfg.Analysis.MaxCIDRs, MaxPortRanges: cfg.Analysis.MaxPortRanges,
		MinHistory: cfg.Analysis.MinHistory.Std(), MaxUnobservedListed: advisor.DefaultMaxUnobservedListed})
}

// caughtUp waits until the daemon's ClickHouse rows are all written and
// every owned partition's offset is durable.
func caughtUp(t *testing.T, d *Daemon, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if d.ch.s.Backlog() == 0 && d.clickHouseReady() == nil && allDurable(d) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("ClickHouse never caught up within %v: %+v", limit, d.ch.s.Status())
}

// allDurable: every owned partition's checkpointed offset is written.
func allDurable(d *Daemon) bool {
	d.mu.Lock()
	shards := make([]*shard, 0, len(d.shards))
	for _, s := range d.shards {
		shards = append(shards, s)
	}
	d.mu.Unlock()
	for _, s := range shards {
		s.mu.Lock()
		next, unsaved := s.next, s.unsaved
		s.mu.Unlock()
		p, ok := parsePartitionKey(s.key)
		if !ok || next < 0 {
			continue
		}
		d.ch.mu.Lock()
		dur, known := d.ch.durable[p]
		d.ch.mu.Unlock()
		if unsaved || !known || dur != next {
			return false
		}
	}
	return true
}

// TestE2EClickHouseOutage: ClickHouse stops mid-stream for a while. The
// daemon goes on serving the right verdicts, reports the outage on /readyz
// and in metrics, holds back its offset commits, and once ClickHouse is back
// catches up: the tables then equal an uninterrupted run's.
func TestE2EClickHouseOutage(t *testing.T) {
	chtest.Exclusive(t)
	brokers := realBrokers(t)
	sc := newScenario(t, 20000, 31)
	sc.createTopics(t, brokers)

	// The uninterrupted run.
	refDB := chDB("ref")
	cfg := sc.config(brokers, t.TempDir(), "gcr-"+sc.topic)
	cfg.ClickHouse = chConfig(t, refDB)
	ref := start(t, cfg)
	sc.produce(t, brokers, 0, len(sc.payloads))
	want := sc.expected(t, cfg)
	waitReport(t, ref.d.Addr().String(), want, 90*time.Second)
	caughtUp(t, ref.d, 60*time.Second)
	ref.stop(t)
	wantRows := chContents(t, refDB)
	if !strings.Contains(wantRows, "\t") || strings.Count(wantRows, "\n") < 20 {
		t.Fatalf("the uninterrupted run wrote too little:\n%s", wantRows)
	}

	// The same records on a topic of their own, ClickHouse down halfway.
	sc2 := *sc
	sc2.topic = sc.topic + "-b"
	sc2.createTopics(t, brokers)
	db := chDB("outage")
	cfg2 := sc2.config(brokers, t.TempDir(), "gco-"+sc2.topic)
	cfg2.ClickHouse = chConfig(t, db)
	cfg2.Auth.Tokens = append(cfg2.Auth.Tokens, config.Token{Name: "ann", Role: config.RoleReviewer, Token: reviewerToken})
	r := start(t, cfg2)
	half := sc2.cut(len(sc2.payloads) / 2)
	sc2.produce(t, brokers, 0, half)
	waitReport(t, r.d.Addr().String(), sc2.expectedPrefix(t, cfg2, half), 90*time.Second)
	caughtUp(t, r.d, 60*time.Second)
	chRun(t, "CINCH_TEST_CLICKHOUSE_STOP")
	restarted := false
	defer func() {
		if !restarted {
			chRun(t, "CINCH_TEST_CLICKHOUSE_START")
		}
	}()
	sc2.produce(t, brokers, half, len(sc2.payloads))
	waitReport(t, r.d.Addr().String(), want, 90*time.Second) // judging and serving go on
	// A review decided during the outage is written once ClickHouse is back.
	ruleKey := analysis.NewEngine(sc2.inventory(t)).Rules()[0].Key()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.d.Addr().String()+"/api/v1/reviews",
		strings.NewReader(`{"rule_key":"`+ruleKey+`","decision":"accepted","comment":"during the outage"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+reviewerToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("review: %v %v", err, resp)
	}
	// The outage shows: not ready, failures and backlog counted, offsets held back.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && r.d.ch.s.Status().Failures == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // a few checkpoints while down
	resp, err := http.Get("http://" + r.d.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "clickhouse") {
		t.Errorf("/readyz during the outage: %d %s", resp.StatusCode, body)
	}
	metrics := scrape(t, r.d.Addr().String())
	for _, m := range []string{"cinch_clickhouse_up 0", "cinch_clickhouse_backlog_rows "} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
	if strings.Contains(metrics, "cinch_clickhouse_backlog_rows 0\n") || strings.Contains(metrics, "cinch_clickhouse_flush_failures_total 0\n") {
		t.Errorf("outage not in the metrics:\n%s", grepLines(metrics, "cinch_clickhouse"))
	}
	if allDurable(r.d) {
		t.Error("every offset durable while ClickHouse is down")
	}
	chRun(t, "CINCH_TEST_CLICKHOUSE_START")
	restarted = true
	caughtUp(t, r.d, 90*time.Second)
	waitReport(t, r.d.Addr().String(), want, 30*time.Second)
	r.stop(t)
	if got, err := chQuery(t, "SELECT rule_key, decision, reviewer, comment FROM "+db+".reviews FORMAT TSV"); err != nil ||
		got != ruleKey+"\taccepted\tann\tduring the outage\n" {
		t.Errorf("reviews table: %q, %v", got, err)
	}
	if got, err := chQuery(t, "SELECT count() FROM "+db+".events WHERE type = 'review' FORMAT TSV"); err != nil || got != "1\n" {
		t.Errorf("review events: %q, %v", got, err)
	}
	if got := chContents(t, db); got != wantRows {
		t.Fatalf("tables after the outage differ from the uninterrupted run's:\ngot:\n%s\nwant:\n%s", got, wantRows)
	}
}

func scrape(t *testing.T, addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// daemonProcess runs `cinch daemon` (CINCH_BIN, or built) on cfg written to
// a config file; it returns the command, killed at the end of the test if
// still running.
func daemonProcess(t *testing.T, cfg config.Config) *exec.Cmd {
	t.Helper()
	bin := os.Getenv("CINCH_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "cinch")
		if out, err := exec.Command("go", "build", "-o", bin, "../").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	cfgFile := filepath.Join(t.TempDir(), "cinch.yaml")
	b, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "daemon", "--config", cfgFile)
	cmd.Env = append(os.Environ(), "CINCH_LOG_LEVEL=warn")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			if os.Getenv("CINCH_TEST_LOG") != "" {
				fmt.Fprintln(os.Stderr, "daemon "+cfg.Listen+":", s.Text())
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// TestE2EClickHouseInstances: instances with separate state directories
// meet in ClickHouse only. Two of them (one a process) serve the verdicts of
// all the traffic; the process is killed with SIGKILL and the other takes
// its partitions over from ClickHouse; ClickHouse restarts mid-stream; a
// third instance with an empty state directory joins and restores its
// partitions from ClickHouse. Each time every instance serves exactly what
// one instance reading everything serves.
func TestE2EClickHouseInstances(t *testing.T) {
	chtest.Exclusive(t)
	brokers := realBrokers(t)
	sc := newScenario(t, 30000, 32)
	sc.createTopics(t, brokers)
	db := chDB("instances")
	group := "gci-" + sc.topic
	ch := chConfig(t, db)
	conf := func() config.Config {
		c := sc.config(brokers, t.TempDir(), group)
		c.ClickHouse = ch
		return c
	}
	cfgA := conf()
	cfgA.Listen = freeAddr(t)
	a := daemonProcess(t, cfgA)
	b := start(t, conf())
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && (len(b.d.consumer.Assignment()) == 0 || len(b.d.consumer.Assignment()) == 4) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(b.d.consumer.Assignment()); n == 0 || n == 4 {
		t.Fatalf("partitions not split between the instances: B owns %d of 4", n)
	}
	third, twoThirds := sc.cut(len(sc.payloads)/3), sc.cut(2*len(sc.payloads)/3)
	sc.produce(t, brokers, 0, third)
	want := sc.expectedPrefix(t, cfgA, third)
	var wg sync.WaitGroup
	for _, addr := range []string{cfgA.Listen, b.d.Addr().String()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitReport(t, addr, want, 90*time.Second)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// kill -9 of A; B takes its partitions over from ClickHouse.
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()
	sc.produce(t, brokers, third, twoThirds)
	waitReport(t, b.d.Addr().String(), sc.expectedPrefix(t, cfgA, twoThirds), 150*time.Second)
	if n := len(b.d.consumer.Assignment()); n != 4 {
		t.Fatalf("B owns %d partitions after A died, want 4", n)
	}

	// ClickHouse restarts mid-stream.
	caughtUp(t, b.d, 60*time.Second)
	chRun(t, "CINCH_TEST_CLICKHOUSE_STOP")
	sc.produce(t, brokers, twoThirds, len(sc.payloads))
	all := sc.expected(t, cfgA)
	waitReport(t, b.d.Addr().String(), all, 90*time.Second)
	chRun(t, "CINCH_TEST_CLICKHOUSE_START")
	caughtUp(t, b.d, 90*time.Second)

	// C joins with an empty state directory: its partitions come from ClickHouse.
	c := start(t, conf())
	deadline = time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && (len(c.d.consumer.Assignment()) == 0 || len(b.d.consumer.Assignment()) == 4) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(c.d.consumer.Assignment()) == 0 {
		t.Fatal("C got no partition")
	}
	for _, r := range []*running{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitReport(t, r.d.Addr().String(), all, 90*time.Second)
		}()
	}
	wg.Wait()
}
