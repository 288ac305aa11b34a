package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	gzip "github.com/klauspost/compress/gzip"
	"io"
	"os"
	"path/filepath"

	"github.com/cinch-sg/cinch/stream/envelope"
)

// readFiles replays the configured local files through the pipeline. Each
// file is a shard; once read whole it is checkpointed as done (offset = its
// size), so a restart does not count it twice. "-" reads stdin.
func (d *Daemon) readFiles(ctx context.Context) {
	for _, f := range d.cfg.Files {
		if ctx.Err() != nil {
			return
		}
		if err := d.readFile(ctx, f); err != nil {
			d.log.Error("file input failed", "file", f, "err", err)
		}
	}
}

func (d *Daemon) readFile(ctx context.Context, path string) error {
	key := "file:" + path
	var size int64 = -1
	if path != "-" {
		abs, err := filepath.Abs(path)
		if err == nil {
			key = "file:" + abs
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		size = st.Size()
	}
	s, next := d.newShardFor(key)
	if path != "-" && next == size {
		d.log.Info("file already read", "file", path)
		d.mu.Lock()
		d.shards[key] = s
		d.mu.Unlock()
		return nil
	}
	// Not read whole yet (or changed since): start over from an empty state,
	// whatever a checkpoint taken halfway through held.
	s = newShard(key, s.eng, d.scfg, s.bucket)
	s.dec = newDecoder(d.formats)
	d.mu.Lock()
	d.shards[key] = s
	d.mu.Unlock()
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 1<<20)
	if head, _ := br.Peek(2); envelope.IsGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	if first := firstNonSpace(br); first == '{' {
		// JSON envelopes (CloudWatch, Firehose): decode the file as one payload.
		data, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		d.met.RecordsConsumed.Inc()
		s.mu.Lock()
		sk := shardSink{d: d, s: s, onBad: func(l []byte, reason string) {
			d.log.Warn("malformed line", "file", path, "reason", reason)
		}}
		s.dec.reset()
		if err := s.dec.decode(data, &sk); err != nil {
			d.log.Warn("undecodable input", "file", path, "err", err)
		}
		d.met.RecordsParsed.Add(float64(sk.parsed))
		s.mu.Unlock()
		return d.finishFile(s, path, size, 1)
	}
	// Feed the pipeline in chunks of whole lines so the shard lock is not held
	// long; a header line's format holds for the whole file.
	s.dec.reset()
	line := 0
	buf := make([]byte, 0, 1<<20)
	flush := func() {
		if len(buf) == 0 {
			return
		}
		s.mu.Lock()
		sk := shardSink{d: d, s: s, onBad: func(l []byte, reason string) {
			d.log.Warn("malformed line", "file", path, "reason", reason)
		}}
		if err := s.dec.decode(buf, &sk); err != nil {
			d.log.Warn("undecodable input", "file", path, "err", err)
		}
		d.met.RecordsParsed.Add(float64(sk.parsed))
		s.unsaved = true
		s.mu.Unlock()
		buf = buf[:0]
	}
	for {
		l, err := br.ReadSlice('\n')
		if len(l) > 0 {
			line++
			d.met.RecordsConsumed.Inc()
			buf = append(buf, l...)
			if len(buf) >= 1<<20-4096 {
				flush()
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	flush()
	return d.finishFile(s, path, size, line)
}

// finishFile marks a file read (its size as the offset) and checkpoints it.
func (d *Daemon) finishFile(s *shard, path string, size int64, lines int) error {
	s.mu.Lock()
	s.next = size
	s.unsaved = true
	s.mu.Unlock()
	if path != "-" {
		if _, err := d.checkpointShard(s); err != nil {
			return err
		}
	}
	d.log.Info("file read", "file", path, "lines", lines)
	return nil
}

// firstNonSpace peeks at the first byte that is not white space.
func firstNonSpace(br *bufio.Reader) byte {
	for n := 1; n <= 4096; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return 0
		}
		if c := b[n-1]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
		if err != nil {
			return 0
		}
	}
	return 0
}
