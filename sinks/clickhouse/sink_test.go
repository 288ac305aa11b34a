package clickhouse

import (
	"context"
	"testing"
	"time"
)

// The buffer keeps the latest state row per key and at most Buffer appended
// rows, dropping (and counting) the oldest; nothing is flushed without a server.
func TestBufferBounds(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:1", Buffer: 10, MaxBackoff: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := time.Unix(3600, 0)
	s.PutUsage([]UsageRow{{Partition: "p/0", RuleKey: "r", Bucket: b, Flows: 1, Version: 1}})
	s.PutUsage([]UsageRow{{Partition: "p/0", RuleKey: "r", Bucket: b, Flows: 2, Version: 2}})
	s.PutSketch(SketchRow{Partition: "p/0", Version: 1})
	seq := s.PutSketch(SketchRow{Partition: "p/0", Version: 2})
	if got := s.Backlog(); got != 2 {
		t.Fatalf("backlog after replacing state rows = %d, want 2", got)
	}
	for i := range 15 {
		s.PutEvents(EventRow{Version: uint64(i)})
	}
	if got, dropped := s.Backlog(), s.Status().Dropped; got != 12 || dropped != 5 {
		t.Fatalf("backlog = %d, dropped = %d; want 12 and 5", got, dropped)
	}
	if s.events[0].Version != 5 {
		t.Fatalf("oldest kept event = %d, want 5", s.events[0].Version)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err == nil {
		t.Fatal("flush to a closed port succeeded")
	}
	st := s.Status()
	if !st.Failing || st.Failures != 1 || st.LastError == "" || s.Flushed() >= seq || st.Backlog != 12 {
		t.Fatalf("after a failed flush: %+v, flushed %d (seq %d)", st, s.Flushed(), seq)
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := New(Config{}, nil); err == nil {
		t.Error("empty addr accepted")
	}
	if _, err := New(Config{Addr: "x:1", Database: "a-b; DROP"}, nil); err == nil {
		t.Error("bad database name accepted")
	}
}
