//go:build e2e

package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/apply"
	"github.com/cinch-sg/cinch/internal/chtest"
)

// freshDB returns a database name no other test uses.
func freshDB(t *testing.T) string {
	return fmt.Sprintf("cinch_test_%d", time.Now().UnixNano())
}

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	cfg.Addr = chtest.Env(t, "CINCH_TEST_CLICKHOUSE_ADDR")
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database)
		s.Close()
	})
	return s
}

// httpQuery runs a statement through the server's HTTP interface.
func httpQuery(t *testing.T, sql string) (string, error) {
	base := chtest.Env(t, "CINCH_TEST_CLICKHOUSE_HTTP_URL")
	resp, err := http.Post(base, "text/plain", strings.NewReader(sql))
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

// TestE2EScriptOn1816: every statement of the sink (schema, one insert per
// table, every query, retention) runs on ClickHouse 18.16 with the expected
// row counts.
func TestE2EScriptOn1816(t *testing.T) {
	chtest.Shared(t)
	db := freshDB(t)
	defer httpQuery(t, "DROP DATABASE IF EXISTS "+db)
	for i, st := range Script(db) {
		sql := st.SQL
		if st.Rows >= 0 {
			sql += " FORMAT JSONCompact"
		}
		out, err := httpQuery(t, sql)
		if err != nil {
			t.Fatalf("#%d %s: %v", i, st.SQL, err)
		}
		if st.Rows >= 0 {
			var res struct{ Rows int }
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("#%d: %v: %s", i, err, out)
			}
			if res.Rows != st.Rows {
				t.Errorf("#%d: %d rows, want %d: %s\n%s", i, res.Rows, st.Rows, st.SQL, out)
			}
		}
	}
}

// TestE2EScriptOnChdb: the same statements on a current ClickHouse engine
// (the npm package chdb, in process).
func TestE2EScriptOnChdb(t *testing.T) {
	dir := chtest.Env(t, "CINCH_CHDB_DIR")
	f := filepath.Join(t.TempDir(), "script.json")
	b, err := json.Marshal(Script("cinch"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "../../.ci/chdb/run.js", f)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chdb: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestE2EMigrateConcurrently: instances migrating one database at once all
// succeed, the version is recorded, and migrating again changes nothing.
func TestE2EMigrateConcurrently(t *testing.T) {
	chtest.Shared(t)
	db := freshDB(t)
	sinks := []*Sink{}
	for i := range 3 {
		sinks = append(sinks, newSink(t, Config{Database: db, Instance: fmt.Sprint("i", i)}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(sinks))
	for i, s := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	s := newSink(t, Config{Database: db})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.conn.Query(ctx, withDB(qAppliedMigrations, db))
	if err != nil {
		t.Fatal(err)
	}
	var versions []uint32
	for rows.Next() {
		var v uint32
		rows.Scan(&v)
		versions = append(versions, v)
	}
	rows.Close()
	var want []uint32
	for _, m := range migrations {
		want = append(want, m.version)
	}
	if !reflect.DeepEqual(versions, want) || want[len(want)-1] != SchemaVersion() {
		t.Fatalf("recorded versions %v, want %v", versions, want)
	}
	var tables uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ?", db).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 7 {
		t.Fatalf("%d tables, want 7", tables)
	}
}

// TestE2EMigrateFromVersion1: a database an older cinch created (schema
// version 1, with rows) is brought to the current version: the applies table
// appears, version 2 is recorded, and the rows stay.
func TestE2EMigrateFromVersion1(t *testing.T) {
	chtest.Shared(t)
	db := freshDB(t)
	old := []string{withDB(createDatabase, db), withDB(createMigrations, db)}
	for _, st := range migrations[0].statements {
		old = append(old, withDB(st, db))
	}
	old = append(old, "INSERT INTO "+db+".schema_migrations VALUES (1, 'old', now(), 'old')",
		"INSERT INTO "+db+".reviews VALUES (now(), 1, 'old', 'sg-1|ingress|6|22|22|0.0.0.0/0', 'accepted', '', 'ann')")
	for _, st := range old {
		if _, err := httpQuery(t, st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	s := newSink(t, Config{Database: db})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"SELECT groupArray(version) FROM (SELECT version FROM {db}.schema_migrations GROUP BY version ORDER BY version)": "[1,2]\n",
		"SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'applies'":                                 "1\n",
		"SELECT reviewer FROM {db}.reviews": "ann\n",
	} {
		if got, err := httpQuery(t, withDB(q, db)+" FORMAT TSV"); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", q, got, err, want)
		}
	}
	res := &apply.Result{RunID: "r1", Who: "ann", Start: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), DryRun: true,
		Steps: []apply.StepResult{{Step: apply.Step{Op: "revoke-ingress", GroupID: "sg-1", RuleKey: "sg-1|ingress|6|22|22|0.0.0.0/0",
			RuleID: "sgr-1", Judged: advisor.RuleSpec{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "0.0.0.0/0"}},
			Target: "123456789012/us-east-1", Status: apply.StatusAllowed}}}
	s.PutApplies(ApplyRows(res, "")...)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := httpQuery(t, Bind(withDB(QueryApplies, db), res.Start.Add(-time.Hour))+" FORMAT TSV")
	want := "2026-11-20 10:00:00\tr1\tann\t1\t1\t123456789012/us-east-1\trevoke-ingress\tsg-1\tsg-1|ingress|6|22|22|0.0.0.0/0\t['tcp 22-22 0.0.0.0/0']\tallowed\t\t[]\t\n"
	if err != nil || got != want {
		t.Fatalf("applies = %q (%v), want %q", got, err, want)
	}
}

// stream is a sequence of puts, as the daemon makes them: cumulative usage
// rows of growing versions, checkpoints, and appended rows.
func stream(s *Sink, step int) {
	b := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var rows []UsageRow
	for r := range 20 {
		for p := range 2 {
			bucket := b.Add(time.Duration((step+r)%5) * time.Hour)
			rows = append(rows, UsageRow{Bucket: bucket, BucketSeconds: 3600, GroupID: fmt.Sprintf("sg-%d", r%4),
				RuleKey: fmt.Sprintf("sg-%d|ingress|6|%d|%d|0.0.0.0/0", r%4, r, r), Direction: "ingress", Protocol: 6,
				FromPort: int32(r), ToPort: int32(r), Source: "0.0.0.0/0", Partition: fmt.Sprintf("flows/%d", p),
				Flows: uint64(step * (r + 1)), Packets: uint64(10 * step), Bytes: uint64(1000 * step), Sources: uint64(step),
				FirstSeen: bucket, LastSeen: bucket.Add(time.Minute), Version: uint64(step)})
		}
	}
	s.PutUsage(rows)
	for p := range 2 {
		s.PutSketch(SketchRow{Partition: fmt.Sprintf("flows/%d", p), Version: uint64(step), NextOffset: int64(step),
			Data: []byte(fmt.Sprintf("\x00state %d of %d\xff", step, p))})
	}
	sug := SuggestionRow{Time: b.Add(time.Duration(step) * time.Second), Version: uint64(step), RuleKey: "sg-1|ingress|6|1|1|0.0.0.0/0",
		Suggestion: advisor.Suggestion{GroupID: "sg-1", Verdict: "narrow", Reasons: []string{"cidr-narrowed"},
			Proposed: []advisor.RuleSpec{{Protocol: "tcp", FromPort: 1, ToPort: 1, Source: "10.0.0.0/24"}}}}
	s.PutSuggestions(sug)
	s.PutEvents(EventRow{Time: sug.Time, Version: uint64(step), Type: "verdict-changed", RuleKey: sug.RuleKey, Verdict: "narrow"})
	s.PutReviews(ReviewRow{Time: sug.Time, Version: uint64(step), RuleKey: sug.RuleKey, Decision: "accepted", Reviewer: "ann"})
	if step%4 == 0 { // now and then an apply run: a dry run, then the real one
		for _, dry := range []bool{true, false} {
			res := &apply.Result{RunID: fmt.Sprintf("run-%d-%v", step, dry), Who: "ann", Start: sug.Time, DryRun: dry,
				Steps: []apply.StepResult{
					{Step: apply.Step{Op: "authorize-ingress", GroupID: "sg-1", RuleKey: sug.RuleKey, Rules: sug.Suggestion.Proposed},
						Target: "123456789012/us-east-1", Status: apply.StatusDone, NewRuleIDs: []string{"sgr-new"}},
					{Step: apply.Step{Op: "revoke-ingress", GroupID: "sg-1", RuleKey: sug.RuleKey, RuleID: "sgr-1",
						Judged: advisor.RuleSpec{Protocol: "tcp", FromPort: 1, ToPort: 1, Source: "0.0.0.0/0"}},
						Target: "123456789012/us-east-1", Status: apply.StatusDone}},
				Skipped: []apply.Skip{{RuleKey: "sg-2|ingress|6|2|2|0.0.0.0/0", Reason: "not-observed"}}}
			s.PutApplies(ApplyRows(res, "")...)
		}
	}
}

// contents renders every table as the queries of the README read it.
func contents(t *testing.T, s *Sink) string {
	t.Helper()
	db := s.cfg.Database
	var b strings.Builder
	for _, q := range []string{
		"SELECT bucket, group_id, rule_key, partition, flows, packets, bytes, sources, version FROM {db}.rule_usage FINAL ORDER BY group_id, rule_key, bucket, partition",
		"SELECT partition, version, next_offset, hex(data) FROM {db}.sketches FINAL ORDER BY partition",
		"SELECT time, version, rule_key, verdict, reasons, proposed FROM {db}.suggestions ORDER BY time, version",
		"SELECT time, version, type, rule_key, verdict FROM {db}.events ORDER BY time, version",
		"SELECT time, version, rule_key, decision, reviewer FROM {db}.reviews ORDER BY time, version",
		"SELECT time, run_id, who, dry_run, step, op, group_id, rule_key, rules, status, error, new_rule_ids FROM {db}.applies ORDER BY time, run_id, step",
	} {
		out, err := httpQuery(t, withDB(q, db)+" FORMAT TSV")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(out)
		b.WriteString("--\n")
	}
	// The README's queries too.
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{Bind(withDB(QueryRuleUsage, db), "sg-1|ingress|6|1|1|0.0.0.0/0", t0, t0.Add(24*time.Hour)),
		Bind(withDB(QueryGroupExposure, db), t0, t0.Add(24*time.Hour)), withDB(QueryLatestVerdicts, db)} {
		out, err := httpQuery(t, q+" FORMAT TSV")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(out)
	}
	return b.String()
}

// TestE2ERoundTrip: what the sink is given is what the tables hold, binary
// checkpoint bytes exactly; SketchVersions and Sketch read checkpoints back.
func TestE2ERoundTrip(t *testing.T) {
	chtest.Shared(t)
	s := newSink(t, Config{Database: freshDB(t), BatchSize: 7})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for step := 1; step <= 3; step++ {
		stream(s, step)
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if s.Backlog() != 0 || s.Flushed() != s.seq {
		t.Fatalf("backlog %d, flushed %d of %d", s.Backlog(), s.Flushed(), s.seq)
	}
	vs, err := s.SketchVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vs, map[string]uint64{"flows/0": 3, "flows/1": 3}) {
		t.Fatalf("sketch versions %v", vs)
	}
	r, ok, err := s.Sketch(ctx, "flows/1")
	if err != nil || !ok || string(r.Data) != "\x00state 3 of 1\xff" || r.NextOffset != 3 {
		t.Fatalf("sketch = %+v, %v, %v", r, ok, err)
	}
	if _, ok, err := s.Sketch(ctx, "nope/0"); ok || err != nil {
		t.Fatalf("missing sketch: ok %v err %v", ok, err)
	}
	got := contents(t, s)
	// Latest usage per key only; flows of rule 1 at step 3 = 3*2 per partition.
	if !strings.Contains(got, "sg-1|ingress|6|1|1|0.0.0.0/0\tflows/0\t6\t30\t3000\t3\t3") {
		t.Fatalf("usage rows:\n%s", got)
	}
	if n := strings.Count(got, "\tverdict-changed\t"); n != 3 {
		t.Fatalf("%d events, want 3:\n%s", n, got)
	}
	if !strings.Contains(got, "['cidr-narrowed']\t['tcp 1-1 10.0.0.0/24']") {
		t.Fatalf("suggestion rows:\n%s", got)
	}
	// Retention drops whole days of usage, and months of suggestions and
	// events only once they are over.
	if err := s.DropBefore(ctx, time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]string{"rule_usage": "0\n", "suggestions": "3\n", "events": "3\n", "sketches": "2\n"} {
		final := ""
		if table == "rule_usage" || table == "sketches" {
			final = " FINAL"
		}
		if got, err := httpQuery(t, "SELECT count() FROM "+s.cfg.Database+"."+table+final+" FORMAT TSV"); err != nil || got != want {
			t.Errorf("after retention, %s holds %q rows (%v), want %q", table, got, err, want)
		}
	}
	// No apply run in steps 1..3 of the stream; step 4 adds one, and
	// retention never drops apply rows (they are the audit trail).
	if strings.Contains(got, "run-") {
		t.Fatalf("apply rows before any run:\n%s", got)
	}
	stream(s, 4)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got = contents(t, s)
	for _, line := range []string{
		"run-4-false\tann\t0\t1\tauthorize-ingress\tsg-1\tsg-1|ingress|6|1|1|0.0.0.0/0\t['tcp 1-1 10.0.0.0/24']\tdone\t\t['sgr-new']\n",
		"run-4-false\tann\t0\t2\trevoke-ingress\tsg-1\tsg-1|ingress|6|1|1|0.0.0.0/0\t['tcp 1-1 0.0.0.0/0']\tdone\t\t[]\n",
		"run-4-false\tann\t0\t3\tskip\tsg-2\tsg-2|ingress|6|2|2|0.0.0.0/0\t[]\tskipped\tnot-observed\t[]\n",
		"run-4-true\tann\t1\t1\tauthorize-ingress\t",
	} {
		if !strings.Contains(got, line) {
			t.Fatalf("apply rows lack %q:\n%s", line, got)
		}
	}

	if err := s.DropBefore(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if got, err := httpQuery(t, "SELECT count() FROM "+s.cfg.Database+".applies FORMAT TSV"); err != nil || got != "6\n" {
		t.Errorf("after retention, applies holds %q rows (%v), want 6", got, err)
	}
}

// TestE2EOutage: the server stops mid-stream and comes back minutes of
// traffic later (here: several flush intervals); the sink keeps its rows,
// reports the backlog and failures, catches up, and the tables then equal
// those of an uninterrupted run.
func TestE2EOutage(t *testing.T) {
	chtest.Exclusive(t)
	stop, startCmd := chtest.Env(t, "CINCH_TEST_CLICKHOUSE_STOP"), chtest.Env(t, "CINCH_TEST_CLICKHOUSE_START")
	const steps = 12
	ref := newSink(t, Config{Database: freshDB(t), BatchSize: 50})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for step := 1; step <= steps; step++ {
		stream(ref, step)
		if step%3 == 0 {
			if err := ref.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ref.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := contents(t, ref)

	s := newSink(t, Config{Database: freshDB(t), BatchSize: 50, FlushInterval: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	waitFlushed := func(seq uint64) {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) && s.Flushed() < seq {
			time.Sleep(20 * time.Millisecond)
		}
		if s.Flushed() < seq {
			t.Fatalf("not flushed through %d within 90 s: %+v", seq, s.Status())
		}
	}
	for step := 1; step <= 4; step++ {
		stream(s, step)
	}
	waitFlushed(s.seq)
	if out, err := exec.Command("bash", "-c", stop).CombinedOutput(); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	var last uint64
	for step := 5; step <= 9; step++ {
		stream(s, step)
		last = s.seq
		time.Sleep(150 * time.Millisecond)
	}
	st := s.Status()
	if !st.Failing || st.Failures == 0 || st.Backlog == 0 || s.Flushed() >= last {
		t.Fatalf("during the outage: %+v, flushed %d of %d", st, s.Flushed(), last)
	}
	if out, err := exec.Command("bash", "-c", startCmd).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	for step := 10; step <= steps; step++ {
		stream(s, step)
	}
	s.mu.Lock()
	last = s.seq
	s.mu.Unlock()
	waitFlushed(last)
	rcancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Failing || st.Backlog != 0 || st.Dropped != 0 {
		t.Fatalf("after catching up: %+v", st)
	}
	if got := contents(t, s); got != want {
		t.Fatalf("tables after the outage differ from an uninterrupted run's:\n got:\n%s\nwant:\n%s", got, want)
	}
}
