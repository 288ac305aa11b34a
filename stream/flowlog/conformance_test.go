package flowlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/internal/peers"
)

// TestConformanceVRL compares every key of every expected object of VRL's
// parse_aws_vpc_flow_log cases (keys use underscores; null means "-").
func TestConformanceVRL(t *testing.T) {
	var doc struct {
		Cases []struct {
			ID       int
			Format   *string
			Line     string
			Expected map[string]any
		}
	}
	raw, err := os.ReadFile(peers.Path(t, "vectordotdev-vrl", "parse_aws_vpc_flow_log.cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 31 {
		t.Fatalf("only %d cases", len(doc.Cases))
	}
	var r Record
	for _, c := range doc.Cases {
		f := DefaultFormat()
		if c.Format != nil {
			f = MustParseFormat(*c.Format)
		}
		if u := f.Unknown(); len(u) != 0 {
			t.Errorf("case %d: unknown fields %v", c.ID, u)
		}
		if err := NewParser(f).Parse([]byte(c.Line), &r); err != nil {
			t.Errorf("case %d: %v", c.ID, err)
			continue
		}
		var js map[string]any
		if err := json.Unmarshal(r.AppendJSON(nil), &js); err != nil {
			t.Fatal(err)
		}
		if len(c.Expected) != f.Len() {
			t.Errorf("case %d: %d expected keys for %d columns", c.ID, len(c.Expected), f.Len())
		}
		for k, want := range c.Expected {
			fl, ok := FieldByName(k)
			if !ok {
				t.Errorf("case %d: unknown VRL key %s", c.ID, k)
				continue
			}
			got, present := js[fl.Name()]
			if want == nil {
				if present || r.Has(fl) {
					t.Errorf("case %d: %s = %v, want null", c.ID, k, got)
				}
				continue
			}
			if !reflect.DeepEqual(got, want) { // numbers as float64 on both sides
				t.Errorf("case %d: %s = %#v, want %#v", c.ID, k, got, want)
			}
			ws := fmt.Sprint(want)
			if n, ok := want.(float64); ok {
				ws = strconv.FormatFloat(n, 'f', -1, 64)
			}
			if s := typedString(&r, fl); s != "" && s != ws {
				t.Errorf("case %d: typed %s = %q, want %v", c.ID, k, s, want)
			}
		}
	}
}

// TestConformanceAWSDocs parses every example record of the AWS VPC guide with its
// format. One published line has a double space (VRL rejects it; Elastic and this
// parser treat runs of spaces as one separator).
func TestConformanceAWSDocs(t *testing.T) {
	var doc struct {
		Fields []struct {
			Field       string
			Version     int
			ParquetType string `json:"parquet_type"`
		}
		Records []struct{ Format, Line string }
	}
	raw, err := os.ReadFile(peers.Path(t, "awsdocs", "vpc-flow-log-record-examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, fd := range doc.Fields {
		fl, ok := FieldByName(fd.Field)
		if !ok || fl.Version() != fd.Version {
			t.Errorf("field %s: %v version %d, docs say %d", fd.Field, ok, fl.Version(), fd.Version)
		}
		isInt := strings.HasPrefix(fd.ParquetType, "INT")
		if isInt != (fl.Kind() == KindInt) {
			t.Errorf("field %s: kind %v, parquet %s", fd.Field, fl.Kind(), fd.ParquetType)
		}
	}
	var r Record
	for i, rec := range doc.Records {
		f := MustParseFormat(rec.Format)
		if err := NewParser(f).Parse([]byte(rec.Line), &r); err != nil {
			t.Errorf("record %d: %v", i, err)
			continue
		}
		// Every column round-trips through the raw view and the line rendering.
		if got := strings.Join(strings.Fields(string(r.AppendLine(nil))), " "); got != strings.Join(strings.Fields(rec.Line), " ") {
			t.Errorf("record %d: line %q", i, got)
		}
	}
	tgw := peers.Path(t, "awsdocs", "tgw-flow-log-fields.json")
	var tdoc struct {
		DefaultFormat string `json:"default_format"`
		Fields        []struct {
			Field   string
			Version int
		}
	}
	raw, _ = os.ReadFile(tgw)
	if err := json.Unmarshal(raw, &tdoc); err != nil {
		t.Fatal(err)
	}
	tf := MustParseFormat(tdoc.DefaultFormat)
	if len(tf.Unknown()) != 0 || tf.Len() != len(tdoc.Fields) {
		t.Errorf("TGW format: unknown %v", tf.Unknown())
	}
	for _, fd := range tdoc.Fields {
		// TGW flow logs date some shared fields differently (e.g. type); only
		// TGW-specific fields must be version 6 here.
		if fl, _ := FieldByName(fd.Field); fd.Version == 6 && fl.Version() != 6 && fl != FieldFlowDirection {
			t.Errorf("TGW field %s version %d", fd.Field, fl.Version())
		}
	}
}

// TestConformanceBeatsSamples parses every sample line of Elastic Beats'
// processor test YAML with the format given beside it.
func TestConformanceBeatsSamples(t *testing.T) {
	f, err := os.Open(peers.Path(t, "elastic-beats-aws-vpcflow", "processor-testdata", "aws-vpc-flow-logs.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var format *Format
	var r Record
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "format:"):
			format = MustParseFormat(strings.TrimSpace(strings.TrimPrefix(l, "format:")))
		case strings.HasPrefix(l, "- ") && format != nil:
			// YAML scalars here are plain or single-quoted, with " #" comments.
			line := strings.TrimPrefix(l, "- ")
			if i := strings.Index(line, " #"); i >= 0 {
				line = strings.TrimSpace(line[:i])
			}
			if len(line) >= 2 && line[0] == '\'' && line[len(line)-1] == '\'' {
				line = strings.ReplaceAll(line[1:len(line)-1], "''", "'")
			}
			if err := NewParser(format).Parse([]byte(line), &r); err != nil {
				t.Errorf("%q: %v", line, err)
			}
			if !json.Valid(r.AppendJSON(nil)) {
				t.Errorf("%q: invalid JSON", line)
			}
			n++
		}
	}
	if n < 30 {
		t.Errorf("only %d samples", n)
	}
}

// FuzzParse: Parse never panics; a parsed line renders valid JSON, and its
// re-rendered line parses to the same record.
func FuzzParse(f *testing.F) {
	f.Add(sampleDefault, "")
	f.Add("2 1 eni-1 - - - - - - - 1 2 - NODATA", "")
	f.Add("5 2001:db8::1 ::ffff:1.2.3.4 19 egress 1 \xff\"", "version srcaddr pkt-dstaddr tcp-flags flow-direction traffic-path x-unknown")
	dir := peers.Dir(f)
	raw, err := os.ReadFile(filepath.Join(dir, "vectordotdev-vrl", "parse_aws_vpc_flow_log.cases.json"))
	if err != nil {
		f.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Format *string
			Line   string
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		f.Fatal(err)
	}
	for _, c := range doc.Cases {
		fs := ""
		if c.Format != nil {
			fs = *c.Format
		}
		f.Add(c.Line, fs)
	}
	f.Fuzz(func(t *testing.T, line, format string) {
		ft := DefaultFormat()
		if format != "" {
			var err error
			if ft, err = ParseFormat(format); err != nil {
				return
			}
		}
		p := NewParser(ft)
		var r, r2 Record
		if err := p.Parse([]byte(line), &r); err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error type %T", err)
			}
			return
		}
		js := r.AppendJSON(nil)
		if !json.Valid(js) {
			t.Fatalf("invalid JSON %q", js)
		}
		again := r.AppendLine(nil)
		if err := p.Parse(again, &r2); err != nil {
			t.Fatalf("re-rendered %q: %v", again, err)
		}
		if string(r2.AppendJSON(nil)) != string(js) || r2.SrcAddr != r.SrcAddr || r2.Packets != r.Packets || r2.present != r.present {
			t.Fatalf("round trip differs:\n%s\n%s", js, r2.AppendJSON(nil))
		}
	})
}

// FuzzFormat: ParseFormat and FormatFromHeader never panic; an accepted format's
// String form parses back to the same format.
func FuzzFormat(f *testing.F) {
	f.Add("${version} ${vpc-id} ${srcaddr}")
	f.Add("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")
	f.Add("version pkt_srcaddr x-new")
	f.Add(sampleDefault)
	dir := peers.Dir(f)
	for _, p := range []string{"valid_vpc_flow_log_ecs.log", "valid_tgw_flow_log.log", "vpc_flow_log_too_many_fields.log"} {
		raw, err := os.ReadFile(filepath.Join(dir, "otel-collector-contrib-awslogs", "vpc-flow-log", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.SplitN(string(raw), "\n", 2)[0])
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ft, err := ParseFormat(s); err == nil {
			g, err := ParseFormat(ft.String())
			if err != nil || !g.Equal(ft) {
				t.Fatalf("String %q does not reparse: %v", ft.String(), err)
			}
		}
		if h, ok := FormatFromHeader([]byte(s)); ok && h.Len() == 0 {
			t.Fatal("empty header format")
		}
	})
}
