package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/sinks/webhook"
)

// The daemon forwards the hub's rule-stopped-matching and rule-resumed
// events, and only those, to the configured webhooks.
func TestAlertsFollowHubEvents(t *testing.T) {
	got := make(chan map[string]any, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p map[string]any
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("webhook body is not JSON: %v", err)
		}
		got <- p
	}))
	defer srv.Close()
	cfg := config.Alerts{Webhooks: []config.Webhook{{Name: "am", URL: srv.URL}}}
	n, err := webhook.New(webhookConfigs(cfg), webhook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hub := api.NewHub(16)
	hub.Publish(api.Event{Type: api.EventRuleStoppedMatching, RuleKey: "before-start"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); runAlerts(ctx, hub, n) }()
	defer func() { cancel(); <-done }()
	// Wait until the forwarder has subscribed.
	for deadline := time.Now().Add(5 * time.Second); hub.Subscribers() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("runAlerts did not subscribe")
		}
	}
	s := advisor.Suggestion{GroupID: "sg-9", Verdict: advisor.VerdictKeep, Evidence: advisor.Evidence{LastSeen: "2026-11-28T09:00:00Z"}}
	hub.Publish(api.Event{Type: api.EventVerdictChanged, RuleKey: "k1", Suggestion: &s})
	hub.Publish(api.Event{Type: api.EventRuleStoppedMatching, RuleKey: "k1", Time: time.Now(), Suggestion: &s})
	hub.Publish(api.Event{Type: api.EventReview, RuleKey: "k1"})
	hub.Publish(api.Event{Type: api.EventRuleResumed, RuleKey: "k1", Time: time.Now(), Suggestion: &s})

	var statuses []string
	for range 2 {
		select {
		case p := <-got:
			statuses = append(statuses, p["status"].(string))
			alerts := p["alerts"].([]any)
			labels := alerts[0].(map[string]any)["labels"].(map[string]any)
			if labels["rule_key"] != "k1" || labels["group_id"] != "sg-9" {
				t.Errorf("labels = %v", labels)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook got %d alerts, want 2", len(statuses))
		}
	}
	if statuses[0] != "firing" || statuses[1] != "resolved" {
		t.Errorf("statuses = %v, want [firing resolved]", statuses)
	}
	select {
	case p := <-got:
		t.Errorf("unexpected delivery (an event before start, or not a rule alert): %v", p)
	case <-time.After(100 * time.Millisecond):
	}
}
