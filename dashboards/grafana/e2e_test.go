//go:build e2e

package grafana

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/apply"
	"github.com/cinch-sg/cinch/internal/chtest"
	"github.com/cinch-sg/cinch/sinks/clickhouse"
)

// TestE2EPanelsOnDaemonData: the demo daemon writes its history to the
// ClickHouse 18.16 server of the test run; every ClickHouse query of the
// Grafana dashboards, its macros and variables expanded as Grafana does,
// returns rows with the columns its panel reads — on that server, and on a
// current engine (chdb) holding the same rows.
func TestE2EPanelsOnDaemonData(t *testing.T) {
	bin, httpURL := chtest.Env(t, "CINCH_BIN"), chtest.Env(t, "CINCH_TEST_CLICKHOUSE_HTTP_URL")
	addr, chdbDir := chtest.Env(t, "CINCH_TEST_CLICKHOUSE_ADDR"), chtest.Env(t, "CINCH_CHDB_DIR")
	chtest.Shared(t)
	db := fmt.Sprintf("cinch_grafana_%d", time.Now().UnixNano())
	query := func(sql string) (string, error) {
		resp, err := http.Post(httpURL, "text/plain", strings.NewReader(sql))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", resp.Status, b)
		}
		return string(b), nil
	}
	t.Cleanup(func() { _, _ = query("DROP DATABASE IF EXISTS " + db) })

	// The daemon: the demo, its SSH administrators gone after 5 s so that
	// rules stop matching within the test.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "daemon", "--demo", "--listen", listen, "--demo-admins-for", "5s", "--demo-stopped-after", "5s",
		"--demo-new-source-every", "2s")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "CINCH_CLICKHOUSE_ADDR=" + addr,
		"CINCH_CLICKHOUSE_DATABASE=" + db, "CINCH_CLICKHOUSE_FLUSH_INTERVAL=200ms"}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v\n%s", err, logs.String())
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("daemon did not stop within 60 s\n%s", logs.String())
		}
	}
	defer stop()

	count := func(sql string) int {
		out, err := query(sql)
		if err != nil {
			return 0
		}
		var n int
		fmt.Sscan(strings.TrimSpace(out), &n)
		return n
	}
	// A review, so that the reviews panels have a row.
	reviewed := false
	deadline := time.Now().Add(90 * time.Second)
	want := []string{
		"SELECT count() FROM " + db + ".rule_usage",
		"SELECT count() FROM " + db + ".suggestions WHERE verdict != 'keep'",
		"SELECT count() FROM " + db + ".events WHERE type = 'verdict-changed'",
		"SELECT count() FROM " + db + ".events WHERE type = 'rule-stopped-matching'",
		"SELECT count() FROM " + db + ".reviews",
	}
	for {
		if !reviewed {
			if key, err := query("SELECT rule_key FROM " + db + ".suggestions WHERE verdict != 'keep' ORDER BY rule_key LIMIT 1"); err == nil && strings.TrimSpace(key) != "" {
				body, _ := json.Marshal(map[string]string{"rule_key": strings.TrimSpace(key), "decision": "accepted", "comment": "grafana test"})
				req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/api/v1/reviews", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer demo-token")
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					reviewed = resp.StatusCode == http.StatusCreated
					resp.Body.Close()
				}
			}
		}
		missing := slices.DeleteFunc(slices.Clone(want), func(q string) bool { return count(q) > 0 })
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo wrote no rows for %v within 90 s\n%s", missing, logs.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	stop() // flushes what is buffered

	// Distinct sources per rule and bucket: every row with flows has at least
	// one source, and an exact count never exceeds the flows.
	if n := count("SELECT count() FROM " + db + ".rule_usage FINAL WHERE sources > 0"); n == 0 {
		t.Error("no rule_usage row has distinct sources")
	}
	if n := count("SELECT count() FROM " + db + ".rule_usage FINAL WHERE flows > 0 AND (sources = 0 OR (sources_estimated = 0 AND sources > flows))"); n != 0 {
		t.Errorf("%d rule_usage rows with flows but no sources, or more exact sources than flows", n)
	}
	// An apply run, as cinch apply --clickhouse records one (the demo has no
	// account to apply to), so that the Apply panel has rows.
	sink, err := clickhouse.New(clickhouse.Config{Addr: addr, Database: db}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	sink.PutApplies(clickhouse.ApplyRows(&apply.Result{RunID: "0123456789abcdef", Who: "alex", Start: time.Now().UTC(),
		Steps: []apply.StepResult{{Step: apply.Step{Op: "authorize-ingress", GroupID: "sg-1", RuleKey: "sg-1|ingress|6|22|22|0.0.0.0/0",
			Rules: []advisor.RuleSpec{{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "203.0.113.7/32"}}},
			Target: "123456789012/eu-west-1", Status: apply.StatusDone, NewRuleIDs: []string{"sgr-1"}}}}, "grafana-test")...)
	if err := sink.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	rule, err := query("SELECT rule_key FROM " + db + ".rule_usage GROUP BY rule_key ORDER BY sum(flows) DESC LIMIT 1")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"group": "__all", "rule": strings.TrimSpace(rule)}
	from, to := time.Now().Add(-7*24*time.Hour), time.Now().Add(24*time.Hour)
	qs, err := Queries(".")
	if err != nil {
		t.Fatal(err)
	}
	type statement struct {
		SQL     string   `json:"sql"`
		Rows    int      `json:"rows"`
		Columns []string `json:"columns,omitempty"`
	}
	var script []statement
	for _, s := range clickhouse.DDL(db) {
		script = append(script, statement{SQL: s, Rows: -1})
	}
	// The same rows on chdb: every table the panels read, as 18.16 prints them.
	for _, table := range []string{"rule_usage", "suggestions", "events", "reviews", "applies"} {
		values, err := query("SELECT * FROM " + db + "." + table + " FORMAT Values")
		if err != nil {
			t.Fatal(err)
		}
		script = append(script, statement{SQL: "INSERT INTO " + db + "." + table + " VALUES " + values, Rows: -1})
	}
	for _, q := range qs {
		sql, err := Expand(q.SQL, from, to, time.Minute, vars)
		if err != nil {
			t.Fatalf("%s: %v", q.Title, err)
		}
		sql = strings.ReplaceAll(sql, "cinch.", db+".")
		out, err := query(sql + " FORMAT JSONCompact")
		if err != nil {
			t.Errorf("%s / %s on ClickHouse 18.16: %v\n%s", q.Dashboard, q.Title, err, sql)
			continue
		}
		var res struct {
			Meta []struct{ Name string } `json:"meta"`
			Rows int                     `json:"rows"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s: %v\n%s", q.Title, err, out)
		}
		var cols []string
		for _, m := range res.Meta {
			cols = append(cols, m.Name)
		}
		if !slices.Equal(cols, expectedColumns[q.Title]) {
			t.Errorf("%s on 18.16: columns %v, want %v", q.Title, cols, expectedColumns[q.Title])
		}
		if res.Rows == 0 {
			t.Errorf("%s on 18.16: no row from the daemon's data\n%s", q.Title, sql)
		}
		if pretty, err := query(sql + " LIMIT 3 FORMAT PrettyCompactNoEscapes"); err == nil && testing.Verbose() {
			t.Logf("%s (%d rows):\n%s", q.Title, res.Rows, pretty)
		}
		script = append(script, statement{SQL: sql, Rows: res.Rows, Columns: expectedColumns[q.Title]})
	}
	f := filepath.Join(t.TempDir(), "grafana.json")
	b, _ := json.Marshal(script)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", "../../.ci/chdb/run.js", f)
	node.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(chdbDir, "node_modules"))
	out, err := node.CombinedOutput()
	if err != nil {
		t.Fatalf("the panels' queries on chdb: %v\n%s", err, out)
	}
	t.Logf("%d panel and variable queries ran on ClickHouse 18.16 and on chdb: %s", len(qs), bytes.TrimSpace(out))
}
