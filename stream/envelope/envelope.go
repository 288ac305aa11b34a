// Package envelope unwraps the containers that carry flow-log lines: gzip,
// CloudWatch Logs subscription messages, the Lambda, Kinesis and Firehose event
// shapes that carry those base64-encoded, concatenated JSON objects, JSON objects
// with a "message" field, and plain text. It hands each flow-log line to a callback
// with the metadata the envelope provided; it does not parse the lines.
package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	gzip "github.com/klauspost/compress/gzip"
	"io"
	"slices"
	"strings"
)

// Kind names the outermost envelope of a payload. Compression (gzip) and base64
// are transparent: a gzip blob holding a CloudWatch message is KindCloudWatch.
type Kind uint8

// Envelope kinds.
const (
	KindPlain          Kind = iota // flow-log text, one record per line
	KindCloudWatch                 // CloudWatch Logs subscription message (messageType, logEvents)
	KindFirehose                   // Firehose HTTP endpoint request body {requestId, timestamp, records[].data}
	KindLambda                     // Lambda CloudWatch Logs event {"awslogs":{"data":...}}
	KindKinesis                    // Lambda Kinesis event {"Records":[{"kinesis":{"data":...}}]}
	KindFirehoseLambda             // Lambda Firehose transformation event {records[].recordId, data}
	KindJSONMessage                // JSON object(s) with a "message" string holding the line
)

// String returns a lower-case name such as "cloudwatch".
func (k Kind) String() string {
	switch k {
	case KindPlain:
		return "plain"
	case KindCloudWatch:
		return "cloudwatch"
	case KindFirehose:
		return "firehose"
	case KindLambda:
		return "lambda"
	case KindKinesis:
		return "kinesis"
	case KindFirehoseLambda:
		return "firehose-lambda"
	case KindJSONMessage:
		return "json-message"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Meta is what the envelope says about a line. The Meta itself is reused
// between calls and only valid during the callback: copy what must outlive it.
// Its strings are ordinary immutable strings that may be kept, but they may be
// shared: the owner, log group and log stream are shared by all the events of
// a payload (and by later payloads with the same values), and the event ids of
// a CloudWatch payload decoded by the fast path are substrings of one string,
// so keeping one EventID keeps all of that payload's ids in memory (clone it
// with strings.Clone to keep just one).
type Meta struct {
	Owner     string // CloudWatch owner account
	LogGroup  string
	LogStream string
	EventID   string // CloudWatch logEvents[].id
	Timestamp int64  // CloudWatch event timestamp, unix milliseconds
	Line      int    // 1-based line number within plain text, 0 otherwise
	// Batch identifies the CloudWatch batch (DATA_MESSAGE) the event came
	// in: a 64-bit FNV-1a hash of its log group, log stream and every event
	// id in order, stable across processes; 0 outside CloudWatch batches. A
	// redelivered batch has the same Batch.
	Batch uint64
	// First is set on the first line handed over from each batch (each
	// DATA_MESSAGE, also when one payload holds the same batch twice).
	First bool
}

// batchHash accumulates Meta.Batch.
type batchHash uint64

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func newBatchHash() batchHash { return fnvOffset }

// add hashes s and a terminating zero byte.
func (h batchHash) add(s string) batchHash {
	for i := 0; i < len(s); i++ {
		h = (h ^ batchHash(s[i])) * fnvPrime
	}
	return h * fnvPrime // ^ 0
}

// sum returns the hash, never 0.
func (h batchHash) sum() uint64 {
	if h == 0 {
		return 1
	}
	return uint64(h)
}

// Stats counts what a Decoder has seen since it was created.
type Stats struct {
	Payloads        int // calls to Decode
	Lines           int // lines handed to the callback
	Events          int // CloudWatch log events seen (DATA_MESSAGE)
	ControlMessages int // CloudWatch CONTROL_MESSAGEs skipped
	Gzip            int // gzip layers opened
	Base64          int // base64 layers decoded
}

// DefaultMaxDecompressed bounds the size of one gunzipped layer.
const DefaultMaxDecompressed = 256 << 20

const maxDepth = 6

// Decoder decodes payloads, reusing its buffers. It is not safe for concurrent use.
type Decoder struct {
	// MaxDecompressed bounds a gunzipped layer (DefaultMaxDecompressed when 0).
	MaxDecompressed int64

	gz    *gzip.Reader
	gzIn  bytes.Reader // gz's input
	bufs  [maxDepth][]byte
	line  []byte
	meta  Meta
	stats Stats
	fast  fastState
	// slowOnly disables the CloudWatch fast path (tests compare both paths).
	slowOnly bool
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Stats returns the counters accumulated so far.
func (d *Decoder) Stats() Stats { return d.stats }

// Decode unwraps one payload with a fresh Decoder; see Decoder.Decode.
func Decode(payload []byte, fn func(line []byte, m *Meta) error) (Kind, error) {
	return NewDecoder().Decode(payload, fn)
}

// Decode unwraps one payload (a Kafka record value, an HTTP body, a small file)
// and calls fn for every flow-log line with its metadata; the line and Meta are
// only valid during the call, and fn must not modify the line: it may point
// into payload or into the Decoder's buffers (appending to it is safe). Empty
// lines are skipped. It returns the detected
// outer Kind. An error returned by fn stops decoding and is returned unchanged;
// malformed envelopes give errors starting with "envelope: ".
func (d *Decoder) Decode(payload []byte, fn func(line []byte, m *Meta) error) (Kind, error) {
	d.stats.Payloads++
	return d.decode(payload, 0, fn)
}

func (d *Decoder) decode(p []byte, depth int, fn func([]byte, *Meta) error) (Kind, error) {
	if depth >= maxDepth {
		return KindPlain, errors.New("envelope: too deeply nested")
	}
	if IsGzip(p) {
		out, err := d.gunzip(p, depth)
		if err != nil {
			return KindPlain, err
		}
		return d.decode(out, depth+1, fn)
	}
	t := bytes.TrimLeft(p, " \t\r\n")
	if len(t) > 0 && t[0] == '{' {
		return d.decodeJSON(t, depth, fn)
	}
	if raw, ok := d.maybeBase64(t, depth); ok {
		return d.decode(raw, depth+1, fn)
	}
	return KindPlain, d.plain(p, fn)
}

// IsGzip reports whether p starts with the gzip magic bytes.
func IsGzip(p []byte) bool { return len(p) >= 2 && p[0] == 0x1f && p[1] == 0x8b }

func (d *Decoder) gunzip(p []byte, depth int) ([]byte, error) {
	var err error
	d.gzIn.Reset(p)
	if d.gz == nil {
		d.gz, err = gzip.NewReader(&d.gzIn)
	} else {
		err = d.gz.Reset(&d.gzIn) // reuses the inflater and its window
	}
	if err != nil {
		return nil, fmt.Errorf("envelope: gzip: %w", err)
	}
	limit := d.MaxDecompressed
	if limit <= 0 {
		limit = DefaultMaxDecompressed
	}
	// Read up to limit+1 bytes into the reused buffer of this depth.
	buf := d.bufs[depth][:0]
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(len(buf), 4096))
		}
		room := buf[len(buf):cap(buf)]
		if rem := limit - int64(len(buf)); rem < int64(len(room)) {
			room = room[:rem+1]
		}
		n, err := d.gz.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			d.bufs[depth] = buf
			return nil, fmt.Errorf("envelope: gzip: %w", err)
		}
	}
	d.bufs[depth] = buf
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("envelope: gzip: decompressed size exceeds %d bytes", limit)
	}
	d.stats.Gzip++
	return buf, nil
}

// maybeBase64 decodes t when it is one base64 token whose content is gzip or JSON.
func (d *Decoder) maybeBase64(t []byte, depth int) ([]byte, bool) {
	t = bytes.TrimRight(t, " \t\r\n")
	if len(t) < 8 || len(t)%4 != 0 {
		return nil, false
	}
	for _, c := range t {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, false
		}
	}
	raw, err := d.unbase64(t, depth)
	if err != nil || !(IsGzip(raw) || len(bytes.TrimSpace(raw)) > 0 && bytes.TrimSpace(raw)[0] == '{') {
		return nil, false
	}
	return raw, true
}

func (d *Decoder) unbase64(s []byte, depth int) ([]byte, error) {
	buf := d.bufs[depth][:0]
	n := base64.StdEncoding.DecodedLen(len(s))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	m, err := base64.StdEncoding.Decode(buf, s)
	if err != nil {
		return nil, fmt.Errorf("envelope: base64: %w", err)
	}
	d.bufs[depth] = buf
	d.stats.Base64++
	return buf[:m], nil
}

// plain emits every non-empty line of p with its 1-based line number.
func (d *Decoder) plain(p []byte, fn func([]byte, *Meta) error) error {
	d.meta = Meta{}
	for n := 1; len(p) > 0; n++ {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		d.meta.Line = n
		d.stats.Lines++
		if err := fn(line, &d.meta); err != nil {
			return err
		}
	}
	return nil
}

// logEvent is one CloudWatch Logs event.
type logEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

// dataRecord is one entry of a Firehose or Kinesis records array.
type dataRecord struct {
	Data     *string `json:"data"`
	RecordID string  `json:"recordId"`
	Kinesis  *struct {
		Data *string `json:"data"`
	} `json:"kinesis"`
}

// object holds every key of every JSON envelope this package knows; which keys
// are set tells the shape. encoding/json matches keys case-insensitively, so
// "records" (Firehose) and "Records" (Kinesis) share one field.
type object struct {
	MessageType *string     `json:"messageType"`
	Owner       string      `json:"owner"`
	LogGroup    string      `json:"logGroup"`
	LogStream   string      `json:"logStream"`
	LogEvents   *[]logEvent `json:"logEvents"`
	AWSLogs     *struct {
		Data *string `json:"data"`
	} `json:"awslogs"`
	RequestID *string       `json:"requestId"`
	Records   *[]dataRecord `json:"records"`
	Message   *string       `json:"message"`
}

func (d *Decoder) decodeJSON(t []byte, depth int, fn func([]byte, *Meta) error) (Kind, error) {
	kind := KindPlain
	n := 0
	// Well-formed CloudWatch DATA_MESSAGEs, one after the other, without
	// encoding/json; the first other object and all that follow take the
	// general path below.
	for !d.slowOnly && len(t) > 0 && t[0] == '{' {
		rest, ok, err := d.fastCloudWatch(t, fn)
		if !ok {
			break
		}
		if n == 0 {
			kind = KindCloudWatch
		}
		n++
		if err != nil {
			return kind, err
		}
		t = bytes.TrimLeft(rest, " \t\r\n")
		if len(t) == 0 {
			return kind, nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	for ; ; n++ {
		var o object
		if err := dec.Decode(&o); err == io.EOF {
			break
		} else if err != nil {
			if n == 0 {
				return KindPlain, fmt.Errorf("envelope: json: %w", err)
			}
			return kind, fmt.Errorf("envelope: json: object %d: %w", n+1, err)
		}
		k, err := d.object(&o, depth, fn)
		if n == 0 {
			kind = k
		}
		if err != nil {
			return kind, err
		}
	}
	return kind, nil
}

func (d *Decoder) object(o *object, depth int, fn func([]byte, *Meta) error) (Kind, error) {
	switch {
	case o.MessageType != nil:
		return KindCloudWatch, d.cloudWatch(o, fn)
	case o.AWSLogs != nil:
		if o.AWSLogs.Data == nil {
			return KindLambda, errors.New("envelope: lambda: awslogs without data")
		}
		raw, err := d.unbase64([]byte(*o.AWSLogs.Data), depth)
		if err != nil {
			return KindLambda, fmt.Errorf("envelope: lambda: %w", err)
		}
		if _, err := d.decode(raw, depth+1, fn); err != nil {
			return KindLambda, err
		}
		return KindLambda, nil
	case o.Records != nil:
		return d.records(o, depth, fn)
	case o.Message != nil:
		d.meta = Meta{}
		if strings.TrimSpace(*o.Message) == "" {
			return KindJSONMessage, nil // empty lines are skipped
		}
		d.stats.Lines++
		d.line = append(d.line[:0], *o.Message...)
		return KindJSONMessage, fn(d.line, &d.meta)
	}
	return KindPlain, errors.New("envelope: json: object of unknown shape (no messageType, awslogs, records or message)")
}

func (d *Decoder) records(o *object, depth int, fn func([]byte, *Meta) error) (Kind, error) {
	kind, name := KindFirehose, "firehose"
	if o.RequestID == nil {
		kind, name = KindFirehoseLambda, "firehose-lambda"
		if len(*o.Records) > 0 && (*o.Records)[0].Kinesis != nil {
			kind, name = KindKinesis, "kinesis"
		}
	}
	for i, rec := range *o.Records {
		data := rec.Data
		if rec.Kinesis != nil {
			data = rec.Kinesis.Data
		}
		if data == nil {
			return kind, fmt.Errorf("envelope: %s: record %d: no data", name, i+1)
		}
		raw, err := d.unbase64([]byte(*data), depth)
		if err != nil {
			return kind, fmt.Errorf("envelope: %s: record %d: %w", name, i+1, err)
		}
		if _, err := d.decode(raw, depth+1, fn); err != nil {
			return kind, err
		}
	}
	return kind, nil
}

func (d *Decoder) cloudWatch(o *object, fn func([]byte, *Meta) error) error {
	switch *o.MessageType {
	case "CONTROL_MESSAGE":
		d.stats.ControlMessages++
		return nil
	case "DATA_MESSAGE":
	default:
		return fmt.Errorf("envelope: cloudwatch: unknown messageType %q", *o.MessageType)
	}
	switch {
	case o.LogGroup == "":
		return errors.New("envelope: cloudwatch: DATA_MESSAGE without logGroup")
	case o.LogStream == "":
		return errors.New("envelope: cloudwatch: DATA_MESSAGE without logStream")
	case o.LogEvents == nil:
		return errors.New("envelope: cloudwatch: DATA_MESSAGE without logEvents")
	}
	h := newBatchHash().add(o.LogGroup).add(o.LogStream)
	for _, ev := range *o.LogEvents {
		h = h.add(ev.ID)
	}
	batch := h.sum()
	first := true
	for _, ev := range *o.LogEvents {
		d.stats.Events++
		d.meta = Meta{Owner: o.Owner, LogGroup: o.LogGroup, LogStream: o.LogStream, EventID: ev.ID, Timestamp: ev.Timestamp, Batch: batch}
		d.line = append(d.line[:0], ev.Message...)
		if len(bytes.TrimSpace(d.line)) == 0 {
			continue
		}
		d.meta.First, first = first, false
		d.stats.Lines++
		if err := fn(d.line, &d.meta); err != nil {
			return err
		}
	}
	return nil
}
