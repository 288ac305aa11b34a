package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	gzip "github.com/klauspost/compress/gzip"
	"strconv"

	"github.com/cinch-sg/cinch/stream/flowlog"
)

// LogGroup is the CloudWatch log group the generated flow logs go to.
const LogGroup = "/vpc/flow-logs/cinch-sim"

// Envelopes turns records into CloudWatch Logs subscription payloads (gzip
// JSON, DATA_MESSAGE), one payload per interface (log stream) and batch, as
// a subscription delivers them. Event ids are unique per record: seq numbers
// them; feeding the same seq twice reproduces the same ids (at-least-once
// delivery duplicates). An Envelopes is not safe for concurrent use.
type Envelopes struct {
	Format *flowlog.Format
	Owner  string
	// LogGroup names the payloads' log group ("" means the LogGroup constant).
	LogGroup string
	seq      uint64
	zw       *gzip.Writer // reused: a new writer allocates and clears ~1 MB
}

// NewEnvelopes returns an encoder that numbers events from seq.
func NewEnvelopes(fm *flowlog.Format, owner string, seq uint64) *Envelopes {
	return &Envelopes{Format: fm, Owner: owner, seq: seq}
}

type cwEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

type cwMessage struct {
	MessageType         string    `json:"messageType"`
	Owner               string    `json:"owner"`
	LogGroup            string    `json:"logGroup"`
	LogStream           string    `json:"logStream"`
	SubscriptionFilters []string  `json:"subscriptionFilters"`
	LogEvents           []cwEvent `json:"logEvents"`
}

// Payload is one subscription payload and the log stream it belongs to
// (the Kafka key the forwarder uses).
type Payload struct {
	LogStream string
	Data      []byte
	Records   int
}

// Encode groups flows by interface and returns one gzip payload per group,
// in first-seen order.
func (e *Envelopes) Encode(flows []Flow) ([]Payload, error) {
	var order []string
	byENI := map[string]*cwMessage{}
	var line []byte
	for i := range flows {
		f := &flows[i]
		stream := f.ENI + "-all"
		m := byENI[stream]
		if m == nil {
			group := e.LogGroup
			if group == "" {
				group = LogGroup
			}
			m = &cwMessage{MessageType: "DATA_MESSAGE", Owner: e.Owner, LogGroup: group, LogStream: stream,
				SubscriptionFilters: []string{"cinch"}}
			byENI[stream] = m
			order = append(order, stream)
		}
		line = AppendLine(line[:0], f, e.Format)
		e.seq++
		m.LogEvents = append(m.LogEvents, cwEvent{ID: eventID(e.seq), Timestamp: f.Start * 1000, Message: string(line)})
	}
	out := make([]Payload, 0, len(order))
	for _, s := range order {
		m := byENI[s]
		var buf bytes.Buffer
		if e.zw == nil {
			e.zw = gzip.NewWriter(&buf)
		} else {
			e.zw.Reset(&buf)
		}
		zw := e.zw
		if err := json.NewEncoder(zw).Encode(m); err != nil {
			return nil, fmt.Errorf("simulate: encode envelope: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("simulate: gzip envelope: %w", err)
		}
		out = append(out, Payload{LogStream: s, Data: buf.Bytes(), Records: len(m.LogEvents)})
	}
	return out, nil
}

// eventID renders a CloudWatch-like 56-digit event id.
func eventID(seq uint64) string {
	s := strconv.FormatUint(seq, 10)
	const width = 56
	b := make([]byte, 0, width)
	b = append(b, "3"...)
	for len(b)+len(s) < width {
		b = append(b, '0')
	}
	return string(append(b, s...))
}
