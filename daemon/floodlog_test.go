package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// 100,000 malformed lines in a file input give a handful of log lines (the
// first few, then summaries with counts), and the metrics count them all
// (issue 7, finding 9).
func TestMalformedLinesDoNotFloodTheLog(t *testing.T) {
	sc := newScenario(t, 200, 57)
	const bad = 100_000
	var b bytes.Buffer
	b.WriteString(strings.Join(richFormat.Names(), " ") + "\n")
	for _, l := range sc.lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	for range bad {
		b.WriteString("2 123 eni-1 not a flow log line\n")
	}
	path := filepath.Join(sc.dir, "flood.log")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Formats.LogGroups = nil
	cfg.Files = []string{path}
	d, logs := startLogged(t, cfg)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(logs.String(), `msg="file read"`) {
		time.Sleep(50 * time.Millisecond)
	}
	var failed float64
	for _, r := range []string{"field-count", "malformed"} {
		failed += testutil.ToFloat64(d.met.RecordsFailed.WithLabelValues(r))
	}
	if failed != bad {
		t.Errorf("metrics count %v malformed lines, want %d", failed, bad)
	}
	out := logs.String()
	n := strings.Count(out, `msg="file input`)
	if n == 0 || n > 2*badLinesLogged {
		t.Errorf("%d log lines about malformed input, want 1 to %d", n, 2*badLinesLogged)
	}
	if !strings.Contains(out, "total=100000") {
		t.Errorf("no summary with the total in the logs:\n%.2000s", out)
	}
}
