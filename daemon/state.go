package daemon

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// shard is the analysis state of one input partition (a Kafka partition or a
// local file): one windowed accumulator (see analysis.Accumulator.Expire) that
// holds the partition's usage inside the window, the CloudWatch batches seen
// recently (for at-least-once delivery) and the next offset to read. A shard
// is the unit of checkpointing: its state and the offset it includes are
// written together, so a restart resumes exactly where the state ends.
type shard struct {
	mu        sync.Mutex
	key       string // "topic/partition" or "file:/path"
	eng       *analysis.Engine
	scfg      sketch.Config // windowed: scfg.Slot is the expiry granularity
	bucket    int64         // configured bucket (s); the slot is a multiple of it
	acc       *analysis.Accumulator
	batches   *batchSet // CloudWatch batches counted recently
	next      int64     // next offset; -1 when unknown
	watermark int64     // latest record end seen
	dirty     bool      // changed since the last evaluation
	// changed holds the rules whose usage changed since the last
	// evaluation: the accumulator tracks into it, expiry included. all says
	// every rule may have.
	changed analysis.RuleSet
	all     bool
	unsaved bool     // changed since the last checkpoint
	dec     *decoder // used under mu
}

func newShard(key string, eng *analysis.Engine, scfg sketch.Config, bucket int64) *shard {
	s := &shard{key: key, eng: eng, scfg: scfg, bucket: bucket, batches: newBatchSet(0), next: -1}
	if eng != nil {
		s.acc = s.newAccumulator()
	}
	return s
}

// newShard returns an empty shard with the daemon's sketch and dedupe settings.
func (d *Daemon) newShard(key string, eng *analysis.Engine, bucket int64) *shard {
	s := newShard(key, eng, d.scfg, bucket)
	s.batches.max = d.cfg.Analysis.DedupeMaxBatches
	return s
}

// newAccumulator returns an empty accumulator that tracks the rules it
// credits into s.changed.
func (s *shard) newAccumulator() *analysis.Accumulator {
	acc := analysis.NewAccumulator(s.eng, s.scfg)
	acc.Track(&s.changed)
	return acc
}

// observe adds one record. The caller holds mu.
func (s *shard) observe(rec *flowlog.Record) analysis.Outcome {
	out := s.acc.Observe(rec)
	if rec.End > s.watermark {
		s.watermark = rec.End
	}
	s.dirty, s.unsaved = true, true
	return out
}

// takeChanged adds the rules changed since the last call to set and reports
// whether every rule may have changed; it resets both. The caller holds mu.
func (s *shard) takeChanged(set *analysis.RuleSet) (all bool) {
	set.Union(&s.changed)
	s.changed.Clear()
	all, s.all = s.all, false
	return all
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

// expire drops the usage filed before the slot that contains before (event
// time, see Daemon.clock), and the batches counted before dedupeBefore. The
// rules whose usage changed go to s.changed. The caller holds mu.
func (s *shard) expire(before, dedupeBefore int64) {
	if old, ok := s.acc.Oldest(); ok && old < before-mod(before, s.scfg.Slot) {
		s.acc.Expire(before)
		s.dirty, s.unsaved = true, true
	}
	s.batches.expire(dedupeBefore)
}

func mod(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// rebind moves the shard's state to a new engine (inventory reload), keeping
// the usage of rules it lacks by key. The caller holds mu.
func (s *shard) rebind(eng *analysis.Engine) {
	s.acc = s.acc.Rebind(eng)
	s.acc.Track(&s.changed)
	s.eng = eng
	s.dirty, s.all, s.unsaved = true, true, true
}

// mergeInto adds the shard's usage to dst. The caller holds mu.
func (s *shard) mergeInto(dst *analysis.Accumulator) error { return dst.Merge(s.acc) }

// mergeRulesInto adds the shard's usage of the rules in set to dst, without
// its port evidence, which j copies where it changed since j's last round (see
// analysis.PortJudge). The caller holds mu.
func (s *shard) mergeRulesInto(dst *analysis.Accumulator, set *analysis.RuleSet, j *analysis.PortJudge) error {
	if s.acc == nil {
		return nil
	}
	j.Take(s.acc)
	return dst.MergeRulesNoEvidence(s.acc, set)
}

// scanEvidence shows j the shard's port evidence (see analysis.PortJudge).
// The caller holds mu.
func (s *shard) scanEvidence(j *analysis.PortJudge) {
	if s.acc != nil {
		j.Scan(s.acc)
	}
}

// checkpoint is the on-disk form of a shard.
type checkpoint struct {
	Version   int
	Key       string
	Next      int64
	Watermark int64
	Bucket    int64             // versions 2 and 3: the bucket of Buckets
	Buckets   []bucketSnapshot  // versions 2 and 3: one accumulator per bucket
	Seen      map[uint64]int64  // version 2: hashes of event ids (no longer read)
	Batches   map[uint64]int64  // version 3: CloudWatch batches -> unix minute
	State     analysis.Snapshot // version 4: the windowed accumulator
}

type bucketSnapshot struct {
	Start int64
	State analysis.Snapshot
}

// checkpointVersion is the version written: 4 keeps one windowed
// accumulator. 3 (one accumulator per bucket, CloudWatch batches) and 2
// (per-protocol sketches of -1 rules, event ids) are still read: each bucket
// is filed in the time slot of its start, and 2's event ids are dropped.
const checkpointVersion = 4

// snapshot serializes the shard. The caller holds mu.
func (s *shard) snapshot() ([]byte, error) {
	cp := checkpoint{Version: checkpointVersion, Key: s.key, Next: s.next, Watermark: s.watermark, Batches: s.batches.snapshot()}
	snap, err := s.acc.Snapshot()
	if err != nil {
		return nil, err
	}
	cp.State = snap
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
	if cp.Version < 2 || cp.Version > checkpointVersion {
		return fmt.Errorf("checkpoint %s: version %d, want 2 to %d", s.key, cp.Version, checkpointVersion)
	}
	acc := s.newAccumulator()
	if cp.Version == checkpointVersion {
		if _, err := acc.Restore(cp.State); err != nil {
			return fmt.Errorf("checkpoint %s: %w", s.key, err)
		}
	}
	for _, b := range cp.Buckets {
		if _, err := acc.RestoreAt(b.State, b.Start); err != nil {
			return fmt.Errorf("checkpoint %s: %w", s.key, err)
		}
	}
	s.acc = acc
	s.next, s.watermark = cp.Next, cp.Watermark
	s.batches.restore(cp.Batches)
	s.dirty, s.all = true, true
	return nil
}

// checkpointPath names a shard's file in the state directory.
func checkpointPath(dir, key string) string {
	r := strings.NewReplacer("/", "_", ":", "_", "\\", "_")
	return filepath.Join(dir, "shard-"+r.Replace(key)+".ckpt")
}
