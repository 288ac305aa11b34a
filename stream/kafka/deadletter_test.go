package kafka

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A missing dead-letter topic is created when the consumer runs, and
// DeadLetterAsync then writes to it without waiting (issue 7, finding 5).
func TestDeadLetterTopicCreatedOnRun(t *testing.T) {
	brokers := newCluster(t, 1, "flows")
	cfg := testConfig(brokers, "g-dlq-create", "flows")
	cfg.DeadLetterTopic = "flows-dlq"
	c, err := New(cfg, newTestHandler(newLedger()), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })

	waitFor(t, 20*time.Second, "the dead-letter topic", func() bool {
		d, err := c.adm.ListTopics(context.Background(), "flows-dlq")
		return err == nil && d["flows-dlq"].Err == nil
	})
	start := time.Now()
	for i := range 3 {
		c.DeadLetterAsync(Record{Partition: Partition{"flows", 0}, Offset: int64(i), Value: []byte("bad")}, "malformed")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("DeadLetterAsync waited %v", d)
	}
	waitFor(t, 20*time.Second, "3 dead letters", func() bool { return c.Stats().DeadLettered == 3 })
	if got := consumeAll(t, brokers, "flows-dlq", 3); len(got) != 3 {
		t.Errorf("read %d dead letters, want 3", len(got))
	}
	if err := c.DeadLetterProblem(); err != nil {
		t.Errorf("DeadLetterProblem = %v", err)
	}
}

// While the topic is known to be missing, dead letters fail at once and are
// counted.
func TestDeadLetterUnavailableFailsFast(t *testing.T) {
	brokers := newCluster(t, 1, "flows")
	cfg := testConfig(brokers, "g", "flows")
	cfg.DeadLetterTopic = "flows-dlq"
	c, err := New(cfg, newTestHandler(newLedger()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.setDeadLetterProblem(errors.New("topic missing"))
	rec := Record{Partition: Partition{"flows", 0}, Offset: 1, Value: []byte("x")}
	if err := c.DeadLetter(context.Background(), rec, "bad"); !errors.Is(err, ErrDeadLetterUnavailable) {
		t.Errorf("DeadLetter = %v, want ErrDeadLetterUnavailable", err)
	}
	c.DeadLetterAsync(rec, "bad")
	if st := c.Stats(); st.DeadLetterFailed != 2 || st.DeadLetterDropped != 2 || st.DeadLettered != 0 {
		t.Errorf("stats %+v, want 2 failed", st)
	}
}
