package grafana

import (
	"strings"
	"testing"
	"time"
)

// expectedColumns are the columns each ClickHouse query returns and its
// panel reads (time series: the time column first, then the series).
var expectedColumns = map[string][]string{
	"variable group":                   {"group_id"},
	"variable rule":                    {"rule_key"},
	"Rules by current verdict":         {"verdict", "rules"},
	"Current verdicts by group":        {"group_id", "remove", "narrow", "keep", "low_confidence"},
	"Proposals and their reviews":      {"rule_key", "group_id", "verdict", "confidence", "reasons_text", "proposed_rules", "flows", "review", "reviewer", "comment"},
	"Verdict changes over time":        {"t", "verdict", "changes"},
	"Reviews":                          {"time", "rule_key", "decision", "reviewer", "comment"},
	"Flows per bucket, by group":       {"t", "group_id", "flows"},
	"Usage of the selected rule":       {"t", "flows", "packets", "sources"},
	"Exposure by group":                {"group_id", "rules_used", "flows", "bytes", "max_sources"},
	"Rules that have stopped matching": {"rule_key", "group_id", "since"},
	"Stopped / resumed events":         {"t", "type", "events"},
	"Apply runs":                       {"time", "run_id", "who", "kind", "step", "target", "op", "group_id", "rule_key", "rules_text", "status", "error", "new_rules"},
}

// Every ClickHouse query of the dashboards expands (known macros only,
// every variable defined) and has its expected columns listed.
func TestQueriesExpand(t *testing.T) {
	qs, err := Queries(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 10 {
		t.Fatalf("%d ClickHouse queries in the dashboards, want the rule-usage dashboard's", len(qs))
	}
	seen := map[string]bool{}
	for _, q := range qs {
		seen[q.Title] = true
		if _, ok := expectedColumns[q.Title]; !ok {
			t.Errorf("%s: no expected columns listed for %q", q.Dashboard, q.Title)
		}
		sql, err := Expand(q.SQL, time.Unix(1700000000, 0), time.Unix(1700086400, 0), time.Hour, map[string]string{"group": "__all", "rule": "k"})
		if err != nil {
			t.Errorf("%s / %s: %v", q.Dashboard, q.Title, err)
			continue
		}
		if strings.Contains(sql, "$") {
			t.Errorf("%s / %s: unexpanded: %s", q.Dashboard, q.Title, sql)
		}
	}
	for title := range expectedColumns {
		if !seen[title] {
			t.Errorf("expected columns for %q, which no dashboard has", title)
		}
	}
}

func TestExpand(t *testing.T) {
	from, to := time.Unix(1700000000, 0).UTC(), time.Unix(1700003600, 0).UTC()
	got, err := Expand("SELECT 1 WHERE $__timeFilter(bucket) AND d >= $__fromTime AND g = '${group}' AND x = $rule AND $__dateFilter(day) LIMIT $__interval_s",
		from, to, 30*time.Second, map[string]string{"group": "sg-1", "rule": "'k'"})
	want := "SELECT 1 WHERE bucket >= toDateTime(1700000000) AND bucket <= toDateTime(1700003600) AND d >= toDateTime(1700000000) AND g = 'sg-1' AND x = 'k' AND day >= toDate('2023-11-14') AND day <= toDate('2023-11-14') LIMIT 30"
	if err != nil || got != want {
		t.Errorf("Expand:\n got %s (%v)\nwant %s", got, err, want)
	}
	if _, err := Expand("SELECT $__timeInterval(t)", from, to, time.Second, nil); err == nil {
		t.Error("timeInterval expanded: 18.16 has no toStartOfInterval")
	}
	if _, err := Expand("SELECT '${nope}'", from, to, time.Second, nil); err == nil {
		t.Error("an undefined variable expanded")
	}
}
