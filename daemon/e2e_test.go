//go:build e2e

package daemon

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The end-to-end tests run against a real Apache Kafka broker that
// scripts/test.sh starts (CINCH_KAFKA_BROKERS); they fail without one.
func realBrokers(t *testing.T) []string {
	b := os.Getenv("CINCH_KAFKA_BROKERS")
	if b == "" {
		t.Fatal("CINCH_KAFKA_BROKERS is not set: run scripts/test.sh, which starts a real Kafka broker")
	}
	return strings.Split(b, ",")
}

func TestE2EEquivalence(t *testing.T)  { scenarioEquivalence(t, realBrokers(t)) }
func TestE2ETwoInstances(t *testing.T) { scenarioTwoInstances(t, realBrokers(t)) }
func TestE2EDeadLetter(t *testing.T)   { scenarioDeadLetter(t, realBrokers(t)) }
func TestE2ERestart(t *testing.T)      { scenarioRestart(t, realBrokers(t)) }

// TestE2EBrokerRestart: the broker restarts mid-stream; the daemon recovers
// and ends with exactly the counters of an uninterrupted run.
func TestE2EBrokerRestart(t *testing.T) {
	brokers := realBrokers(t)
	restart := os.Getenv("CINCH_KAFKA_RESTART")
	if restart == "" {
		t.Fatal("CINCH_KAFKA_RESTART is not set: run scripts/test.sh")
	}
	sc := newScenario(t, 20000, 21)
	sc.createTopics(t, brokers)
	cfg := sc.config(brokers, t.TempDir(), "gb-"+sc.topic)
	r := start(t, cfg)
	half := len(sc.payloads) / 2
	sc.produce(t, brokers, 0, half)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.d.met.RecordsParsed) < float64(sc.records/4) {
		time.Sleep(50 * time.Millisecond)
	}
	out, err := exec.Command("bash", "-c", restart).CombinedOutput()
	if err != nil {
		t.Fatalf("broker restart: %v\n%s", err, out)
	}
	sc.produce(t, brokers, half, len(sc.payloads))
	waitReport(t, r.d.Addr().String(), sc.expected(t, cfg), 120*time.Second)
}

// TestE2EKill9: a daemon process killed with SIGKILL mid-stream and started
// again serves exactly what an uninterrupted run serves.
func TestE2EKill9(t *testing.T) {
	brokers := realBrokers(t)
	sc := newScenario(t, 40000, 22)
	sc.createTopics(t, brokers)
	state := t.TempDir()
	cfg := sc.config(brokers, state, "gk-"+sc.topic)
	cfg.Listen = freeAddr(t)
	run := func() *exec.Cmd { return daemonProcess(t, cfg) }
	cmd := run()
	sc.produce(t, brokers, 0, len(sc.payloads))
	// Kill it once it has checkpointed part of the stream but not all.
	deadline := time.Now().Add(90 * time.Second)
	killed := false
	for time.Now().Before(deadline) {
		if files, _ := filepath.Glob(filepath.Join(state, "shard-*.ckpt")); len(files) > 0 {
			time.Sleep(150 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			killed = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !killed {
		cmd.Process.Kill()
		t.Fatal("the daemon never checkpointed")
	}
	cmd = run()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("graceful shutdown on SIGTERM: %v", err)
			}
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Error("no exit within 60 s of SIGTERM")
		}
	}()
	waitReport(t, cfg.Listen, sc.expected(t, cfg), 120*time.Second)
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestE2EDeadLetterTopicCreated: on a real broker (which does not create
// topics for a producer's metadata requests) the missing dead-letter topic
// is created by the daemon.
func TestE2EDeadLetterTopicCreated(t *testing.T) { scenarioDeadLetterTopicCreated(t, realBrokers(t)) }
