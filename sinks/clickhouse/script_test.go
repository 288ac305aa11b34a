package clickhouse

import (
	"strings"
	"testing"
)

func TestBind(t *testing.T) {
	got := Bind("SELECT ? , ?, ?", "a'b\\c", uint64(7), []string{"x", "y"})
	want := `SELECT 'a\'b\\c' , 7, ['x', 'y']`
	if got != want {
		t.Fatalf("Bind = %s, want %s", got, want)
	}
	if q := quote("\x00\xff"); q != `'\x00\xFF'` {
		t.Fatalf("quote binary = %s", q)
	}
}

func TestScriptCoversEveryStatement(t *testing.T) {
	sc := Script("cinch_x")
	all := ""
	for _, s := range sc {
		if strings.Contains(s.SQL, "{db}") || strings.Contains(s.SQL, "?") {
			t.Errorf("unbound statement: %s", s.SQL)
		}
		all += s.SQL + "\n"
	}
	for _, q := range []string{qAppliedMigrations, qSketchVersions, qSketch, qPartitions, QueryRuleUsage,
		QueryGroupExposure, QueryLatestVerdicts, QueryEvents, QueryReviews, QueryApplies} {
		prefix := strings.SplitN(withDB(q, "cinch_x"), "?", 2)[0]
		if !strings.Contains(all, prefix) {
			t.Errorf("query missing from the script: %s", q)
		}
	}
	for _, table := range []string{"schema_migrations", "rule_usage", "suggestions", "sketches", "reviews", "events", "applies"} {
		if !strings.Contains(all, "INSERT INTO cinch_x."+table+" VALUES") {
			t.Errorf("no insert into %s", table)
		}
	}
}
