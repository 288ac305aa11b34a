package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/internal/atomicfile"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// checkpointShard writes a shard's state with the offset it includes and
// returns that offset.
func (d *Daemon) checkpointShard(s *shard) (int64, error) {
	start := time.Now()
	s.mu.Lock()
	if !s.unsaved {
		next := s.next
		s.mu.Unlock()
		return next, nil
	}
	data, err := s.snapshot()
	if err == nil {
		d.publishShard(s, data)
	}
	next := s.next
	s.unsaved = false
	s.mu.Unlock()
	if err == nil {
		if err = atomicfile.Write(checkpointPath(d.cfg.StateDir, s.key), data); err != nil {
			err = fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err != nil {
		s.mu.Lock()
		s.unsaved = true
		s.mu.Unlock()
		return -1, err
	}
	d.met.CheckpointDuration.Observe(time.Since(start).Seconds())
	return next, nil
}

// checkpointAll checkpoints every shard, then commits the offsets of those
// whose state is durable.
func (d *Daemon) checkpointAll(ctx context.Context) error {
	d.mu.Lock()
	shards := make([]*shard, 0, len(d.shards))
	for _, s := range d.shards {
		shards = append(shards, s)
	}
	d.mu.Unlock()
	offsets := map[kafka.Partition]int64{}
	var firstErr error
	for _, s := range shards {
		next, err := d.checkpointShard(s)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if p, ok := parsePartitionKey(s.key); ok && next >= 0 {
			offsets[p] = next
		}
	}
	offsets = d.ch.gate(offsets) // only what ClickHouse holds, when configured
	if d.consumer != nil && len(offsets) > 0 {
		if err := d.consumer.Commit(ctx, offsets); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		d.met.CheckpointLastSuccess.SetToCurrentTime()
	}
	return firstErr
}

func parsePartitionKey(key string) (kafka.Partition, bool) {
	i := strings.LastIndexByte(key, '/')
	if i <= 0 || strings.HasPrefix(key, "file:") {
		return kafka.Partition{}, false
	}
	var n int32
	for _, c := range key[i+1:] {
		if c < '0' || c > '9' {
			return kafka.Partition{}, false
		}
		n = n*10 + int32(c-'0')
	}
	return kafka.Partition{Topic: key[:i], Partition: n}, true
}

// peerShard is the last checkpoint of a partition another instance owns.
type peerShard struct {
	mod     time.Time
	version uint64 // of the ClickHouse checkpoint
	shard   *shard
}

// loadPeers reads the checkpoints of partitions this instance does not own
// (other instances of the group sharing the state directory), so that every
// instance serves the verdicts of all traffic.
func (d *Daemon) loadPeers() {
	if d.ch != nil {
		d.loadPeersClickHouse()
		return
	}
	files, _ := filepath.Glob(filepath.Join(d.cfg.StateDir, "shard-*.ckpt"))
	d.mu.Lock()
	owned := map[string]bool{}
	for k := range d.shards {
		owned[checkpointPath(d.cfg.StateDir, k)] = true
	}
	eng := d.eng
	d.mu.Unlock()
	seen := map[string]bool{}
	for _, f := range files {
		if owned[f] {
			continue
		}
		seen[f] = true
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		d.mu.Lock()
		p := d.peers[f]
		d.mu.Unlock()
		if p != nil && p.mod.Equal(st.ModTime()) && p.shard.eng == eng {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := d.newShard(f, eng, int64(d.cfg.Analysis.Bucket.Std().Seconds()))
		if err := s.restore(data); err != nil {
			d.log.Warn("cannot read a peer checkpoint", "file", f, "err", err)
			continue
		}
		d.mu.Lock()
		d.peers[f] = &peerShard{mod: st.ModTime(), shard: s}
		d.mu.Unlock()
	}
	d.mu.Lock()
	for f := range d.peers {
		if !seen[f] {
			delete(d.peers, f)
		}
	}
	d.mu.Unlock()
}
