package daemon

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// logGroups counts, per CloudWatch log group, the lines that parsed and
// those that did not, so that /readyz can report a log group whose every
// line fails (a format nobody configured: its interfaces would look unused).
// Shards add their counts once per payload, not per record.
type logGroups struct {
	mu sync.Mutex
	m  map[string]*logGroupCount
	// gauge, when set, gets 1 for a log group whose every line failed so
	// far and 0 once one parsed (cinch_log_group_unparseable).
	gauge *prometheus.GaugeVec
}

type logGroupCount struct {
	parsed, failed uint64
	reason         string // the last failure
}

func (l *logGroups) add(group string, parsed, failed uint64, reason string) {
	if group == "" || (parsed == 0 && failed == 0) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*logGroupCount{}
	}
	c := l.m[group]
	if c == nil {
		c = &logGroupCount{}
		l.m[group] = c
	}
	c.parsed += parsed
	c.failed += failed
	if reason != "" {
		c.reason = reason
	}
	if l.gauge != nil {
		bad := 0.0
		if c.parsed == 0 && c.failed > 0 {
			bad = 1
		}
		l.gauge.WithLabelValues(group).Set(bad)
	}
}

// err names the log groups none of whose lines parsed, with the reason.
func (l *logGroups) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	for g, c := range l.m {
		if c.parsed == 0 && c.failed > 0 {
			bad = append(bad, fmt.Sprintf("log group %q: none of its %d lines parses (%s); set its format under formats.log_groups", g, c.failed, c.reason))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%s", strings.Join(bad, "; "))
}

// groupTally is a payload's count for its log group (one per CloudWatch envelope).
type groupTally struct {
	group          string
	parsed, failed uint64
	reason         string
}

// note counts a line of log group g, flushing the tally when the group changes.
func (t *groupTally) note(l *logGroups, g string, ok bool, reason string) {
	if g != t.group {
		t.flush(l)
		t.group = g
	}
	if ok {
		t.parsed++
	} else {
		t.failed++
		t.reason = reason
	}
}

func (t *groupTally) flush(l *logGroups) {
	l.add(t.group, t.parsed, t.failed, t.reason)
	*t = groupTally{}
}
