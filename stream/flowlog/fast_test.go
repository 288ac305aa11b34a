package flowlog

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// dirtyRecord returns a record whose every typed field is set, by a line of a
// format with every known field: parseDefault does not reset the record first,
// so it must overwrite all of them.
func dirtyRecord(t testing.TB) Record {
	names := make([]string, 0, len(Fields()))
	for _, fl := range Fields() {
		names = append(names, fl.Name())
	}
	f, err := newFormat(names)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]string, f.Len())
	for c := range vals {
		switch fl := f.Field(c); fl {
		case FieldPktSrcAddr, FieldPktDstAddr:
			vals[c] = "2001:db8::7"
		case FieldTCPFlags, FieldTrafficPath:
			vals[c] = "3"
		case FieldFlowDirection:
			vals[c] = "egress"
		case FieldLogStatus:
			vals[c] = "SKIPDATA"
		default:
			vals[c] = realisticValue(rand.New(rand.NewPCG(1, uint64(c))), fl)
		}
	}
	var r Record
	if err := NewParser(f).Parse([]byte(strings.Join(vals, " ")), &r); err != nil {
		t.Fatal(err)
	}
	if r.PktSrcAddr == (netip.Addr{}) || r.TCPFlags == 0 || r.FlowDirection == DirectionUnknown || r.TrafficPath == 0 {
		t.Fatalf("dirty record has zero fields: %+v", r)
	}
	return r
}

// FuzzParseDefaultFast: the default format's unrolled path (parseDefault), into
// a record that held another line, gives the same record, columns and error as
// the general one into a new record.
func FuzzParseDefaultFast(f *testing.F) {
	f.Add(sampleDefault)
	f.Add("2 1 eni-1 - - - - - - - 1 2 - NODATA")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 2001:db8::1 443 49152 6 10 840 1620140761 1620140821 ACCEPT OK")
	f.Add(" 2\t123456789012  eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620140761 1620140821 REJECT SKIPDATA \r\n")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.256 443 49152 6 10 840 1620140761 1620140821 ACCEPT OK")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 65536 6 10 840 1620140761 1620140821 ACCEPT OK")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620140761 1620140821 ACCEPT OK extra")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620140761 1620140821 ACCEPT")
	f.Add("2 123456789012 eni-0a1b2c3d 010.0.0.1 10.0.0.2 443 49152 6 10 840 1620140761 1620140821 ACCEPT OK")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 1234567890123456 12345678901234567 1620140761 1620140821 ACCEPT OK")
	f.Add("02 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 10 840 16201407610000000000 1620140821 ACCEPT  OK")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2\t443 49152 6 10 840 1620140761 1620140821 ACCEPT\tOK")
	for _, l := range realisticLines(DefaultFormat(), 64, 7) {
		f.Add(string(l))
	}
	fast, slow := NewParser(DefaultFormat()), NewParser(DefaultFormat())
	if !fast.fast {
		f.Fatal("default format without the fast path")
	}
	slow.fast, slow.oneStep = false, false
	dirty := dirtyRecord(f)
	f.Fuzz(func(t *testing.T, line string) {
		a, b := dirty, Record{}
		a.cols = append([][]byte(nil), dirty.cols...) // not shared between runs
		ea := fast.Parse([]byte(line), &a)
		eb := slow.Parse([]byte(line), &b)
		if !reflect.DeepEqual(ea, eb) {
			t.Fatalf("%q: errors differ: %v / %v", line, ea, eb)
		}
		a.cols, b.cols = a.cols[:len(a.cols):len(a.cols)], b.cols[:len(b.cols):len(b.cols)]
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: records differ:\n%+v\n%+v", line, a, b)
		}
		for i := range b.NumColumns() {
			if ca, cb := a.Column(i), b.Column(i); cap(ca) != cap(cb) {
				t.Fatalf("%q: column %d capacity %d, want %d", line, i, cap(ca), cap(cb))
			}
		}
	})
}

// FuzzParseOneStep: the general path with the one-step decoders (numCol,
// ipv4Col) gives the same record, columns and error as without, whatever the
// format.
func FuzzParseOneStep(f *testing.F) {
	c20 := custom20().String()
	for _, l := range realisticLines(custom20(), 32, 8) {
		f.Add(string(l), c20)
	}
	for _, l := range genLines(custom20(), 32, 9) {
		f.Add(string(l), c20)
	}
	f.Add("5 2001:db8::1 ::ffff:1.2.3.4 19 egress 1 \xff\"", "version srcaddr pkt-dstaddr tcp-flags flow-direction traffic-path x-unknown")
	f.Add("1.2.3.4 65536 256 1.2.3.04 18446744073709551616", "srcaddr dstport tcp-flags pkt-srcaddr bytes")
	f.Add(sampleDefault, "")
	dirty := dirtyRecord(f)
	f.Fuzz(func(t *testing.T, line, format string) {
		ft := DefaultFormat()
		if format != "" {
			var err error
			if ft, err = ParseFormat(format); err != nil {
				return
			}
		}
		p, ref := NewParser(ft), NewParser(ft)
		p.fast = false
		ref.fast, ref.oneStep = false, false
		a, b := dirty, Record{}
		a.cols = append([][]byte(nil), dirty.cols...) // not shared between runs
		ea := p.Parse([]byte(line), &a)
		eb := ref.Parse([]byte(line), &b)
		if !reflect.DeepEqual(ea, eb) {
			t.Fatalf("%q: errors differ: %v / %v", line, ea, eb)
		}
		a.cols, b.cols = a.cols[:len(a.cols):len(a.cols)], b.cols[:len(b.cols):len(b.cols)]
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: records differ:\n%+v\n%+v", line, a, b)
		}
	})
}

// TestParseDefaultTakesFastPath: the realistic lines that are not NODATA records
// decode in parseDefault without falling back.
func TestParseDefaultTakesFastPath(t *testing.T) {
	f := DefaultFormat()
	cols := make([][]byte, 14)
	fallbacks := 0
	for _, l := range realisticLines(f, 2048, 3) {
		var r Record
		if !parseDefault(trimLine(l), f, &r, cols) && !strings.Contains(string(l), "NODATA") {
			fallbacks++
			t.Errorf("fell back: %q", l)
		}
	}
	if fallbacks > 0 {
		t.Errorf("%d fallbacks", fallbacks)
	}
}

// fastCases returns column values for the one-step decoders: numbers of 0 to 21
// digits, dotted quads of every octet length, and both with a byte changed.
func fastCases(rng *rand.Rand) []string {
	cases := []string{"0", "00", "255", "256", "65535", "65536", "123456789012345", "1234567890123456",
		"18446744073709551615", "18446744073709551616", "-", "-1", "+1", "1.2.3.4", "0.0.0.0", "255.255.255.255",
		"256.1.1.1", "1.2.3.256", "01.2.3.4", "1.02.3.4", "1.2.003.4", "1.2.3.00", "1..2.3", "1.2.3.", ".1.2.3",
		"1.2.3.4.5", "1234.1.1.1", "1.2.3.4a", "::ffff:1.2.3.4", "2001:db8::1", "100.100.100.100", "1.2.3.4\xff"}
	alphabet := "0123456789.:a-/ \t\xff"
	for range 20000 {
		var c string
		if rng.IntN(2) == 0 {
			b := make([]byte, 1+rng.IntN(21))
			for j := range b {
				b[j] = byte('0' + rng.IntN(10))
			}
			c = string(b)
		} else {
			c = netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256) >> rng.IntN(8)), byte(rng.IntN(256) >> rng.IntN(8)), byte(rng.IntN(256))}).String()
		}
		cases = append(cases, c)
		j := rng.IntN(len(c))
		cases = append(cases, c[:j]+string(alphabet[rng.IntN(len(alphabet))])+c[j+1:])
	}
	return cases
}

// checkFastDecoders compares numCol and ipv4Col with the general decoders for
// the column that starts at line[i], and checks that they answer for every
// value they are meant to take.
func checkFastDecoders(t *testing.T, line []byte, i int) {
	t.Helper()
	if isSep(line[i]) {
		return // not a column start
	}
	e := colEnd(line, i)
	room := len(line)-i >= 16
	wantV, wantOK := uintCol(line, i, e)
	v, ve, ok := numCol(line, i)
	if ok && (!wantOK || v != wantV || ve != e) {
		t.Fatalf("%q at %d: numCol = %d %d, uintCol = %d %v (end %d)", line, i, v, ve, wantV, wantOK, e)
	}
	if !ok && wantOK && room && e-i <= 15 && e < len(line) {
		t.Fatalf("%q at %d: numCol declined %q", line, i, line[i:e])
	}
	wantA, wantAOK := addrCol(line, i, e)
	a, ae, ok := ipv4Col(line, i)
	if ok && (!wantAOK || a != wantA || ae != e) {
		t.Fatalf("%q at %d: ipv4Col = %v %d, addrCol = %v %v (end %d)", line, i, a, ae, wantA, wantAOK, e)
	}
	if !ok && wantAOK && wantA.Is4() && room && e < len(line) {
		t.Fatalf("%q at %d: ipv4Col declined %q", line, i, line[i:e])
	}
}

// TestFastDecodersMatchGeneral checks numCol and ipv4Col against uintCol and
// addrCol at every position of a line and with both separators.
func TestFastDecodersMatchGeneral(t *testing.T) {
	for _, c := range fastCases(rand.New(rand.NewPCG(11, 11))) {
		for pad := range 20 {
			for _, sep := range []string{" ", "\t"} {
				for _, tail := range []string{sep + "y", sep + "ACCEPT OK", sep + "1 2 3 4 5 6 7 8 9"} {
					line := []byte(strings.Repeat("x", pad) + sep + c + tail)
					checkFastDecoders(t, line, pad+1)
				}
			}
		}
	}
}

// FuzzFastDecoders: numCol and ipv4Col agree with the general decoders on the
// first column after a separator.
func FuzzFastDecoders(f *testing.F) {
	for _, c := range fastCases(rand.New(rand.NewPCG(12, 12)))[:200] {
		f.Add(uint8(3), c+" 2 3 4 5 6 7")
	}
	f.Fuzz(func(t *testing.T, pad uint8, s string) {
		if s == "" || isSep(s[0]) {
			return
		}
		line := []byte(strings.Repeat("x", int(pad%32)) + " " + s)
		checkFastDecoders(t, line, int(pad%32)+1)
	})
}

func TestFastConstants(t *testing.T) {
	if binary.LittleEndian.Uint64([]byte("ACCEPT \x00")) != acceptSp || binary.LittleEndian.Uint64([]byte("REJECT \x00")) != rejectSp {
		t.Fatal("action words")
	}
}
