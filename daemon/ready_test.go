package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/internal/syncbuf"
)

// startLogged starts a daemon whose logs go to the returned buffer.
func startLogged(t *testing.T, cfg config.Config) (*Daemon, *syncbuf.Buffer) {
	t.Helper()
	var logs syncbuf.Buffer
	d, err := New(Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil)), OpenReads: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("daemon did not stop")
		}
	})
	return d, &logs
}

// waitReadyz returns the status and body of /readyz once it is not "starting".
func waitReadyz(t *testing.T, addr string, want int) (int, string) {
	t.Helper()
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(b)
		if code == want {
			break
		}
	}
	return code, body
}

// A files: entry that does not exist makes the daemon not ready, naming the
// file (issue 7, finding 12).
func TestReadyzMissingFile(t *testing.T) {
	sc := newScenario(t, 100, 51)
	path := filepath.Join(sc.dir, "flows.log")
	if err := os.WriteFile(path, []byte(strings.Join(richFormat.Names(), " ")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(sc.dir, "no-such-file.log.gz")
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Files = []string{path, missing}
	d, _ := startLogged(t, cfg)
	code, body := waitReadyz(t, d.Addr().String(), http.StatusServiceUnavailable)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, missing) {
		t.Errorf("/readyz with a missing file: %d %q", code, body)
	}
}

// An inventory without network interfaces is warned about and reported on
// /readyz: no flow could be attributed (issue 7, finding 12).
func TestReadyzNoInterfaces(t *testing.T) {
	sc := newScenario(t, 100, 53)
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Files = []string{filepath.Join(sc.dir, "sg.json")} // any file: not flow logs
	cfg.Inventory.NetworkInterfaces = nil
	d, logs := startLogged(t, cfg)
	code, body := waitReadyz(t, d.Addr().String(), http.StatusServiceUnavailable)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "no network interfaces") {
		t.Errorf("/readyz without interfaces: %d %q", code, body)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "inventory.network_interfaces") {
		t.Errorf("no warning about the missing interfaces in the logs:\n%s", l)
	}
}
