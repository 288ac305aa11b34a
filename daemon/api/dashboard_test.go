package api

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/export"
)

// fakeInspector serves fixed usage and groups.
type fakeInspector struct {
	usage  map[string]RuleUsage
	groups []GroupInfo
}

func (f fakeInspector) RuleUsage(key string) (RuleUsage, bool) {
	u, ok := f.usage[key]
	return u, ok
}

func (f fakeInspector) Groups() []GroupInfo { return f.groups }

func inspectorFixture(t *testing.T, openReads bool) *fixture {
	var f *fixture
	first := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	f = newFixture(t, func(c *ServerConfig) {
		c.OpenReads = openReads
		c.Inspector = fakeInspector{
			usage: map[string]RuleUsage{}, // filled below, once keys are known
			groups: []GroupInfo{{ID: "sg-2", Name: "<img src=x onerror=alert(1)>", VPCID: "vpc-1", AccountID: "111122223333"},
				{ID: "sg-1", Name: "web", VPCID: "vpc-1", AccountID: "111122223333"}},
		}
	})
	insp := f.srv.cfg.Inspector.(fakeInspector)
	insp.usage[f.keys[0]] = RuleUsage{Description: "ssh", Flows: 12, Packets: 30, Bytes: 4000, FirstSeen: &first, LastSeen: &first,
		BucketSeconds: 3600, Sources: []SourceItem{{Prefix: "203.0.113.7/32", Exact: true, Count: 1}},
		Ports:  []PortUsage{{Protocol: "tcp", Ranges: []string{"22"}, Exact: true}},
		Series: []UsagePoint{{Time: first, Flows: 12, Packets: 30, Bytes: 4000, Sources: 1}}}
	return f
}

func postReview(t *testing.T, f *fixture, key, decision string) {
	t.Helper()
	body := `{"rule_key":"` + key + `","decision":"` + decision + `","comment":"c"}`
	if resp := f.do("POST", "/api/v1/reviews", reviewerTok, body); resp.StatusCode != 201 {
		t.Fatalf("review %s: %d", decision, resp.StatusCode)
	}
}

// Every endpoint the dashboard adds is a read: the viewer role, or nothing
// with open reads; never a token in the query.
func TestDashboardEndpointsAuth(t *testing.T) {
	paths := []string{"/api/v1/groups", "/api/v1/reviews", "/api/v1/export?format=cli", "/api/v1/whoami",
		"/api/v1/rules/" + url.PathEscape(RuleKey(sug("sg-1", "sgr-a", 22, advisor.VerdictNarrow, 12)))}
	for _, c := range []struct {
		name      string
		openReads bool
		token     string
		want      int
	}{
		{"no token", false, "", 401}, {"bad token", false, "nope", 401}, {"viewer", false, viewerTok, 200},
		{"reviewer", false, reviewerTok, 200}, {"open reads", true, "", 200}, {"open reads, bad token", true, "nope", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := inspectorFixture(t, c.openReads)
			for _, p := range paths {
				if resp := f.do("GET", p, c.token, ""); resp.StatusCode != c.want {
					t.Errorf("GET %s: %d, want %d", p, resp.StatusCode, c.want)
				}
			}
			if resp := f.do("GET", "/api/v1/export?format=cli&access_token="+viewerTok, "", ""); !c.openReads && resp.StatusCode != 401 {
				t.Errorf("access_token in a REST query: %d", resp.StatusCode)
			}
		})
	}
}

func TestWhoami(t *testing.T) {
	f := inspectorFixture(t, true)
	for tok, want := range map[string]whoamiResponse{
		"": {Name: "anonymous"}, viewerTok: {Name: "vera", Role: RoleViewer},
		reviewerTok: {Name: "rex", Role: RoleReviewer}, applierTok: {Name: "ada", Role: RoleApplier},
	} {
		if got := decode[whoamiResponse](t, f.do("GET", "/api/v1/whoami", tok, "")); got != want {
			t.Errorf("whoami(%q) = %+v, want %+v", tok, got, want)
		}
	}
}

// The rule detail is the suggestion's fields (the contract shape) plus its
// key, latest review and usage from the inspector.
func TestRuleDetail(t *testing.T) {
	f := inspectorFixture(t, false)
	key := f.keys[0]
	postReview(t, f, key, DecisionAccepted)
	resp := f.do("GET", "/api/v1/rules/"+url.PathEscape(key), viewerTok, "")
	raw, _ := io.ReadAll(resp.Body)
	for _, field := range []string{`"group_id":"sg-1"`, `"rule_id":"sgr-a"`, `"verdict":"narrow"`, `"proposed":[`, `"evidence":{`,
		`"rule_key":"` + key + `"`, `"review":{"rule_key"`, `"decision":"accepted"`, `"usage":{"description":"ssh","sources":[{"prefix":"203.0.113.7/32","exact":true,"count":1}]`,
		`"ports":[{"protocol":"tcp","ranges":["22"],"exact":true}]`, `"bucket_seconds":3600`, `"series":[{"time":"2026-11-26T10:00:00Z","flows":12,"packets":30,"bytes":4000,"sources":1}]`,
		`"first_seen":"2026-11-26T10:00:00Z"`} {
		if !bytes.Contains(raw, []byte(field)) {
			t.Errorf("rule detail lacks %s:\n%s", field, raw)
		}
	}
	// By rule id too, and a rule without usage has none.
	byID := decode[ruleResponse](t, f.do("GET", "/api/v1/rules/sgr-a", viewerTok, ""))
	if byID.RuleKey != key || byID.Usage == nil {
		t.Errorf("by id: key %q usage %v", byID.RuleKey, byID.Usage)
	}
	other := decode[ruleResponse](t, f.do("GET", "/api/v1/rules/sgr-b", viewerTok, ""))
	if other.Usage != nil || other.Review != nil || other.Verdict != advisor.VerdictKeep {
		t.Errorf("sgr-b: %+v", other)
	}
	groups := decode[groupsResponse](t, f.do("GET", "/api/v1/groups", viewerTok, ""))
	if len(groups.Groups) != 2 || groups.Groups[0].ID != "sg-1" || groups.Groups[1].Name != "<img src=x onerror=alert(1)>" {
		t.Errorf("groups: %+v", groups)
	}
	// The suggestions keep the contract's shape, with the groups beside.
	sugs := decode[suggestionsResponse](t, f.do("GET", "/api/v1/suggestions", viewerTok, ""))
	if len(sugs.Suggestions) != 3 || sugs.Window.To.IsZero() || len(sugs.Groups) != 2 || sugs.Groups[1].VPCID != "vpc-1" {
		t.Errorf("suggestions with groups: %+v", sugs)
	}
}

// The export is exactly what `cinch analyze --output cli|terraform` prints
// for the same report (both render with export.Write): the accepted
// proposals by default, every one with status=all.
func TestExportIdentity(t *testing.T) {
	f := inspectorFixture(t, true)
	rep, _ := f.hub.Report()
	postReview(t, f, f.keys[0], DecisionAccepted)
	postReview(t, f, f.keys[2], DecisionRejected)
	postReview(t, f, f.keys[2], DecisionAccepted) // the latest decision counts
	postReview(t, f, f.keys[1], DecisionDeferred)
	accepted := rep
	accepted.Suggestions = []advisor.Suggestion{rep.Suggestions[0], rep.Suggestions[2]}
	for _, format := range []string{"cli", "terraform", "json", "table"} {
		for status, r := range map[string]advisor.Report{"accepted": accepted, "all": rep} {
			if format == "cli" || format == "terraform" {
				r, _ = export.Proposals(&r, false) // as cinch analyze does
			}
			var want bytes.Buffer
			if err := export.Write(&want, format, &r); err != nil {
				t.Fatal(err)
			}
			q := "?format=" + format
			if status == "all" {
				q += "&status=all"
			}
			resp := f.do("GET", "/api/v1/export"+q, "", "")
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !bytes.Equal(got, want.Bytes()) {
				t.Errorf("export %s: %d\n%s\nwant\n%s", q, resp.StatusCode, got, want.Bytes())
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("export %s headers: %v", q, resp.Header)
			}
		}
	}
	if !strings.Contains(string(mustBody(t, f.do("GET", "/api/v1/export?format=cli", "", ""))), "sg-2") {
		t.Error("the accepted removal of sg-2 is not in the export")
	}
	if resp := f.do("GET", "/api/v1/export?format=cli&download=1", "", ""); !strings.Contains(resp.Header.Get("Content-Disposition"), `filename="cinch-accepted.sh"`) {
		t.Errorf("download: %q", resp.Header.Get("Content-Disposition"))
	}
	for _, q := range []string{"", "?format=yaml", "?format=cli&status=pending"} {
		if resp := f.do("GET", "/api/v1/export"+q, "", ""); resp.StatusCode != 400 || errorBody(t, resp) == "" {
			t.Errorf("export%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

func mustBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The snapshot carries what a page needs to start: rule keys, reviews,
// rules that stopped matching and the epoch; reviews survive in the hub.
func TestSnapshotForDashboard(t *testing.T) {
	f := inspectorFixture(t, true)
	postReview(t, f, f.keys[1], DecisionDeferred)
	f.hub.Publish(Event{Type: EventRuleStoppedMatching, RuleKey: f.keys[0]})
	f.hub.Publish(Event{Type: EventRuleStoppedMatching, RuleKey: f.keys[2]})
	f.hub.Publish(Event{Type: EventRuleResumed, RuleKey: f.keys[2]})
	c, _, err := f.dial("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	snap := readEvent(t, c)
	if snap.Type != EventSnapshot || len(snap.Keys) != 3 || snap.Keys[1] != f.keys[1] || snap.Epoch != f.hub.Epoch() || snap.Epoch == "" {
		t.Fatalf("snapshot: keys %v epoch %q", snap.Keys, snap.Epoch)
	}
	if len(snap.Reviews) != 1 || snap.Reviews[0].RuleKey != f.keys[1] || snap.Reviews[0].Decision != DecisionDeferred || snap.Reviews[0].By != "rex" {
		t.Errorf("snapshot reviews: %+v", snap.Reviews)
	}
	if len(snap.Stopped) != 1 || snap.Stopped[0] != f.keys[0] {
		t.Errorf("snapshot stopped: %v", snap.Stopped)
	}
	revs := decode[reviewsResponse](t, f.do("GET", "/api/v1/reviews", "", ""))
	if len(revs.Reviews) != 1 || revs.Reviews[0].Comment != "c" {
		t.Errorf("reviews: %+v", revs)
	}
}

// A page resumes with since and epoch: the same epoch gets the missed
// events, another epoch (a restarted daemon) a snapshot.
func TestEventsResumeEpoch(t *testing.T) {
	f := inspectorFixture(t, true)
	v := f.hub.Version()
	postReview(t, f, f.keys[0], DecisionAccepted)
	same, _, err := f.dial("since="+itoa(v)+"&epoch="+f.hub.Epoch(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer same.Close()
	if ev := readEvent(t, same); ev.Type != EventReview || ev.Version != v+1 {
		t.Errorf("same epoch: %s v%d, want the review v%d", ev.Type, ev.Version, v+1)
	}
	other, _, err := f.dial("since="+itoa(v)+"&epoch=0123456789abcdef", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ev := readEvent(t, other); ev.Type != EventSnapshot || ev.Version != v+1 {
		t.Errorf("other epoch: %s v%d, want a snapshot", ev.Type, ev.Version)
	}
	if NewHub(1).Epoch() == f.hub.Epoch() {
		t.Error("two hubs share an epoch")
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// The dashboard's page and assets: a strict CSP on every response, fixed
// content types, immutable caching under a content hash, nothing outside
// the assets.
func TestDashboardAssets(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":        {Data: []byte(`<html><script type="module" src="{{.Assets}}/js/app.js"></script><p>{{.Version}}</p></html>`)},
		"js/app.js":         {Data: []byte("export {};\n")},
		"css/app.css":       {Data: []byte("body{}\n")},
		"vendor/x/LICENSE":  {Data: []byte("MIT\n")},
		"vendor/x/lib.mjs":  {Data: []byte("export {};\n")},
		"vendor/x/icon.svg": {Data: []byte("<svg/>")},
	}
	f := newFixture(t, func(c *ServerConfig) { c.OpenReads = false; c.Assets = fsys })
	resp := f.do("GET", "/", "", "") // the page itself needs no token: it asks for one
	page := string(mustBody(t, resp))
	m := regexp.MustCompile(`src="(assets/[0-9a-f]{16})/js/app.js"`).FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(page, "<p>test</p>") {
		t.Fatalf("index: %d %s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %s: %s", want, csp)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe: %s", csp)
	}
	if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-cache" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("index headers: %v", resp.Header)
	}
	prefix := "/" + m[1]
	for p, ctype := range map[string]string{"/js/app.js": "text/javascript; charset=utf-8", "/css/app.css": "text/css; charset=utf-8",
		"/vendor/x/LICENSE": "application/octet-stream", "/vendor/x/lib.mjs": "text/javascript; charset=utf-8", "/vendor/x/icon.svg": "image/svg+xml"} {
		resp := f.do("GET", prefix+p, "", "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
	for _, p := range []string{"/assets/0000000000000000/js/app.js", prefix + "/index.html", prefix + "/js/missing.js",
		prefix + "/../" + m[1] + "/js/app.js", prefix + "/js/%2e%2e/%2e%2e/index.html", prefix + "/"} {
		if resp := f.do("GET", p, "", ""); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	// Without assets, the placeholder stays.
	g := newFixture(t, nil)
	if body := string(mustBody(t, g.do("GET", "/", "", ""))); !strings.Contains(body, "dashboard comes later") {
		t.Errorf("placeholder: %s", body)
	}
}
