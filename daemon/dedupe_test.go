package daemon

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"testing"

	"github.com/cinch-sg/cinch/sketch"
)

func TestBatchSet(t *testing.T) {
	b := newBatchSet(0)
	if b.add(1, 600) || b.add(2, 659) || b.add(3, 660) {
		t.Fatal("new batches reported as duplicates")
	}
	if !b.add(1, 9999) || !b.add(3, 0) {
		t.Fatal("a redelivered batch must be a duplicate, whatever its time")
	}
	b.expire(660) // minute 10 (600–659) has ended
	if b.len() != 1 || b.add(3, 660) == false {
		t.Fatalf("after expiry: %d batches, want only 3", b.len())
	}
	if b.add(1, 600) {
		t.Fatal("an expired batch counts again")
	}

	// A bound drops the oldest minutes first, and counts what it dropped.
	b = newBatchSet(4)
	for k := range uint64(6) {
		b.add(k+1, int64(k)*60)
	}
	if b.len() != 4 || b.evicted != 2 {
		t.Fatalf("%d batches, %d evicted; want 4 and 2", b.len(), b.evicted)
	}
	if b.add(1, 0) == true || b.add(6, 300) == false {
		t.Fatal("the oldest batches must be the ones evicted")
	}

	// Checkpoint round trip.
	c := newBatchSet(0)
	c.restore(b.snapshot())
	if !reflect.DeepEqual(c.keys, b.keys) || len(c.mins) != len(b.mins) {
		t.Fatalf("restore: %v / %v", c.keys, b.keys)
	}
	c.expire(1 << 40)
	if c.len() != 0 || len(c.mins) != 0 {
		t.Fatalf("restored minutes not expired: %v", c.mins)
	}
}

// A version-2 checkpoint (event-id hashes instead of batches) still
// restores: its state and offset, without dedupe memory.
func TestRestoreVersion2Checkpoint(t *testing.T) {
	s := newShard("t/0", nil, sketch.DefaultConfig(), 3600)
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&checkpoint{Version: 2, Key: "t/0", Next: 42, Watermark: 7, Bucket: 3600,
		Seen: map[uint64]int64{1: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := s.restore(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if s.next != 42 || s.watermark != 7 || s.batches.len() != 0 {
		t.Fatalf("next %d, watermark %d, %d batches", s.next, s.watermark, s.batches.len())
	}
	buf.Reset()
	if err := gob.NewEncoder(&buf).Encode(&checkpoint{Version: 1, Key: "t/0", Bucket: 3600}); err != nil {
		t.Fatal(err)
	}
	if err := newShard("t/0", nil, sketch.DefaultConfig(), 3600).restore(buf.Bytes()); err == nil {
		t.Fatal("a version-1 checkpoint must be refused")
	}
}
