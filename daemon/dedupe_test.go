package daemon

import (
	"bytes"
	"encoding/gob"
	"log/slog"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
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
	s := newShard("t/0", analysis.NewEngine(inventory.New()), sketch.DefaultConfig(), 3600)
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
	if err := newShard("t/0", analysis.NewEngine(inventory.New()), sketch.DefaultConfig(), 3600).restore(buf.Bytes()); err == nil {
		t.Fatal("a version-1 checkpoint must be refused")
	}
}

// The sink counts a batch's events once: a batch repeated later, or again
// within the same payload, is dropped whole; events without ids are not
// mistaken for a repeat.
func TestSinkDropsRedeliveredBatches(t *testing.T) {
	sc := newScenario(t, 10, 61)
	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	d, err := New(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), OpenReads: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.ln.Close()
	s := d.newShard("t/0", d.eng, 3600)
	k := &shardSink{d: d, s: s}
	var rec flowlog.Record
	if err := flowlog.NewParser(richFormat).Parse(sc.lines[0], &rec); err != nil {
		t.Fatal(err)
	}
	feed := func(batch uint64, ids ...string) int {
		before := k.parsed
		for i, id := range ids {
			k.record(&rec, &envelope.Meta{LogGroup: "g", LogStream: "s", EventID: id, Timestamp: 1700000000000, Batch: batch, First: batch != 0 && i == 0})
		}
		return k.parsed - before
	}
	for _, c := range []struct {
		name  string
		batch uint64
		ids   []string
		want  int
	}{
		{"new batch", 11, []string{"1", "2", "3"}, 3},
		{"the same batch again, right after", 11, []string{"1", "2", "3"}, 0},
		{"another batch", 12, []string{"4", "5"}, 2},
		{"the first one, later", 11, []string{"1", "2", "3"}, 0},
		{"a batch without ids", 13, []string{"", "", ""}, 3},
		{"and its redelivery", 13, []string{"", "", ""}, 0},
		{"plain lines (no batch)", 0, []string{"", ""}, 2},
	} {
		if got := feed(c.batch, c.ids...); got != c.want {
			t.Errorf("%s: %d records counted, want %d", c.name, got, c.want)
		}
	}
	if got := testutil.ToFloat64(d.met.DuplicatesDropped); got != 9 {
		t.Errorf("duplicates dropped = %v, want 9", got)
	}
}
