// Package api serves the daemon's HTTP API (DESIGN.md, "HTTP API"): the
// current suggestions, a websocket of versioned change events, review
// decisions, Prometheus metrics and health probes.
//
// A Hub holds the versioned state; a Server exposes it over HTTP with token
// authentication by role (viewer < reviewer < applier).
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
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
	// Apply summarises an apply run; only in apply events.
	Apply *ApplyRun `json:"apply,omitempty"`
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
	buffer int // most events queued for one subscriber
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
	reviews map[string]Review // latest decision by rule key
	store   *hubStore         // nil: nothing is persisted
	base    uint64            // first version of this run (see Persist)
	stopped map[string]bool   // rules that stopped matching
	epoch   string
}

// entry locates a rule's suggestion in the report.
type entry struct {
	idx int    // index in report.Suggestions
	gen uint64 // last Update that saw the rule
}

// subscriber receives events through an unbuffered channel fed by a pump
// goroutine from a queue that grows on demand (an idle subscriber holds no
// buffer) up to the hub's bound.
type subscriber struct {
	ch     chan Event
	wake   chan struct{} // capacity 1: the queue changed
	cancel chan struct{} // closed by the subscriber's cancel

	mu     sync.Mutex
	queue  []Event
	ended  bool // no more events: close ch once the queue is delivered
	closed bool // cancel was called
}

func newSubscriber() *subscriber {
	s := &subscriber{ch: make(chan Event), wake: make(chan struct{}, 1), cancel: make(chan struct{})}
	go s.pump()
	return s
}

// push queues ev unless more than limit events wait; it reports whether
// the subscriber keeps up.
func (s *subscriber) push(ev Event, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= limit {
		return false
	}
	s.queue = append(s.queue, ev)
	s.signal()
	return true
}

// end stops the subscriber: after the queued events when it fell behind,
// at once when cancelled.
func (s *subscriber) end(cancelled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	if cancelled && !s.closed {
		s.closed = true
		close(s.cancel)
	}
	s.signal()
}

func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pump hands the queued events to ch in order, then closes ch.
func (s *subscriber) pump() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.ended {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if len(s.queue) == 0 || s.closed {
			s.queue = nil
			s.mu.Unlock()
			return
		}
		ev := s.queue[0]
		s.queue[0] = Event{}
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil // release the backing array
		}
		s.mu.Unlock()
		select {
		case s.ch <- ev:
		case <-s.cancel:
			return
		}
	}
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
	if st := h.store; st != nil && h.version > st.reserved {
		// On failure versions still increase; the reservation is retried
		// with the next event.
		_ = st.reserve(h.version + versionBlock)
	}
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
		if !sub.push(ev, h.buffer) {
			delete(h.subs, sub)
			sub.end(false)
		}
	}
	if h.m != nil {
		h.m.Events.WithLabelValues(ev.Type).Inc()
	}
	return ev
}

// Review records a person's decision and publishes it as a review event
// (see Publish). On a persisted hub the decision is on disk before it is
// published; an error means that it was not recorded.
func (h *Hub) Review(r Review) (Event, error) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.store != nil {
		if err := h.appendReviewLocked(r); err != nil {
			return Event{}, err
		}
	}
	h.reviews[r.RuleKey] = r
	ev := Event{Type: EventReview, Time: r.Time, RuleKey: r.RuleKey, Review: &r}
	if e, ok := h.byKey[r.RuleKey]; ok {
		cur := h.report.Suggestions[e.idx]
		ev.Suggestion = &cur
	}
	return h.publishLocked(ev), nil
}

// Reviews returns the current decisions, one per rule, sorted by rule key.
func (h *Hub) Reviews() []Review {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.reviewsLocked()
}

// ReviewOf returns the latest review of the rule of key.
func (h *Hub) ReviewOf(key string) (Review, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r, ok := h.reviews[key]
	return r, ok
}

func (h *Hub) reviewsLocked() []Review {
	out := make([]Review, 0, len(h.reviews))
	for _, k := range slices.Sorted(maps.Keys(h.reviews)) {
		out = append(out, h.reviews[k])
	}
	return out
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
	sub := newSubscriber()
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
		delete(h.subs, sub)
		sub.end(true)
	}
	return events, snapshot, sub.ch, cancel
}

// Follow calls fn for every event published after version since, in order,
// until ctx ends. When the hub drops it for falling behind it resubscribes
// from the last version it delivered (the history replays what it missed);
// when since is older than the history (or 0), it goes on from the
// snapshot's version without replaying it.
func (h *Hub) Follow(ctx context.Context, since uint64, fn func(Event)) {
	for ctx.Err() == nil {
		events, snapshot, ch, cancel := h.Subscribe(since)
		if snapshot {
			if len(events) > 0 {
				since = max(since, events[0].Version)
			}
			events = nil
		}
		for _, ev := range events {
			since = max(since, ev.Version)
			fn(ev)
		}
	follow:
		for {
			select {
			case <-ctx.Done():
				cancel()
				return
			case ev, ok := <-ch:
				if !ok {
					break follow // dropped for falling behind: resubscribe
				}
				since = max(since, ev.Version)
				fn(ev)
			}
		}
		cancel()
	}
}

// Epoch identifies this hub's versions: a new hub (a restarted daemon)
// has another epoch, so a client's since from before means nothing.
func (h *Hub) Epoch() string { return h.epoch }

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
