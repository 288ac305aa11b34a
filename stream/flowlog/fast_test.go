package flowlog

import (
	"reflect"
	"testing"
)

// FuzzParseDefaultFast: the default format's unrolled path (parseDefault) gives
// the same record, columns and error as the general one.
func FuzzParseDefaultFast(f *testing.F) {
	f.Add(sampleDefault)
	f.Add("2 1 eni-1 - - - - - - - 1 2 - NODATA")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 2001:db8::1 443 49152 6 10 840 1620140761 1620140821 ACCEPT OK")
	f.Add(" 2\t123456789012  eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620140761 1620140821 REJECT SKIPDATA \r\n")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.256 443 49152 6 10 840 1620140761 1620140821 ACCEPT OK")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 65536 6 10 840 1620140761 1620140821 ACCEPT OK")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620140761 1620140821 ACCEPT OK extra")
	f.Add("2 123456789012 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620140761 1620140821 ACCEPT")
	for _, l := range realisticLines(DefaultFormat(), 64, 7) {
		f.Add(string(l))
	}
	fast, slow := NewParser(DefaultFormat()), NewParser(DefaultFormat())
	if !fast.fast {
		f.Fatal("default format without the fast path")
	}
	slow.fast = false
	f.Fuzz(func(t *testing.T, line string) {
		var a, b Record
		ea := fast.Parse([]byte(line), &a)
		eb := slow.Parse([]byte(line), &b)
		if !reflect.DeepEqual(ea, eb) {
			t.Fatalf("%q: errors differ: %v / %v", line, ea, eb)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: records differ:\n%+v\n%+v", line, a, b)
		}
	})
}
