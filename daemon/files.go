package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/input"
)

// fileLockBatch is how many records a file shard takes per hold of its lock,
// so an evaluation is never kept waiting for a whole file.
const fileLockBatch = 1 << 16

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

	// stream/input detects gzip, envelopes and header lines, and reports
	// malformed lines with their numbers; the shard attributes the records.
	rd := input.NewReader(input.Options{Format: d.formats.def, FormatByLogGroup: d.formats.logGroup},
		func(file string, line int, err error) {
			if line > 0 {
				reason := "malformed"
				var pe *flowlog.ParseError
				if errors.As(err, &pe) {
					reason = pe.Reason
				}
				d.met.RecordsFailed.WithLabelValues(reason).Inc()
			}
			d.log.Warn("file input", "file", file, "line", line, "err", err)
		})
	sk := shardSink{d: d, s: s}
	n := 0
	s.mu.Lock()
	err := rd.ReadFile(ctx, path, func(rec *flowlog.Record, m *envelope.Meta) error {
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
	d.log.Info("file read", "file", path, "records", n)
	return nil
}
