package input

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"github.com/cinch-sg/cinch/internal/bomb"
	"io"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

const okLine = "2 111122223333 eni-01 10.0.0.1 10.0.0.2 40000 443 6 3 180 1700000000 1700000060 ACCEPT OK\n"

// A line longer than MaxLine is one malformed line, and the lines after it
// are read (on the old reader it ended the file: "token too long").
func TestLongLineIsOneMalformedLine(t *testing.T) {
	for _, long := range []int{MaxLine + 1, 5 << 20} {
		var b bytes.Buffer
		for i := range 1001 {
			if i == 500 {
				b.WriteString(strings.Repeat("x", long) + "\n")
				continue
			}
			b.WriteString(okLine)
		}
		var logs []logged
		r := newTestReader(Options{}, &logs)
		n := 0
		err := r.ReadStream(context.Background(), "long.log", &b, func(*flowlog.Record, *envelope.Meta) error { n++; return nil })
		if err != nil {
			t.Fatalf("%d: %v", long, err)
		}
		st := r.Stats()
		if n != 1000 || st.Records != 1000 || st.Malformed != 1 || st.MalformedByReason[ReasonLineTooLong] != 1 || st.Lines != 1001 {
			t.Errorf("%d: records %d, stats %+v", long, n, st)
		}
		if len(logs) != 1 || logs[0].file != "long.log" || logs[0].line != 501 || !strings.Contains(logs[0].err, "longer than") {
			t.Errorf("%d: logs %+v", long, logs)
		}
	}
	// A long last line without a newline, and CRLF lines.
	r := NewReader(Options{}, nil)
	in := strings.ReplaceAll(okLine, "\n", "\r\n") + strings.Repeat("y", MaxLine*3)
	n := 0
	if err := r.ReadStream(context.Background(), "s", strings.NewReader(in), func(*flowlog.Record, *envelope.Meta) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); n != 1 || st.Malformed != 1 || st.MalformedByReason[ReasonLineTooLong] != 1 {
		t.Errorf("records %d stats %+v", n, st)
	}
}

// A truncated gzip stream fails with a message naming the input and saying
// that it ends early, for text and for JSON content.
func TestTruncatedGzipFails(t *testing.T) {
	cw := `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"eni-01","logEvents":[{"id":"1","timestamp":1,"message":"` +
		strings.TrimSuffix(okLine, "\n") + `"}]}` + "\n"
	for _, content := range []string{strings.Repeat(okLine, 2000), strings.Repeat(cw, 2000)} {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write([]byte(content))
		zw.Close()
		r := NewReader(Options{}, nil)
		n := 0
		err := r.ReadStream(context.Background(), "cut.gz", bytes.NewReader(zb.Bytes()[:zb.Len()*2/3]), func(*flowlog.Record, *envelope.Meta) error { n++; return nil })
		if err == nil || !strings.Contains(err.Error(), "cut.gz") || !strings.Contains(err.Error(), "ends early") || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err %v", err)
		}
		if n == 0 || n >= 2000 {
			t.Errorf("records before the cut: %d", n)
		}
	}
}

// JSON streams are read one object at a time: a bad object is one malformed
// envelope and the following objects are read; an object over MaxObject is
// skipped; an object cut short at the end is malformed.
func TestJSONStreamObjects(t *testing.T) {
	ev := func(id string) string {
		return `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"eni-01","logEvents":[{"id":"` + id +
			`","timestamp":1,"message":"` + strings.TrimSuffix(okLine, "\n") + `"}]}`
	}
	big := `{"message": "` + strings.Repeat("z", 4096) + `"}`
	in := ev("a") + "\n\n  " + `{"messageType": 7}` + ev("b") + big + "\n{\n  \"message\" :\n\n\n \"" + strings.TrimSuffix(okLine, "\n") + " \\\" {[ \"\n}" + ev("c") + `{"message": "x`
	var logs []logged
	r := newTestReader(Options{MaxObject: 1024}, &logs)
	var ids []string
	err := r.ReadStream(context.Background(), "cw.json", strings.NewReader(in), func(_ *flowlog.Record, m *envelope.Meta) error {
		ids = append(ids, m.EventID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	// a, b, c from CloudWatch; the "message" object's line has a quote and
	// brackets inside its string: one malformed line (field count).
	if strings.Join(ids, ",") != "a,b,c" || st.MalformedByReason[ReasonEnvelope] != 3 || st.Malformed != 4 {
		t.Errorf("ids %v stats %+v logs %+v", ids, st, logs)
	}
	if len(logs) != 4 || !strings.Contains(logs[1].err, "larger than 1024 bytes") || !strings.Contains(logs[3].err, "ends early") {
		t.Errorf("logs %+v", logs)
	}
}

// A gzip bomb of JSON-looking whitespace does not make the reader hold the
// decompressed stream (the old reader read it whole: 4.8 GB for 1 GiB).
func TestJSONGzipBombBoundedMemory(t *testing.T) {
	const spaces = 256 << 20
	line := strings.TrimSuffix(okLine, "\n")
	for _, c := range []struct{ prefix, suffix string }{
		{"{", ""},
		{`{"message":`, `"` + line + `"}`},
	} {
		r := NewReader(Options{}, nil)
		n := 0
		var err error
		total := bomb.Allocated(func() {
			err = r.ReadStream(context.Background(), "bomb.gz", bomb.GzipPadded(c.prefix, spaces, c.suffix), func(*flowlog.Record, *envelope.Meta) error { n++; return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		if total > 32<<20 {
			t.Errorf("%q: %d MiB allocated for %d MiB of decompressed input", c.prefix, total>>20, spaces>>20)
		}
		// "{" and spaces: one object that ends early; with a message, one record.
		st := r.Stats()
		if c.suffix == "" && (n != 0 || st.MalformedByReason[ReasonEnvelope] != 1) || c.suffix != "" && (n != 1 || st.Malformed != 0) {
			t.Errorf("%q: records %d stats %+v", c.prefix, n, st)
		}
	}
}

// Reading text allocates per stream, never per record.
func TestReadStreamAllocsPerStream(t *testing.T) {
	in := []byte(strings.Repeat(okLine, 10000))
	r := NewReader(Options{}, nil)
	h := func(*flowlog.Record, *envelope.Meta) error { return nil }
	allocs := testing.AllocsPerRun(5, func() {
		if err := r.ReadStream(context.Background(), "s", bytes.NewReader(in), h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 20 {
		t.Errorf("%.0f allocations for 10,000 lines", allocs)
	}
}

// FuzzJSONStream: a JSON stream read object by object gives the records
// that decoding each top-level object on its own gives, and never fails on
// content (only on read errors).
func FuzzJSONStream(f *testing.F) {
	ev := `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","logEvents":[{"id":"1","timestamp":1,"message":"` +
		strings.TrimSuffix(okLine, "\n") + `"}]}`
	for _, s := range []string{ev + "\n" + ev, `{"message":"x \" { y"}{"message":"` + strings.TrimSuffix(okLine, "\n") + `"}`, "{ \n\n }", `{"a":[}`, ev + " garbage", `{"message": "a\\"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !strings.HasPrefix(strings.TrimLeft(in, " \t\r\n"), "{") {
			return
		}
		r := NewReader(Options{MaxObject: 1 << 16}, nil)
		n := 0
		if err := r.ReadStream(context.Background(), "f", strings.NewReader(in), func(*flowlog.Record, *envelope.Meta) error { n++; return nil }); err != nil {
			t.Fatalf("content made the read fail: %v", err)
		}
		st := r.Stats()
		if int64(n) != st.Records || st.Records < 0 {
			t.Fatalf("records %d, stats %+v", n, st)
		}
		// Splitting into objects and squeezing whitespace does not change
		// what a valid stream of objects (within MaxObject) holds.
		if len(in) > 1<<16 {
			return
		}
		dec := json.NewDecoder(strings.NewReader(in))
		want := int64(0)
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				if err != io.EOF {
					return // not a valid stream: only "no failure" is checked
				}
				break
			}
			if len(raw) == 0 || raw[0] != '{' {
				return
			}
			one := NewReader(Options{}, nil)
			if err := one.ReadPayload(context.Background(), "p", raw, func(*flowlog.Record, *envelope.Meta) error { return nil }); err != nil {
				t.Fatal(err)
			}
			want += one.Stats().Records
		}
		if st.Records != want {
			t.Fatalf("stream gave %d records, objects one by one %d: %q", st.Records, want, in)
		}
	})
}
