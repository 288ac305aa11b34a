package daemon

// batchSet remembers the CloudWatch batches (envelope.Meta.Batch) a shard
// has counted, by minute of event time, so that a redelivered batch counts
// once. CloudWatch Logs, Firehose and Lambda retry whole batches, so one
// 64-bit key per batch holds what a key per event would, at a fraction of the
// memory; expiry drops whole minutes instead of scanning every key.
type batchSet struct {
	keys map[uint64]int64   // batch → unix minute of its first event
	mins map[int64][]uint64 // unix minute → batches
	max  int                // most batches kept (0: no bound)
	// evicted counts batches dropped before their time to respect max.
	evicted uint64
}

func newBatchSet(max int) *batchSet {
	return &batchSet{keys: map[uint64]int64{}, mins: map[int64][]uint64{}, max: max}
}

// add records batch k of event time t (unix seconds) and reports whether it
// was already there.
func (b *batchSet) add(k uint64, t int64) (dup bool) {
	if _, ok := b.keys[k]; ok {
		return true
	}
	m := t / 60
	b.keys[k] = m
	b.mins[m] = append(b.mins[m], k)
	for b.max > 0 && len(b.keys) > b.max {
		b.evictOldest()
	}
	return false
}

// expire forgets the batches of minutes that end before t (unix seconds).
func (b *batchSet) expire(t int64) {
	for m, ks := range b.mins {
		if (m+1)*60 <= t {
			b.drop(m, ks)
		}
	}
}

func (b *batchSet) evictOldest() {
	first := true
	var oldest int64
	for m := range b.mins {
		if first || m < oldest {
			oldest, first = m, false
		}
	}
	if !first {
		b.evicted += uint64(len(b.mins[oldest]))
		b.drop(oldest, b.mins[oldest])
	}
}

func (b *batchSet) drop(m int64, ks []uint64) {
	for _, k := range ks {
		if b.keys[k] == m {
			delete(b.keys, k)
		}
	}
	delete(b.mins, m)
}

// len returns the number of batches remembered.
func (b *batchSet) len() int { return len(b.keys) }

// snapshot returns the batches for a checkpoint.
func (b *batchSet) snapshot() map[uint64]int64 { return b.keys }

// restore replaces the content with a checkpoint's.
func (b *batchSet) restore(keys map[uint64]int64) {
	b.keys, b.mins = make(map[uint64]int64, len(keys)), map[int64][]uint64{}
	for k, m := range keys {
		b.keys[k] = m
		b.mins[m] = append(b.mins[m], k)
	}
}
