package daemon

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/simulate"
)

func TestCoverageKfake(t *testing.T) { scenarioCoverage(t, fakeBrokers(t)) }

// unconfiguredGroup is a log group whose format the daemon is not told.
const unconfiguredGroup = "/vpc/flow-logs/unconfigured"

// scenarioCoverage: one interface is not logged at all, and another's
// records arrive in a log group whose (custom) format is not configured, so
// none of its lines parse. The daemon and analyze agree on coverage: the
// groups of both interfaces are kept, not-observed, naming them; /readyz
// reports the log group with the reason; the interfaces metric counts them.
func scenarioCoverage(t *testing.T, brokers []string) {
	sc := newScenario(t, 4000, 31)
	unlogged := sc.acct.ENIs[0].NetworkInterfaceID // a web interface
	var misrouted string                           // a database interface
	for _, e := range sc.acct.ENIs {
		if strings.HasPrefix(e.SubnetID, "subnet-db") {
			misrouted = e.NetworkInterfaceID
			break
		}
	}
	// Records of the unlogged interface do not exist; those of the other
	// go to the unconfigured log group.
	tr := sc.acct.Traffic(31, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	var keep, other []simulate.Flow
	sc.lines, sc.payloads, sc.records = nil, nil, 0
	for range 4000 {
		f := tr.Next()
		switch f.ENI {
		case unlogged:
		case misrouted:
			other = append(other, f)
		default:
			keep = append(keep, f)
			sc.lines = append(sc.lines, simulate.AppendLine(nil, &f, richFormat))
		}
	}
	enc := simulate.NewEnvelopes(richFormat, "123456789012", 31<<32)
	for i := 0; i < len(keep); i += 200 {
		ps, err := enc.Encode(keep[i:min(i+200, len(keep))])
		if err != nil {
			t.Fatal(err)
		}
		sc.payloads = append(sc.payloads, ps...)
	}
	sc.records = len(keep)
	bad := simulate.NewEnvelopes(richFormat, "123456789012", 32<<32)
	bad.LogGroup = unconfiguredGroup
	ps, err := bad.Encode(other)
	if err != nil || len(other) == 0 {
		t.Fatalf("%d records of %s: %v", len(other), misrouted, err)
	}
	sc.payloads = append(sc.payloads, ps...)

	sc.createTopics(t, brokers)
	cfg := sc.config(brokers, t.TempDir(), "gc-"+sc.topic)
	want := sc.expected(t, cfg)
	// What analyze says: the groups of both interfaces are kept, naming them.
	groups := map[string]string{}
	for _, e := range sc.acct.ENIs {
		for _, id := range []string{unlogged, misrouted} {
			if e.NetworkInterfaceID == id {
				groups[e.Groups[0].GroupID] = id
			}
		}
	}
	seen := 0
	for _, s := range want.Suggestions {
		id, ok := groups[s.GroupID]
		if !ok {
			continue
		}
		seen++
		if s.Verdict != advisor.VerdictKeep || !slices.Contains(s.Reasons, advisor.ReasonNotObserved) || s.Evidence.Coverage == nil ||
			!slices.Contains(s.Evidence.Coverage.Unobserved, id) {
			t.Fatalf("analyze: %s %v: %s %v %+v; want keep, not-observed, naming %s", s.GroupID, s.Rule, s.Verdict, s.Reasons, s.Evidence.Coverage, id)
		}
	}
	if seen == 0 {
		t.Fatalf("no suggestion for the groups %v", groups)
	}

	r := start(t, cfg)
	sc.produce(t, brokers, 0, len(sc.payloads))
	waitReport(t, r.d.Addr().String(), want, 90*time.Second)

	// /readyz names the log group and why its lines fail.
	deadline := time.Now().Add(30 * time.Second)
	var body string
	code := 0
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + r.d.Addr().String() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(b)
		if code != http.StatusOK && strings.Contains(body, unconfiguredGroup) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code == http.StatusOK || !strings.Contains(body, unconfiguredGroup) || !strings.Contains(body, "none of its") || !strings.Contains(body, "formats.log_groups") {
		t.Errorf("/readyz %d %q: want the unconfigured log group reported", code, body)
	}
	if got := testutil.ToFloat64(r.d.met.Interfaces.WithLabelValues("unobserved")); got != 2 {
		t.Errorf("cinch_interfaces{state=unobserved} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(r.d.met.Interfaces.WithLabelValues("observed")); got != float64(len(sc.acct.ENIs)-2) {
		t.Errorf("cinch_interfaces{state=observed} = %v, want %d", got, len(sc.acct.ENIs)-2)
	}
	// The alert CinchLogGroupUnparseable reads this gauge.
	if got := testutil.ToFloat64(r.d.met.LogGroupUnparseable.WithLabelValues(unconfiguredGroup)); got != 1 {
		t.Errorf("cinch_log_group_unparseable{log_group=%q} = %v, want 1", unconfiguredGroup, got)
	}
	if got := testutil.ToFloat64(r.d.met.LogGroupUnparseable.WithLabelValues(simulate.LogGroup)); got != 0 {
		t.Errorf("cinch_log_group_unparseable{log_group=%q} = %v, want 0", simulate.LogGroup, got)
	}
}
