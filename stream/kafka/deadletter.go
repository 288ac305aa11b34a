package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Timing of the dead-letter topic checks.
const (
	// deadLetterRecheck is how often a dead-letter topic that is missing
	// (and could not be created) is looked for again.
	deadLetterRecheck = 30 * time.Second
	// deadLetterRetry is how soon a check that could not reach the brokers
	// is tried again.
	deadLetterRetry = 5 * time.Second
	// deadLetterFlush bounds how long Commit waits for dead letters in
	// flight, so that offsets are committed after the dead letters of
	// their records, without stalling the stream when the topic is slow.
	deadLetterFlush = 5 * time.Second
	// deadLetterLogEvery spaces the warnings about failed dead letters.
	deadLetterLogEvery = 10 * time.Second
)

// ErrDeadLetterUnavailable is returned by DeadLetter while the dead-letter
// topic is known to be missing; see Consumer.DeadLetterProblem.
var ErrDeadLetterUnavailable = errors.New("kafka: dead-letter topic unavailable")

// DeadLetterProblem returns why dead letters cannot be written (the topic
// does not exist and could not be created), or nil.
func (c *Consumer) DeadLetterProblem() error {
	if p := c.dlqProblem.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *Consumer) setDeadLetterProblem(err error) {
	if err == nil {
		c.dlqProblem.Store(nil)
		return
	}
	c.dlqProblem.Store(&err)
}

// ensureDeadLetterTopic checks that the dead-letter topic exists and
// creates it when it does not (brokers' default partitions and
// replication); a topic that is missing and cannot be created is recorded
// for DeadLetterProblem. An error that is not about the topic (brokers out
// of reach) is returned without being recorded.
func (c *Consumer) ensureDeadLetterTopic(ctx context.Context) error {
	topic := c.cfg.DeadLetterTopic
	details, err := c.adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("kafka: dead-letter topic %q: describe: %w", topic, err)
	}
	if d, ok := details[topic]; ok && d.Err == nil {
		c.setDeadLetterProblem(nil)
		return nil
	}
	resp, err := c.adm.CreateTopic(ctx, -1, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
		c.log.Info("kafka: created the dead-letter topic", "topic", topic)
		c.setDeadLetterProblem(nil)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	p := fmt.Errorf("kafka: dead-letter topic %q does not exist and cannot be created (%w); create it, or remove dead_letter_topic; meanwhile dead letters are dropped and counted", topic, err)
	c.setDeadLetterProblem(p)
	return p
}

// watchDeadLetter makes sure the dead-letter topic exists: at start, then
// again whenever a dead letter finds it missing, and every
// deadLetterRecheck while it is missing.
func (c *Consumer) watchDeadLetter(ctx context.Context) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.ensureDeadLetterTopic(cctx)
		cancel()
		var wait <-chan time.Time
		switch {
		case err == nil:
		case c.DeadLetterProblem() != nil:
			c.log.Error("kafka: dead letters cannot be written", "err", err)
			wait = time.After(deadLetterRecheck)
		default:
			c.log.Warn("kafka: cannot check the dead-letter topic yet", "err", err)
			wait = time.After(deadLetterRetry)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.dlqKick:
		case <-wait:
		}
	}
}

// DeadLetterAsync queues rec for the dead-letter topic like DeadLetter, but
// never waits: the outcome is counted in Stats (DeadLettered, or
// DeadLetterFailed and DeadLetterDropped), and failures are logged at most
// every few seconds. While the topic is known to be missing the record is
// dropped at once, so a missing topic never slows the stream.
func (c *Consumer) DeadLetterAsync(rec Record, reason string) {
	if c.cfg.DeadLetterTopic == "" {
		c.deadLetterDropped.Add(1)
		return
	}
	if err := c.DeadLetterProblem(); err != nil {
		c.deadLetterFailed(rec, err)
		return
	}
	r := deadLetterRecord(c.cfg.DeadLetterTopic, rec, reason)
	c.cl.TryProduce(context.Background(), r, func(_ *kgo.Record, err error) {
		if err != nil {
			c.deadLetterFailed(rec, err)
			return
		}
		c.deadLettered.Add(1)
	})
}

// deadLetterFailed counts a dead letter that could not be written and asks
// for the topic to be checked when it was found missing.
func (c *Consumer) deadLetterFailed(rec Record, err error) {
	c.deadLetterDropped.Add(1)
	n := c.deadLetterFailures.Add(1)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		select {
		case c.dlqKick <- struct{}{}:
		default:
		}
	}
	now := time.Now().UnixNano()
	last := c.dlqLogged.Load()
	if now-last >= int64(deadLetterLogEvery) && c.dlqLogged.CompareAndSwap(last, now) {
		c.log.Warn("kafka: dead letter not written", "partition", rec.Partition.String(), "offset", rec.Offset,
			"failures_total", n, "err", err)
	}
}

// flushDeadLetters waits, at most deadLetterFlush, for the dead letters in
// flight.
func (c *Consumer) flushDeadLetters(ctx context.Context) {
	if c.cfg.DeadLetterTopic == "" {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, deadLetterFlush)
	defer cancel()
	if err := c.cl.Flush(fctx); err != nil {
		c.log.Warn("kafka: dead letters still in flight at commit", "err", err)
	}
}
