package daemon

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// shard is the analysis state of one input partition (a Kafka partition or a
// local file): per time bucket an accumulator, the CloudWatch batches seen recently
// (for at-least-once delivery) and the next offset to read. A shard is the
// unit of checkpointing: its state and the offset it includes are written
// together, so a restart resumes exactly where the state ends.
type shard struct {
	mu        sync.Mutex
	key       string // "topic/partition" or "file:/path"
	eng       *analysis.Engine
	scfg      sketch.Config
	bucket    int64 // seconds
	buckets   map[int64]*analysis.Accumulator
	batches   *batchSet // CloudWatch batches counted recently
	next      int64     // next offset; -1 when unknown
	watermark int64     // latest record end seen
	dirty     bool      // changed since the last evaluation
	// changed holds the rules whose usage changed since the last
	// evaluation: every bucket's accumulator tracks into it, and expiry adds
	// the rules of the buckets it drops. all says every rule may have.
	changed analysis.RuleSet
	all     bool
	unsaved bool     // changed since the last checkpoint
	dec     *decoder // used under mu
	// closed caches the merge of every bucket older than closedTo (the
	// newest bucket), so an evaluation merges one accumulator per shard
	// plus the open bucket instead of every bucket of the window.
	closed   *analysis.Accumulator
	closedTo int64
}

func newShard(key string, eng *analysis.Engine, scfg sketch.Config, bucket int64) *shard {
	return &shard{key: key, eng: eng, scfg: scfg, bucket: bucket, buckets: map[int64]*analysis.Accumulator{}, batches: newBatchSet(0), next: -1}
}

// newShard returns an empty shard with the daemon's sketch and dedupe settings.
func (d *Daemon) newShard(key string, eng *analysis.Engine, bucket int64) *shard {
	s := newShard(key, eng, d.scfg, bucket)
	s.batches.max = d.cfg.Analysis.DedupeMaxBatches
	return s
}

// observe adds one record to its time bucket. The caller holds mu.
func (s *shard) observe(rec *flowlog.Record) analysis.Outcome {
	t := rec.Start
	if t == 0 {
		t = rec.End
	}
	if t == 0 {
		t = s.watermark
	}
	b := t - mod(t, s.bucket)
	if s.closed != nil && b < s.closedTo {
		s.closed = nil // a late record changed a closed bucket
	}
	acc := s.buckets[b]
	if acc == nil {
		acc = s.newBucket()
		s.buckets[b] = acc
	}
	out := acc.Observe(rec)
	if rec.End > s.watermark {
		s.watermark = rec.End
	}
	s.dirty, s.unsaved = true, true
	return out
}

// newBucket returns an empty accumulator that tracks the rules it credits
// into s.changed.
func (s *shard) newBucket() *analysis.Accumulator {
	acc := analysis.NewAccumulator(s.eng, s.scfg)
	acc.Track(&s.changed)
	return acc
}

// takeChanged adds the rules changed since the last call to set and reports
// whether every rule may have changed; it resets both. The caller holds mu.
func (s *shard) takeChanged(set *analysis.RuleSet) (all bool) {
	set.Union(&s.changed)
	s.changed.Clear()
	all, s.all = s.all, false
	return all
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// duplicate reports whether CloudWatch batch k (envelope.Meta.Batch) of
// event time t was counted already, remembering it. The caller holds mu.
func (s *shard) duplicate(k uint64, t int64) bool {
	if s.batches.add(k, t) {
		return true
	}
	s.unsaved = true
	return false
}

// expire drops buckets that left the window, and batches older than the
// dedupe window before the newest record (event time: redeliveries come
// with the records' own times). The caller holds mu.
func (s *shard) expire(now, window, dedupe int64) {
	for b, acc := range s.buckets {
		if b+s.bucket <= now-window {
			acc.AddUsed(&s.changed)
			delete(s.buckets, b)
			s.dirty, s.unsaved = true, true
			s.closed = nil
		}
	}
	s.batches.expire(s.watermark - dedupe)
}

// rebind moves the shard's state to a new engine (inventory reload). The caller holds mu.
func (s *shard) rebind(eng *analysis.Engine) {
	for b, acc := range s.buckets {
		n := acc.Rebind(eng)
		n.Track(&s.changed)
		s.buckets[b] = n
	}
	s.eng = eng
	s.dirty, s.all = true, true
	s.closed = nil
}

// mergeInto adds every bucket to dst. The caller holds mu.
func (s *shard) mergeInto(dst *analysis.Accumulator) error { return s.mergeRulesInto(dst, nil) }

// mergeRulesInto adds every bucket's usage of the rules in set (all when set
// is nil) to dst. The caller holds mu.
func (s *shard) mergeRulesInto(dst *analysis.Accumulator, set *analysis.RuleSet) error {
	var newest int64
	first := true
	for b := range s.buckets {
		if first || b > newest {
			newest, first = b, false
		}
	}
	if first {
		return nil
	}
	if s.closed == nil || s.closedTo != newest || s.closed.Engine() != s.eng {
		c := analysis.NewAccumulator(s.eng, s.scfg)
		for b, acc := range s.buckets {
			if b < newest {
				if err := c.Merge(acc); err != nil {
					return err
				}
			}
		}
		s.closed, s.closedTo = c, newest
	}
	if set == nil {
		if err := dst.Merge(s.closed); err != nil {
			return err
		}
		return dst.Merge(s.buckets[newest])
	}
	if err := dst.MergeRules(s.closed, set); err != nil {
		return err
	}
	return dst.MergeRules(s.buckets[newest], set)
}

// checkpoint is the on-disk form of a shard.
type checkpoint struct {
	Version   int
	Key       string
	Next      int64
	Watermark int64
	Bucket    int64
	Buckets   []bucketSnapshot
	Seen      map[uint64]int64 // version 2: hashes of event ids (no longer read)
	Batches   map[uint64]int64 // version 3: CloudWatch batches -> unix minute
}

type bucketSnapshot struct {
	Start int64
	State analysis.Snapshot
}

// checkpointVersion is the version written; 2 (per-protocol sketches of -1
// rules, event ids) is still read, without its event ids; 3 remembers
// CloudWatch batches instead.
const checkpointVersion = 3

// snapshot serializes the shard. The caller holds mu.
func (s *shard) snapshot() ([]byte, error) {
	cp := checkpoint{Version: checkpointVersion, Key: s.key, Next: s.next, Watermark: s.watermark, Bucket: s.bucket, Batches: s.batches.snapshot()}
	starts := make([]int64, 0, len(s.buckets))
	for b := range s.buckets {
		starts = append(starts, b)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, b := range starts {
		snap, err := s.buckets[b].Snapshot()
		if err != nil {
			return nil, err
		}
		cp.Buckets = append(cp.Buckets, bucketSnapshot{Start: b, State: snap})
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s: encode: %w", s.key, err)
	}
	return buf.Bytes(), nil
}

// restore loads a checkpoint into an empty shard.
func (s *shard) restore(data []byte) error {
	var cp checkpoint
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&cp); err != nil {
		return fmt.Errorf("checkpoint %s: decode: %w", s.key, err)
	}
	if cp.Version != checkpointVersion && cp.Version != 2 {
		return fmt.Errorf("checkpoint %s: version %d, want 2 or %d", s.key, cp.Version, checkpointVersion)
	}
	if cp.Bucket != s.bucket {
		return fmt.Errorf("checkpoint %s: bucket size %ds differs from the configured %ds", s.key, cp.Bucket, s.bucket)
	}
	s.next, s.watermark = cp.Next, cp.Watermark
	s.batches.restore(cp.Batches)
	for _, b := range cp.Buckets {
		acc := s.newBucket()
		if _, err := acc.Restore(b.State); err != nil {
			return fmt.Errorf("checkpoint %s: %w", s.key, err)
		}
		s.buckets[b.Start] = acc
	}
	s.dirty, s.all = true, true
	return nil
}

// checkpointPath names a shard's file in the state directory.
func checkpointPath(dir, key string) string {
	r := strings.NewReplacer("/", "_", ":", "_", "\\", "_")
	return filepath.Join(dir, "shard-"+r.Replace(key)+".ckpt")
}

// writeAtomic replaces path with data: temporary file, fsync, rename, fsync
// of the directory, so a crash leaves the old or the new file, never a torn one.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("checkpoint: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", dir, err)
	}
	return nil
}
