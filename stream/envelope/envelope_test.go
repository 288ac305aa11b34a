package envelope

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/internal/peers"
)

type emitted struct {
	line string
	meta Meta
}

// decodeAll collects what d emits for p. Meta.Batch is checked (set exactly
// for CloudWatch events) and then cleared, for tests that compare metadata.
func decodeAll(t testing.TB, d *Decoder, p []byte) (Kind, []emitted, error) {
	var out []emitted
	k, err := d.Decode(p, func(line []byte, m *Meta) error {
		e := emitted{string(line), *m}
		if (e.meta.Batch != 0) != (e.meta.LogGroup != "") {
			t.Errorf("%q: batch %d with log group %q", line, e.meta.Batch, e.meta.LogGroup)
		}
		if e.meta.First && e.meta.Batch == 0 {
			t.Errorf("%q: first of no batch", line)
		}
		e.meta.Batch, e.meta.First = 0, false
		out = append(out, e)
		return nil
	})
	return k, out, err
}

// TestBatch: every event of a CloudWatch batch carries the same Batch, a
// redelivery the same again (through either decoding path, in any wrapping),
// and another batch — other ids, their order, another stream — another one.
func TestBatch(t *testing.T) {
	batches := func(p []byte, slow bool) []uint64 {
		d := NewDecoder()
		d.slowOnly = slow
		var out []uint64
		if _, err := d.Decode(p, func(_ []byte, m *Meta) error {
			out = append(out, m.Batch)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	msg := func(stream string, ids ...string) string {
		var evs []string
		for _, id := range ids {
			evs = append(evs, `{"id":"`+id+`","timestamp":1,"message":"m `+id+`"}`)
		}
		return `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"` + stream + `","logEvents":[` + strings.Join(evs, ",") + `]}`
	}
	a := batches([]byte(msg("s", "1", "2", "3")), false)
	if len(a) != 3 || a[0] == 0 || a[0] != a[1] || a[1] != a[2] {
		t.Fatalf("one batch, batches %v", a)
	}
	for _, again := range [][]uint64{
		batches([]byte(msg("s", "1", "2", "3")), true),
		batches(gz([]byte(msg("s", "1", "2", "3"))), false),
		batches([]byte(`{"awslogs":{"data":"`+base64.StdEncoding.EncodeToString(gz([]byte(msg("s", "1", "2", "3"))))+`"}}`), false),
	} {
		if len(again) != 3 || again[0] != a[0] {
			t.Errorf("redelivery: %v, want %d", again, a[0])
		}
	}
	for _, other := range []string{msg("s", "1", "2"), msg("s", "1", "3", "2"), msg("t", "1", "2", "3"), msg("s", "12", "3")} {
		if b := batches([]byte(other), false); b[0] == a[0] {
			t.Errorf("%s: same batch as the first", other)
		}
	}
	if b := batches([]byte("2 1 eni-1 - - - - - - - 1 2 - NODATA"), false); b[0] != 0 {
		t.Errorf("plain line: batch %d", b[0])
	}
	// First marks the first line of each batch, also of a batch repeated
	// within one payload; an empty first message passes the mark on.
	twice := msg("s", "1", "2") + msg("s", "1", "2")
	empty := strings.Replace(msg("s", "1", "2"), `"m 1"`, `"  "`, 1)
	for _, slow := range []bool{false, true} {
		for _, c := range []struct {
			in   string
			want []bool
		}{{twice, []bool{true, false, true, false}}, {empty, []bool{true}}} {
			d := NewDecoder()
			d.slowOnly = slow
			var firsts []bool
			if _, err := d.Decode([]byte(c.in), func(_ []byte, m *Meta) error {
				firsts = append(firsts, m.First)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(firsts, c.want) {
				t.Errorf("slow=%v %s: first marks %v, want %v", slow, c.in, firsts, c.want)
			}
		}
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

const cwMsg = `{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"flows","logStream":"eni-1-all","subscriptionFilters":["f"],
"logEvents":[{"id":"1","timestamp":1700000000000,"message":"2 111122223333 eni-1 - - - - - - - 1 2 - NODATA"},{"id":"2","timestamp":1700000001000,"message":"line two"}]}`

func TestDecodeShapes(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(gz([]byte(cwMsg)))
	cases := []struct {
		name  string
		in    string
		kind  Kind
		lines int
	}{
		{"plain", "a b c\r\n\n  \nd e f", KindPlain, 2},
		{"cloudwatch", cwMsg, KindCloudWatch, 2},
		{"gzip cloudwatch", string(gz([]byte(cwMsg))), KindCloudWatch, 2},
		{"base64 gzip (Kinesis record as text)", b64 + "\n", KindCloudWatch, 2},
		{"gzip of gzip", string(gz(gz([]byte(cwMsg)))), KindCloudWatch, 2},
		{"lambda", `{"awslogs":{"data":"` + b64 + `"}}`, KindLambda, 2},
		{"firehose http", `{"requestId":"r","timestamp":1,"records":[{"data":"` + b64 + `"},{"data":"` + b64 + `"}]}`, KindFirehose, 4},
		{"firehose lambda", `{"invocationId":"i","records":[{"recordId":"1","data":"` + base64.StdEncoding.EncodeToString([]byte("x y z\n")) + `"}]}`, KindFirehoseLambda, 1},
		{"kinesis lambda", `{"Records":[{"kinesis":{"data":"` + b64 + `"}}]}`, KindKinesis, 2},
		{"concatenated", cwMsg + "\n" + cwMsg, KindCloudWatch, 4},
		{"json message", `{"message":"2 1 eni-1 - - - - - - - 1 2 - NODATA"}` + "\n" + `{"message":"x"}`, KindJSONMessage, 2},
		{"control", `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}]}`, KindCloudWatch, 0},
	}
	for _, c := range cases {
		d := NewDecoder()
		k, out, err := decodeAll(t, d, []byte(c.in))
		if err != nil || k != c.kind || len(out) != c.lines {
			t.Errorf("%s: kind %v, %d lines, err %v", c.name, k, len(out), err)
		}
	}
	_, out, _ := decodeAll(t, NewDecoder(), []byte(gz([]byte(cwMsg))))
	want := Meta{Owner: "111122223333", LogGroup: "flows", LogStream: "eni-1-all", EventID: "2", Timestamp: 1700000001000}
	if out[1].meta != want || out[1].line != "line two" {
		t.Errorf("meta %+v", out[1])
	}
	_, out, _ = decodeAll(t, NewDecoder(), []byte("a\n\nb"))
	if out[1].meta.Line != 3 || out[1].line != "b" {
		t.Errorf("plain line numbers %+v", out)
	}
	d := NewDecoder()
	decodeAll(t, d, []byte(`{"messageType":"CONTROL_MESSAGE"}`))
	decodeAll(t, d, []byte(cwMsg))
	if s := d.Stats(); s.ControlMessages != 1 || s.Events != 2 || s.Lines != 2 || s.Payloads != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := map[string]string{
		"bad gzip":            "\x1f\x8bnot gzip at all",
		"bad base64":          `{"awslogs":{"data":"@@@"}}`,
		"no data":             `{"awslogs":{}}`,
		"unknown shape":       `{"foo":1}`,
		"bad json":            `{"messageType":`,
		"missing logGroup":    `{"messageType":"DATA_MESSAGE","logStream":"s","logEvents":[]}`,
		"missing logEvents":   `{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s"}`,
		"unknown messageType": `{"messageType":"OTHER"}`,
		"firehose no data":    `{"requestId":"r","records":[{}]}`,
		"wrong type":          `{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":"x"}`,
		"too big":             string(gz(bytes.Repeat([]byte("a"), 2000))),
	}
	for name, in := range cases {
		d := NewDecoder()
		d.MaxDecompressed = 1000
		_, _, err := decodeAll(t, d, []byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), "envelope: ") {
			t.Errorf("%s: err %v", name, err)
		}
	}
	_, _, err := decodeAll(t, NewDecoder(), []byte(`{"messageType":"DATA_MESSAGE","logStream":"s","logEvents":[]}`))
	if err == nil || err.Error() != "envelope: cloudwatch: DATA_MESSAGE without logGroup" {
		t.Errorf("message: %v", err)
	}
}

// cwFile is a decoded CloudWatch Logs subscription message.
type cwFile struct {
	MessageType string
	Owner       string
	LogGroup    string
	LogStream   string
	LogEvents   []struct {
		ID        string
		Timestamp int64
		Message   string
	}
}

// checkAgainst compares what Decode emitted with the events of a decoded message.
func checkAgainst(t *testing.T, name string, got []emitted, want []cwFile) {
	t.Helper()
	var exp []emitted
	for _, w := range want {
		if w.MessageType != "DATA_MESSAGE" {
			continue
		}
		for _, e := range w.LogEvents {
			exp = append(exp, emitted{e.Message, Meta{Owner: w.Owner, LogGroup: w.LogGroup, LogStream: w.LogStream, EventID: e.ID, Timestamp: e.Timestamp}})
		}
	}
	if len(got) != len(exp) || len(exp) == 0 {
		t.Fatalf("%s: %d lines, want %d", name, len(got), len(exp))
	}
	for i := range exp {
		if got[i] != exp[i] {
			t.Errorf("%s #%d:\n got %+v\nwant %+v", name, i, got[i], exp[i])
		}
	}
}

func readJSON(t *testing.T, path string, v any) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return raw
}

func TestConformanceFirehoseAndLambda(t *testing.T) {
	vec := peers.Path(t, "vectordotdev-vector", "firehose-cloudwatch")
	for _, base := range []string{"cue-firehose-request", "guide-firehose-request"} {
		var want cwFile
		readJSON(t, filepath.Join(vec, base+".record0.decoded.json"), &want)
		k, got, err := decodeAll(t, NewDecoder(), readJSON(t, filepath.Join(vec, base+".json"), nil))
		if err != nil || k != KindFirehose {
			t.Fatalf("%s: %v %v", base, k, err)
		}
		checkAgainst(t, base, got, []cwFile{want})
	}
	var want cwFile
	raw := readJSON(t, filepath.Join(vec, "firehose-source-test-record.json"), &want)
	_, got, err := decodeAll(t, NewDecoder(), raw)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, "firehose-source-test-record", got, []cwFile{want})

	d := NewDecoder()
	k, got, err := decodeAll(t, d, readJSON(t, filepath.Join(vec, "remap-behavior-control-message.json"), nil))
	if err != nil || k != KindCloudWatch || len(got) != 0 || d.Stats().ControlMessages != 1 {
		t.Errorf("control message: %v %v %d", k, err, len(got))
	}

	lg := peers.Path(t, "aws-lambda-go")
	readJSON(t, filepath.Join(lg, "derived-cloudwatch-logs-event.decoded.json"), &want)
	k, got, err = decodeAll(t, NewDecoder(), readJSON(t, filepath.Join(lg, "events-testdata", "cloudwatch-logs-event.json"), nil))
	if err != nil || k != KindLambda {
		t.Fatalf("lambda: %v %v", k, err)
	}
	checkAgainst(t, "cloudwatch-logs-event", got, []cwFile{want})
}

func TestConformanceSubscriptionMessages(t *testing.T) {
	docs := peers.Path(t, "awsdocs", "cloudwatch-logs-subscription-decoded")
	entries, err := os.ReadDir(docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		var want cwFile
		raw := readJSON(t, filepath.Join(docs, e.Name()), &want)
		_, got, err := decodeAll(t, NewDecoder(), raw)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		checkAgainst(t, e.Name(), got, []cwFile{want})
	}

	sf := peers.Path(t, "otel-collector-contrib-awslogs", "subscription-filter")
	for _, name := range []string{"valid_cloudwatch_log.json", "extracted_fields_both.json", "two_records_different_extracted_fields.json"} {
		var want cwFile
		raw := readJSON(t, filepath.Join(sf, name), &want)
		_, got, err := decodeAll(t, NewDecoder(), raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkAgainst(t, name, got, []cwFile{want})
	}
	// Two concatenated documents: not one JSON value, both decoded.
	raw := readJSON(t, filepath.Join(sf, "multiple_json_objects.json"), nil)
	var wants []cwFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var w cwFile
		if err := dec.Decode(&w); err != nil {
			t.Fatal(err)
		}
		wants = append(wants, w)
	}
	_, got, err := decodeAll(t, NewDecoder(), raw)
	if err != nil || len(wants) != 2 {
		t.Fatalf("multiple: %v, %d docs", err, len(wants))
	}
	checkAgainst(t, "multiple_json_objects.json", got, wants)

	d := NewDecoder()
	_, got, err = decodeAll(t, d, readJSON(t, filepath.Join(sf, "valid_cloudwatch_log_control.json"), nil))
	if err != nil || len(got) != 0 || d.Stats().ControlMessages != 1 {
		t.Errorf("control: %v %d", err, len(got))
	}
	_, _, err = decodeAll(t, NewDecoder(), readJSON(t, filepath.Join(sf, "invalid_cloudwatch_log.json"), nil))
	if err == nil || !strings.Contains(err.Error(), "logGroup") {
		t.Errorf("invalid_cloudwatch_log.json: %v", err)
	}
}

// FuzzDecode checks that Decode never panics, and that every error is an
// envelope error.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(cwMsg))
	f.Add(gz([]byte(cwMsg)))
	f.Add([]byte(`{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(gz([]byte(cwMsg))) + `"}}`))
	f.Add([]byte("2 1 eni-1 - - - - - - - 1 2 - NODATA\n"))
	dir := peers.Dir(f)
	for _, p := range []string{
		"vectordotdev-vector/firehose-cloudwatch/cue-firehose-request.json",
		"otel-collector-contrib-awslogs/subscription-filter/multiple_json_objects.json",
		"otel-collector-contrib-awslogs/subscription-filter/invalid_cloudwatch_log.json",
		"aws-lambda-go/events-testdata/cloudwatch-logs-event.json",
		"aws-lambda-go/events-testdata/kinesis-event.json",
		"aws-lambda-go/events-testdata/kinesis-firehose-event.json",
	} {
		raw, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		d := NewDecoder()
		d.MaxDecompressed = 1 << 20
		_, err := d.Decode(p, func(line []byte, m *Meta) error {
			if len(bytes.TrimSpace(line)) == 0 {
				t.Fatalf("empty line emitted")
			}
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "envelope: ") {
			t.Fatalf("error without prefix: %v", err)
		}
	})
}
