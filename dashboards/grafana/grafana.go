// Package grafana holds cinch's Grafana dashboards (the JSON files beside
// this one, provisioned by configs/grafana) and reads them for the tests
// that prove every panel's query: Panels lists the ClickHouse queries and
// Expand substitutes the official ClickHouse data source plugin's macros and
// the dashboards' template variables, as Grafana would before sending them.
package grafana

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ClickHouseUID is the uid of the provisioned ClickHouse data source.
const ClickHouseUID = "cinch-clickhouse"

// Query is one ClickHouse query of a dashboard: a panel's target or a
// template variable's.
type Query struct {
	Dashboard, Title string
	SQL              string
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Datasource *datasource `json:"datasource"`
			RawSQL     string      `json:"rawSql"`
			EditorType string      `json:"editorType"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Queries reads every dashboard JSON in dir and returns its ClickHouse
// queries, panels' and template variables'.
func Queries(dir string) ([]Query, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range d.Templating.List {
			if v.Datasource == nil || v.Datasource.UID != ClickHouseUID {
				continue
			}
			var sql string
			if err := json.Unmarshal(v.Query, &sql); err != nil {
				return nil, fmt.Errorf("%s: variable %s: query is not a string", f, v.Name)
			}
			out = append(out, Query{Dashboard: d.UID, Title: "variable " + v.Name, SQL: sql})
		}
		for _, p := range d.Panels {
			for _, t := range p.Targets {
				if t.Datasource == nil || t.Datasource.UID != ClickHouseUID {
					continue
				}
				if t.EditorType != "sql" || strings.TrimSpace(t.RawSQL) == "" {
					return nil, fmt.Errorf("%s: panel %q: a ClickHouse target needs editorType sql and rawSql", f, p.Title)
				}
				out = append(out, Query{Dashboard: d.UID, Title: p.Title, SQL: t.RawSQL})
			}
		}
	}
	return out, nil
}

// macro matches the plugin's macros: $__name or $__name(args).
var macro = regexp.MustCompile(`\$__([a-zA-Z_]+)(?:\(([^()]*)\))?`)

// variable matches ${name} and $name template variables.
var variable = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)`)

// Expand substitutes the macros that the ClickHouse plugin expands
// (timeFilter, fromTime, toTime, dateFilter, interval_s) for the range
// [from, to] with the given interval, and the template variables vars, as
// Grafana does. It refuses the macros that expand to functions ClickHouse
// 18.16 lacks (timeInterval: toStartOfInterval) and unknown ones, and
// variables without a value.
func Expand(sql string, from, to time.Time, interval time.Duration, vars map[string]string) (string, error) {
	var err error
	dt := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	d := func(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.UTC().Format("2006-01-02")) }
	sql = macro.ReplaceAllStringFunc(sql, func(m string) string {
		g := macro.FindStringSubmatch(m)
		name, arg := g[1], strings.TrimSpace(g[2])
		switch name {
		case "timeFilter":
			return fmt.Sprintf("%s >= %s AND %s <= %s", arg, dt(from), arg, dt(to))
		case "dateFilter":
			return fmt.Sprintf("%s >= %s AND %s <= %s", arg, d(from), arg, d(to))
		case "fromTime":
			return dt(from)
		case "toTime":
			return dt(to)
		case "interval_s":
			return fmt.Sprint(max(int(interval.Seconds()), 1))
		}
		err = fmt.Errorf("macro $__%s is not expanded here (timeInterval needs toStartOfInterval, which ClickHouse 18.16 lacks)", name)
		return m
	})
	if err != nil {
		return "", err
	}
	sql = variable.ReplaceAllStringFunc(sql, func(m string) string {
		g := variable.FindStringSubmatch(m)
		name := g[1] + g[2]
		v, ok := vars[name]
		if !ok {
			err = fmt.Errorf("template variable $%s has no value", name)
			return m
		}
		return v
	})
	return sql, err
}
