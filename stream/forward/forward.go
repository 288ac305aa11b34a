// Package forward moves CloudWatch Logs subscription payloads into Kafka,
// where the daemon reads them: as an AWS Lambda handler (the log group's
// subscription invokes it) and as an HTTP endpoint for Amazon Data Firehose
// HTTP-endpoint deliveries. Each DATA_MESSAGE payload becomes one Kafka record
// (the payload as CloudWatch sent it, gzip JSON) keyed by its log group, so one
// group's records stay in order on one partition; a payload above the record
// size limit is split by log events. CONTROL_MESSAGE payloads are dropped, bad
// payloads are counted and dropped. A batch is produced together and
// acknowledged as a whole; a failed flush is retried with backoff, after which
// the caller (Lambda, Firehose) gets an error and redelivers: the daemon's
// per-batch dedupe absorbs the duplicates.
package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/cinch-sg/cinch/stream/envelope"
)

// Sink is where records go (*kafka.Producer has these methods).
type Sink interface {
	ProduceAsync(ctx context.Context, topic string, key, value []byte)
	Flush(ctx context.Context) error
}

// Config tunes a Forwarder.
type Config struct {
	// Topic receives the records.
	Topic string
	// MaxRecordBytes is the largest record value (default 900 KB, under
	// Kafka's default 1 MB message limit); larger payloads are split.
	MaxRecordBytes int
	// Attempts is how many times a batch is produced before giving up
	// (default 3), with Backoff (default 200 ms) doubling in between.
	Attempts int
	Backoff  time.Duration
	// FlushTimeout bounds each attempt (default 30 s).
	FlushTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultMaxRecordBytes = 900 << 10
	DefaultAttempts       = 3
	DefaultBackoff        = 200 * time.Millisecond
	DefaultFlushTimeout   = 30 * time.Second
	maxDecompressed       = 64 << 20
)

// Stats counts what a Forwarder did.
type Stats struct {
	Payloads, Records, Control, Bad, Split, Raw, Retries, Failed uint64
}

// Forwarder forwards payloads; it is safe for concurrent use.
type Forwarder struct {
	sink Sink
	cfg  Config
	st   struct {
		payloads, records, control, bad, split, raw, retries, failed atomic.Uint64
	}
}

// New returns a forwarder to sink.
func New(sink Sink, cfg Config) (*Forwarder, error) {
	if cfg.Topic == "" {
		return nil, errors.New("forward: no topic")
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = DefaultFlushTimeout
	}
	return &Forwarder{sink: sink, cfg: cfg}, nil
}

// Stats returns the counters.
func (f *Forwarder) Stats() Stats {
	return Stats{Payloads: f.st.payloads.Load(), Records: f.st.records.Load(), Control: f.st.control.Load(),
		Bad: f.st.bad.Load(), Split: f.st.split.Load(), Raw: f.st.raw.Load(), Retries: f.st.retries.Load(), Failed: f.st.failed.Load()}
}

// record is one Kafka record to produce.
type record struct{ key, value []byte }

// subscription is the part of a subscription message the forwarder reads.
type subscription struct {
	MessageType         string            `json:"messageType"`
	Owner               string            `json:"owner"`
	LogGroup            string            `json:"logGroup"`
	LogStream           string            `json:"logStream"`
	SubscriptionFilters []string          `json:"subscriptionFilters"`
	LogEvents           []json.RawMessage `json:"logEvents"`
}

// BadPayloadError describes a payload that was dropped.
type BadPayloadError struct {
	Index int
	Err   error
}

func (e *BadPayloadError) Error() string { return fmt.Sprintf("payload %d: %v", e.Index, e.Err) }

// Forward produces the payloads (each a CloudWatch Logs subscription
// message, gzip-compressed as CloudWatch sends it, or plain flow-log lines)
// and waits until Kafka acknowledged all of them. Bad payloads are dropped
// and returned as *BadPayloadError values in bad; err is non-nil only when
// the batch could not be delivered.
func (f *Forwarder) Forward(ctx context.Context, payloads [][]byte) (bad []error, err error) {
	var recs []record
	for i, p := range payloads {
		f.st.payloads.Add(1)
		rs, err := f.records(p)
		if err != nil {
			f.st.bad.Add(1)
			bad = append(bad, &BadPayloadError{Index: i, Err: err})
			continue
		}
		recs = append(recs, rs...)
	}
	if len(recs) == 0 {
		return bad, nil
	}
	backoff := f.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err = f.produce(ctx, recs)
		if err == nil {
			f.st.records.Add(uint64(len(recs)))
			return bad, nil
		}
		if attempt >= f.cfg.Attempts || ctx.Err() != nil {
			f.st.failed.Add(uint64(len(recs)))
			return bad, fmt.Errorf("forward: %d records not delivered after %d attempts: %w", len(recs), attempt, err)
		}
		f.st.retries.Add(1)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			f.st.failed.Add(uint64(len(recs)))
			return bad, fmt.Errorf("forward: %w (after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		backoff *= 2
	}
}

func (f *Forwarder) produce(ctx context.Context, recs []record) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.FlushTimeout)
	defer cancel()
	for _, r := range recs {
		f.sink.ProduceAsync(ctx, f.cfg.Topic, r.key, r.value)
	}
	return f.sink.Flush(ctx)
}

// records turns one payload into the records to produce.
func (f *Forwarder) records(p []byte) ([]record, error) {
	if len(p) == 0 {
		return nil, errors.New("empty payload")
	}
	if !envelope.IsGzip(p) {
		if p[0] == '{' {
			return f.fromJSON(p, nil)
		}
		f.st.raw.Add(1)
		if len(p) > f.cfg.MaxRecordBytes {
			return nil, fmt.Errorf("plain payload of %d bytes exceeds %d", len(p), f.cfg.MaxRecordBytes)
		}
		return []record{{value: p}}, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(p))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if len(raw) > maxDecompressed {
		return nil, fmt.Errorf("payload decompresses to more than %d bytes", maxDecompressed)
	}
	return f.fromJSON(raw, p)
}

// fromJSON handles a decoded subscription message; orig is its gzip form
// (forwarded as is when it fits), nil when it came uncompressed.
func (f *Forwarder) fromJSON(raw, orig []byte) ([]record, error) {
	if orig != nil && len(orig) <= f.cfg.MaxRecordBytes {
		// The common case, one DATA_MESSAGE that fits: the daemon's decoder
		// alone checks it (a JSON unmarshal of every event besides costs
		// several times as much); anything else takes the path below.
		dec := envelope.NewDecoder()
		var group string
		messages := 0
		kind, err := dec.Decode(raw, func(_ []byte, m *envelope.Meta) error {
			if m.First {
				messages++
				group = m.LogGroup
			}
			return nil
		})
		if err == nil && kind == envelope.KindCloudWatch && messages == 1 && dec.Stats().ControlMessages == 0 {
			return []record{{key: []byte(group), value: orig}}, nil
		}
	}
	var m subscription
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not a CloudWatch Logs subscription message: %w", err)
	}
	switch m.MessageType {
	case "CONTROL_MESSAGE":
		f.st.control.Add(1)
		return nil, nil
	case "DATA_MESSAGE":
	default:
		return nil, fmt.Errorf("messageType %q (want DATA_MESSAGE or CONTROL_MESSAGE)", m.MessageType)
	}
	if m.LogGroup == "" || m.LogStream == "" {
		return nil, errors.New("DATA_MESSAGE without logGroup or logStream")
	}
	// Forward only what the daemon's decoder accepts (it is stricter than
	// encoding/json, which matches keys case-insensitively).
	if _, err := envelope.Decode(raw, func([]byte, *envelope.Meta) error { return nil }); err != nil {
		return nil, err
	}
	key := []byte(m.LogGroup)
	if orig != nil && len(orig) <= f.cfg.MaxRecordBytes {
		return []record{{key: key, value: orig}}, nil
	}
	if orig == nil {
		if z, err := gzipBytes(raw); err == nil && len(z) <= f.cfg.MaxRecordBytes {
			return []record{{key: key, value: z}}, nil
		}
	}
	return f.split(m, key)
}

// split cuts a message into messages that each fit MaxRecordBytes.
func (f *Forwarder) split(m subscription, key []byte) ([]record, error) {
	var out []record
	events := m.LogEvents
	for len(events) > 0 {
		n := len(events)
		for {
			part := m
			part.LogEvents = events[:n]
			b, err := json.Marshal(part)
			if err != nil {
				return nil, err
			}
			z, err := gzipBytes(b)
			if err != nil {
				return nil, err
			}
			if len(z) <= f.cfg.MaxRecordBytes {
				out = append(out, record{key: key, value: z})
				events = events[n:]
				break
			}
			if n == 1 {
				return nil, fmt.Errorf("one log event of %s compresses to %d bytes, more than %d", m.LogGroup, len(z), f.cfg.MaxRecordBytes)
			}
			n /= 2
		}
	}
	f.st.split.Add(1)
	return out, nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
