package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// closeFlushTimeout bounds the flush of buffered records in Producer.Close.
const closeFlushTimeout = 10 * time.Second

// Producer writes records to Kafka (tests, the demo, the load command and
// the forwarder). Only the connection fields of its Config are used.
type Producer struct {
	brokers []string
	cl      *kgo.Client
	log     *slog.Logger

	mu       sync.Mutex
	asyncErr error // first ProduceAsync error since the last Flush
	failed   int   // ProduceAsync failures since the last Flush
}

// NewProducer creates a Producer for cfg's brokers, TLS and SASL settings.
// It does not contact the brokers. A nil logger discards logs.
func NewProducer(cfg Config, logger *slog.Logger) (*Producer, error) {
	if errs := cfg.validateConn(); len(errs) > 0 {
		return nil, fmt.Errorf("kafka producer config: %w", errors.Join(errs...))
	}
	logger = orDiscard(logger).With("component", "kafka-producer")
	opts, err := clientOpts(cfg, logger)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new producer client: %w", err)
	}
	return &Producer{brokers: cfg.Brokers, cl: cl, log: logger}, nil
}

// Ping checks that a broker is reachable and accepts the TLS and SASL
// settings, reporting authentication and certificate errors directly
// (producing retries them until its context ends).
func (p *Producer) Ping(ctx context.Context) error {
	if err := p.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: ping brokers %v: %w", p.brokers, err)
	}
	return nil
}

// Produce writes one record and waits until the brokers acknowledge it.
func (p *Producer) Produce(ctx context.Context, topic string, key, value []byte) error {
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("kafka: produce to %s: %w", topic, err)
	}
	return nil
}

// ProduceAsync buffers one record for sending; failures are reported by the
// next Flush. It blocks only while the client's buffer is full.
func (p *Producer) ProduceAsync(ctx context.Context, topic string, key, value []byte) {
	p.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}, func(r *kgo.Record, err error) {
		if err == nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.failed++
		if p.asyncErr == nil {
			p.asyncErr = fmt.Errorf("kafka: produce to %s: %w", r.Topic, err)
		}
	})
}

// Flush waits until every buffered record is acknowledged or failed, and
// returns an error when any ProduceAsync record failed since the last Flush.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka: flush: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err, n := p.asyncErr, p.failed
	p.asyncErr, p.failed = nil, 0
	if err != nil {
		return fmt.Errorf("%d records failed, first: %w", n, err)
	}
	return nil
}

// Close flushes buffered records (bounded wait, failures logged) and closes
// the client.
func (p *Producer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		p.log.Error("kafka producer: records lost at close", "err", err)
	}
	p.cl.Close()
}

// EnsureTopics creates the topics with the given partition count and the
// brokers' default replication factor; topics that already exist are left
// as they are.
func EnsureTopics(ctx context.Context, cfg Config, partitions int32, topics ...string) error {
	if errs := cfg.validateConn(); len(errs) > 0 {
		return fmt.Errorf("kafka ensure topics config: %w", errors.Join(errs...))
	}
	if partitions < 1 {
		return fmt.Errorf("kafka ensure topics: partitions %d < 1", partitions)
	}
	for _, t := range topics {
		if err := validateTopic(t); err != nil {
			return fmt.Errorf("kafka ensure topics: %w", err)
		}
	}
	if len(topics) == 0 {
		return nil
	}
	opts, err := clientOpts(cfg, orDiscard(nil))
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka ensure topics: new client: %w", err)
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, -1, nil, topics...)
	if err != nil {
		return fmt.Errorf("kafka ensure topics: create: %w", err)
	}
	var errs []error
	for _, t := range topics {
		r, ok := resps[t]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: no response", t))
		case r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists):
			errs = append(errs, fmt.Errorf("%s: %w %s", t, r.Err, r.ErrMessage))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("kafka ensure topics: %w", errors.Join(errs...))
	}
	return nil
}
