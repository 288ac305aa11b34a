package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/sinks/webhook"
)

// webhookConfigs converts the alerts section for the webhook notifier.
func webhookConfigs(a config.Alerts) []webhook.Config {
	out := make([]webhook.Config, 0, len(a.Webhooks))
	for _, w := range a.Webhooks {
		out = append(out, webhook.Config{Name: w.Name, URL: w.URL, Format: w.Format, Types: w.Types,
			Timeout: w.Timeout.Std(), MaxAttempts: w.MaxAttempts})
	}
	return out
}

// runAlerts delivers the hub's rule-stopped-matching and rule-resumed events
// to n until ctx ends. It follows the hub from its current version and, when
// the hub drops it for falling behind, resumes from the last version it saw
// (the hub's history replays what it missed).
func runAlerts(ctx context.Context, hub *api.Hub, n *webhook.Notifier) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = n.Run(ctx)
	}()
	defer wg.Wait()
	hub.Follow(ctx, hub.Version(), func(ev api.Event) {
		if ev.Type != api.EventRuleStoppedMatching && ev.Type != api.EventRuleResumed {
			return
		}
		a := webhook.Alert{Type: ev.Type, RuleKey: ev.RuleKey, Time: ev.Time, Suggestion: ev.Suggestion}
		if ev.Suggestion != nil && ev.Suggestion.Evidence.LastSeen != "" {
			a.LastSeen, _ = time.Parse(time.RFC3339, ev.Suggestion.Evidence.LastSeen)
		}
		n.Notify(a)
	})
}
