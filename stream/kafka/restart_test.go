package kafka

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestRunSurvivesBrokerRestart stops the only broker while Run polls, starts
// it again on the same port with the same data, and checks that Run kept
// going and consumes what is produced after the restart. The outage makes
// franz-go declare the partitions lost; the handler resumes them from its
// durable checkpoint, so nothing repeats.
func TestRunSurvivesBrokerRestart(t *testing.T) {
	const topic, parts, n = "flows", 2, 20
	dir := t.TempDir()
	port := freePort(t)
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(parts, topic)}
	c1, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	brokers := c1.ListenAddrs()
	produceN(t, brokers, topic, parts, n, "a")

	led := newLedger()
	h := newTestHandler(led)
	h.durable = make(map[Partition]int64)
	r := start(t, testConfig(brokers, "g-restart", topic), h)
	waitFor(t, 20*time.Second, "first batch", func() bool { return led.total() >= parts*n })

	c1.Close()
	time.Sleep(1500 * time.Millisecond) // Run keeps polling against a dead broker
	select {
	case err := <-r.done:
		t.Fatalf("Run returned while the broker was down: %v", err)
	default:
	}

	c2, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	defer c2.Close()
	produceN(t, brokers, topic, parts, n, "b")
	waitFor(t, 30*time.Second, "batch after restart", func() bool { return led.total() >= 2*parts*n })
	time.Sleep(300 * time.Millisecond)
	for _, p := range allPartitions(topic, parts) {
		led.checkRange(t, p, 0, 2*n)
	}
	r.stop() // leave (and commit) while the broker is up
	h.mu.Lock()
	t.Logf("during the outage: %d Lost calls, %d Revoked calls", len(h.lost), len(h.revoked))
	h.mu.Unlock()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(p)
	return port
}
