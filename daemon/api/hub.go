// Package api serves the daemon's HTTP API (DESIGN.md, "HTTP API"): the
// current suggestions, a websocket of versioned change events, review
// decisions, Prometheus metrics and health probes.
//
// A Hub holds the versioned state; a Server exposes it over HTTP with token
// authentication by role (viewer < reviewer < applier).
package api

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/daemon/metrics"
)

// Event types.
const (
	EventSnapshot            = "snapshot"
	EventVerdictChanged      = "verdict-changed"
	EventRuleStoppedMatching = "rule-stopped-matching"
	EventRuleResumed         = "rule-resumed"
	EventRuleRemoved         = "rule-removed"
	EventReview              = "review"
)

// Review decisions.
const (
	DecisionAccepted = "accepted"
	DecisionRejected = "rejected"
	DecisionDeferred = "deferred"
)

// DefaultHistory is the number of events a hub keeps when NewHub is given
// less than 1.
const DefaultHistory = 1024

// minSubscriberBuffer is the smallest event buffer of a subscriber.
const minSubscriberBuffer = 64

// Event is one message of the events websocket.
type Event struct {
	// Version is strictly increasing and assigned by the hub.
	Version uint64 `json:"version"`
	// Type is one of the Event* constants.
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	RuleKey string    `json:"rule_key,omitempty"`
	// Suggestion is the rule's current suggestion.
	Suggestion *advisor.Suggestion `json:"suggestion,omitempty"`
	// Previous is the suggestion before a verdict-changed event; nil for a
	// rule that is new.
	Previous *advisor.Suggestion `json:"previous,omitempty"`
	Review   *Review             `json:"review,omitempty"`
	// Snapshot is the whole state; only in snapshot events.
	Snapshot *advisor.Report `json:"snapshot,omitempty"`
	// Keys are the rule keys of Snapshot.Suggestions, in order; only in
	// snapshot events.
	Keys []string `json:"keys,omitempty"`
	// Reviews are the latest decision per rule; only in snapshot events.
	Reviews []Review `json:"reviews,omitempty"`
	// Stopped are the keys of the rules that stopped matching traffic (and
	// have not resumed); only in snapshot events.
	Stopped []string `json:"stopped,omitempty"`
	// Epoch identifies the hub whose versions these are (a restarted
	// daemon has a new one); only in snapshot events. A client resumes
	// with since and epoch, and gets a snapshot when the epoch changed.
	Epoch string `json:"epoch,omitempty"`
}

// Review is a person's decision on a suggestion.
type Review struct {
	RuleKey string `json:"rule_key"`
	// Decision is one of the Decision* constants.
	Decision string    `json:"decision"`
	Comment  string    `json:"comment,omitempty"`
	By       string    `json:"by"`
	Time     time.Time `json:"time"`
}

// Hub is the versioned state the API serves: the latest report, a bounded
// history of change events and the subscribers that receive new events. It
// is safe for concurrent use.
type Hub struct {
	limit  int // history capacity
	buffer int // subscriber channel capacity
	m      *metrics.Metrics

	mu      sync.RWMutex
	version uint64
	report  advisor.Report
	keys    []string          // keys[i] is the key of report.Suggestions[i]
	byKey   map[string]*entry // current suggestions by rule key
	byID    map[string]string // rule id -> rule key
	gen     uint64            // Update generation, to find removed keys
	hist    []Event           // ring of the last limit events
	start   int               // index of the oldest event in hist
	subs    map[*subscriber]struct{}
	reviews map[string]Review // latest review per rule key
	stopped map[string]bool   // rules that stopped matching
	epoch   string
}

// entry locates a rule's suggestion in the report.
type entry struct {
	idx int    // index in report.Suggestions
	gen uint64 // last Update that saw the rule
}

type subscriber struct {
	ch chan Event
}

// HubOption configures a Hub.
type HubOption func(*Hub)

// WithMetrics counts published events by type in m.Events.
func WithMetrics(m *metrics.Metrics) HubOption {
	return func(h *Hub) { h.m = m }
}

// NewHub returns an empty hub that keeps the last history events for
// resuming clients (DefaultHistory when history < 1).
func NewHub(history int, opts ...HubOption) *Hub {
	if history < 1 {
		history = DefaultHistory
	}
	h := &Hub{
		limit:   history,
		buffer:  max(history, minSubscriberBuffer),
		byKey:   map[string]*entry{},
		byID:    map[string]string{},
		hist:    make([]Event, 0, min(history, 4096)),
		subs:    map[*subscriber]struct{}{},
		report:  advisor.Report{Suggestions: []advisor.Suggestion{}},
		reviews: map[string]Review{},
		stopped: map[string]bool{},
		epoch:   newEpoch(),
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Update replaces the state with rep. keys[i] is the stable rule key of
// rep.Suggestions[i]; a suggestion without one (keys too short, or empty)
// gets RuleKey's. Keys should be unique; of duplicates, the last wins.
//
// For every suggestion that is new or whose verdict, reasons or proposed
// rules differ from the current state, Update publishes a verdict-changed
// event (with Previous unless new); evidence-only changes update the state
// without an event. Every key that disappeared gets a rule-removed event
// (with Previous). Update returns the published events.
//
// Update copies rep.Suggestions but keeps the slices inside it
// (Unattributed, each suggestion's Reasons and Proposed): the caller must
// not modify them afterwards.
func (h *Hub) Update(rep advisor.Report, keys []string, now time.Time) []Event {
	sugs := slices.Clone(rep.Suggestions)
	if sugs == nil {
		sugs = []advisor.Suggestion{}
	}
	rep.Suggestions = sugs
	newKeys := make([]string, len(sugs))
	for i := range sugs {
		if i < len(keys) && keys[i] != "" {
			newKeys[i] = keys[i]
		} else {
			newKeys[i] = RuleKey(sugs[i])
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	var events []Event
	clear(h.byID)
	old := h.report.Suggestions
	for i := range sugs {
		s, key := &sugs[i], newKeys[i]
		if s.RuleID != "" {
			h.byID[s.RuleID] = key
		}
		e, ok := h.byKey[key]
		if !ok {
			h.byKey[key] = &entry{idx: i, gen: h.gen}
			cur := *s
			events = append(events, h.publishLocked(Event{Type: EventVerdictChanged, Time: now, RuleKey: key, Suggestion: &cur}))
			continue
		}
		var before *advisor.Suggestion
		if e.gen == h.gen {
			before = &sugs[e.idx] // a duplicate key in rep: the later wins
		} else {
			before = &old[e.idx]
		}
		if significant(before, s) {
			prev, cur := *before, *s
			events = append(events, h.publishLocked(Event{Type: EventVerdictChanged, Time: now, RuleKey: key, Suggestion: &cur, Previous: &prev}))
		}
		e.idx, e.gen = i, h.gen
	}
	for _, key := range h.keys {
		e, ok := h.byKey[key]
		if !ok || e.gen == h.gen {
			continue
		}
		delete(h.byKey, key)
		prev := old[e.idx]
		events = append(events, h.publishLocked(Event{Type: EventRuleRemoved, Time: now, RuleKey: key, Previous: &prev}))
	}
	h.report = rep
	h.keys = newKeys
	return events
}

// significant reports whether b differs from a in what a reviewer acts on:
// verdict, reasons or proposed rules.
func significant(a, b *advisor.Suggestion) bool {
	return a.Verdict != b.Verdict || !slices.Equal(a.Reasons, b.Reasons) || !slices.Equal(a.Proposed, b.Proposed)
}

// Publish publishes ev, for events that do not come from Update (rule
// stopped matching or resumed, reviews). The hub assigns ev.Version, sets
// ev.Time to now when zero and attaches the rule's current suggestion when
// ev.Suggestion is nil and ev.RuleKey is known. It returns the published
// event.
func (h *Hub) Publish(ev Event) Event {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Suggestion == nil && ev.RuleKey != "" {
		if e, ok := h.byKey[ev.RuleKey]; ok {
			cur := h.report.Suggestions[e.idx]
			ev.Suggestion = &cur
		}
	}
	return h.publishLocked(ev)
}

// publishLocked versions ev, appends it to the history and hands it to the
// subscribers; a subscriber whose buffer is full is dropped. h.mu must be
// held for writing.
func (h *Hub) publishLocked(ev Event) Event {
	h.version++
	ev.Version = h.version
	switch ev.Type {
	case EventReview:
		if ev.Review != nil {
			h.reviews[ev.Review.RuleKey] = *ev.Review
		}
	case EventRuleStoppedMatching:
		h.stopped[ev.RuleKey] = true
	case EventRuleResumed, EventRuleRemoved:
		delete(h.stopped, ev.RuleKey)
	}
	if len(h.hist) < h.limit {
		h.hist = append(h.hist, ev)
	} else {
		h.hist[h.start] = ev
		h.start = (h.start + 1) % h.limit
	}
	for sub := range h.subs {
		select {
		case sub.ch <- ev:
		default:
			delete(h.subs, sub)
			close(sub.ch)
		}
	}
	if h.m != nil {
		h.m.Events.WithLabelValues(ev.Type).Inc()
	}
	return ev
}

// Report returns the current state and its version (that of the last
// published event).
func (h *Hub) Report() (advisor.Report, uint64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.reportLocked(), h.version
}

// reportLocked returns a copy of the report whose slices the caller may
// modify. h.mu must be held.
func (h *Hub) reportLocked() advisor.Report {
	rep := h.report
	rep.Suggestions = slices.Clone(h.report.Suggestions)
	rep.Unattributed = slices.Clone(h.report.Unattributed)
	return rep
}

// Suggestion returns the current suggestion of a rule, looked up by rule key
// or, failing that, by rule id (sgr-...).
func (h *Hub) Suggestion(key string) (advisor.Suggestion, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, s, ok := h.lookupLocked(key)
	return s, ok
}

// Lookup is Suggestion that also returns the rule key, useful when key is a
// rule id.
func (h *Hub) Lookup(keyOrID string) (key string, s advisor.Suggestion, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.lookupLocked(keyOrID)
}

func (h *Hub) lookupLocked(keyOrID string) (string, advisor.Suggestion, bool) {
	if e, ok := h.byKey[keyOrID]; ok {
		return keyOrID, h.report.Suggestions[e.idx], true
	}
	if key, ok := h.byID[keyOrID]; ok {
		if e, ok := h.byKey[key]; ok {
			return key, h.report.Suggestions[e.idx], true
		}
	}
	return "", advisor.Suggestion{}, false
}

// Version returns the version of the last published event.
func (h *Hub) Version() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.version
}

// Subscribe registers a subscriber for events after since.
//
// When since is 0, in the future, or older than the history, snapshot is
// true and events holds a single snapshot event: the whole report at the
// current version, taken atomically with the subscription. Otherwise events
// holds the events missed after since, in order. Either way ch then
// receives every later event, in order and without gaps. A subscriber that
// lets its buffer fill up is dropped: ch is closed and the subscriber should
// resubscribe from the last version it saw. cancel unsubscribes; it is safe
// to call more than once.
func (h *Hub) Subscribe(since uint64) (events []Event, snapshot bool, ch <-chan Event, cancel func()) {
	sub := &subscriber{ch: make(chan Event, h.buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	oldest := h.version + 1 // version of the oldest event kept
	if len(h.hist) > 0 {
		oldest = h.hist[h.start].Version
	}
	switch {
	case since == 0 || since > h.version || since+1 < oldest:
		rep := h.reportLocked()
		events = []Event{{Version: h.version, Type: EventSnapshot, Time: time.Now(), Snapshot: &rep,
			Keys: slices.Clone(h.keys), Reviews: h.reviewsLocked(), Stopped: slices.Sorted(maps.Keys(h.stopped)), Epoch: h.epoch}}
		snapshot = true
	default:
		for i := range h.hist {
			ev := h.hist[(h.start+i)%len(h.hist)]
			if ev.Version > since {
				events = append(events, ev)
			}
		}
	}
	h.subs[sub] = struct{}{}
	cancel = func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[sub]; ok {
			delete(h.subs, sub)
			close(sub.ch)
		}
	}
	return events, snapshot, sub.ch, cancel
}

// Epoch identifies this hub's versions: a new hub (a restarted daemon)
// has another epoch, so a client's since from before means nothing.
func (h *Hub) Epoch() string { return h.epoch }

// Reviews returns the latest review of each rule, by rule key.
func (h *Hub) Reviews() []Review {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.reviewsLocked()
}

func (h *Hub) reviewsLocked() []Review {
	out := make([]Review, 0, len(h.reviews))
	for _, r := range h.reviews {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RuleKey < out[j].RuleKey })
	return out
}

// State returns, taken together, the current report, the rule key of each
// of its suggestions, the latest review per rule key and the version.
func (h *Hub) State() (rep advisor.Report, keys []string, reviews map[string]Review, version uint64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.reportLocked(), slices.Clone(h.keys), maps.Clone(h.reviews), h.version
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Subscribers returns the number of current subscribers.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// RuleKey returns a stable key for a suggestion's rule:
// group|direction|protocol|from-to|source. Update uses it for suggestions
// given without a key.
func RuleKey(s advisor.Suggestion) string {
	r := s.Rule
	return s.GroupID + "|" + s.Direction + "|" + r.Protocol + "|" +
		strconv.Itoa(int(r.FromPort)) + "-" + strconv.Itoa(int(r.ToPort)) + "|" + r.Source
}
