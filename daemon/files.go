package daemon

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/input"
)

// fileLockBatch is how many records a file shard takes per hold of its lock,
// so an evaluation is never kept waiting for a whole file.
const fileLockBatch = 1 << 16

// inputReader returns a stream/input reader of the configured formats (it
// detects gzip, envelopes and header lines, and reports malformed lines with
// their numbers; the shard attributes the records). Malformed lines are
// counted in the metrics; the log (message what) shows the first few and then
// summaries, so a flood of bad lines cannot flood it: flush the log when done.
func (d *Daemon) inputReader(what string) (*input.Reader, *badLineLog) {
	bad := newBadLineLog(d.log, what)
	rd := input.NewReader(input.Options{Format: d.formats.def, FormatByLogGroup: d.formats.logGroup},
		func(file string, line int, err error) {
			reason := "malformed"
			if line > 0 {
				reason = reasonOf(err)
				d.met.RecordsFailed.WithLabelValues(reason).Inc()
			}
			bad.report(reason, "file", file, "line", line, "err", err)
		})
	return rd, bad
}

// readFiles replays the configured local files through the pipeline. Each
// file is a shard; once read whole it is checkpointed as done (offset = its
// size), so a restart does not count it twice. "-" reads stdin.
func (d *Daemon) readFiles(ctx context.Context) {
	for _, f := range d.cfg.Files {
		if ctx.Err() != nil {
			return
		}
		if err := d.readFile(ctx, f); err != nil {
			if ctx.Err() != nil {
				d.log.Info("file input stopped", "file", f)
				return
			}
			d.log.Error("file input failed", "file", f, "err", err)
			d.fileFailed(f, err)
		}
	}
}

func (d *Daemon) readFile(ctx context.Context, path string) error {
	key := "file:" + path
	var size int64 = -1
	if path != "-" {
		if abs, err := filepath.Abs(path); err == nil {
			key = "file:" + abs
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		size = st.Size()
	}
	s, next := d.newShardFor(key)
	if path == "-" || next != size {
		// Not read whole yet (or changed since): start over from an empty
		// state, whatever a checkpoint taken halfway through held.
		s = d.newShard(key, s.eng, s.bucket)
		s.dec = newDecoder(d.formats)
	}
	d.mu.Lock()
	d.shards[key] = s
	d.mu.Unlock()
	if path != "-" && next == size {
		d.log.Info("file already read", "file", path)
		return nil
	}

	rd, bad := d.inputReader("file input")
	defer bad.flush()
	var src io.Reader
	name := path
	if path == "-" {
		// Standard input may wait for hours: a read returns as soon as ctx
		// is done, so shutdown never waits for the writer's EOF.
		src = newCtxReader(ctx, d.stdin())
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	sk := shardSink{d: d, s: s}
	n := 0
	s.mu.Lock()
	// The shard's lock is held while records are attributed, never while
	// input is awaited: evaluations, checkpoints and reloads go on while a
	// pipe is quiet.
	err := rd.ReadStream(ctx, name, unlockedReader{r: src, mu: &s.mu}, func(rec *flowlog.Record, m *envelope.Meta) error {
		d.met.RecordsConsumed.Inc()
		sk.record(rec, m)
		if n++; n%fileLockBatch == 0 {
			s.unsaved = true
			s.mu.Unlock()
			s.mu.Lock()
		}
		return nil
	})
	d.met.RecordsParsed.Add(float64(sk.parsed))
	sk.tally.flush(&d.logGroups)
	s.unsaved = true
	if err == nil {
		s.next = size
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if path != "-" {
		if _, err := d.checkpointShard(s); err != nil {
			return err
		}
	}
	bad.flush()
	d.log.Info("file read", "file", path, "records", n)
	return nil
}

// stdin is the daemon's standard input (Options.Stdin, else os.Stdin).
func (d *Daemon) stdin() io.Reader {
	if d.opts.Stdin != nil {
		return d.opts.Stdin
	}
	return os.Stdin
}

// unlockedReader releases mu around every Read of r: the reader's caller
// holds mu between reads, and nobody waits on it while r blocks.
type unlockedReader struct {
	r  io.Reader
	mu *sync.Mutex
}

func (u unlockedReader) Read(p []byte) (int, error) {
	u.mu.Unlock()
	defer u.mu.Lock()
	return u.r.Read(p)
}

// ctxReader reads r from a goroutine of its own so that Read returns
// ctx.Err() as soon as ctx is done, even while r blocks (a read of standard
// input cannot be interrupted). The goroutine ends at r's next return after
// ctx is done.
type ctxReader struct {
	ctx     context.Context
	chunks  chan ctxChunk
	ack     chan struct{}
	pending []byte
	err     error
}

type ctxChunk struct {
	b   []byte
	err error
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	c := &ctxReader{ctx: ctx, chunks: make(chan ctxChunk), ack: make(chan struct{})}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			select {
			case c.chunks <- ctxChunk{b: buf[:n], err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			select {
			case <-c.ack: // the chunk was consumed: buf may be reused
			case <-ctx.Done():
				return
			}
		}
	}()
	return c
}

func (c *ctxReader) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		select {
		case ch := <-c.chunks:
			c.pending, c.err = ch.b, ch.err
			if len(c.pending) == 0 && c.err == nil {
				c.ack <- struct{}{}
			}
		case <-c.ctx.Done():
			return 0, c.ctx.Err()
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 && c.err == nil {
		select {
		case c.ack <- struct{}{}:
		case <-c.ctx.Done():
		}
	}
	return n, nil
}
