package daemon

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cinch-sg/cinch/stream/kafka"
)

// badPayloads produces n payloads of which every line is malformed (each
// line goes to the dead-letter topic).
func produceBad(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	p, err := kafka.NewProducer(kafka.Config{Brokers: brokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range n {
		if err := p.Produce(context.Background(), topic, nil, []byte("2 123 eni-1 not a flow log line\n")); err != nil {
			t.Fatal(err)
		}
	}
}

// scenarioDeadLetterTopicCreated: the dead-letter topic does not exist; the
// daemon creates it and the dead letters land there (issue 7, finding 5).
func scenarioDeadLetterTopicCreated(t *testing.T, brokers []string) {
	sc := newScenario(t, 400, 17)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: brokers}, 2, sc.topic); err != nil {
		t.Fatal(err)
	}
	cfg := sc.config(brokers, t.TempDir(), "gdl-"+sc.topic)
	r := start(t, cfg)
	const bad = 5
	produceBad(t, brokers, sc.topic, bad)
	sc.produce(t, brokers, 0, len(sc.payloads))
	waitReport(t, r.d.Addr().String(), sc.expected(t, cfg), 60*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.d.met.DeadLettered) < bad {
		time.Sleep(100 * time.Millisecond)
	}
	if got := testutil.ToFloat64(r.d.met.DeadLettered); got != bad {
		t.Fatalf("dead-lettered %v records, want %d (failures: %v)", got, bad, testutil.ToFloat64(r.d.met.DeadLetterFailures))
	}
	if got := testutil.ToFloat64(r.d.met.DeadLetterFailures); got != 0 {
		t.Errorf("dead-letter failures %v, want 0", got)
	}
	if n := len(readTopic(t, brokers, sc.topic+"-dlq", bad)); n != bad {
		t.Errorf("read %d dead letters back, want %d", n, bad)
	}
}

func TestDeadLetterTopicCreatedKfake(t *testing.T) { scenarioDeadLetterTopicCreated(t, fakeBrokers(t)) }

// A dead-letter topic that is missing and may not be created: /readyz says
// so, failures are counted, and the stream goes on at full speed (issue 7,
// finding 5).
func TestDeadLetterTopicRefusedKfake(t *testing.T) {
	sc := newScenario(t, 400, 19)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, sc.topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the daemon stops
	c.ControlKey(int16(kmsg.CreateTopics), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.CreateTopicsRequest)
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic = rt.Topic
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	brokers := c.ListenAddrs()
	cfg := sc.config(brokers, t.TempDir(), "gdr-"+sc.topic)
	r := start(t, cfg)
	const bad = 40
	produceBad(t, brokers, sc.topic, bad)
	sc.produce(t, brokers, 0, len(sc.payloads))
	// 40 dead letters used to take about 2 s each (retries on an unknown
	// topic) before the records behind them were read.
	waitReport(t, r.d.Addr().String(), sc.expected(t, cfg), 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.d.met.DeadLetterFailures) < bad {
		time.Sleep(100 * time.Millisecond)
	}
	if got := testutil.ToFloat64(r.d.met.DeadLetterFailures); got != bad {
		t.Errorf("dead-letter failures %v, want %d", got, bad)
	}
	resp, err := http.Get("http://" + r.d.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), sc.topic+"-dlq") || !strings.Contains(string(body), "cannot be created") {
		t.Errorf("/readyz: %d %s; want 503 naming the dead-letter topic", resp.StatusCode, body)
	}
}
