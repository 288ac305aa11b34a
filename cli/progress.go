package cli

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// progress prints a progress line on a terminal's stderr for inputs that
// take more than a second: records per second and files done. Its methods
// are safe for concurrent use.
type progress struct {
	env       *Env
	on        bool
	files     int
	filesDone atomic.Int64
	n         atomic.Uint64
	start     time.Time

	mu      sync.Mutex // guards next, printed and the writes
	next    time.Time
	printed bool
}

func newProgress(env *Env, quiet bool, files int) *progress {
	now := time.Now()
	return &progress{env: env, on: !quiet && env.StderrIsTerminal, files: files, start: now, next: now.Add(time.Second)}
}

func (p *progress) tick() {
	n := p.n.Add(1)
	if !p.on || n&0x3fff != 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.After(p.next) {
		p.next = now.Add(time.Second)
		p.print(now)
	}
}

// fileDone counts one more file done.
func (p *progress) fileDone() { p.filesDone.Add(1) }

// print writes the line; the caller holds mu.
func (p *progress) print(now time.Time) {
	n := p.n.Load()
	rate := float64(n) / now.Sub(p.start).Seconds()
	fmt.Fprintf(p.env.Stderr, "\r%d records, %.0f records/s, %d/%d files", n, rate, p.filesDone.Load(), p.files)
	p.printed = true
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed {
		p.print(time.Now())
		fmt.Fprintln(p.env.Stderr)
	}
}
