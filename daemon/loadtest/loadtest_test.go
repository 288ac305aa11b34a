package loadtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The load command runs end to end (here on the in-process fake cluster;
// the figures in the README come from a real broker).
func TestRunSmall(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Brokers: c.ListenAddrs(), Records: 20000, Partitions: 4, Apps: 3, Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 20000 || res.Payloads == 0 || res.RecordsPerSecond <= 0 {
		t.Errorf("throughput: %+v", res)
	}
	if res.RulesWithState == 0 || res.SketchBytes == 0 || res.SketchBytesRule <= 0 {
		t.Errorf("memory: %+v", res)
	}
	if len(res.Latencies) != 2 || res.LatencyMax <= 0 || res.LatencyMax > 10*time.Second {
		t.Errorf("latencies: %v", res.Latencies)
	}
	if out := res.String(); !strings.Contains(out, "records/s") || !strings.Contains(out, "websocket") {
		t.Errorf("report:\n%s", out)
	}
}
