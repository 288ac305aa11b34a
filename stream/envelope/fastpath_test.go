package envelope

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cinch-sg/cinch/internal/peers"
)

// result is everything observable about one Decode call.
type result struct {
	kind  Kind
	err   string
	out   []emitted
	stats Stats
}

// errStop is what the callback returns to stop decoding after stopAfter lines.
var errStop = errors.New("stop")

// decodeWith decodes p with a fresh Decoder, with or without the fast path;
// the callback fails on the stopAfter-th line when stopAfter > 0.
func decodeWith(p []byte, slow bool, stopAfter int) (result, *Decoder) {
	d := NewDecoder()
	d.MaxDecompressed = 1 << 20
	d.slowOnly = slow
	var r result
	k, err := d.Decode(p, func(line []byte, m *Meta) error {
		r.out = append(r.out, emitted{string(line), *m})
		if len(r.out) == stopAfter {
			return errStop
		}
		return nil
	})
	r.kind, r.stats = k, d.Stats()
	if err != nil {
		r.err = err.Error()
		if errors.Is(err, errStop) && err != errStop {
			r.err += " (wrapped)"
		}
	}
	return r, d
}

// compareFastSlow decodes p both ways and reports the first difference. It
// returns whether the fast path decoded at least one object.
func compareFastSlow(t *testing.T, p []byte, stopAfter int) bool {
	t.Helper()
	fast, d := decodeWith(p, false, stopAfter)
	slow, _ := decodeWith(p, true, stopAfter)
	if fast.kind != slow.kind || fast.err != slow.err || fast.stats != slow.stats || len(fast.out) != len(slow.out) {
		t.Fatalf("fast and slow paths differ on %q (stop after %d):\nfast: kind %v, err %q, %d lines, %+v\nslow: kind %v, err %q, %d lines, %+v",
			p, stopAfter, fast.kind, fast.err, len(fast.out), fast.stats, slow.kind, slow.err, len(slow.out), slow.stats)
	}
	for i := range fast.out {
		if strings.TrimSpace(fast.out[i].line) == "" {
			t.Fatalf("empty line emitted for %q", p)
		}
		if fast.out[i] != slow.out[i] {
			t.Fatalf("fast and slow paths differ on %q at line %d:\nfast: %+v\nslow: %+v", p, i+1, fast.out[i], slow.out[i])
		}
	}
	return d.fast.objects > 0
}

// gen writes random CloudWatch-like JSON. Most of what it writes is valid and
// takes the fast path; some is odd (wrong types, duplicate or case-folded keys,
// broken syntax) and must take the encoding/json path with the same result.
type gen struct {
	r   *rand.Rand
	b   []byte
	odd int // 1 in odd choices is odd; 0: never
}

func (g *gen) chance(n int) bool { return n > 0 && g.r.IntN(n) == 0 }
func (g *gen) isOdd() bool       { return g.chance(g.odd) }

func (g *gen) ws() {
	if g.chance(3) {
		for range g.r.IntN(3) {
			g.b = append(g.b, " \t\r\n"[g.r.IntN(4)])
		}
	}
}

// str writes a JSON string literal of random content.
func (g *gen) str(plain bool) {
	g.b = append(g.b, '"')
	n := g.r.IntN(12)
	if g.chance(4) {
		n = 20 + g.r.IntN(200)
	}
	for range n {
		switch k := g.r.IntN(40); {
		case plain || k < 28:
			g.b = append(g.b, byte(' '+g.r.IntN(95))) // printable ASCII, maybe a quote or backslash
			if c := g.b[len(g.b)-1]; c == '"' || c == '\\' {
				g.b = append(g.b[:len(g.b)-1], '\\', c)
			}
		case k < 31:
			g.b = append(g.b, `\`+string(`"\/bfnrt`[g.r.IntN(8)])...)
		case k < 33:
			g.b = fmt.Appendf(g.b, `\u%04x`, g.r.IntN(0x10000))
		case k < 34:
			// a surrogate pair, maybe broken
			hi, lo := 0xd800+g.r.IntN(0x400), 0xdc00+g.r.IntN(0x400)
			if g.chance(3) {
				hi, lo = lo, hi
			}
			g.b = fmt.Appendf(g.b, `\u%04X\u%04x`, hi, lo)
		case k < 37:
			g.b = utf8.AppendRune(g.b, rune(0x80+g.r.IntN(0x2000)))
		case k < 38:
			g.b = utf8.AppendRune(g.b, []rune{'é', '€', '😀', '\u2028', '\u00a0', '\u0085', '\ufeff'}[g.r.IntN(7)])
		case k < 39:
			if g.isOdd() {
				g.b = append(g.b, []byte{0xff, 0xc3, 0xed, 0xa0, 0x80, 0xe2, 0x82}[g.r.IntN(7)]) // invalid UTF-8
			} else {
				g.b = append(g.b, ' ')
			}
		default:
			if g.isOdd() {
				g.b = append(g.b, []string{"\x01", "\n", `\'`, `\x`, `\u12g4`, `\`}[g.r.IntN(6)]...) // invalid
			} else {
				g.b = append(g.b, "-:./_"[g.r.IntN(5)])
			}
		}
	}
	g.b = append(g.b, '"')
}

// nonEmpty writes a string literal that is not "" (unless odd).
func (g *gen) nonEmpty() {
	start := len(g.b)
	g.str(false)
	if len(g.b) == start+2 && !g.isOdd() {
		g.b = append(g.b[:start], `"/vpc/x"`...)
	}
}

// number writes a random JSON number (or, when odd, something almost one).
func (g *gen) number() {
	if g.isOdd() {
		g.b = append(g.b, []string{"-", "01", "1.", ".5", "1e", "+1", "0x10", "1.5.2", "--1", "1e+"}[g.r.IntN(10)]...)
		return
	}
	switch g.r.IntN(6) {
	case 0:
		g.b = strconv.AppendFloat(g.b, g.r.NormFloat64()*1e6, 'g', -1, 64)
	case 1:
		g.b = fmt.Appendf(g.b, "%d.%de%d", g.r.IntN(100), g.r.IntN(100), g.r.IntN(40)-20)
	default:
		g.b = strconv.AppendInt(g.b, g.r.Int64()>>g.r.IntN(64)*int64(1-2*g.r.IntN(2)), 10)
	}
}

// value writes any JSON value.
func (g *gen) value(depth int) {
	g.ws()
	switch k := g.r.IntN(9); {
	case k == 0 && depth < 4:
		g.b = append(g.b, '{')
		for i := range g.r.IntN(4) {
			if i > 0 {
				g.b = append(g.b, ',')
			}
			g.ws()
			g.str(false)
			g.ws()
			g.b = append(g.b, ':')
			g.value(depth + 1)
		}
		g.ws()
		g.b = append(g.b, '}')
	case k == 1 && depth < 4:
		g.b = append(g.b, '[')
		for i := range g.r.IntN(4) {
			if i > 0 {
				g.b = append(g.b, ',')
			}
			g.value(depth + 1)
		}
		g.ws()
		g.b = append(g.b, ']')
	case k == 2:
		g.number()
	case k == 3:
		g.b = append(g.b, []string{"true", "false", "null"}[g.r.IntN(3)]...)
	case k == 4 && g.isOdd():
		g.b = append(g.b, []string{"tru", "nul", "falsey", "[1,]", "{,}", `{"a"}`, "[", `{"a":1,}`}[g.r.IntN(8)]...)
	default:
		g.str(false)
	}
	g.ws()
}

type field struct {
	key   string
	value func()
}

// object writes the fields in random order, with unknown keys mixed in and,
// when odd, keys duplicated or spelled in another case.
func (g *gen) object(fields []field) {
	for range g.r.IntN(3) {
		fields = append(fields, field{[]string{"subscriptionFilters", "x", "extra", "logEventz", "ids", "tímestamp", "policyLevel", "\u212a", "İd"}[g.r.IntN(9)], func() { g.value(0) }})
	}
	if g.isOdd() && len(fields) > 0 {
		f := fields[g.r.IntN(len(fields))]
		switch g.r.IntN(4) {
		case 0:
			fields = append(fields, f) // duplicate
		case 1:
			fields = append(fields, field{strings.ToUpper(f.key[:1]) + f.key[1:], f.value})
		case 2:
			fields = append(fields, field{[]string{"message", "records", "awslogs", "requestId", `logGro\u0075p`, "Id", "TIMESTAMP", "MESSAGE"}[g.r.IntN(8)], func() { g.value(0) }})
		case 3:
			fields = slices.Delete(fields, 0, 1) // a required key missing
		}
	}
	g.r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	g.ws()
	g.b = append(g.b, '{')
	for i, f := range fields {
		if i > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		g.b = strconv.AppendQuote(g.b, f.key)
		if strings.Contains(f.key, `\`) {
			g.b = append(append(g.b[:len(g.b)-len(strconv.Quote(f.key))], '"'), append([]byte(f.key), '"')...)
		}
		g.ws()
		g.b = append(g.b, ':')
		g.ws()
		f.value()
		g.ws()
	}
	g.b = append(g.b, '}')
	g.ws()
}

// maybeOdd writes v, or when odd a value of another type.
func (g *gen) maybeOdd(v func()) func() {
	return func() {
		if g.isOdd() {
			g.value(0)
		} else {
			v()
		}
	}
}

// cloudWatch writes one CloudWatch Logs subscription message.
func (g *gen) cloudWatch() {
	msgType := func() { g.b = append(g.b, `"DATA_MESSAGE"`...) }
	if g.isOdd() {
		msgType = func() {
			g.b = append(g.b, []string{`"CONTROL_MESSAGE"`, `"OTHER"`, `"DATA_MESSAG\u0045"`, `""`, `null`}[g.r.IntN(5)]...)
		}
	}
	fields := []field{
		{"messageType", msgType},
		{"owner", g.maybeOdd(func() { g.str(false) })},
		{"logGroup", g.maybeOdd(g.nonEmpty)},
		{"logStream", g.maybeOdd(g.nonEmpty)},
		{"logEvents", g.maybeOdd(func() {
			g.b = append(g.b, '[')
			n := g.r.IntN(6)
			if g.chance(5) {
				n = g.r.IntN(60)
			}
			for i := range n {
				if i > 0 {
					g.b = append(g.b, ',')
				}
				g.ws()
				if g.isOdd() {
					g.value(0)
					continue
				}
				g.object([]field{
					{"id", g.maybeOdd(func() { g.str(true) })},
					{"timestamp", func() {
						if g.isOdd() {
							g.value(0)
						} else {
							g.b = strconv.AppendInt(g.b, g.r.Int64()>>g.r.IntN(64)*int64(1-2*g.r.IntN(2)), 10)
						}
					}},
					{"message", g.maybeOdd(func() {
						if g.chance(8) {
							g.b = append(g.b, []string{`""`, `"   "`, `"\t\n"`, `"\u00a0"`, `" \u2028 "`}[g.r.IntN(5)]...)
						} else {
							g.str(false)
						}
					})},
				})
			}
			g.ws()
			g.b = append(g.b, ']')
		})},
	}
	g.object(fields)
}

// payload returns one random payload: usually one object, sometimes several,
// sometimes damaged.
func (g *gen) payload() []byte {
	g.b = g.b[:0]
	g.ws()
	g.cloudWatch()
	for g.chance(8) {
		if g.isOdd() {
			g.value(0)
		} else {
			g.cloudWatch()
		}
	}
	if g.isOdd() {
		switch g.r.IntN(3) {
		case 0:
			g.b = g.b[:g.r.IntN(len(g.b)+1)] // truncated
		case 1:
			g.b[g.r.IntN(len(g.b))] = byte(g.r.IntN(256)) // one byte changed
		case 2:
			g.b = append(g.b, "x"...) // trailing garbage
		}
	}
	return g.b
}

// TestFastPathMatchesSlow decodes random CloudWatch payloads with the fast
// path and with encoding/json and requires identical lines, metadata, kinds,
// errors and counters.
func TestFastPathMatchesSlow(t *testing.T) {
	n := 6000
	if testing.Short() {
		n = 1000
	}
	for _, odd := range []int{0, 40, 8} {
		g := &gen{r: rand.New(rand.NewPCG(uint64(odd), 7)), odd: odd}
		taken := 0
		for i := range n {
			p := g.payload()
			stop := 0
			if i%5 == 0 {
				stop = 1 + g.r.IntN(4)
			}
			if compareFastSlow(t, p, stop) {
				taken++
			}
			if i%7 == 0 {
				compareFastSlow(t, gz(p), 0) // through gzip
			}
		}
		t.Logf("odd 1/%d: fast path decoded %d of %d payloads", odd, taken, n)
		if odd == 0 && taken != n {
			t.Errorf("fast path decoded only %d of %d valid payloads", taken, n)
		}
		if odd != 0 && (taken < n/50 || taken == n) {
			t.Errorf("fast path decoded %d of %d payloads, want some but not all", taken, n)
		}
	}
}

// TestFastPathCases pins the edge cases the fast path must either decode as
// encoding/json does or leave to it.
func TestFastPathCases(t *testing.T) {
	const head = `{"messageType":"DATA_MESSAGE","owner":"o","logGroup":"g","logStream":"s","logEvents":`
	cases := []struct {
		in   string
		fast bool // decoded by the fast path
	}{
		{cwMsg, true},
		{head + `[]}`, true},
		{head + `[{}]}`, true},
		{head + `[{"id":"1","timestamp":-0,"message":"a"}]}`, true},
		{head + `[{"id":"1","timestamp":9223372036854775807,"message":"a"}]}`, true},
		{head + `[{"id":"1","timestamp":-9223372036854775808,"message":"a"}]}`, true},
		{head + `[{"id":"1","timestamp":9223372036854775808,"message":"a"}]}`, false},
		{head + `[{"id":"1","timestamp":-9223372036854775809,"message":"a"}]}`, false},
		{head + `[{"id":"1","timestamp":99999999999999999999,"message":"a"}]}`, false},
		{head + `[{"id":"1","timestamp":1.0,"message":"a"}]}`, false},
		{head + `[{"id":"1","timestamp":1e3,"message":"a"}]}`, false},
		{head + `[{"id":"1","timestamp":"1","message":"a"}]}`, false},
		{head + `[{"id":"1","timestamp":01,"message":"a"}]}`, false},
		{head + `[{"id":"1","timestamp":null,"message":"a"}]}`, false},
		{head + `[{"id":1,"message":"a"}]}`, false},
		{head + `[{"message":"a","message":"b"}]}`, false},
		{head + `[{"Message":"a"}]}`, false},
		{head + `[{"mesſage":"a"}]}`, false},
		{head + `[{"İd":"a","message":"m"}]}`, true}, // İd folds to "i̇d", not to "id"
		{head + `[{"tímestamp":1,"message":"m"}]}`, true},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[],"Key":1}`, true},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[],"ownEr":1}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[],"recordſ":1}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[],"Key":1}`, true},
		{head + `[null]}`, false},
		{head + `[{"message":"a"},]}`, false},
		{head + `null}`, false},
		{head + `[{"message":"\ud83d\ude00 \ud83d \ude00 \ud83dx \u00e9\n\t\"\\\/\b\f\r"}]}`, true},
		{head + `[{"message":"\uDBFF\uDFFF\uD800\uDC00\uD800\uD800\uDC00"}]}`, true},
		{head + "[{\"message\":\"bad \xff utf8 \xed\xa0\x80 \xe2\x82\"}]}", true},
		{head + "[{\"message\":\"bad \xff utf8\\n\"}]}", true},
		{head + "[{\"message\":\"ctl \x01\"}]}", false},
		{head + `[{"message":"\'"}]}`, false},
		{head + `[{"message":"\u12G4"}]}`, false},
		{head + `[{"message":"\u00a0\u2028\u0085 "}]}`, true},
		{head + `[{"message":"  "}]}`, true},
		{head + `[{"x":{"a":[1,-2.5e+3,true,false,null,"\"",{}],"b":[]}},{"message":"m"}]}`, true},
		{head + `[{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"message":"m"}]}`, false},
		{head + `[{"x":tru,"message":"m"}]}`, false},
		{head + `[{"x":-,"message":"m"}]}`, false},
		{head + `[{"x":1.,"message":"m"}]}`, false},
		{head + `[]} `, true},
		{head + `[]}` + "\n" + cwMsg, true},
		{head + `[]}x`, true}, // the first object by the fast path, then a slow error
		{head + `[]}{"message":"plain"}`, true},
		{head + `[]}{"messageType":"CONTROL_MESSAGE"}`, true},
		{head + `[]`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[]}`, true},
		{`{"messageType":"DATA_MESSAGE","owner":null,"logGroup":"g","logStream":"s","logEvents":[]}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"","logStream":"s","logEvents":[]}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[]}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s"}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[],"logGroup":"h"}`, false},
		{`{"messageType":"DATA_MESSAGE","LogGroup":"g","logStream":"s","logEvents":[]}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[],"message":"m"}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[],"records":[]}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"\u0067","logStream":"s\n","logEvents":[{"id":"\u0031"}]}`, true},
		{`{"messageType":"DATA_MESSAGE","log\u0047roup":"g","logStream":"s","logEvents":[]}`, false},
		{`{"messageType":"DATA_MESSAG\u0045","logGroup":"g","logStream":"s","logEvents":[]}`, false},
		{`{"messageType":"CONTROL_MESSAGE","logGroup":"g","logStream":"s","logEvents":[]}`, false},
		{`{"messageType":"OTHER","logGroup":"g","logStream":"s","logEvents":[]}`, false},
		{`{}`, false},
		{`{"messAge":""}`, false}, // an empty line is skipped in every shape
		{`{"message":"   "}` + "\n" + `{"message":"x"}`, false},
		{`{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[]`, false},
	}
	for _, c := range cases {
		for stop := range 3 {
			if got := compareFastSlow(t, []byte(c.in), stop); got != c.fast {
				t.Errorf("%s: fast path %v, want %v", c.in, got, c.fast)
			}
		}
	}
}

// TestFastPathLineIsolated checks that a callback appending to the line it is
// given cannot write into the payload.
func TestFastPathLineIsolated(t *testing.T) {
	p := []byte(cwMsg)
	orig := string(p)
	d := NewDecoder()
	if _, err := d.Decode(p, func(line []byte, m *Meta) error {
		_ = append(line, "XXXXXXXXXXXXXXXXXXXXXXXXXX"...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if string(p) != orig || d.fast.objects != 1 {
		t.Fatalf("payload changed: %s (fast %d)", p, d.fast.objects)
	}
}

// TestFastPathAllocs checks that decoding a gzip CloudWatch payload allocates
// per payload, not per event.
func TestFastPathAllocs(t *testing.T) {
	p := gz(benchPayload(200))
	d := NewDecoder()
	fn := func([]byte, *Meta) error { return nil }
	d.Decode(p, fn)
	allocs := testing.AllocsPerRun(20, func() { d.Decode(p, fn) })
	// One for the event ids; the rest are compress/flate's Huffman tables.
	if allocs > 30 {
		t.Errorf("%v allocations per payload of 200 events", allocs)
	}
	raw := benchPayload(200)
	if allocs := testing.AllocsPerRun(20, func() { d.Decode(raw, fn) }); allocs > 1 {
		t.Errorf("%v allocations per JSON payload of 200 events", allocs)
	}
}

// FuzzFastPathMatchesSlow requires the fast path and encoding/json to agree on
// arbitrary payloads.
func FuzzFastPathMatchesSlow(f *testing.F) {
	f.Add([]byte(cwMsg), uint8(0))
	f.Add(gz([]byte(cwMsg)), uint8(1))
	f.Add([]byte(cwMsg+cwMsg), uint8(3))
	f.Add([]byte(`{"awslogs":{"data":"`+base64.StdEncoding.EncodeToString(gz([]byte(cwMsg)))+`"}}`), uint8(0))
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","logGroup":"g\u00e9","logStream":"s","logEvents":[{"id":"1","timestamp":-5,"message":"\ud83d\ude00 \ud800 x\n","x":[{},[],1e5,null]}]}`), uint8(0))
	g := &gen{r: rand.New(rand.NewPCG(1, 1)), odd: 20}
	for range 10 {
		f.Add(bytes.Clone(g.payload()), uint8(g.r.IntN(4)))
	}
	dir := peers.Dir(f)
	for _, p := range []string{
		"awsdocs/cloudwatch-logs-subscription-decoded/SubscriptionFilters-example1.json",
		"awsdocs/cloudwatch-logs-subscription-decoded/SubscriptionFilters-example2.json",
		"awsdocs/cloudwatch-logs-subscription-decoded/ValidateLogEventFlow-example3.json",
		"otel-collector-contrib-awslogs/subscription-filter/valid_cloudwatch_log.json",
		"otel-collector-contrib-awslogs/subscription-filter/extracted_fields_both.json",
		"otel-collector-contrib-awslogs/subscription-filter/multiple_json_objects.json",
		"otel-collector-contrib-awslogs/subscription-filter/invalid_cloudwatch_log.json",
		"otel-collector-contrib-awslogs/subscription-filter/valid_cloudwatch_log_control.json",
		"vectordotdev-vector/firehose-cloudwatch/cue-firehose-request.json",
		"aws-lambda-go/events-testdata/cloudwatch-logs-event.json",
	} {
		raw, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, uint8(0))
	}
	f.Fuzz(func(t *testing.T, p []byte, stop uint8) {
		compareFastSlow(t, p, int(stop%8))
	})
}

// TestCheckPlain puts one control character, or one non-ASCII byte, at every
// position of plain strings of every length up to 40, so that each of the
// 16-, 8- and 1-byte steps of checkPlain sees it (a fuzzer found a control
// character in the second word of a 16-byte step going unnoticed).
func TestCheckPlain(t *testing.T) {
	for n := 0; n <= 40; n++ {
		s := bytes.Repeat([]byte{'0'}, n)
		if got := checkPlain(s); got != 0 {
			t.Fatalf("len %d plain: %#x", n, got)
		}
		for i := range n {
			for _, c := range []byte{0x00, 0x1f, '\t', '\n'} {
				s[i] = c
				if got := checkPlain(s); got != 0xff {
					t.Fatalf("len %d, %#x at %d: %#x, want 0xff", n, c, i, got)
				}
			}
			for _, c := range []byte{0x80, 0xc3, 0xff} {
				s[i] = c
				if got := checkPlain(s); got != strNonASCII {
					t.Fatalf("len %d, %#x at %d: %#x, want strNonASCII", n, c, i, got)
				}
			}
			s[i] = ' ' // 0x20: the smallest plain byte
			if got := checkPlain(s); got != 0 {
				t.Fatalf("len %d, space at %d: %#x", n, i, got)
			}
			s[i] = '0'
		}
	}
}
