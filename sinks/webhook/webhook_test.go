package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cinch-sg/cinch/advisor"
)

// receiver is a local HTTP server that fails the first failures requests
// with status, then accepts; it keeps the bodies it accepted.
type receiver struct {
	mu       sync.Mutex
	failures int
	status   int
	calls    int
	bodies   [][]byte
	got      chan struct{}
}

func newReceiver(t *testing.T, failures, status int) (*receiver, *httptest.Server) {
	r := &receiver{failures: failures, status: status, got: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if req.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
			return
		}
		if r.calls <= r.failures {
			w.WriteHeader(r.status)
			return
		}
		r.bodies = append(r.bodies, b)
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) wait(t *testing.T, n int) [][]byte {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook received %d of %d deliveries", len(r.bodies), n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

func start(t *testing.T, hooks []Config, o Options) *Notifier {
	t.Helper()
	n, err := New(hooks, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func stoppedAlert() Alert {
	s := advisor.Suggestion{GroupID: "sg-1", RuleID: "sgr-1", Direction: "ingress",
		Rule:    advisor.RuleSpec{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "203.0.113.0/24"},
		Verdict: advisor.VerdictKeep, Reasons: []string{advisor.ReasonInUse}}
	return Alert{Type: TypeStopped, RuleKey: "sg-1|ingress|6|22|22|203.0.113.0/24",
		Time: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), LastSeen: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC),
		Suggestion: &s}
}

func TestAlertmanagerPayloadAfterRetries(t *testing.T) {
	rcv, srv := newReceiver(t, 2, http.StatusServiceUnavailable)
	reg := prometheus.NewRegistry()
	n := start(t, []Config{{Name: "am", URL: srv.URL + "/hook", Backoff: 10 * time.Millisecond}},
		Options{Registerer: reg, ExternalURL: "http://127.0.0.1:8080/"})
	if !n.Notify(stoppedAlert()) {
		t.Fatal("Notify refused the alert")
	}
	bodies := rcv.wait(t, 1)
	if rcv.calls != 3 {
		t.Errorf("calls = %d, want 3 (two 503s, then success)", rcv.calls)
	}
	var p amPayload
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != "4" || p.Status != "firing" || p.Receiver != "am" || len(p.Alerts) != 1 {
		t.Fatalf("payload = %+v", p)
	}
	a := p.Alerts[0]
	want := map[string]string{"alertname": AlertName, "severity": "warning", "group_id": "sg-1", "rule_id": "sgr-1",
		"direction": "ingress", "rule_key": "sg-1|ingress|6|22|22|203.0.113.0/24"}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	if !a.EndsAt.IsZero() || a.StartsAt.IsZero() || a.Fingerprint == "" {
		t.Errorf("firing alert times/fingerprint wrong: %+v", a)
	}
	if !strings.Contains(a.Annotations["description"], "2026-11-28T09:00:00Z") {
		t.Errorf("description lacks the last match: %q", a.Annotations["description"])
	}
	// The receiver answers before the notifier counts the delivery.
	for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(n.sent.WithLabelValues("am", "sent")) < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the delivery was not counted")
		}
	}
	expected := "# HELP cinch_webhook_notifications_total Alert deliveries to webhooks by webhook and outcome (sent, failed).\n" +
		"# TYPE cinch_webhook_notifications_total counter\n" +
		`cinch_webhook_notifications_total{outcome="failed",webhook="am"} 0` + "\n" +
		`cinch_webhook_notifications_total{outcome="sent",webhook="am"} 1` + "\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "cinch_webhook_notifications_total"); err != nil {
		t.Fatal(err)
	}
}

func TestResolvedAndSlack(t *testing.T) {
	am, amSrv := newReceiver(t, 0, 0)
	sl, slSrv := newReceiver(t, 0, 0)
	n := start(t, []Config{
		{Name: "am", URL: amSrv.URL},
		{Name: "slack", URL: slSrv.URL, Format: FormatSlack, Types: []string{TypeStopped}},
	}, Options{})
	a := stoppedAlert()
	a.Suggestion.GroupID = "<img src=x onerror=alert(1)>"
	n.Notify(a)
	r := stoppedAlert()
	r.Type = TypeResumed
	n.Notify(r)

	amBodies := am.wait(t, 2)
	var p amPayload
	if err := json.Unmarshal(amBodies[1], &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != "resolved" || p.Alerts[0].EndsAt.IsZero() || p.Alerts[0].Labels["rule_key"] != r.RuleKey {
		t.Errorf("resolved payload = %+v", p)
	}
	var first amPayload
	_ = json.Unmarshal(amBodies[0], &first)
	if first.Alerts[0].Fingerprint != p.Alerts[0].Fingerprint {
		t.Error("firing and resolved alerts of one rule must share a fingerprint")
	}

	slBodies := sl.wait(t, 1) // the resumed alert is filtered out by Types
	var s slackBody
	if err := json.Unmarshal(slBodies[0], &s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Text, "stopped matching traffic") || strings.Contains(s.Text, "<img") {
		t.Errorf("slack text = %q", s.Text)
	}
	time.Sleep(50 * time.Millisecond)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.calls != 1 {
		t.Errorf("slack webhook got %d calls, want 1 (resumed filtered out)", sl.calls)
	}
}

func TestPermanentFailureIsNotRetriedAndURLNotLogged(t *testing.T) {
	rcv, srv := newReceiver(t, 100, http.StatusBadRequest)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	secretURL := srv.URL + "/services/T000/B000/s3cr3t-token"
	reg := prometheus.NewRegistry()
	n := start(t, []Config{{Name: "slack", URL: secretURL, Format: FormatSlack, Backoff: time.Millisecond}},
		Options{Logger: logger, Registerer: reg})
	n.Notify(stoppedAlert())
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(n.sent.WithLabelValues("slack", "failed")) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the failed delivery was not counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	rcv.mu.Lock()
	calls := rcv.calls
	rcv.mu.Unlock()
	if calls != 1 {
		t.Errorf("a 400 answer was tried %d times, want 1", calls)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("the webhook URL leaked into the logs: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "400") {
		t.Errorf("the log does not say why: %s", logs.String())
	}
}

func TestUnreachableIsRetriedWithoutLeakingURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	n := start(t, []Config{{Name: "am", URL: addr + "/?token=s3cr3t", MaxAttempts: 3, Backoff: time.Millisecond}},
		Options{Logger: logger})
	n.Notify(stoppedAlert())
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(n.sent.WithLabelValues("am", "failed")) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the failed delivery was not counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("the webhook URL leaked into the logs: %s", logs.String())
	}
}

func TestQueueFullDrops(t *testing.T) {
	n, err := New([]Config{{Name: "am", URL: "http://127.0.0.1:1/"}}, Options{Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Notify(stoppedAlert()) {
		t.Fatal("first alert refused")
	}
	if n.Notify(stoppedAlert()) {
		t.Fatal("second alert accepted by a full queue of one")
	}
	if got := testutil.ToFloat64(n.dropped); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{URL: "http://x/"},
		{Name: "a", URL: "ftp://x/"},
		{Name: "a", URL: "/relative"},
		{Name: "a", URL: "http://x/", Format: "teams"},
		{Name: "a", URL: "http://x/", Types: []string{"verdict-changed"}},
		{Name: "a", URL: "http://x/", Timeout: -1},
	} {
		if _, err := New([]Config{c}, Options{}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
