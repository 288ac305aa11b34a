package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/daemon/config"
)

const testReviewer = "test-reviewer-token-0123456789"

// apiDo sends a request with a token and returns the response.
func apiDo(t *testing.T, method, url, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// servedVersion is the version of the state GET /api/v1/suggestions shows.
func servedVersion(t *testing.T, addr string) uint64 {
	t.Helper()
	resp := apiDo(t, "GET", "http://"+addr+"/api/v1/suggestions", testToken, "")
	resp.Body.Close()
	v, err := strconv.ParseUint(resp.Header.Get(api.VersionHeader), 10, 64)
	if err != nil {
		t.Fatalf("version header %q: %v", resp.Header.Get(api.VersionHeader), err)
	}
	return v
}

// A review survives a restart, and event versions go on increasing, so a
// client resuming from a version of the earlier run is sent a snapshot
// (issue 7, finding 4).
func TestReviewsAndVersionsSurviveRestart(t *testing.T) {
	sc := newScenario(t, 1000, 43)
	path := filepath.Join(sc.dir, "flows.log")
	data := strings.Join(richFormat.Names(), " ") + "\n"
	for _, l := range sc.lines {
		data += string(l) + "\n"
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Formats.LogGroups = nil
	cfg.Files = []string{path}
	cfg.Auth.Tokens = append(cfg.Auth.Tokens, config.Token{Name: "rev", Role: config.RoleReviewer, Token: testReviewer})
	want := sc.expected(t, cfg)
	if len(want.Suggestions) == 0 {
		t.Fatal("scenario without suggestions")
	}
	key := analysis.NewEngine(sc.inventory(t)).Rules()[0].Key()

	r := start(t, cfg)
	addr := r.d.Addr().String()
	waitReport(t, addr, want, 30*time.Second)
	body, _ := json.Marshal(map[string]string{"rule_key": key, "decision": "accepted", "comment": "checked"})
	resp := apiDo(t, "POST", "http://"+addr+"/api/v1/reviews", testReviewer, string(body))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST review: %d", resp.StatusCode)
	}
	before := servedVersion(t, addr)
	r.stop(t)

	r2 := start(t, cfg)
	addr = r2.d.Addr().String()
	waitReport(t, addr, want, 30*time.Second)
	resp = apiDo(t, "GET", "http://"+addr+"/api/v1/reviews", testToken, "")
	var list struct {
		Reviews []api.Review `json:"reviews"`
	}
	err := json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET reviews after a restart: %d, %v", resp.StatusCode, err)
	}
	if len(list.Reviews) != 1 || list.Reviews[0].RuleKey != key || list.Reviews[0].Decision != "accepted" || list.Reviews[0].By != "rev" {
		t.Errorf("reviews after a restart: %+v", list.Reviews)
	}
	if after := servedVersion(t, addr); after <= before {
		t.Errorf("version after a restart %d, not above %d before it", after, before)
	}

	h := http.Header{"Authorization": {"Bearer " + testToken}}
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/api/v1/events?since="+strconv.FormatUint(before, 10), h)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var ev api.Event
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.ReadJSON(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != api.EventSnapshot || len(ev.Reviews) != 1 {
		t.Errorf("resuming from version %d of the earlier run: first event %q with %d reviews, want a snapshot with the review", before, ev.Type, len(ev.Reviews))
	}
}
