package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cinch-sg/cinch/internal/peers"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/kafka"
)

const topic = "flows"

// cluster starts kfake with the topic and returns a producer and a
// function reading everything produced so far.
func cluster(t *testing.T) (*kafka.Producer, func() []*kgo.Record, *kfake.Cluster) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p, err := kafka.NewProducer(kafka.Config{Brokers: c.ListenAddrs()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	read := func() []*kgo.Record {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var out []*kgo.Record
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return out
			}
			fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		}
	}
	return p, read, c
}

func peerFile(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{peers.Dir(t)}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lines decodes a forwarded record as the daemon does.
func lines(t *testing.T, v []byte) (group string, msgs []string) {
	t.Helper()
	if _, err := envelope.Decode(v, func(line []byte, m *envelope.Meta) error {
		group = m.LogGroup
		msgs = append(msgs, string(line))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return group, msgs
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestLambdaHandlerPeerSample(t *testing.T) {
	p, read, _ := cluster(t)
	f, err := New(p, Config{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CloudwatchLogsEvent
	if err := json.Unmarshal(peerFile(t, "aws-lambda-go", "events-testdata", "cloudwatch-logs-event.json"), &ev); err != nil {
		t.Fatal(err)
	}
	want, err := ev.AWSLogs.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.HandleCloudWatchLogs(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	recs := read()
	if len(recs) != 1 || string(recs[0].Key) != want.LogGroup {
		t.Fatalf("records %d, key %q, want one keyed %q", len(recs), recs[0].Key, want.LogGroup)
	}
	group, msgs := lines(t, recs[0].Value)
	if group != want.LogGroup || len(msgs) != len(want.LogEvents) || msgs[0] != want.LogEvents[0].Message {
		t.Errorf("decoded %q %q, want %+v", group, msgs, want)
	}
	// A bad payload is dropped, not retried.
	if err := f.HandleCloudWatchLogs(context.Background(), events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: "!!"}}); err != nil {
		t.Errorf("a bad payload must not fail the invocation: %v", err)
	}
	if st := f.Stats(); st.Bad != 1 || st.Records != 1 {
		t.Errorf("stats %+v", st)
	}
}

func post(t *testing.T, url, key string, body []byte, gzipped bool) (int, firehoseResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("X-Amz-Firehose-Access-Key", key)
	req.Header.Set("X-Amz-Firehose-Request-Id", "req-1")
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fr firehoseResponse
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &fr); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	return resp.StatusCode, fr
}

func TestFirehoseEndpointPeerSamples(t *testing.T) {
	p, read, _ := cluster(t)
	f, _ := New(p, Config{Topic: topic})
	h, err := NewFirehoseHandler(f, "s3cret-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	guide := peerFile(t, "vectordotdev-vector", "firehose-cloudwatch", "guide-firehose-request.json")
	cue := peerFile(t, "vectordotdev-vector", "firehose-cloudwatch", "cue-firehose-request.json")

	if code, fr := post(t, srv.URL, "wrong", guide, false); code != http.StatusUnauthorized || fr.ErrorMessage == "" || fr.RequestID != "req-1" {
		t.Errorf("wrong key: %d %+v", code, fr)
	}
	code, fr := post(t, srv.URL, "s3cret-key", guide, false)
	if code != http.StatusOK || fr.RequestID != "req-1" || fr.ErrorMessage != "" || fr.Timestamp < time.Now().Add(-time.Minute).UnixMilli() {
		t.Errorf("guide: %d %+v", code, fr)
	}
	if code, _ := post(t, srv.URL, "s3cret-key", gz(t, cue), true); code != http.StatusOK {
		t.Errorf("gzip-encoded cue: %d", code)
	}
	// A CONTROL_MESSAGE (Firehose's health check) is acknowledged and dropped.
	ctl := peerFile(t, "vectordotdev-vector", "firehose-cloudwatch", "remap-behavior-control-message.json")
	body, _ := json.Marshal(map[string]any{"requestId": "r", "timestamp": 1, "records": []map[string]any{{"data": gz(t, ctl)}}})
	if code, _ := post(t, srv.URL, "s3cret-key", body, false); code != http.StatusOK {
		t.Errorf("control message: %d", code)
	}
	if code, fr := post(t, srv.URL, "s3cret-key", []byte("{not json"), false); code != http.StatusBadRequest || fr.ErrorMessage == "" {
		t.Errorf("bad body: %d %+v", code, fr)
	}
	recs := read()
	groups := map[string]int{}
	for _, r := range recs {
		g, msgs := lines(t, r.Value)
		if g != string(r.Key) || len(msgs) != 2 {
			t.Errorf("record keyed %q holds group %q, %d lines", r.Key, g, len(msgs))
		}
		groups[g]++
	}
	if groups["/jesse/test"] != 1 || groups["test"] != 1 || len(recs) != 2 {
		t.Errorf("forwarded groups %v", groups)
	}
	if st := f.Stats(); st.Control != 1 || st.Records != 2 {
		t.Errorf("stats %+v", st)
	}
}

// A payload above the record limit is split by log events; nothing is lost.
func TestSplitLargePayload(t *testing.T) {
	p, read, _ := cluster(t)
	f, _ := New(p, Config{Topic: topic, MaxRecordBytes: 4096})
	var evs []map[string]any
	for i := range 400 {
		evs = append(evs, map[string]any{"id": fmt.Sprint(i), "timestamp": 1700000000000 + i,
			"message": fmt.Sprintf("2 123456789012 eni-%08x 10.0.%d.%d 10.1.0.1 %d 443 6 1 60 1700000000 1700000060 ACCEPT OK", i*7919, i%256, i/256, 30000+i)})
	}
	msg, _ := json.Marshal(map[string]any{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "vpc-flows",
		"logStream": "eni-1-all", "subscriptionFilters": []string{"f"}, "logEvents": evs})
	if _, err := f.Forward(context.Background(), [][]byte{gz(t, msg)}); err != nil {
		t.Fatal(err)
	}
	recs := read()
	n := 0
	for _, r := range recs {
		if len(r.Value) > 4096 || string(r.Key) != "vpc-flows" {
			t.Errorf("record of %d bytes keyed %q", len(r.Value), r.Key)
		}
		_, msgs := lines(t, r.Value)
		n += len(msgs)
	}
	if len(recs) < 2 || n != 400 || f.Stats().Split != 1 {
		t.Errorf("%d records carrying %d events (stats %+v)", len(recs), n, f.Stats())
	}
}

// Kafka down: the batch is retried, then the caller gets an error (Lambda
// and Firehose redeliver); Firehose is answered 500 with the message.
func TestKafkaDownFailsTheBatch(t *testing.T) {
	p, _, c := cluster(t)
	c.Close()
	f, _ := New(p, Config{Topic: topic, Attempts: 2, Backoff: 10 * time.Millisecond, FlushTimeout: 300 * time.Millisecond})
	h, _ := NewFirehoseHandler(f, "k", nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, fr := post(t, srv.URL, "k", peerFile(t, "vectordotdev-vector", "firehose-cloudwatch", "guide-firehose-request.json"), false)
	if code != http.StatusInternalServerError || !strings.Contains(fr.ErrorMessage, "not forwarded") {
		t.Errorf("kafka down: %d %+v", code, fr)
	}
	if st := f.Stats(); st.Retries != 1 || st.Failed != 1 {
		t.Errorf("stats %+v", st)
	}
	data := base64.StdEncoding.EncodeToString(gz(t, peerFile(t, "vectordotdev-vector", "firehose-cloudwatch", "firehose-source-test-record.json")))
	if err := f.HandleCloudWatchLogs(context.Background(), events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: data}}); err == nil {
		t.Error("the Lambda handler must fail when Kafka is down")
	}
}
