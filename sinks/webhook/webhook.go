// Package webhook sends cinch's rule alerts — a rule that matched traffic
// stopped matching it, and resumed — to HTTP webhooks, as Alertmanager's
// webhook payload (version 4) or as a Slack-compatible incoming-webhook body.
//
// A Notifier queues alerts (Notify never blocks the caller; a full queue
// drops the alert and counts it) and delivers them from Run, one webhook
// after the other, retrying network errors, 429 and 5xx answers with
// exponential backoff (honouring Retry-After) up to a configured number of
// attempts. Webhook URLs often carry secrets (Slack's do): they are never
// logged, only the webhook's name and host.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cinch-sg/cinch/advisor"
)

// Alert types, the same names as the daemon's events.
const (
	TypeStopped = "rule-stopped-matching"
	TypeResumed = "rule-resumed"
)

// Payload formats.
const (
	FormatAlertmanager = "alertmanager"
	FormatSlack        = "slack"
)

// Defaults of a Config's zero fields.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 5
	DefaultBackoff     = time.Second
	DefaultQueue       = 1024
	maxBackoff         = 2 * time.Minute
)

// Config is one webhook.
type Config struct {
	// Name identifies the webhook in logs and metrics (never the URL).
	Name string
	// URL receives a POST per alert.
	URL string
	// Format is FormatAlertmanager (default) or FormatSlack.
	Format string
	// Types are the alert types sent; empty means both.
	Types []string
	// Timeout bounds one attempt (DefaultTimeout when zero).
	Timeout time.Duration
	// MaxAttempts bounds the attempts per alert (DefaultMaxAttempts when zero).
	MaxAttempts int
	// Backoff is the wait before the second attempt, doubled after each
	// further one, with jitter (DefaultBackoff when zero).
	Backoff time.Duration
}

// Validate reports a missing name, a URL that is not absolute http(s), and
// an unknown format or type.
func (c Config) Validate() error {
	if c.Name == "" {
		return errors.New("webhook: a name is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %s: url must be an absolute http or https URL", c.Name)
	}
	switch c.Format {
	case "", FormatAlertmanager, FormatSlack:
	default:
		return fmt.Errorf("webhook %s: format %q: want %s or %s", c.Name, c.Format, FormatAlertmanager, FormatSlack)
	}
	for _, t := range c.Types {
		if t != TypeStopped && t != TypeResumed {
			return fmt.Errorf("webhook %s: alert type %q: want %s or %s", c.Name, t, TypeStopped, TypeResumed)
		}
	}
	if c.Timeout < 0 || c.MaxAttempts < 0 || c.Backoff < 0 {
		return fmt.Errorf("webhook %s: timeout, max attempts and backoff must not be negative", c.Name)
	}
	return nil
}

// Alert is one rule event to deliver.
type Alert struct {
	// Type is TypeStopped or TypeResumed.
	Type string
	// RuleKey is the rule's stable key (group|direction|protocol|ports|source).
	RuleKey string
	// Time is when the daemon noticed (its event-time clock).
	Time time.Time
	// LastSeen is the rule's last matched flow, zero when unknown.
	LastSeen time.Time
	// Suggestion is the rule's current suggestion, nil when unknown.
	Suggestion *advisor.Suggestion
}

// Options are a Notifier's optional parts.
type Options struct {
	// Client sends the requests (a client with no redirects when nil).
	Client *http.Client
	// Logger logs deliveries that failed (discarded when nil).
	Logger *slog.Logger
	// Registerer receives the notifier's metrics (none when nil).
	Registerer prometheus.Registerer
	// Queue bounds the alerts waiting for delivery (DefaultQueue when zero).
	Queue int
	// ExternalURL is the daemon's dashboard URL, put in the payloads' links.
	ExternalURL string
}

// Notifier delivers alerts to webhooks. Create it with New, start Run, then
// Notify.
type Notifier struct {
	hooks  []Config
	client *http.Client
	log    *slog.Logger
	ext    string
	queue  chan Alert

	sent    *prometheus.CounterVec
	dropped prometheus.Counter

	mu     sync.Mutex
	closed bool
}

// New validates the webhooks and returns a notifier for them.
func New(hooks []Config, o Options) (*Notifier, error) {
	n := &Notifier{client: o.Client, log: o.Logger, ext: o.ExternalURL}
	for _, h := range hooks {
		if err := h.Validate(); err != nil {
			return nil, err
		}
		if h.Format == "" {
			h.Format = FormatAlertmanager
		}
		if h.Timeout == 0 {
			h.Timeout = DefaultTimeout
		}
		if h.MaxAttempts == 0 {
			h.MaxAttempts = DefaultMaxAttempts
		}
		if h.Backoff == 0 {
			h.Backoff = DefaultBackoff
		}
		n.hooks = append(n.hooks, h)
	}
	if n.client == nil {
		n.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	q := o.Queue
	if q <= 0 {
		q = DefaultQueue
	}
	n.queue = make(chan Alert, q)
	n.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "cinch", Name: "webhook_notifications_total",
		Help: "Alert deliveries to webhooks by webhook and outcome (sent, failed).",
	}, []string{"webhook", "outcome"})
	n.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "cinch", Name: "webhook_alerts_dropped_total",
		Help: "Alerts dropped because the webhook queue was full.",
	})
	if o.Registerer != nil {
		if err := o.Registerer.Register(n.sent); err != nil {
			return nil, fmt.Errorf("webhook: metrics: %w", err)
		}
		if err := o.Registerer.Register(n.dropped); err != nil {
			return nil, fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	for _, h := range n.hooks {
		for _, oc := range []string{"sent", "failed"} {
			n.sent.WithLabelValues(h.Name, oc)
		}
	}
	return n, nil
}

// Notify queues a for delivery; it never blocks. It reports false when the
// queue was full (the alert is dropped and counted) or the notifier stopped.
func (n *Notifier) Notify(a Alert) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	select {
	case n.queue <- a:
		return true
	default:
		n.dropped.Inc()
		n.log.Warn("webhook queue full: alert dropped", "type", a.Type, "rule", a.RuleKey)
		return false
	}
}

// Run delivers queued alerts until ctx is cancelled. An alert whose delivery
// is in progress when ctx ends is abandoned.
func (n *Notifier) Run(ctx context.Context) error {
	defer func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case a := <-n.queue:
			for _, h := range n.hooks {
				if len(h.Types) > 0 && !slices.Contains(h.Types, a.Type) {
					continue
				}
				if err := n.deliver(ctx, h, a); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					n.sent.WithLabelValues(h.Name, "failed").Inc()
					n.log.Error("webhook delivery failed", "webhook", h.Name, "host", host(h.URL), "type", a.Type, "rule", a.RuleKey, "err", err)
					continue
				}
				n.sent.WithLabelValues(h.Name, "sent").Inc()
			}
		}
	}
}

// deliver posts a to h, retrying what may succeed later.
func (n *Notifier) deliver(ctx context.Context, h Config, a Alert) error {
	body, err := n.body(h, a)
	if err != nil {
		return err
	}
	wait := h.Backoff
	var last error
	for attempt := 1; attempt <= h.MaxAttempts; attempt++ {
		retry, after, err := n.post(ctx, h, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt == h.MaxAttempts {
			break
		}
		d := wait + time.Duration(rand.Int64N(int64(wait)/2+1))
		if after > d {
			d = after
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		wait = min(2*wait, maxBackoff)
	}
	return last
}

// post makes one attempt. retry says whether another attempt may succeed;
// after is the server's Retry-After, if any.
func (n *Notifier) post(ctx context.Context, h Config, body []byte) (retry bool, after time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("bad request: %w", redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cinch-webhook")
	resp, err := n.client.Do(req)
	if err != nil {
		return true, 0, redact(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		after = min(time.Duration(s)*time.Second, maxBackoff)
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return retry, after, fmt.Errorf("answered %s", resp.Status)
}

// redact removes the URL (which may hold a secret) from a client error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// host returns the URL's host, for logs.
func host(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

func (n *Notifier) body(h Config, a Alert) ([]byte, error) {
	switch h.Format {
	case FormatSlack:
		return json.Marshal(slackBody{Text: slackText(a, n.ext)})
	default:
		return json.Marshal(n.alertmanager(h, a))
	}
}

// amAlert is one alert of Alertmanager's webhook payload.
type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// amPayload is Alertmanager's webhook payload, version 4.
type amPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlert         `json:"alerts"`
}

// AlertName is the alertname label of cinch's rule alerts, the same as the
// Prometheus alerting rule's.
const AlertName = "CinchRuleStoppedMatching"

func (n *Notifier) alertmanager(h Config, a Alert) amPayload {
	labels := map[string]string{"alertname": AlertName, "severity": "warning", "rule_key": a.RuleKey}
	if s := a.Suggestion; s != nil {
		labels["group_id"] = s.GroupID
		labels["direction"] = s.Direction
		if s.RuleID != "" {
			labels["rule_id"] = s.RuleID
		}
	}
	status, ends := "firing", time.Time{}
	starts := a.Time
	if a.Type == TypeResumed {
		status, ends = "resolved", a.Time
		if !a.LastSeen.IsZero() {
			starts = a.LastSeen
		}
	}
	ann := map[string]string{"summary": summary(a), "description": description(a)}
	fp := sha256.Sum256([]byte(AlertName + "\x00" + a.RuleKey))
	al := amAlert{Status: status, Labels: labels, Annotations: ann, StartsAt: starts.UTC(), EndsAt: ends.UTC(),
		GeneratorURL: n.ext, Fingerprint: hex.EncodeToString(fp[:8])}
	group := map[string]string{"alertname": AlertName}
	return amPayload{Version: "4", GroupKey: "{}:{alertname=\"" + AlertName + "\",rule_key=\"" + a.RuleKey + "\"}",
		Status: status, Receiver: h.Name, GroupLabels: group, CommonLabels: labels, CommonAnnotations: ann,
		ExternalURL: n.ext, Alerts: []amAlert{al}}
}

func summary(a Alert) string {
	if a.Type == TypeResumed {
		return "Security-group rule matches traffic again: " + a.RuleKey
	}
	return "Security-group rule stopped matching traffic: " + a.RuleKey
}

func description(a Alert) string {
	var b strings.Builder
	if a.Type == TypeResumed {
		b.WriteString("The rule matches accepted flows again.")
	} else {
		b.WriteString("The rule matched accepted flows before and has matched none since")
		if !a.LastSeen.IsZero() {
			b.WriteString(" " + a.LastSeen.UTC().Format(time.RFC3339))
		}
		b.WriteString(". If the workload behind it was retired, review cinch's proposal to remove the rule; if not, check that its traffic and its flow logs still arrive.")
	}
	if s := a.Suggestion; s != nil {
		fmt.Fprintf(&b, " Current verdict: %s (%s).", s.Verdict, strings.Join(s.Reasons, ", "))
	}
	return b.String()
}

type slackBody struct {
	Text string `json:"text"`
}

// slackText renders a for Slack's mrkdwn; rule keys and descriptions may
// hold attacker-chosen text, so &, < and > are escaped as Slack requires.
func slackText(a Alert, ext string) string {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	icon := ":rotating_light:"
	if a.Type == TypeResumed {
		icon = ":white_check_mark:"
	}
	t := icon + " *" + esc.Replace(summary(a)) + "*\n" + esc.Replace(description(a))
	if ext != "" {
		t += "\n<" + esc.Replace(ext) + "|Open the cinch dashboard>"
	}
	return t
}
