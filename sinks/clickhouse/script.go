package clickhouse

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/apply"
)

// Statement is one SQL statement of the sink with its arguments bound, for
// running the sink's SQL on another engine (see .ci/chdb).
type Statement struct {
	SQL string `json:"sql"`
	// Rows is the number of rows a query is expected to return (-1: any).
	Rows int `json:"rows"`
}

// Script returns every statement the sink runs against database db, its
// arguments bound to literals: the schema, one row per table inserted with
// the VALUES form (the sink itself inserts with the native protocol), and
// every query, in an order that runs on an empty server.
func Script(db string) []Statement {
	var out []Statement
	for _, s := range DDL(db) {
		out = append(out, Statement{SQL: s, Rows: -1})
	}
	t := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ins := func(table string, vals ...any) {
		lits := make([]string, len(vals))
		for i, v := range vals {
			lits[i] = literal(v)
		}
		out = append(out, Statement{SQL: "INSERT INTO " + db + "." + table + " VALUES (" + strings.Join(lits, ", ") + ")", Rows: -1})
	}
	ins("schema_migrations", uint32(1), "tables", t, "a")
	u := UsageRow{Bucket: t, BucketSeconds: 3600, GroupID: "sg-1", RuleKey: "sg-1|ingress|6|22|22|10.0.0.0/8", RuleID: "sgr-1",
		Direction: "ingress", Protocol: 6, FromPort: 22, ToPort: 22, Source: "10.0.0.0/8", Partition: "flows/0", Flows: 3,
		Packets: 30, Bytes: 3000, Sources: 2, FirstSeen: t, LastSeen: t.Add(time.Minute), Version: 7}
	s := &Sink{cfg: Config{Database: db, Instance: "a"}}
	ins("rule_usage", s.usageValues(&u)...)
	u.Flows, u.Version = 5, 9
	ins("rule_usage", s.usageValues(&u)...)
	ins("sketches", sketchValues(&SketchRow{Partition: "flows/0", Version: 9, NextOffset: 9, Watermark: t.Unix(), Instance: "a", Written: t, Data: []byte{0, 1, 2, 255, '\'', '\\'}})...)
	sug := SuggestionRow{Time: t, Version: 1, Instance: "a", RuleKey: u.RuleKey}
	sug.Suggestion.GroupID, sug.Suggestion.Verdict, sug.Suggestion.Reasons = "sg-1", "narrow", []string{"cidr-narrowed"}
	ins("suggestions", suggestionValues(&sug)...)
	ins("events", eventValues(&EventRow{Time: t, Version: 1, Instance: "a", Type: "verdict-changed", RuleKey: u.RuleKey, GroupID: "sg-1", Verdict: "narrow"})...)
	ins("reviews", reviewValues(&ReviewRow{Time: t, Version: 2, Instance: "a", RuleKey: u.RuleKey, Decision: "accepted", Reviewer: "ann"})...)
	for _, r := range ApplyRows(&apply.Result{RunID: "0123456789abcdef", Who: "ann", Start: t, Error: "step 2 of 2 failed",
		Steps: []apply.StepResult{
			{Step: apply.Step{Op: "authorize-ingress", GroupID: "sg-1", RuleKey: u.RuleKey,
				Rules: []advisor.RuleSpec{{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "10.1.0.0/16"}}},
				Target: "111122223333/us-east-1", Status: apply.StatusDone, NewRuleIDs: []string{"sgr-2"}},
			{Step: apply.Step{Op: "revoke-ingress", GroupID: "sg-1", RuleKey: u.RuleKey, RuleID: "sgr-1",
				Judged: advisor.RuleSpec{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "10.0.0.0/8"}},
				Target: "111122223333/us-east-1", Status: apply.StatusFailed, Error: "UnauthorizedOperation"}},
		Skipped: []apply.Skip{{RuleKey: "sg-2|ingress|6|80|80|0.0.0.0/0", Reason: "not accepted"}}}, "a") {
		ins("applies", applyValues(&r)...)
	}
	q := func(rows int, sql string, args ...any) {
		out = append(out, Statement{SQL: Bind(withDB(sql, db), args...), Rows: rows})
	}
	q(1, qAppliedMigrations)
	q(1, qSketchVersions)
	q(1, qSketch, "flows/0")
	q(1, qPartitions, db, "rule_usage")
	q(1, QueryRuleUsage, u.RuleKey, t.Add(-time.Hour), t.Add(time.Hour))
	q(1, QueryGroupExposure, t.Add(-time.Hour), t.Add(time.Hour))
	q(1, QueryLatestVerdicts)
	q(1, QueryEvents, t.Add(-time.Hour))
	q(1, QueryReviews, u.RuleKey)
	q(3, QueryApplies, t.Add(-time.Hour))
	out = append(out, Statement{SQL: "ALTER TABLE " + db + ".rule_usage DROP PARTITION 20261120", Rows: -1})
	q(0, "SELECT * FROM {db}.rule_usage")
	return out
}

// Bind substitutes args for the ? placeholders of query as literals, as the
// driver does.
func Bind(query string, args ...any) string {
	var b strings.Builder
	i := 0
	for _, c := range query {
		if c == '?' && i < len(args) {
			b.WriteString(literal(args[i]))
			i++
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// literal renders a value as a ClickHouse literal.
func literal(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case []byte:
		return quote(string(x))
	case time.Time:
		return "toDateTime(" + quote(x.UTC().Format("2006-01-02 15:04:05")) + ", 'UTC')"
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case bool:
		if x {
			return "1"
		}
		return "0"
	case int16:
		return strconv.Itoa(int(x))
	case int32:
		return strconv.Itoa(int(x))
	case int64:
		return strconv.FormatInt(x, 10)
	case uint8:
		return strconv.Itoa(int(x))
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	panic(fmt.Sprintf("literal: %T", v))
}

// quote renders s as a string literal; every byte survives (binary data too).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\x%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
