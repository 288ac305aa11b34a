package daemon

import (
	"context"
	"errors"
	"os"

	"github.com/cinch-sg/cinch/stream/kafka"
)

// kafkaHandler is the daemon seen as the Kafka consumer's handler.
type kafkaHandler Daemon

// newShardFor creates a shard for a Kafka partition, restored from its
// checkpoint when there is one. It returns the offset to resume from (-1:
// the group's committed offset).
func (d *Daemon) newShardFor(key string) (*shard, int64) {
	d.mu.Lock()
	eng := d.eng
	d.mu.Unlock()
	s := d.newShard(key, eng, int64(d.cfg.Analysis.Bucket.Std().Seconds()))
	s.dec = newDecoder(d.formats)
	data, err := d.readCheckpoint(key)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, -1
	case err != nil:
		d.log.Error("cannot read checkpoint; starting the partition from the committed offset with empty state", "shard", key, "err", err)
		return s, -1
	}
	if err := s.restore(data); err != nil {
		d.log.Error("cannot restore checkpoint; starting the partition from the committed offset with empty state", "shard", key, "err", err)
		s = d.newShard(key, eng, s.bucket)
		s.dec = newDecoder(d.formats)
		return s, -1
	}
	d.log.Info("restored partition state", "shard", key, "next_offset", s.next)
	return s, s.next
}

// Assigned restores the state of newly assigned partitions.
func (h *kafkaHandler) Assigned(ctx context.Context, ps []kafka.Partition) map[kafka.Partition]int64 {
	d := (*Daemon)(h)
	out := make(map[kafka.Partition]int64, len(ps))
	for _, p := range ps {
		key := partitionKey(p)
		s, next := d.newShardFor(key)
		d.mu.Lock()
		d.shards[key] = s
		delete(d.peers, checkpointPath(d.cfg.StateDir, key))
		d.mu.Unlock()
		out[p] = next
	}
	return out
}

// Revoked checkpoints partitions that leave this member and returns their
// offsets for the consumer to commit.
func (h *kafkaHandler) Revoked(ctx context.Context, ps []kafka.Partition) map[kafka.Partition]int64 {
	d := (*Daemon)(h)
	out := make(map[kafka.Partition]int64, len(ps))
	for _, p := range ps {
		key := partitionKey(p)
		d.mu.Lock()
		s := d.shards[key]
		d.mu.Unlock()
		if s == nil {
			continue
		}
		next, err := d.checkpointShard(s)
		if err != nil {
			d.log.Error("checkpoint of a revoked partition failed; its offset is not committed", "shard", key, "err", err)
		} else if o, ok := d.commitOffset(ctx, p, next); ok && next >= 0 {
			out[p] = o
		}
		d.mu.Lock()
		delete(d.shards, key)
		d.mu.Unlock()
	}
	return out
}

// Lost drops the state of partitions lost without a chance to commit; their
// next owner resumes from the last checkpoint.
func (h *kafkaHandler) Lost(ctx context.Context, ps []kafka.Partition) {
	d := (*Daemon)(h)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range ps {
		delete(d.shards, partitionKey(p))
	}
	d.forgetCommits(ps...)
}

// Handle processes one poll's records of a partition.
func (h *kafkaHandler) Handle(ctx context.Context, p kafka.Partition, recs []kafka.Record) {
	d := (*Daemon)(h)
	key := partitionKey(p)
	d.mu.Lock()
	s := d.shards[key]
	d.mu.Unlock()
	if s == nil {
		d.log.Warn("records for a partition without state", "shard", key)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		if s.next >= 0 && r.Offset < s.next {
			continue // already in the restored state
		}
		d.met.RecordsConsumed.Inc()
		sk := shardSink{d: d, s: s, onBad: func(line []byte, reason string) {
			d.deadLetter(ctx, kafka.Record{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: append([]byte(nil), line...)}, reason)
		}}
		if err := s.dec.decode(r.Value, &sk); err != nil {
			d.met.RecordsFailed.WithLabelValues("envelope").Inc()
			d.deadLetter(ctx, *r, "envelope: "+err.Error())
		}
		d.met.RecordsParsed.Add(float64(sk.parsed))
		sk.tally.flush(&d.logGroups)
		s.next = r.Offset + 1
		s.unsaved = true
	}
}

// deadLetter queues a record for the dead-letter topic (when configured);
// it never waits for the broker. Outcomes reach the metrics through
// syncKafkaStats.
func (d *Daemon) deadLetter(_ context.Context, r kafka.Record, reason string) {
	if d.consumer == nil || d.cfg.Kafka == nil || d.cfg.Kafka.DeadLetterTopic == "" {
		return
	}
	d.consumer.DeadLetterAsync(r, reason)
}

// syncKafkaStats adds the consumer's dead-letter counts since the last call
// to the metrics. prev holds the counts of the last call.
func (d *Daemon) syncKafkaStats(prev *kafka.Stats) {
	st := d.consumer.Stats()
	if n := st.DeadLettered - prev.DeadLettered; n > 0 {
		d.met.DeadLettered.Add(float64(n))
	}
	if n := st.DeadLetterFailed - prev.DeadLetterFailed; n > 0 {
		d.met.DeadLetterFailures.Add(float64(n))
	}
	*prev = st
}
