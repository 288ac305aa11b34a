package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Alerts configures the notifications the daemon sends when a rule that
// matched traffic stops matching it (and when it resumes).
type Alerts struct {
	// Webhooks receive each rule alert as an HTTP POST.
	Webhooks []Webhook `yaml:"webhooks"`
}

// Webhook is one alert receiver.
type Webhook struct {
	// Name identifies the webhook in logs and metrics.
	Name string `yaml:"name"`
	// URL receives the POSTs. Webhook URLs often hold a secret (Slack's
	// do): prefer URLEnv.
	URL string `yaml:"url"`
	// URLEnv names an environment variable holding the URL; it is read when
	// the configuration loads and wins over URL.
	URLEnv string `yaml:"url_env"`
	// Format is "alertmanager" (Alertmanager's webhook payload, the default)
	// or "slack" (a Slack-compatible incoming-webhook body).
	Format string `yaml:"format"`
	// Types are the alert types sent: rule-stopped-matching, rule-resumed
	// (default both).
	Types []string `yaml:"types"`
	// Timeout bounds one delivery attempt (default 10s).
	Timeout Duration `yaml:"timeout"`
	// MaxAttempts bounds the attempts per alert (default 5).
	MaxAttempts int `yaml:"max_attempts"`
}

// resolveEnv fills each webhook URL from its URLEnv.
func (a *Alerts) resolveEnv(getenv func(string) string) {
	if getenv == nil {
		return
	}
	for i := range a.Webhooks {
		w := &a.Webhooks[i]
		if w.URLEnv != "" {
			if u := getenv(w.URLEnv); u != "" {
				w.URL = u
			}
		}
	}
}

func (a *Alerts) validate(v *validator) {
	names := map[string]bool{}
	for i, w := range a.Webhooks {
		key := fmt.Sprintf("alerts.webhooks[%d]", i)
		switch {
		case strings.TrimSpace(w.Name) == "":
			v.add(key+".name", "is required")
		case names[w.Name]:
			v.add(key+".name", fmt.Sprintf("%q is used twice", w.Name))
		}
		names[w.Name] = true
		if w.URL == "" {
			if w.URLEnv != "" {
				v.add(key+".url_env", fmt.Sprintf("environment variable %s is not set", w.URLEnv))
			} else {
				v.add(key+".url", "is required (or url_env)")
			}
		} else if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL may hold a secret: never echo it.
			v.add(key+".url", "must be an absolute http or https URL")
		}
		switch w.Format {
		case "", "alertmanager", "slack":
		default:
			v.add(key+".format", fmt.Sprintf("must be alertmanager or slack, got %q", w.Format))
		}
		for _, t := range w.Types {
			if t != "rule-stopped-matching" && t != "rule-resumed" {
				v.add(key+".types", fmt.Sprintf("must be rule-stopped-matching or rule-resumed, got %q", t))
			}
		}
		if w.Timeout < 0 {
			v.add(key+".timeout", "must not be negative")
		}
		if w.MaxAttempts < 0 {
			v.add(key+".max_attempts", "must not be negative")
		}
	}
}

// redacted returns a copy with each URL cut to scheme://host/REDACTED.
func (a Alerts) redacted() Alerts {
	r := Alerts{Webhooks: slices.Clone(a.Webhooks)}
	for i := range r.Webhooks {
		w := &r.Webhooks[i]
		w.Types = slices.Clone(w.Types)
		if w.URL == "" {
			continue
		}
		if u, err := url.Parse(w.URL); err == nil && u.Host != "" {
			w.URL = u.Scheme + "://" + u.Host + "/" + RedactedValue
		} else {
			w.URL = RedactedValue
		}
	}
	return r
}
