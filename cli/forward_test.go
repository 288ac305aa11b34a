package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cinch-sg/cinch/internal/peers"
	"github.com/cinch-sg/cinch/internal/syncbuf"
)

// cinch forward --listen serves the Firehose endpoint into Kafka.
func TestForwardFirehoseCommand(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "vpc-flow-logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var errb syncbuf.Buffer
	envm := map[string]string{"CINCH_KAFKA_BROKERS": strings.Join(c.ListenAddrs(), ","), "CINCH_FORWARD_ACCESS_KEY": "k3y"}
	env := &Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &errb, Getenv: func(k string) string { return envm[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, env, []string{"forward", "--listen", "127.0.0.1:0"}) }()
	re := regexp.MustCompile(`listening on (\S+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("no listen address: %s", errb.String())
	}
	body, err := os.ReadFile(filepath.Join(peers.Dir(t), "vectordotdev-vector", "firehose-cloudwatch", "guide-firehose-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Firehose-Access-Key", "k3y")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != 0 || resp.StatusCode != 200 {
		t.Fatalf("exit %d, status %d: %s", code, resp.StatusCode, errb.String())
	}
	cl, _ := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("vpc-flow-logs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer pcancel()
	fs := cl.PollFetches(pctx)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Key) != "/jesse/test" {
		t.Errorf("records %v", recs)
	}
	if !strings.Contains(errb.String(), `"records":1`) {
		t.Errorf("the stop line should count the records: %s", errb.String())
	}
}
