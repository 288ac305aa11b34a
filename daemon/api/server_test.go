package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/daemon/metrics"
)

const (
	viewerTok   = "view-secret"
	reviewerTok = "review-secret"
	applierTok  = "apply-secret"
)

type fixture struct {
	t     *testing.T
	hub   *Hub
	srv   *Server
	ts    *httptest.Server
	m     *metrics.Metrics
	ready atomic.Pointer[error]
	keys  []string
}

func newFixture(t *testing.T, mod func(*ServerConfig)) *fixture {
	t.Helper()
	f := &fixture{t: t}
	reg := prometheus.NewRegistry()
	f.m = metrics.New(reg)
	f.hub = NewHub(100, WithMetrics(f.m))
	rep, keys := report(
		sug("sg-1", "sgr-a", 22, advisor.VerdictNarrow, 12),
		sug("sg-1", "sgr-b", 443, advisor.VerdictKeep, 500),
		sug("sg-2", "sgr-c", 3389, advisor.VerdictRemove, 0),
	)
	rep.Unattributed = []advisor.Unattributed{{InterfaceID: "eni-1", Records: 7}}
	f.keys = keys
	f.hub.Update(rep, keys, t0)

	cfg := ServerConfig{
		Tokens: []Token{
			{Name: "vera", Role: RoleViewer, SHA256: HashToken(viewerTok)},
			{Name: "rex", Role: RoleReviewer, SHA256: HashToken(reviewerTok)},
			{Name: "ada", Role: RoleApplier, SHA256: strings.ToUpper(HashToken(applierTok))},
		},
		AllowedOrigins: []string{"https://dash.example.com"},
		Version:        "test",
		Metrics:        f.m,
		PingInterval:   time.Second,
		WriteTimeout:   2 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	ready := func() error {
		if p := f.ready.Load(); p != nil {
			return *p
		}
		return nil
	}
	f.srv = NewServer(cfg, f.hub, reg, ready, slog.New(slog.DiscardHandler))
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(func() {
		if err := f.srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		f.ts.Close()
	})
	return f
}

func (f *fixture) do(method, path, token, body string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", resp.Request.URL.Path, err)
	}
	return v
}

func errorBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error content type %q", ct)
	}
	return decode[errorResponse](t, resp).Error
}

func TestAuthMatrix(t *testing.T) {
	review := func(f *fixture) string {
		return `{"rule_key":"` + f.keys[0] + `","decision":"accepted"}`
	}
	cases := []struct {
		name      string
		openReads bool
		token     string
		read      int
		post      int
	}{
		{"no token", false, "", 401, 401},
		{"bad token", false, "nope", 401, 401},
		{"viewer", false, viewerTok, 200, 403},
		{"reviewer", false, reviewerTok, 200, 201},
		{"applier", false, applierTok, 200, 201},
		{"open reads, no token", true, "", 200, 401},
		{"open reads, bad token", true, "nope", 401, 401},
		{"open reads, viewer", true, viewerTok, 200, 403},
		{"open reads, reviewer", true, reviewerTok, 200, 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, func(cfg *ServerConfig) { cfg.OpenReads = c.openReads })
			for _, path := range []string{"/api/v1/suggestions", "/api/v1/groups/sg-1", "/api/v1/rules/sgr-a", "/api/v1/unattributed", "/metrics"} {
				resp := f.do("GET", path, c.token, "")
				if resp.StatusCode != c.read {
					t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, c.read)
				}
				if resp.StatusCode == 401 {
					if errorBody(t, resp) == "" || resp.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("GET %s: 401 without error body or WWW-Authenticate", path)
					}
				}
			}
			resp := f.do("POST", "/api/v1/reviews", c.token, review(f))
			if resp.StatusCode != c.post {
				t.Errorf("POST reviews: %d, want %d", resp.StatusCode, c.post)
			}
			if resp.StatusCode >= 400 && errorBody(t, resp) == "" {
				t.Error("POST reviews: empty error")
			}
			// The token is never accepted in the query outside the websocket.
			if resp := f.do("GET", "/api/v1/suggestions?access_token="+url.QueryEscape(viewerTok), "", ""); !c.openReads && resp.StatusCode != 401 {
				t.Errorf("access_token on a REST read: %d, want 401", resp.StatusCode)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := ServerConfig{Tokens: []Token{
		{Name: "x", Role: "admin", SHA256: HashToken("a")},
		{Name: "y", Role: RoleViewer, SHA256: "abc"},
		{Name: "", Role: RoleViewer, SHA256: HashToken("b")},
	}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "admin") || !strings.Contains(err.Error(), "64 hex") || !strings.Contains(err.Error(), "empty name") {
		t.Errorf("Validate = %v", err)
	}
	if err := (ServerConfig{Tokens: []Token{{Name: "v", Role: RoleViewer, SHA256: HashToken("v")}}}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	// Invalid tokens are skipped: they authenticate nobody.
	f := newFixture(t, func(c *ServerConfig) {
		c.Tokens = append(c.Tokens, Token{Name: "bad", Role: "root", SHA256: HashToken("root-secret")})
	})
	if resp := f.do("GET", "/api/v1/suggestions", "root-secret", ""); resp.StatusCode != 401 {
		t.Errorf("token with unknown role: %d, want 401", resp.StatusCode)
	}
}

func TestHashToken(t *testing.T) {
	// sha256("abc")
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken = %s", got)
	}
}

func TestSuggestions(t *testing.T) {
	f := newFixture(t, nil)
	resp := f.do("GET", "/api/v1/suggestions", viewerTok, "")
	if resp.StatusCode != 200 || resp.Header.Get(VersionHeader) != "3" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, version %q, type %q", resp.StatusCode, resp.Header.Get(VersionHeader), resp.Header.Get("Content-Type"))
	}
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"window", "suggestions", "unattributed_enis"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	var rep advisor.Report
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Suggestions) != 3 || rep.Suggestions[0].Proposed[0].Source != "203.0.113.7/32" || !rep.Window.To.Equal(t0) {
		t.Errorf("report = %+v", rep)
	}

	filters := []struct {
		query string
		want  []string // rule ids
	}{
		{"group=sg-1", []string{"sgr-a", "sgr-b"}},
		{"verdict=narrow", []string{"sgr-a"}},
		{"group=sg-1&verdict=remove", []string{}},
		{"direction=ingress&verdict=remove", []string{"sgr-c"}},
		{"direction=egress", []string{}},
	}
	for _, c := range filters {
		resp := f.do("GET", "/api/v1/suggestions?"+c.query, viewerTok, "")
		rep := decode[advisor.Report](t, resp)
		var ids []string
		for _, s := range rep.Suggestions {
			ids = append(ids, s.RuleID)
		}
		if strings.Join(ids, ",") != strings.Join(c.want, ",") || rep.Suggestions == nil {
			t.Errorf("?%s: %v, want %v", c.query, ids, c.want)
		}
	}
	for _, q := range []string{"verdict=maybe", "direction=sideways"} {
		if resp := f.do("GET", "/api/v1/suggestions?"+q, viewerTok, ""); resp.StatusCode != 400 || errorBody(t, resp) == "" {
			t.Errorf("?%s: %d, want 400", q, resp.StatusCode)
		}
	}
	// The filter did not alter the hub's state.
	if rep, _ := f.hub.Report(); len(rep.Suggestions) != 3 {
		t.Errorf("hub has %d suggestions after filtering", len(rep.Suggestions))
	}
}

func TestGroupsRulesUnattributed(t *testing.T) {
	f := newFixture(t, nil)
	g := decode[groupResponse](t, f.do("GET", "/api/v1/groups/sg-1", viewerTok, ""))
	if g.GroupID != "sg-1" || len(g.Suggestions) != 2 {
		t.Errorf("group = %+v", g)
	}
	if resp := f.do("GET", "/api/v1/groups/sg-404", viewerTok, ""); resp.StatusCode != 404 || errorBody(t, resp) != "unknown security group" {
		t.Errorf("unknown group: %d", resp.StatusCode)
	}

	for _, path := range []string{
		"/api/v1/rules/" + url.PathEscape(f.keys[1]),                 // escaped: '|' and '/' as %7C, %2F
		"/api/v1/rules/" + url.QueryEscape(f.keys[1]),                // fully escaped
		"/api/v1/rules/" + strings.ReplaceAll(f.keys[1], "|", "%7C"), // raw '/'
		"/api/v1/rules/sgr-b",
	} {
		resp := f.do("GET", path, viewerTok, "")
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
			continue
		}
		if s := decode[advisor.Suggestion](t, resp); s.RuleID != "sgr-b" || s.Rule.FromPort != 443 {
			t.Errorf("GET %s = %+v", path, s)
		}
	}
	if resp := f.do("GET", "/api/v1/rules/sgr-404", viewerTok, ""); resp.StatusCode != 404 || errorBody(t, resp) != "unknown rule" {
		t.Errorf("unknown rule: %d", resp.StatusCode)
	}

	u := decode[unattributedResponse](t, f.do("GET", "/api/v1/unattributed", viewerTok, ""))
	if len(u.Unattributed) != 1 || u.Unattributed[0].InterfaceID != "eni-1" || u.Unattributed[0].Records != 7 {
		t.Errorf("unattributed = %+v", u)
	}

	if resp := f.do("GET", "/api/v1/nothing", viewerTok, ""); resp.StatusCode != 404 || errorBody(t, resp) == "" {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func TestReviews(t *testing.T) {
	f := newFixture(t, nil)
	_, _, ch, cancel := f.hub.Subscribe(f.hub.Version())
	defer cancel()

	// By rule id: the event names the rule key.
	resp := f.do("POST", "/api/v1/reviews", reviewerTok, `{"rule_key":"sgr-a","decision":"rejected","comment":"too tight"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, errorBody(t, resp))
	}
	ev := decode[Event](t, resp)
	if ev.Type != EventReview || ev.Version != 4 || ev.RuleKey != f.keys[0] || ev.Review == nil ||
		ev.Review.By != "rex" || ev.Review.Decision != DecisionRejected || ev.Review.Comment != "too tight" || ev.Review.RuleKey != f.keys[0] {
		t.Errorf("review event = %+v %+v", ev, ev.Review)
	}
	if ev.Suggestion == nil || ev.Suggestion.RuleID != "sgr-a" {
		t.Errorf("review event lacks the suggestion")
	}
	select {
	case got := <-ch:
		if got.Version != ev.Version || got.Type != EventReview {
			t.Errorf("subscriber got %+v", got)
		}
	case <-time.After(time.Second):
		t.Error("review not published")
	}

	bad := []struct {
		body, ctype string
		status      int
	}{
		{`{"rule_key":"sgr-a","decision":"maybe"}`, "application/json", 400},
		{`{"decision":"accepted"}`, "application/json", 400},
		{`{"rule_key":"sgr-a","decision":"accepted","extra":1}`, "application/json", 400},
		{`{"rule_key":"sgr-a",`, "application/json", 400},
		{`{"rule_key":"sgr-a","decision":"accepted"} {}`, "application/json", 400},
		{`{"rule_key":"sgr-a","decision":"accepted","comment":"` + strings.Repeat("x", maxCommentBytes+1) + `"}`, "application/json", 400},
		{`{"rule_key":"sgr-zzz","decision":"accepted"}`, "application/json", 404},
		{`{"rule_key":"sgr-a","decision":"accepted"}`, "text/plain", 415},
	}
	for _, c := range bad {
		req, _ := http.NewRequest("POST", f.ts.URL+"/api/v1/reviews", strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+reviewerTok)
		req.Header.Set("Content-Type", c.ctype)
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status || errorBody(t, resp) == "" {
			t.Errorf("POST %.60s (%s): %d, want %d", c.body, c.ctype, resp.StatusCode, c.status)
		}
		resp.Body.Close()
	}
	if v := f.hub.Version(); v != 4 {
		t.Errorf("bad reviews published events: version %d", v)
	}
	if resp := f.do("PUT", "/api/v1/reviews", reviewerTok, ""); resp.StatusCode != http.StatusMethodNotAllowed || errorBody(t, resp) == "" || resp.Header.Get("Allow") == "" {
		t.Errorf("PUT reviews: %d, want 405", resp.StatusCode)
	}
}

func TestHealthReadyMetricsIndex(t *testing.T) {
	f := newFixture(t, func(c *ServerConfig) { c.OpenReads = false })
	body := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	if resp := f.do("GET", "/healthz", "", ""); resp.StatusCode != 200 || body(resp) != "ok" {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	if resp := f.do("GET", "/readyz", "", ""); resp.StatusCode != 200 {
		t.Errorf("readyz while ready: %d", resp.StatusCode)
	}
	notReady := errors.New("inventory not loaded")
	f.ready.Store(&notReady)
	if resp := f.do("GET", "/readyz", "", ""); resp.StatusCode != 503 || !strings.Contains(body(resp), "inventory not loaded") {
		t.Errorf("readyz while not ready: %d", resp.StatusCode)
	}
	f.ready.Store(nil)
	if resp := f.do("GET", "/readyz", "", ""); resp.StatusCode != 200 {
		t.Errorf("readyz ready again: %d", resp.StatusCode)
	}

	f.m.RecordsParsed.Add(5)
	resp := f.do("GET", "/metrics", viewerTok, "")
	if text := body(resp); resp.StatusCode != 200 || !strings.Contains(text, "cinch_flow_records_parsed_total 5") ||
		!strings.Contains(text, `cinch_events_published_total{type="verdict-changed"} 3`) {
		t.Errorf("metrics: %d\n%s", resp.StatusCode, text)
	}

	resp = f.do("GET", "/", "", "")
	if text := body(resp); resp.StatusCode != 200 || !strings.Contains(text, "dashboard comes later") || !strings.Contains(text, "api/v1/suggestions") {
		t.Errorf("index: %d %s", resp.StatusCode, text)
	}
}

// wsURL is the events websocket URL of f with a query.
func (f *fixture) wsURL(query string) string {
	u := "ws" + strings.TrimPrefix(f.ts.URL, "http") + "/api/v1/events"
	if query != "" {
		u += "?" + query
	}
	return u
}

func (f *fixture) dial(query string, h http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial(f.wsURL(query), h)
}

func bearerHeader(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

func readEvent(t *testing.T, c *websocket.Conn) Event {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ev Event
	if err := c.ReadJSON(&ev); err != nil {
		t.Fatalf("reading event: %v", err)
	}
	return ev
}

func TestEventsSnapshotThenChanges(t *testing.T) {
	f := newFixture(t, nil)
	c, _, err := f.dial("", bearerHeader(viewerTok))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	snap := readEvent(t, c)
	if snap.Type != EventSnapshot || snap.Version != 3 || snap.Snapshot == nil || len(snap.Snapshot.Suggestions) != 3 ||
		len(snap.Snapshot.Unattributed) != 1 {
		t.Fatalf("first message = %+v", snap)
	}
	waitFor(t, func() bool { return testutil.ToFloat64(f.m.WebsocketClients) == 1 })

	// A verdict change, an evidence-only change (silent), a removal.
	rep, _ := f.hub.Report()
	rep.Suggestions[0] = sug("sg-1", "sgr-a", 22, advisor.VerdictKeep, 1000)
	rep.Suggestions[1].Evidence.Flows++
	f.hub.Update(rep, f.keys, t0.Add(time.Minute))
	rep.Suggestions = rep.Suggestions[:2]
	f.hub.Update(rep, f.keys[:2], t0.Add(2*time.Minute))
	f.hub.Publish(Event{Type: EventRuleStoppedMatching, RuleKey: f.keys[1]})

	want := []struct {
		typ string
		key string
	}{
		{EventVerdictChanged, f.keys[0]},
		{EventRuleRemoved, f.keys[2]},
		{EventRuleStoppedMatching, f.keys[1]},
	}
	last := snap.Version
	for _, w := range want {
		ev := readEvent(t, c)
		if ev.Type != w.typ || ev.RuleKey != w.key || ev.Version <= last {
			t.Errorf("event = %s %s v%d, want %s %s after v%d", ev.Type, ev.RuleKey, ev.Version, w.typ, w.key, last)
		}
		last = ev.Version
	}
	c.Close()
	waitFor(t, func() bool { return f.hub.Subscribers() == 0 && testutil.ToFloat64(f.m.WebsocketClients) == 0 })
}

func TestEventsResume(t *testing.T) {
	f := newFixture(t, nil)
	f.hub.Publish(Event{Type: EventRuleStoppedMatching, RuleKey: f.keys[0]}) // v4
	f.hub.Publish(Event{Type: EventRuleResumed, RuleKey: f.keys[0]})         // v5

	c, _, err := f.dial("since=3", bearerHeader(viewerTok))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ev := readEvent(t, c); ev.Type != EventRuleStoppedMatching || ev.Version != 4 {
		t.Errorf("first resumed event = %s v%d", ev.Type, ev.Version)
	}
	if ev := readEvent(t, c); ev.Type != EventRuleResumed || ev.Version != 5 {
		t.Errorf("second resumed event = %s v%d", ev.Type, ev.Version)
	}
	f.hub.Publish(Event{Type: EventReview, RuleKey: f.keys[0]})
	if ev := readEvent(t, c); ev.Type != EventReview || ev.Version != 6 {
		t.Errorf("live event = %s v%d", ev.Type, ev.Version)
	}

	// Too old for a history of 100: a snapshot.
	for range 120 {
		f.hub.Publish(Event{Type: EventReview})
	}
	c2, _, err := f.dial("since=2", bearerHeader(viewerTok))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if ev := readEvent(t, c2); ev.Type != EventSnapshot || ev.Version != 126 {
		t.Errorf("stale resume = %s v%d, want snapshot v126", ev.Type, ev.Version)
	}

	if _, resp, err := f.dial("since=x", bearerHeader(viewerTok)); err == nil || resp.StatusCode != 400 {
		t.Errorf("bad since: %v", err)
	}
}

func TestEventsOriginAndAuth(t *testing.T) {
	f := newFixture(t, nil)
	host := strings.TrimPrefix(f.ts.URL, "http://")
	cases := []struct {
		name   string
		query  string
		header http.Header
		status int
	}{
		{"no token", "", nil, 401},
		{"bad query token", "access_token=nope", nil, 401},
		{"query token", "access_token=" + url.QueryEscape(viewerTok), nil, 101},
		{"header token, no origin", "", bearerHeader(viewerTok), 101},
		{"same-host origin", "access_token=" + viewerTok, http.Header{"Origin": {"http://" + host}}, 101},
		{"allowed origin", "access_token=" + viewerTok, http.Header{"Origin": {"https://DASH.example.com"}}, 101},
		{"foreign origin", "access_token=" + viewerTok, http.Header{"Origin": {"https://evil.example.com"}}, 403},
		{"null origin", "access_token=" + viewerTok, http.Header{"Origin": {"null"}}, 403},
		{"foreign origin, no token", "", http.Header{"Origin": {"https://evil.example.com"}}, 403},
	}
	for _, c := range cases {
		conn, resp, err := f.dial(c.query, c.header)
		if resp == nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (%v)", c.name, resp.StatusCode, c.status, err)
		}
		if c.status == 101 {
			if ev := readEvent(t, conn); ev.Type != EventSnapshot {
				t.Errorf("%s: first event %s", c.name, ev.Type)
			}
			conn.Close()
		} else if errorBody(t, resp) == "" {
			t.Errorf("%s: no error body", c.name)
		}
	}

	open := newFixture(t, func(c *ServerConfig) { c.OpenReads = true })
	conn, _, err := open.dial("", nil)
	if err != nil {
		t.Fatalf("open reads websocket: %v", err)
	}
	conn.Close()
}

func TestEventsPingKeepalive(t *testing.T) {
	f := newFixture(t, func(c *ServerConfig) { c.PingInterval = 50 * time.Millisecond })
	c, _, err := f.dial("", bearerHeader(viewerTok))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pings := make(chan struct{}, 10)
	c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readEvent(t, c) // snapshot
	go func() {
		for { // the read loop runs the ping handler
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
	for i := range 3 {
		select {
		case <-pings:
		case <-time.After(2 * time.Second):
			t.Fatalf("ping %d not received", i)
		}
	}
	// Answering pings kept the connection open past several read deadlines.
	if f.hub.Subscribers() != 1 {
		t.Error("connection dropped despite pongs")
	}
}

func TestEventsSlowClientDropped(t *testing.T) {
	f := newFixture(t, nil)
	// A client that never reads: the hub drops it instead of blocking.
	c, _, err := f.dial("", bearerHeader(viewerTok))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := strings.Repeat("x", 4000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5000 {
			f.hub.Publish(Event{Type: EventReview, Review: &Review{Comment: big}})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishing blocked on a slow websocket")
	}
	waitFor(t, func() bool { return f.hub.Subscribers() == 0 })
}

func TestRunGracefulShutdownClosesWebsockets(t *testing.T) {
	hub := NewHub(10)
	rep, keys := report(sug("sg-1", "sgr-a", 22, advisor.VerdictKeep, 1))
	hub.Update(rep, keys, t0)
	srv := NewServer(ServerConfig{OpenReads: true, ShutdownTimeout: 5 * time.Second}, hub, prometheus.NewRegistry(), nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx, ln) }()

	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/api/v1/suggestions")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET suggestions: %v %v", err, resp)
	}
	resp.Body.Close()
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	readEvent(t, conn)

	cancel()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("read after shutdown: %v, want close 1001", err)
	}
	select {
	case err := <-runErr:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still serving after shutdown")
	}
	if hub.Subscribers() != 0 {
		t.Error("subscription left behind")
	}
}

func TestRunServeError(t *testing.T) {
	srv := NewServer(ServerConfig{}, NewHub(1), nil, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := srv.Run(context.Background(), ln); err == nil {
		t.Error("Run on a closed listener returned nil")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
