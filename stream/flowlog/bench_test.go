package flowlog

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// realisticValue returns a value shaped like production VPC flow logs: IPv4
// almost always (1 in 50 addresses IPv6), mostly private addresses, ephemeral
// and well-known ports, packets and bytes below 10^7, few "-" columns outside
// NODATA/SKIPDATA records.
func realisticValue(rng *rand.Rand, fl Field) string {
	switch fl {
	case FieldVersion:
		return "2"
	case FieldAccountID:
		return strconv.FormatUint(100000000000+rng.Uint64N(3), 10)
	case FieldInterfaceID:
		return "eni-0" + strconv.FormatUint(0x1000000000000000+rng.Uint64N(64), 16)
	case FieldSrcAddr, FieldDstAddr, FieldPktSrcAddr, FieldPktDstAddr:
		switch n := rng.IntN(50); {
		case n == 0:
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(rng.Uint32()), 15: byte(rng.Uint32())}).String()
		case n < 35:
			return netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.Uint32()), byte(rng.Uint32())}).String()
		default:
			return netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}).String()
		}
	case FieldSrcPort, FieldDstPort:
		if rng.IntN(2) == 0 {
			return []string{"443", "80", "53", "22", "3306", "5432", "6379", "123"}[rng.IntN(8)]
		}
		return strconv.Itoa(32768 + rng.IntN(28232))
	case FieldProtocol:
		return []string{"6", "6", "6", "17", "17", "1"}[rng.IntN(6)]
	case FieldPackets:
		return strconv.FormatUint(1+rng.Uint64N(1<<rng.IntN(14)), 10)
	case FieldBytes:
		return strconv.FormatUint(40+rng.Uint64N(1<<rng.IntN(23)), 10)
	case FieldStart, FieldEnd:
		return strconv.FormatInt(1_700_000_000+rng.Int64N(86_400), 10)
	case FieldTCPFlags:
		return []string{"0", "2", "3", "18", "19", "27"}[rng.IntN(6)]
	case FieldTrafficPath:
		return strconv.Itoa(1 + rng.IntN(8))
	case FieldAction:
		if rng.IntN(10) == 0 {
			return "REJECT"
		}
		return "ACCEPT"
	case FieldLogStatus:
		return "OK"
	case FieldFlowDirection:
		return []string{"ingress", "egress"}[rng.IntN(2)]
	}
	return randValue(rng, fl)
}

// realisticLines returns n lines of format f; 1 in 100 is a NODATA record when
// the format is the default one. The lines share one buffer, as they do when read
// from a file or a decompressed S3 object.
func realisticLines(f *Format, n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 43))
	var buf []byte
	ends := make([]int, n)
	for i := range ends {
		vals := make([]string, f.Len())
		for c := range vals {
			vals[c] = realisticValue(rng, f.Field(c))
		}
		if f == DefaultFormat() && rng.IntN(100) == 0 {
			for c := 3; c < 10; c++ {
				vals[c] = "-"
			}
			vals[12], vals[13] = "-", "NODATA"
		}
		buf = append(buf, strings.Join(vals, " ")...)
		buf = append(buf, '\n')
		ends[i] = len(buf)
	}
	out := make([][]byte, n)
	start := 0
	for i, e := range ends {
		out[i] = buf[start:e:e]
		start = e
	}
	return out
}

func benchLines(b *testing.B, f *Format, lines [][]byte) {
	p := NewParser(f)
	var r Record
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	mask := len(lines) - 1 // a power of two
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := p.Parse(lines[i&mask], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkParseDefaultRealistic parses default-format lines with production-like
// values (see realisticValue); BenchmarkParseDefault's synthetic input has 20%
// IPv6 addresses and counters of up to 20 digits.
func BenchmarkParseDefaultRealistic(b *testing.B) {
	benchLines(b, DefaultFormat(), realisticLines(DefaultFormat(), 4096, 5))
}

// BenchmarkParseCustom20Realistic is BenchmarkParseDefaultRealistic for the
// 20-field custom format.
func BenchmarkParseCustom20Realistic(b *testing.B) {
	benchLines(b, custom20(), realisticLines(custom20(), 4096, 6))
}

func TestRealisticLines(t *testing.T) {
	for _, f := range []*Format{DefaultFormat(), custom20()} {
		var r Record
		p := NewParser(f)
		for _, l := range realisticLines(f, 512, 1) {
			if err := p.Parse(l, &r); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
		}
	}
	t.Log(string(realisticLines(DefaultFormat(), 3, 5)[2]))
}
