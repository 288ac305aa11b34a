package cli

import (
	"fmt"
	"time"
)

// progress prints a progress line on a terminal's stderr for inputs that
// take more than a second: records per second and files done.
type progress struct {
	env       *Env
	on        bool
	files     int
	filesDone int
	n         uint64
	start     time.Time
	next      time.Time
	printed   bool
}

func newProgress(env *Env, quiet bool, files int) *progress {
	now := time.Now()
	return &progress{env: env, on: !quiet && env.StderrIsTerminal, files: files, start: now, next: now.Add(time.Second)}
}

func (p *progress) tick() {
	p.n++
	if !p.on || p.n&0x3fff != 0 {
		return
	}
	if now := time.Now(); now.After(p.next) {
		p.next = now.Add(time.Second)
		p.print(now)
	}
}

func (p *progress) fileDone(n int) { p.filesDone = n }

func (p *progress) print(now time.Time) {
	rate := float64(p.n) / now.Sub(p.start).Seconds()
	fmt.Fprintf(p.env.Stderr, "\r%d records, %.0f records/s, %d/%d files", p.n, rate, p.filesDone, p.files)
	p.printed = true
}

func (p *progress) done() {
	if p.printed {
		p.print(time.Now())
		fmt.Fprintln(p.env.Stderr)
	}
}
