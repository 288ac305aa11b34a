package otelpeer

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// batchLines is the number of records in one benchmark input, roughly one
// small S3 object (about 1 MiB of default-format text).
const batchLines = 10000

// seed and start fix the synthetic traffic so every run sees the same bytes.
const seed = 42

var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// defaultHeader is the header line AWS writes at the top of every S3 text
// object for the default format. The OTel plain-text unmarshaler takes its
// field list from it; cinch reads it with flowlog.FormatFromHeader.
func defaultHeader() []byte {
	names := flowlog.DefaultFormat().Names()
	return []byte(strings.Join(names, " ") + "\n")
}

// body returns n newline-terminated default-format records.
func body(n int) []byte {
	acct := simulate.NewAccount(simulate.DefaultConfig())
	tr := acct.Traffic(seed, start)
	return tr.Lines(n, flowlog.DefaultFormat())
}

// s3Object returns the header line followed by n records: the same bytes are
// fed to both parsers.
func s3Object(n int) []byte {
	return append(defaultHeader(), body(n)...)
}

// cinchParseObject parses an S3-style text object the way cinch would: the
// first line, when it is a header, selects the format; every following
// non-empty line is parsed into r. fn, when non-nil, sees each record.
// It returns the number of records parsed.
func cinchParseObject(buf []byte, r *flowlog.Record, fn func(*flowlog.Record)) (int, error) {
	var p *flowlog.Parser
	if nl := bytes.IndexByte(buf, '\n'); nl >= 0 {
		if f, ok := flowlog.FormatFromHeader(buf[:nl]); ok {
			p = flowlog.NewParser(f)
			buf = buf[nl+1:]
		}
	}
	if p == nil {
		p = flowlog.NewParser(flowlog.DefaultFormat())
	}
	n := 0
	for len(buf) > 0 {
		line := buf
		if nl := bytes.IndexByte(buf, '\n'); nl >= 0 {
			line, buf = buf[:nl], buf[nl+1:]
		} else {
			buf = nil
		}
		if len(line) == 0 {
			continue
		}
		if err := p.Parse(line, r); err != nil {
			return n, err
		}
		if fn != nil {
			fn(r)
		}
		n++
	}
	return n, nil
}

// BenchmarkCinchParse parses the whole S3 object (header + batchLines
// records) per iteration with one reused Record.
func BenchmarkCinchParse(b *testing.B) {
	buf := s3Object(batchLines)
	var r flowlog.Record
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		n, err := cinchParseObject(buf, &r, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n != batchLines {
			b.Fatalf("parsed %d records, want %d", n, batchLines)
		}
	}
	b.ReportMetric(float64(b.N)*batchLines/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCinchAnalyze is cinch's whole analysis of the same object per
// iteration: parse every line, attribute each record to the rules of the
// simulated account that let it in, and update the rules' sketches. The
// accumulator is warmed with one pass first, so the loop measures the steady
// state.
func BenchmarkCinchAnalyze(b *testing.B) {
	buf := s3Object(batchLines)
	inv, err := simulate.NewAccount(simulate.DefaultConfig()).Inventory()
	if err != nil {
		b.Fatal(err)
	}
	acc := analysis.NewAccumulator(analysis.NewEngine(inv), sketch.DefaultConfig())
	var r flowlog.Record
	observe := func(r *flowlog.Record) { acc.Observe(r) }
	if _, err := cinchParseObject(buf, &r, observe); err != nil {
		b.Fatal(err)
	}
	if st := acc.Stats(); st.Inbound+st.Outbound == 0 {
		b.Fatalf("no record attributed: %+v", st)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n, err := cinchParseObject(buf, &r, observe)
		if err != nil {
			b.Fatal(err)
		}
		if n != batchLines {
			b.Fatalf("parsed %d records, want %d", n, batchLines)
		}
	}
	b.ReportMetric(float64(b.N)*batchLines/b.Elapsed().Seconds(), "records/s")
}

// TestCinchObject checks the cinch side on its own (it runs without the OTel
// module): every record parses and the typed fields match the text columns.
func TestCinchObject(t *testing.T) {
	const n = 1000
	buf := s3Object(n)
	lines := strings.Split(strings.TrimSuffix(string(buf), "\n"), "\n")[1:]
	var r flowlog.Record
	i := 0
	got, err := cinchParseObject(buf, &r, func(r *flowlog.Record) {
		cols := strings.Fields(lines[i])
		// default format: srcaddr=3, dstport=6, bytes=9; NODATA/SKIPDATA
		// records carry "-" there.
		if cols[3] == "-" {
			if r.Has(flowlog.FieldSrcAddr) || r.Has(flowlog.FieldBytes) {
				t.Errorf("record %d: '-' columns reported present: %q", i, lines[i])
			}
			i++
			return
		}
		if r.SrcAddr.String() != cols[3] || itoa(uint64(r.DstPort)) != cols[6] || itoa(r.Bytes) != cols[9] {
			t.Errorf("record %d: got srcaddr=%s dstport=%d bytes=%d, line %q", i, r.SrcAddr, r.DstPort, r.Bytes, lines[i])
		}
		i++
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("parsed %d records, want %d", got, n)
	}
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
