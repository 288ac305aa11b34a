package input

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// got is one record as seen by a Handler, as JSON plus metadata.
type got struct {
	json string
	meta envelope.Meta
}

type logged struct {
	file string
	line int
	err  string
}

func collect(out *[]got) Handler {
	return func(rec *flowlog.Record, m *envelope.Meta) error {
		*out = append(*out, got{string(rec.AppendJSON(nil)), *m})
		return nil
	}
}

func newTestReader(opts Options, logs *[]logged) *Reader {
	return NewReader(opts, func(file string, line int, err error) {
		*logs = append(*logs, logged{file, line, err.Error()})
	})
}

const text = `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status my-extra
2 111122223333 eni-01 10.0.0.1 10.0.0.2 40000 443 6 3 180 1700000000 1700000060 ACCEPT OK x

2 111122223333 eni-01 10.0.0.1 10.0.0.2 40000 443 6 3 180 1700000000 1700000060 MAYBE OK x
2 111122223333 eni-01 - - - - - - - 1700000000 1700000060 - NODATA -
2 111122223333 eni-01 - - - - - - - 1700000000 1700000060 - SKIPDATA -
2 111122223333 eni-01 10.0.0.1 10.0.0.2 40000 443 6 3
`

func TestReadFilePlainGzipAndHeader(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "a.log")
	if err := os.WriteFile(plain, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(text))
	zw.Close()
	gz := filepath.Join(dir, "b.txt") // any name: detected by magic bytes
	if err := os.WriteFile(gz, zb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{plain, gz} {
		var recs []got
		var logs []logged
		r := newTestReader(Options{}, &logs)
		if err := r.ReadFile(context.Background(), path, collect(&recs)); err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 || recs[0].meta.Line != 2 || !strings.Contains(recs[0].json, `"my-extra":"x"`) || !strings.Contains(recs[1].json, `"log-status":"NODATA"`) {
			t.Errorf("%s: records %+v", path, recs)
		}
		st := r.Stats()
		if st.Files != 1 || st.Lines != 6 || st.Records != 3 || st.Malformed != 2 || st.NoData != 1 || st.SkipData != 1 || st.Headers != 1 ||
			st.MalformedByReason["bad-value"] != 1 || st.MalformedByReason["field-count"] != 1 || len(st.UnknownFields) != 1 {
			t.Errorf("%s: stats %+v", path, st)
		}
		// one unknown-field warning (line 0) and two malformed lines with numbers.
		if len(logs) != 3 || logs[0].line != 0 || !strings.Contains(logs[0].err, "my-extra") ||
			logs[1].line != 4 || logs[1].file != path || logs[2].line != 7 || !strings.Contains(logs[2].err, "expected 15 fields, got 9") {
			t.Errorf("%s: logs %+v", path, logs)
		}
	}
}

func TestReadErrors(t *testing.T) {
	r := NewReader(Options{}, nil)
	err := r.ReadFile(context.Background(), "/no/such/file.log", collect(new([]got)))
	if err == nil || !strings.Contains(err.Error(), "/no/such/file.log") {
		t.Errorf("missing file: %v", err)
	}
	bad := append([]byte{0x1f, 0x8b}, []byte("not really gzip")...)
	err = r.ReadStream(context.Background(), "broken.gz", bytes.NewReader(bad), collect(new([]got)))
	if err == nil || !strings.Contains(err.Error(), "broken.gz") {
		t.Errorf("bad gzip: %v", err)
	}
	// A truncated gzip stream fails while reading.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(strings.Repeat("2 1 eni-1 - - - - - - - 1 2 - NODATA\n", 1000)))
	zw.Close()
	err = r.ReadStream(context.Background(), "trunc.gz", bytes.NewReader(zb.Bytes()[:zb.Len()/2]), collect(new([]got)))
	if err == nil || !strings.Contains(err.Error(), "trunc.gz") {
		t.Errorf("truncated gzip: %v", err)
	}
	// Handler errors stop the read.
	stop := context.Canceled
	err = r.ReadPayload(context.Background(), "p", []byte(text), func(*flowlog.Record, *envelope.Meta) error { return stop })
	if err != stop {
		t.Errorf("handler error: %v", err)
	}
}

func TestReadPayloadEnvelopes(t *testing.T) {
	custom := flowlog.MustParseFormat("${version} ${interface-id} ${srcaddr} ${dstaddr}")
	cw := `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"grp","logStream":"eni-9","logEvents":[
	{"id":"e1","timestamp":5,"message":"2 eni-9 10.0.0.1 10.0.0.2"},{"id":"e2","timestamp":6,"message":"2 eni-9 nope 10.0.0.2"}]}
	{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","logEvents":[]}`
	var recs []got
	var logs []logged
	r := newTestReader(Options{FormatByLogGroup: map[string]*flowlog.Format{"grp": custom}}, &logs)
	if err := r.ReadPayload(context.Background(), "kafka:0:1", []byte(cw), collect(&recs)); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].json != `{"version":2,"interface-id":"eni-9","srcaddr":"10.0.0.1","dstaddr":"10.0.0.2"}` || recs[0].meta.EventID != "e1" || recs[0].meta.LogGroup != "grp" {
		t.Errorf("records %+v", recs)
	}
	st := r.Stats()
	if st.ControlMessages != 1 || st.Malformed != 1 || st.MalformedByReason["bad-address"] != 1 || len(logs) != 1 || !strings.Contains(logs[0].err, "event e2") {
		t.Errorf("stats %+v logs %+v", st, logs)
	}
	// A broken envelope is counted and logged, not returned.
	if err := r.ReadPayload(context.Background(), "k", []byte(`{"messageType":"DATA_MESSAGE"}`), collect(&recs)); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.MalformedByReason[ReasonEnvelope] != 1 {
		t.Errorf("envelope errors not counted: %+v", st)
	}
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := NewReader(Options{}, nil)
	big := strings.Repeat("2 1 eni-1 - - - - - - - 1 2 - NODATA\n", 10000)
	if err := r.ReadStream(ctx, "s", strings.NewReader(big), collect(new([]got))); err != context.Canceled {
		t.Errorf("got %v", err)
	}
}
