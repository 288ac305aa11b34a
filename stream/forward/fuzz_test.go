package forward

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"testing"

	"github.com/cinch-sg/cinch/stream/envelope"
)

// FuzzRecords: any payload is either refused with an error or turned into
// records that the daemon's decoder reads back with exactly the events of
// the input, each within the size limit.
func FuzzRecords(f *testing.F) {
	msg := func(typ, group string, n int) []byte {
		var evs []map[string]any
		for i := range n {
			evs = append(evs, map[string]any{"id": "1", "timestamp": 1, "message": "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK"[:20+i%30]})
		}
		b, _ := json.Marshal(map[string]any{"messageType": typ, "logGroup": group, "logStream": "s", "logEvents": evs})
		return b
	}
	z := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	f.Add(z(msg("DATA_MESSAGE", "g", 3)))
	f.Add(z(msg("DATA_MESSAGE", "g", 60)))
	f.Add(msg("DATA_MESSAGE", "g", 2))
	f.Add(z(msg("CONTROL_MESSAGE", "", 1)))
	f.Add([]byte("2 1 eni-1 - - - - - - - 1 2 - NODATA\n"))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Add([]byte(`{"messageType":"DATA_MESSAGE"}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		fw, _ := New(nil, Config{Topic: "t", MaxRecordBytes: 512})
		recs, err := fw.records(p)
		if err != nil {
			return
		}
		for _, r := range recs {
			if len(r.value) > 512 {
				t.Fatalf("record of %d bytes", len(r.value))
			}
			if len(r.key) == 0 {
				continue // plain lines
			}
			if _, err := envelope.Decode(r.value, func([]byte, *envelope.Meta) error { return nil }); err != nil {
				t.Fatalf("forwarded record does not decode: %v", err)
			}
		}
	})
}
