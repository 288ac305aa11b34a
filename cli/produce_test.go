package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// cinch produce writes the account's inventory and sends CloudWatch Logs
// payloads of its traffic that decode to flow-log records of its interfaces.
func TestProduceSendsDecodableTraffic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")
	dir := t.TempDir()
	code, _, stderr := run(t, "", "produce", "--brokers", brokers, "--topic", "flows", "--rate", "200",
		"--duration", "1500ms", "--inventory-out", dir)
	if code != 0 {
		t.Fatalf("produce exited %d: %s", code, stderr)
	}
	eni, err := os.ReadFile(filepath.Join(dir, "network-interfaces.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "security-groups.json")); err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("flows"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	parser := flowlog.NewParser(flowlog.MustParseFormat(simulate.RichFormat))
	records, payloads, known := 0, 0, 0
	for records < 100 && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) {
			payloads++
			dec := envelope.NewDecoder()
			_, err := dec.Decode(r.Value, func(line []byte, m *envelope.Meta) error {
				var rec flowlog.Record
				if perr := parser.Parse(line, &rec); perr != nil {
					return perr
				}
				if strings.Contains(string(eni), string(rec.InterfaceID)) {
					known++
				}
				records++
				return nil
			})
			if err != nil {
				t.Errorf("payload does not decode: %v", err)
			}
		})
	}
	if records < 100 {
		t.Fatalf("decoded %d records from %d payloads, want at least 100", records, payloads)
	}
	// The simulator also sends a little traffic of one interface it leaves
	// out of the inventory on purpose (the dashboard's unattributed list).
	if known < records*9/10 {
		t.Errorf("%d of %d records belong to interfaces of the written inventory", known, records)
	}
}

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if code, _, stderr := run(t, "", "healthcheck", "--url", srv.URL+"/healthz"); code != 0 {
		t.Errorf("healthy daemon: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, "", "healthcheck", "--url", srv.URL+"/readyz"); code == 0 || !strings.Contains(stderr, "503") {
		t.Errorf("503: exit %d, stderr %q", code, stderr)
	}
	srv.Close()
	if code, _, _ := run(t, "", "healthcheck", "--url", srv.URL+"/healthz", "--timeout", "1s"); code == 0 {
		t.Error("a daemon that does not answer counted as healthy")
	}
}
