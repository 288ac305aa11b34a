package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/internal/syncbuf"
)

// freeAddr returns a free loopback address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runFor runs cinch with args until stop is called, returning its exit code
// and stderr (bounded: a command that does not end fails the test).
func runFor(t *testing.T, args ...string) (stop func() (int, string), stderr *syncbuf.Buffer) {
	t.Helper()
	var out bytes.Buffer
	errb := &syncbuf.Buffer{}
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: errb, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, env, args) }()
	return func() (int, string) {
		cancel()
		select {
		case code := <-done:
			return code, errb.String()
		case <-time.After(30 * time.Second):
			t.Fatal("cinch did not stop")
			return -1, ""
		}
	}, errb
}

// demoServes waits until the daemon at addr serves suggestions without a
// token, then posts a review with token and returns its status.
func demoServes(t *testing.T, addr, token string) int {
	t.Helper()
	var rep struct {
		Suggestions []struct {
			GroupID string `json:"group_id"`
		} `json:"suggestions"`
	}
	var key string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && key == ""; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/api/v1/suggestions")
		if err != nil {
			continue
		}
		json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		if len(rep.Suggestions) > 0 {
			key = rep.Suggestions[0].GroupID
		}
	}
	if key == "" {
		t.Fatalf("no suggestions served at %s", addr)
	}
	// A review of an unknown key: 404 once authorized, 401/403 otherwise.
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/reviews", strings.NewReader(`{"rule_key":"nope","decision":"accepted"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// --demo and --config configs/demo.yaml run the same demo, with the same
// token (demo-token, reviewer); neither runs on a non-loopback address, and
// the published token is refused on one (issue 7, finding 11).
func TestDaemonDemoFlagAndFileMeanOneThing(t *testing.T) {
	demoFile := filepath.Join("..", "configs", "demo.yaml")
	for _, args := range [][]string{{"daemon", "--demo"}, {"daemon", "--config", demoFile}} {
		addr := freeAddr(t)
		stop, _ := runFor(t, append(args, "--listen", addr)...)
		if code := demoServes(t, addr, "demo-token"); code != http.StatusNotFound {
			t.Errorf("%v: review with demo-token: status %d, want 404 (authorized, unknown rule)", args, code)
		}
		if code := demoServes(t, addr, "not-the-token"); code != http.StatusUnauthorized {
			t.Errorf("%v: review with a wrong token: status %d, want 401", args, code)
		}
		if code, errs := stop(); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}

	for _, args := range [][]string{
		{"daemon", "--demo", "--listen", "0.0.0.0:0"},
		{"daemon", "--config", demoFile, "--listen", "0.0.0.0:0"},
		{"daemon", "--config", demoFile, "--listen", "192.0.2.1:8080"},
	} {
		stop, _ := runFor(t, args...)
		time.Sleep(200 * time.Millisecond)
		if code, errs := stop(); code == 0 || !strings.Contains(errs, "loopback") {
			t.Errorf("%v: exit %d %q; want a refusal naming loopback", args, code, errs)
		}
	}

	dir := t.TempDir()
	pub := write(t, dir, "pub.yaml", "listen: 0.0.0.0:0\nfiles: [a.log]\nauth:\n  tokens:\n    - {name: demo, role: viewer, token: demo-token}\n")
	if code, _, errs := run(t, "", "daemon", "--config", pub); code == 0 || !strings.Contains(errs, "published demo token") {
		t.Errorf("the published token on 0.0.0.0: exit %d %q", code, errs)
	}
}

// The daemon's first log line is a readable summary, not a Go struct, and
// holds no secret (issue 7, finding 13).
func TestDaemonFirstLogLineIsASummary(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfgFile := write(t, dir, "files.yaml", "listen: "+freeAddr(t)+"\nstate_dir: "+filepath.Join(dir, "state")+
		"\nfiles: ["+filepath.Join(dir, "flows.log")+"]\nauth:\n  tokens:\n    - {name: ops, role: viewer, token: s3cret-token-value}\n")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"daemon", "--demo", "--listen", addr}, []string{"listen=" + addr, "inputs=", "window=24h", "tokens=demo:reviewer"}},
		{[]string{"daemon", "--config", cfgFile}, []string{"inputs=\"1 files", "window=720h", "tokens=ops:viewer", "inventory.network_interfaces=0"}},
	} {
		stop, errb := runFor(t, c.args...)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(errb.String(), "\n"); {
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		first, _, _ := strings.Cut(errb.String(), "\n")
		for _, bad := range []string{"0xc", "{Listen:", "demo-token", "s3cret", "REDACTED", "&{", "map["} {
			if strings.Contains(first, bad) {
				t.Errorf("%v: first log line holds %q: %s", c.args, bad, first)
			}
		}
		for _, want := range c.want {
			if !strings.Contains(first, want) {
				t.Errorf("%v: first log line lacks %q: %s", c.args, want, first)
			}
		}
	}
}
