//go:build e2e

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/internal/chtest"
)

// TestE2EDemoWritesToClickHouse: `cinch daemon --demo` with
// CINCH_CLICKHOUSE_ADDR set fills the tables the dashboards read.
func TestE2EDemoWritesToClickHouse(t *testing.T) {
	addr, httpURL := os.Getenv("CINCH_TEST_CLICKHOUSE_ADDR"), os.Getenv("CINCH_TEST_CLICKHOUSE_HTTP_URL")
	if addr == "" || httpURL == "" {
		t.Fatal("CINCH_TEST_CLICKHOUSE_ADDR / CINCH_TEST_CLICKHOUSE_HTTP_URL are not set: run scripts/test.sh, which starts ClickHouse")
	}
	chtest.Shared(t)
	db := fmt.Sprintf("cinch_demo_%d", time.Now().UnixNano())
	query := func(sql string) string {
		resp, err := http.Post(httpURL, "text/plain", strings.NewReader(sql))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	defer query("DROP DATABASE IF EXISTS " + db)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	vars := map[string]string{"CINCH_CLICKHOUSE_ADDR": addr, "CINCH_CLICKHOUSE_DATABASE": db,
		"CINCH_CLICKHOUSE_FLUSH_INTERVAL": "200ms", "CINCH_STATE_DIR": t.TempDir()}
	var stderr bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, env, []string{"--demo", "--listen", listen}) }()
	want := []string{
		"SELECT count() > 0 FROM " + db + ".rule_usage",
		"SELECT count() > 0 FROM " + db + ".sketches",
		"SELECT uniqExact(verdict) = 3 FROM " + db + ".suggestions",
		"SELECT count() > 0 FROM " + db + ".events WHERE type = 'verdict-changed'",
	}
	deadline := time.Now().Add(30 * time.Second)
	var missing []string
	for time.Now().Before(deadline) {
		missing = missing[:0]
		for _, q := range want {
			if query(q) != "1" {
				missing = append(missing, q)
			}
		}
		if len(missing) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("daemon --demo: %v\n%s", err, stderr.String())
	}
	if len(missing) > 0 {
		t.Fatalf("after 30 s of the demo, not true: %v\n%s", missing, stderr.String())
	}
}
