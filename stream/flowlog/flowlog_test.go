package flowlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

const sampleDefault = "2 123456789010 eni-0a1b2c3d4e5f60718 10.1.2.3 192.0.2.77 44321 443 6 12 3456 1700000000 1700000060 ACCEPT OK"

func TestFieldTable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Fields() {
		n := f.Name()
		if n == "" || seen[n] {
			t.Fatalf("field %d: empty or duplicate name %q", f, n)
		}
		seen[n] = true
		if got, ok := FieldByName(n); !ok || got != f {
			t.Errorf("FieldByName(%q) = %v, %v", n, got, ok)
		}
		if got, ok := FieldByName(strings.ReplaceAll(n, "-", "_")); !ok || got != f {
			t.Errorf("FieldByName(underscore %q) = %v, %v", n, got, ok)
		}
		if f.Version() < 2 || f.Version() > 11 {
			t.Errorf("%s: version %d", n, f.Version())
		}
	}
	if _, ok := FieldByName("no-such-field"); ok {
		t.Error("unknown name found")
	}
	checks := []struct {
		f       Field
		name    string
		kind    Kind
		version int
	}{
		{FieldPktSrcAddr, "pkt-srcaddr", KindAddr, 3},
		{FieldTCPFlags, "tcp-flags", KindInt, 3},
		{FieldTrafficPath, "traffic-path", KindInt, 5},
		{FieldECSTaskID, "ecs-task-id", KindString, 7},
		{FieldRejectReason, "reject-reason", KindString, 8},
		{FieldEncryptionStatus, "encryption-status", KindInt, 10},
		{FieldPacketsLostTTLExpired, "packets-lost-ttl-expired", KindInt, 6},
		{FieldLogStatus, "log-status", KindString, 2},
	}
	for _, c := range checks {
		if c.f.Name() != c.name || c.f.Kind() != c.kind || c.f.Version() != c.version {
			t.Errorf("%v: got %q %v %d, want %q %v %d", c.f, c.f.Name(), c.f.Kind(), c.f.Version(), c.name, c.kind, c.version)
		}
	}
	if FieldUnknown.Name() != "" || FieldUnknown.String() != "unknown" || Field(250).Name() != "" {
		t.Error("unknown field naming")
	}
}

func TestParseFormat(t *testing.T) {
	f, err := ParseFormat("${version} ${vpc-id}  pkt_srcaddr\t${my-extra} tcp-flags")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "version,vpc-id,pkt-srcaddr,my-extra,tcp-flags" {
		t.Errorf("names %s", got)
	}
	if f.Len() != 5 || f.Field(2) != FieldPktSrcAddr || f.Field(3) != FieldUnknown || !f.Has(FieldTCPFlags) || f.Has(FieldSrcAddr) {
		t.Errorf("bad format %v", f)
	}
	if u := f.Unknown(); len(u) != 1 || u[0] != "my-extra" {
		t.Errorf("unknown %v", u)
	}
	if f.String() != "${version} ${vpc-id} ${pkt-srcaddr} ${my-extra} ${tcp-flags}" {
		t.Errorf("String %q", f.String())
	}
	if f.Index(FieldVPCID) != 1 || f.Index(FieldSrcAddr) != -1 || f.Version() != 3 {
		t.Error("index/version")
	}
	g, err := ParseFormat(f.String())
	if err != nil || !g.Equal(f) {
		t.Errorf("String does not round trip: %v", err)
	}
	for _, bad := range []string{"", "   ", "version version", "${version} version", "pkt_srcaddr pkt-srcaddr", "${version", "${} x", "ver$ion", "-"} {
		if _, err := ParseFormat(bad); err == nil {
			t.Errorf("ParseFormat(%q) accepted", bad)
		}
	}
	if _, err := ParseFormat(""); !errors.Is(err, ErrEmptyFormat) {
		t.Errorf("empty: %v", err)
	}
	if d := DefaultFormat(); d.Len() != 14 || d.Field(13) != FieldLogStatus || d.String() != MustParseFormat(strings.Join(defaultNames, " ")).String() {
		t.Errorf("default format %v", d)
	}
}

func TestFormatFromHeader(t *testing.T) {
	cases := []struct {
		line string
		ok   bool
		n    int
	}{
		{"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n", true, 14},
		{"version vpc_id pkt_srcaddr\r\n", true, 3},
		{"version account-id brand-new-field", true, 3},
		{sampleDefault, false, 0},
		{"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5", false, 0},
		{"i-0123 eni-abc vpc-1", false, 0},
		{"", false, 0},
		{"version version", false, 0},
		{"foo bar version", false, 0},
		{`{"messageType":"DATA_MESSAGE"}`, false, 0},
	}
	for _, c := range cases {
		f, ok := FormatFromHeader([]byte(c.line))
		if ok != c.ok || (ok && f.Len() != c.n) {
			t.Errorf("FormatFromHeader(%q) = %v, %v", c.line, f, ok)
		}
	}
}

func TestParseDefault(t *testing.T) {
	p := NewParser(nil)
	var r Record
	if err := p.Parse([]byte(sampleDefault+"\r\n"), &r); err != nil {
		t.Fatal(err)
	}
	want := Record{
		Version: 2, SrcAddr: netip.MustParseAddr("10.1.2.3"), DstAddr: netip.MustParseAddr("192.0.2.77"),
		SrcPort: 44321, DstPort: 443, Protocol: 6, Packets: 12, Bytes: 3456, Start: 1700000000, End: 1700000060,
		Action: ActionAccept, LogStatus: StatusOK,
	}
	if r.Version != want.Version || r.SrcAddr != want.SrcAddr || r.DstAddr != want.DstAddr || r.SrcPort != want.SrcPort ||
		r.DstPort != want.DstPort || r.Protocol != want.Protocol || r.Packets != want.Packets || r.Bytes != want.Bytes ||
		r.Start != want.Start || r.End != want.End || r.Action != want.Action || r.LogStatus != want.LogStatus {
		t.Errorf("got %+v", r)
	}
	if string(r.AccountID) != "123456789010" || string(r.InterfaceID) != "eni-0a1b2c3d4e5f60718" {
		t.Errorf("ids %q %q", r.AccountID, r.InterfaceID)
	}
	if r.PktSrcAddr.IsValid() || r.Has(FieldPktSrcAddr) || !r.Has(FieldSrcAddr) || r.Format() != DefaultFormat() {
		t.Error("presence")
	}
	if v, ok := r.Value(FieldAction); !ok || string(v) != "ACCEPT" {
		t.Errorf("Value(action) = %q %v", v, ok)
	}
	if got := string(r.AppendLine(nil)); got != sampleDefault {
		t.Errorf("AppendLine %q", got)
	}
	wantJSON := `{"version":2,"account-id":"123456789010","interface-id":"eni-0a1b2c3d4e5f60718","srcaddr":"10.1.2.3","dstaddr":"192.0.2.77","srcport":44321,"dstport":443,"protocol":6,"packets":12,"bytes":3456,"start":1700000000,"end":1700000060,"action":"ACCEPT","log-status":"OK"}`
	if got := string(r.AppendJSON(nil)); got != wantJSON {
		t.Errorf("AppendJSON\n got %s\nwant %s", got, wantJSON)
	}
}

func TestParseNoDataAndSpacing(t *testing.T) {
	p := NewParser(DefaultFormat())
	var r Record
	line := "  2\t123456789010  eni-1 - - - - - - - 1431280876 1431280934 - NODATA \n"
	if err := p.Parse([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	if r.LogStatus != StatusNoData || r.Action != ActionNone || r.Has(FieldSrcAddr) || r.Has(FieldPackets) || r.Start != 1431280876 || !r.Has(FieldEnd) {
		t.Errorf("got %+v", r)
	}
	if _, ok := r.Value(FieldSrcPort); ok {
		t.Error("dash value reported present")
	}
	if string(r.Column(3)) != "-" {
		t.Error("raw column lost")
	}
	if got := string(r.AppendJSON(nil)); got != `{"version":2,"account-id":"123456789010","interface-id":"eni-1","start":1431280876,"end":1431280934,"log-status":"NODATA"}` {
		t.Errorf("json %s", got)
	}
	if err := p.Parse([]byte("2 1 eni-1 - - - - - - - 1 2 - SKIPDATA"), &r); err != nil || r.LogStatus != StatusSkipData {
		t.Errorf("skipdata: %v %v", err, r.LogStatus)
	}
}

func TestParseCustomIPv6AndUnknown(t *testing.T) {
	f := MustParseFormat("${version} ${srcaddr} ${pkt-dstaddr} ${tcp-flags} ${flow-direction} ${traffic-path} ${x-new} ${encryption-status} ${protocol}")
	p := NewParser(f)
	var r Record
	if err := p.Parse([]byte(`5 2001:db8::1 ::ffff:10.0.0.1 19 egress 8 wé"ird\ 1 58`), &r); err != nil {
		t.Fatal(err)
	}
	if r.SrcAddr != netip.MustParseAddr("2001:db8::1") || r.PktDstAddr != netip.MustParseAddr("::ffff:10.0.0.1") ||
		r.TCPFlags != 19 || r.FlowDirection != DirectionEgress || r.TrafficPath != 8 || r.Protocol != 58 {
		t.Errorf("got %+v", r)
	}
	js := r.AppendJSON(nil)
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if m["x-new"] != `wé"ird\` || m["encryption-status"] != float64(1) || m["flow-direction"] != "egress" {
		t.Errorf("json %s", js)
	}
}

func TestParseErrors(t *testing.T) {
	p := NewParser(nil)
	var r Record
	cases := []struct {
		line, reason, field string
	}{
		{"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT", ReasonFieldCount, ""},
		{sampleDefault + " extra", ReasonFieldCount, ""},
		{"", ReasonFieldCount, ""},
		{"2 1 eni-1 10.0.0.1 10.0.0.2 65536 2 6 1 1 1 2 ACCEPT OK", ReasonBadNumber, "srcport"},
		{"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 256 1 1 1 2 ACCEPT OK", ReasonBadNumber, "protocol"},
		{"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1x 1 1 2 ACCEPT OK", ReasonBadNumber, "packets"},
		{"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 18446744073709551616 1 2 ACCEPT OK", ReasonBadNumber, "bytes"},
		{"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 -5 2 ACCEPT OK", ReasonBadNumber, "start"},
		{"x 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK", ReasonBadNumber, "version"},
		{"2 1 eni-1 10.0.0.256 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK", ReasonBadAddress, "srcaddr"},
		{"2 1 eni-1 10.0.0.1 10.0.01.2 1 2 6 1 1 1 2 ACCEPT OK", ReasonBadAddress, "dstaddr"},
		{"2 1 eni-1 fe80::1%eth0 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK", ReasonBadAddress, "srcaddr"},
		{"2 1 eni-1 10.0.0.1 host 1 2 6 1 1 1 2 ACCEPT OK", ReasonBadAddress, "dstaddr"},
		{"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 accept OK", ReasonBadValue, "action"},
		{"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT FINE", ReasonBadValue, "log-status"},
	}
	for _, c := range cases {
		err := p.Parse([]byte(c.line), &r)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v is not a *ParseError", c.line, err)
			continue
		}
		if pe.Reason != c.reason || pe.Field != c.field {
			t.Errorf("%q: got reason %q field %q, want %q %q", c.line, pe.Reason, pe.Field, c.reason, c.field)
		}
	}
	err := p.Parse([]byte("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT"), &r)
	if err == nil || err.Error() != "flowlog: expected 14 fields, got 13" {
		t.Errorf("message %v", err)
	}
	err = p.Parse([]byte("2 1 eni-1 10.0.0.1 10.0.0.2 x 2 6 1 1 1 2 ACCEPT OK"), &r)
	if err == nil || err.Error() != `flowlog: srcport: bad number "x"` {
		t.Errorf("message %v", err)
	}
	if r.NumColumns() != 0 {
		t.Error("failed parse left columns")
	}
}

func TestParseZeroAllocs(t *testing.T) {
	lines := genLines(DefaultFormat(), 64, 1)
	custom := custom20()
	clines := genLines(custom, 64, 2)
	p, pc := NewParser(nil), NewParser(custom)
	var r Record
	var buf []byte
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if err := p.Parse(lines[i%len(lines)], &r); err != nil {
			t.Fatal(err)
		}
		if err := pc.Parse(clines[i%len(clines)], &r); err != nil {
			t.Fatal(err)
		}
		buf = r.AppendJSON(buf[:0])
		i++
	})
	if allocs != 0 {
		t.Errorf("Parse allocates %.1f times per call", allocs)
	}
}

func TestJSONEscaping(t *testing.T) {
	f := MustParseFormat("x-a x-b")
	p := NewParser(f)
	var r Record
	if err := p.Parse([]byte("\x01\"\\\xff\xe2\x80\xa8 ok\x7f"), &r); err != nil {
		t.Fatal(err)
	}
	js := r.AppendJSON(nil)
	if !json.Valid(js) {
		t.Fatalf("invalid JSON %q", js)
	}
	var m map[string]string
	if err := json.Unmarshal(js, &m); err != nil || m["x-a"] != "\x01\"\\\ufffd\u2028" || m["x-b"] != "ok\x7f" {
		t.Errorf("got %q (%v)", m, err)
	}
}

// custom20 is a 20-field custom format used by tests and benchmarks.
func custom20() *Format {
	return MustParseFormat("${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${flow-direction}")
}

// randValue returns a random valid text for field fl (or "-" now and then).
func randValue(rng *rand.Rand, fl Field) string {
	if fl != FieldVersion && rng.IntN(12) == 0 {
		return "-"
	}
	switch fl {
	case FieldVersion:
		return strconv.Itoa(2 + rng.IntN(10))
	case FieldSrcAddr, FieldDstAddr, FieldPktSrcAddr, FieldPktDstAddr:
		if rng.IntN(5) == 0 {
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			b[0] = 0x20
			return netip.AddrFrom16(b).String()
		}
		return netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}).String()
	case FieldSrcPort, FieldDstPort:
		return strconv.Itoa(rng.IntN(65536))
	case FieldProtocol:
		return []string{"6", "17", "1", "58", "255", "0"}[rng.IntN(6)]
	case FieldPackets, FieldBytes:
		return strconv.FormatUint(rng.Uint64()>>rng.IntN(64), 10)
	case FieldStart, FieldEnd:
		return strconv.FormatInt(1_600_000_000+rng.Int64N(200_000_000), 10)
	case FieldTCPFlags:
		return []string{"0", "1", "2", "3", "18", "19", "4"}[rng.IntN(7)]
	case FieldTrafficPath:
		return strconv.Itoa(1 + rng.IntN(8))
	case FieldAction:
		return []string{"ACCEPT", "REJECT"}[rng.IntN(2)]
	case FieldLogStatus:
		return []string{"OK", "NODATA", "SKIPDATA"}[rng.IntN(3)]
	case FieldFlowDirection:
		return []string{"ingress", "egress"}[rng.IntN(2)]
	}
	if fl.Kind() == KindInt {
		return strconv.FormatUint(rng.Uint64N(1000), 10)
	}
	return fmt.Sprintf("%s-%x", strings.SplitN(fl.String(), "-", 2)[0], rng.Uint32())
}

// genLines returns n deterministic pseudo-random valid lines of format f.
func genLines(f *Format, n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	out := make([][]byte, n)
	for i := range out {
		vals := make([]string, f.Len())
		for c := range vals {
			vals[c] = randValue(rng, f.Field(c))
		}
		out[i] = []byte(strings.Join(vals, " "))
	}
	return out
}

// TestRoundTripProperty formats random records as lines, parses them and checks
// every typed field and every raw value against the values used to build the line.
func TestRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	all := Fields()
	var r Record
	for iter := 0; iter < 2000; iter++ {
		// Random subset of fields in random order, plus an unknown one sometimes.
		perm := rng.Perm(len(all))[:1+rng.IntN(len(all))]
		names := make([]string, 0, len(perm)+1)
		for _, k := range perm {
			names = append(names, all[k].Name())
		}
		if rng.IntN(3) == 0 {
			names = append(names, "zz-custom")
		}
		f := MustParseFormat(strings.Join(names, " "))
		vals := make([]string, f.Len())
		for c := range vals {
			vals[c] = randValue(rng, f.Field(c))
		}
		line := strings.Join(vals, " ")
		if err := NewParser(f).Parse([]byte(line), &r); err != nil {
			t.Fatalf("%s\n%s: %v", f, line, err)
		}
		for c, v := range vals {
			fl := f.Field(c)
			if string(r.Column(c)) != v {
				t.Fatalf("column %d: %q != %q", c, r.Column(c), v)
			}
			if fl == FieldUnknown {
				continue
			}
			got, ok := r.Value(fl)
			if ok != (v != "-") || (ok && string(got) != v) || r.Has(fl) != ok {
				t.Fatalf("%s: Value = %q %v, want %q", fl, got, ok, v)
			}
			if v == "-" {
				continue
			}
			if s := typedString(&r, fl); s != "" && s != v {
				t.Fatalf("%s: typed value %q, want %q (line %q)", fl, s, v, line)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(r.AppendJSON(nil), &m); err != nil {
			t.Fatal(err)
		}
		for c, v := range vals {
			jv, ok := m[f.Name(c)]
			if ok != (v != "-") {
				t.Fatalf("json key %s presence %v for %q", f.Name(c), ok, v)
			}
			if ok && fmt.Sprint(jv) != v && f.Field(c).Kind() != KindInt {
				t.Fatalf("json %s = %v, want %s", f.Name(c), jv, v)
			}
		}
	}
}

// typedString renders the typed Record field for fl, or "" for untyped fields.
func typedString(r *Record, fl Field) string {
	switch fl {
	case FieldVersion:
		return strconv.Itoa(int(r.Version))
	case FieldAccountID:
		return string(r.AccountID)
	case FieldInterfaceID:
		return string(r.InterfaceID)
	case FieldSrcAddr:
		return r.SrcAddr.String()
	case FieldDstAddr:
		return r.DstAddr.String()
	case FieldPktSrcAddr:
		return r.PktSrcAddr.String()
	case FieldPktDstAddr:
		return r.PktDstAddr.String()
	case FieldSrcPort:
		return strconv.Itoa(int(r.SrcPort))
	case FieldDstPort:
		return strconv.Itoa(int(r.DstPort))
	case FieldProtocol:
		return strconv.Itoa(int(r.Protocol))
	case FieldPackets:
		return strconv.FormatUint(r.Packets, 10)
	case FieldBytes:
		return strconv.FormatUint(r.Bytes, 10)
	case FieldStart:
		return strconv.FormatInt(r.Start, 10)
	case FieldEnd:
		return strconv.FormatInt(r.End, 10)
	case FieldAction:
		return r.Action.String()
	case FieldLogStatus:
		return r.LogStatus.String()
	case FieldTCPFlags:
		return strconv.Itoa(int(r.TCPFlags))
	case FieldFlowDirection:
		return r.FlowDirection.String()
	case FieldTrafficPath:
		return strconv.Itoa(int(r.TrafficPath))
	}
	return ""
}

func benchParse(b *testing.B, f *Format) {
	lines := genLines(f, 4096, 3)
	p := NewParser(f)
	var r Record
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := p.Parse(lines[i&4095], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkParseDefault(b *testing.B) { benchParse(b, DefaultFormat()) }

func BenchmarkParseCustom20(b *testing.B) { benchParse(b, custom20()) }

func BenchmarkAppendJSON(b *testing.B) {
	lines := genLines(DefaultFormat(), 256, 4)
	p := NewParser(nil)
	var r Record
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := p.Parse(lines[i&255], &r); err != nil {
			b.Fatal(err)
		}
		buf = r.AppendJSON(buf[:0])
	}
}
