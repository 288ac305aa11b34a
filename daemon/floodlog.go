package daemon

import (
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits of logging malformed input: the first few lines in full, then a
// summary with counts at most every interval (metrics keep the totals).
const (
	badLinesLogged   = 10
	badLinesInterval = 10 * time.Second
)

// badLineLog logs malformed input without flooding: the first badLinesLogged
// lines one by one, then at most one summary per badLinesInterval with the
// count by reason of the lines it did not log. It is safe for concurrent use.
type badLineLog struct {
	log   *slog.Logger
	msg   string
	first int
	every time.Duration

	mu       sync.Mutex
	total    int64
	held     map[string]int64 // by reason, not yet reported
	lastSent time.Time
}

func newBadLineLog(log *slog.Logger, msg string) *badLineLog {
	return &badLineLog{log: log, msg: msg, first: badLinesLogged, every: badLinesInterval, held: map[string]int64{}}
}

// report records one malformed line; attrs describe it (file, line, err).
func (b *badLineLog) report(reason string, attrs ...any) {
	b.mu.Lock()
	b.total++
	if b.total <= int64(b.first) {
		b.mu.Unlock()
		b.log.Warn(b.msg, attrs...)
		return
	}
	b.held[reason]++
	if b.lastSent.IsZero() {
		b.lastSent = time.Now() // the first summary comes one interval after the last line logged
	}
	if time.Since(b.lastSent) < b.every {
		b.mu.Unlock()
		return
	}
	args := b.summaryLocked()
	b.mu.Unlock()
	b.log.Warn(b.msg+": more malformed lines (not logged one by one)", args...)
}

// flush logs the summary of the lines not logged yet, if any.
func (b *badLineLog) flush() {
	b.mu.Lock()
	if len(b.held) == 0 {
		b.mu.Unlock()
		return
	}
	args := b.summaryLocked()
	b.mu.Unlock()
	b.log.Warn(b.msg+": more malformed lines (not logged one by one)", args...)
}

// summaryLocked returns the attributes of a summary and resets the held
// counts. b.mu must be held.
func (b *badLineLog) summaryLocked() []any {
	var n int64
	parts := make([]string, 0, len(b.held))
	for _, r := range slices.Sorted(maps.Keys(b.held)) {
		n += b.held[r]
		parts = append(parts, r+"="+strconv.FormatInt(b.held[r], 10))
	}
	clear(b.held)
	b.lastSent = time.Now()
	return []any{"lines", n, "by_reason", strings.Join(parts, ","), "total", b.total}
}
