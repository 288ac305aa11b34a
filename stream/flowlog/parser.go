package flowlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"unsafe"
)

// Reasons carried by ParseError, for counting failures by cause.
const (
	ReasonFieldCount = "field-count" // the line has more or fewer columns than the format
	ReasonBadNumber  = "bad-number"  // a KindInt column is not an unsigned integer in range
	ReasonBadAddress = "bad-address" // an address column is not an IPv4/IPv6 address
	ReasonBadValue   = "bad-value"   // an enumerated column (action, log-status, flow-direction) has an unknown value
)

// ParseError describes why a line could not be parsed.
type ParseError struct {
	Reason string // one of the Reason constants
	Field  string // column name; "" for ReasonFieldCount
	Column int    // 0-based column index; -1 for ReasonFieldCount
	Value  string // offending text (at most 64 bytes)
	Want   int    // expected number of columns (ReasonFieldCount)
	Got    int    // number of columns found (ReasonFieldCount)
}

// Error returns a message such as "flowlog: expected 14 fields, got 13".
func (e *ParseError) Error() string {
	if e.Reason == ReasonFieldCount {
		return fmt.Sprintf("flowlog: expected %d fields, got %d", e.Want, e.Got)
	}
	what := e.Reason
	switch e.Reason {
	case ReasonBadNumber:
		what = "bad number"
	case ReasonBadAddress:
		what = "bad address"
	case ReasonBadValue:
		what = "bad value"
	}
	return fmt.Sprintf("flowlog: %s: %s %q", e.Field, what, e.Value)
}

// Parser parses lines of one Format. It holds no per-line state: one Parser may be
// shared by goroutines that each use their own Record.
type Parser struct {
	format *Format
	fast   bool // the format decodes as the default one (see parseDefault)
	// oneStep: number and address columns are first tried with numCol and
	// ipv4Col (always, but for the tests' reference parser).
	oneStep bool
}

// NewParser returns a parser for f (DefaultFormat when f is nil).
func NewParser(f *Format) *Parser {
	if f == nil {
		f = DefaultFormat()
	}
	return &Parser{format: f, fast: isDefaultOps(f.ops), oneStep: true}
}

// Format returns the parser's format.
func (p *Parser) Format() *Format { return p.format }

// trimLine drops leading and trailing spaces, tabs, CR and LF.
func trimLine(b []byte) []byte {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isDash(b []byte) bool { return len(b) == 1 && b[0] == '-' }

// Parse parses one line into r. Columns are separated by runs of spaces or tabs;
// surrounding whitespace and the line terminator are ignored. "-" marks an absent
// value in any column. On success the Record's slices point into line. Errors are
// *ParseError values. Parse does not allocate on valid lines once r has been used.
func (p *Parser) Parse(line []byte, r *Record) error {
	// One pass over the line: each column is delimited and decoded by the
	// operation its format precompiled (see colOp), without an intermediate split.
	f := p.format
	ops := f.ops
	n := len(ops)
	line = trimLine(line)
	cols := r.cols
	if cap(cols) < n {
		cols = make([][]byte, n)
	}
	cols = cols[:n]
	if p.fast && parseDefault(line, f, r, cols) {
		return nil
	}
	*r = Record{format: f, present: f.present}
	k, i := 0, 0
	for ; k < n && i < len(line); k++ {
		// line[i] starts a column: it is neither a space nor a tab. Numbers
		// and IPv4 addresses are delimited and decoded in one step when
		// they can be (the same result as below: see numCol and ipv4Col).
		op := ops[k]
		var e int
		ok, done := true, false
		if p.oneStep && op.code >= opVersion && op.code <= opAddr {
			if op.code <= opInt {
				var v uint64
				if v, e, done = numCol(line, i); done {
					ok = r.setNum(op.code, v)
				}
			} else {
				var a netip.Addr
				if a, e, done = ipv4Col(line, i); done {
					r.setAddr(op.code, a)
				}
			}
		}
		if !done {
			// Find the column's end e, usually within the first 8 bytes.
			if i+16 <= len(line) {
				if m := sepMask(binary.LittleEndian.Uint64(line[i : i+8])); m != 0 {
					e = i + bits.TrailingZeros64(m)>>3
				} else if m := sepMask(binary.LittleEndian.Uint64(line[i+8 : i+16])); m != 0 {
					e = i + 8 + bits.TrailingZeros64(m)>>3
				} else {
					e = colEnd(line, i+16)
				}
			} else {
				e = colEnd(line, i)
			}
			if e == i+1 && line[i] == '-' {
				r.present[op.field>>6] &^= 1 << (op.field & 63)
			} else {
				switch op.code {
				case opText:
				case opAccountID:
					r.AccountID = line[i:e:e]
				case opInterfaceID:
					r.InterfaceID = line[i:e:e]
				case opVersion:
					var v uint64
					v, ok = uintCol(line, i, e)
					ok = ok && v <= 255
					r.Version = uint8(v)
				case opSrcPort:
					var v uint64
					v, ok = uintCol(line, i, e)
					ok = ok && v <= 65535
					r.SrcPort = uint16(v)
				case opDstPort:
					var v uint64
					v, ok = uintCol(line, i, e)
					ok = ok && v <= 65535
					r.DstPort = uint16(v)
				case opProtocol:
					var v uint64
					v, ok = uintCol(line, i, e)
					ok = ok && v <= 255
					r.Protocol = uint8(v)
				case opPackets:
					r.Packets, ok = uintCol(line, i, e)
				case opBytes:
					r.Bytes, ok = uintCol(line, i, e)
				case opStart:
					var v uint64
					v, ok = uintCol(line, i, e)
					ok = ok && v <= 1<<63-1
					r.Start = int64(v)
				case opEnd:
					var v uint64
					v, ok = uintCol(line, i, e)
					ok = ok && v <= 1<<63-1
					r.End = int64(v)
				case opTCPFlags:
					var v uint64
					v, ok = uintCol(line, i, e)
					ok = ok && v <= 65535
					r.TCPFlags = uint16(v)
				case opTrafficPath:
					var v uint64
					v, ok = uintCol(line, i, e)
					ok = ok && v <= 255
					r.TrafficPath = uint8(v)
				case opInt:
					_, ok = uintCol(line, i, e)
				case opSrcAddr:
					r.SrcAddr, ok = addrCol(line, i, e)
				case opDstAddr:
					r.DstAddr, ok = addrCol(line, i, e)
				case opPktSrcAddr:
					r.PktSrcAddr, ok = addrCol(line, i, e)
				case opPktDstAddr:
					r.PktDstAddr, ok = addrCol(line, i, e)
				case opAddr:
					_, ok = addrCol(line, i, e)
				case opAction:
					r.Action, ok = parseAction(line[i:e])
				case opLogStatus:
					r.LogStatus, ok = parseLogStatus(line[i:e])
				case opFlowDirection:
					switch string(line[i:e]) {
					case "ingress":
						r.FlowDirection = DirectionIngress
					case "egress":
						r.FlowDirection = DirectionEgress
					default:
						ok = false
					}
				}
			}
		}
		cols[k] = line[i:e:e]
		i = e
		if !ok {
			return r.fail(line, i, cols, k)
		}
		for i < len(line) && isSep(line[i]) {
			i++
		}
	}
	if k != n || i != len(line) {
		*r = Record{format: f, cols: cols[:0]}
		return &ParseError{Reason: ReasonFieldCount, Column: -1, Want: n, Got: k + countCols(line[i:])}
	}
	r.cols = cols
	return nil
}

// fail finishes a Parse whose column k, ending at line[e], holds a bad value
// (cols[k] is its text). A wrong column count takes precedence; otherwise r keeps
// the values of the columns before k, as if they had been decoded one by one.
func (r *Record) fail(line []byte, e int, cols [][]byte, k int) error {
	f := r.format
	n := len(f.fields)
	got := k + 1 + countCols(line[e:])
	if got != n {
		*r = Record{format: f, cols: cols[:0]}
		return &ParseError{Reason: ReasonFieldCount, Column: -1, Want: n, Got: got}
	}
	// Presence bits: only the decoded, non-dash known columns before k.
	r.present = [len(r.present)]uint64{}
	for c, fl := range f.fields[:k] {
		if fl != FieldUnknown && !isDash(cols[c]) {
			r.setPresent(fl)
		}
	}
	r.cols = cols[:0]
	fl := f.fields[k]
	c := cols[k]
	reason := ReasonBadValue
	switch fl.Kind() {
	case KindInt:
		reason = ReasonBadNumber
	case KindAddr:
		reason = ReasonBadAddress
	}
	return &ParseError{Reason: reason, Field: fl.Name(), Column: k, Value: string(c[:min(len(c), 64)])}
}

// countCols returns the number of columns in b (runs of spaces and tabs separate).
func countCols(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if isSep(b[i]) {
			i++
			continue
		}
		n++
		i = colEnd(b, i)
	}
	return n
}

func isSep(c byte) bool { return c == ' ' || c == '\t' }

// SWAR constants: one in every byte, and the top bit of every byte.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// sepMask returns the top bit of each byte of w that is a space or a tab, plus
// possibly bits above the lowest such byte (the lowest set bit is exact).
func sepMask(w uint64) uint64 {
	s := w ^ (' ' * lsb)
	t := w ^ ('\t' * lsb)
	return ((s-lsb)&^s | (t-lsb)&^t) & msb
}

// colEnd returns the index of the first space or tab at or after line[i], or
// len(line).
func colEnd(line []byte, i int) int {
	for i+8 <= len(line) {
		if m := sepMask(binary.LittleEndian.Uint64(line[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	if n := len(line); n >= 8 {
		// Last bytes: load the final word and drop the bytes before i (the
		// zero bytes shifted in are not separators).
		w := binary.LittleEndian.Uint64(line[n-8:]) >> (uint(i+8-n) * 8)
		if m := sepMask(w); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		return n
	}
	for i < len(line) && !isSep(line[i]) {
		i++
	}
	return i
}

// digitsWord returns the value of the k decimal digits (1 <= k <= 8) that end at
// b[q], read from the 8 bytes b[q-8:q] (q >= 8), and whether they are all digits.
func digitsWord(b []byte, q, k int) (uint64, bool) {
	w := binary.LittleEndian.Uint64(b[q-8:])
	low := padMask[k&7] // the bytes before the digits read as '0'
	w = w&^low | '0'*lsb&low
	return eightDigits(w - '0'*lsb), allDigits(w)
}

// padMask[k] selects the 8-k low bytes of a word (k = 8 is index 0).
var padMask = [8]uint64{0, 1<<56 - 1, 1<<48 - 1, 1<<40 - 1, 1<<32 - 1, 1<<24 - 1, 1<<16 - 1, 1<<8 - 1}

// pow10 holds 10^0 to 10^8.
var pow10 = [9]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// uintCol decodes the unsigned decimal column line[i:e]; ok is false unless it
// is a number of at most 20 digits that fits in a uint64.
func uintCol(line []byte, i, e int) (v uint64, ok bool) {
	k := e - i
	if e >= 16 && k <= 16 {
		if k <= 8 {
			return digitsWord(line, e, k)
		}
		hi, ok1 := digitsWord(line, e-8, k-8)
		lo, ok2 := digitsWord(line, e, 8)
		return hi*pow10[8] + lo, ok1 && ok2
	}
	return parseUint(line[i:e], ^uint64(0))
}

// allDigits reports whether every byte of w is an ASCII digit.
func allDigits(w uint64) bool {
	return w&(0xf0*lsb) == '0'*lsb && (w+6*lsb)&(0xf0*lsb) == '0'*lsb
}

// zeroBytes returns the top bit of each zero byte of x (exactly).
func zeroBytes(x uint64) uint64 {
	const low7 = 0x7f * lsb
	return ^((x&low7 + low7) | x | low7)
}

// gatherBits packs the top bit of each byte of m into one byte (byte k to bit k).
func gatherBits(m uint64) uint {
	return uint((m >> 7) * 0x0102040810204080 >> 56)
}

// addrCol decodes the address column line[i:e].
func addrCol(line []byte, i, e int) (netip.Addr, bool) {
	n := e - i
	if n < 7 || n > 15 || e < 19 {
		return parseAddr(line[i:e])
	}
	// Dotted quad, without branches that depend on the digits: the column is
	// the last n bytes of the 16-byte window line[e-16:e] (words w1, w2).
	w1 := binary.LittleEndian.Uint64(line[e-16 : e-8])
	w2 := binary.LittleEndian.Uint64(line[e-8 : e])
	in1 := ^uint64(0) << (uint(16-n) * 8)        // column bytes of w1 (none when n <= 8)
	in2 := ^uint64(0) << (uint(max(8-n, 0)) * 8) // column bytes of w2
	d1 := zeroBytes(w1^'.'*lsb) & in1
	d2 := zeroBytes(w2^'.'*lsb) & in2
	dots := gatherBits(d1) | gatherBits(d2)<<8
	if bits.OnesCount(dots) != 3 {
		return parseAddr(line[i:e])
	}
	// Every other column byte must be a digit: dots and outside bytes read as '0'.
	f1 := (d1>>7)*0xff | ^in1
	f2 := (d2>>7)*0xff | ^in2
	w1 = w1&^f1 | '0'*lsb&f1
	w2 = w2&^f2 | '0'*lsb&f2
	if !allDigits(w1) || !allDigits(w2) {
		return parseAddr(line[i:e])
	}
	p1 := bits.TrailingZeros(dots)
	dots &= dots - 1
	p2 := bits.TrailingZeros(dots)
	dots &= dots - 1
	p3 := bits.TrailingZeros(dots)
	b := e - 16 // window start
	o0 := octet(line, b+p1, p1-(16-n))
	o1 := octet(line, b+p2, p2-p1-1)
	o2 := octet(line, b+p3, p3-p2-1)
	o3 := octet(line, e, 15-p3)
	if o0|o1|o2|o3 > 255 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{byte(o0), byte(o1), byte(o2), byte(o3)}), true
}

// octet returns the value of the l validated digits that end at line[x] (x >= 3),
// or 256 when l is not 1 to 3 or the value has a leading zero.
func octet(line []byte, x, l int) uint {
	m2 := ^uint((l - 2) >> 63) // all ones when l >= 2
	m3 := ^uint((l - 3) >> 63) // all ones when l >= 3
	v := uint(line[x-1]-'0') + uint(line[x-2]-'0')*10&m2 + uint(line[x-3]-'0')*100&m3
	if uint(l-1) >= 3 || v < octetMin[l&3] {
		return 256
	}
	return v
}

// octetMin is the least value of an octet of 1, 2 or 3 digits without leading zero.
var octetMin = [4]uint{1: 0, 2: 10, 3: 100}

// parseUint parses an unsigned decimal integer no greater than limit.
func parseUint(b []byte, limit uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	const cutoff = (1<<64 - 1) / 10 // constant: no division at run time
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, false
		}
		if v >= cutoff && (v > cutoff || d > (1<<64-1)%10) {
			return 0, false
		}
		v = v*10 + d
	}
	return v, v <= limit
}

// parseAddr parses an IPv4 address by hand, or an IPv6 address (no zone) through
// netip without copying the bytes.
func parseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	return parseIPv6(b)
}

// parseIPv6 parses an IPv6 address without zone through netip, without copying b.
func parseIPv6(b []byte) (netip.Addr, bool) {
	if len(b) < 2 || len(b) > 45 {
		return netip.Addr{}, false
	}
	if bytes.IndexByte(b, ':') < 0 || bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false // not IPv6, or has a zone (which netip would allocate for)
	}
	// The string does not outlive this call: on error netip's message (which
	// would reference it) is dropped.
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

// parseIPv4 parses dotted-quad IPv4 without leading zeros.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	k, i := 0, 0
	for ; k < 4; k++ {
		if k > 0 {
			if i >= len(b) || b[i] != '.' {
				return netip.Addr{}, false
			}
			i++
		}
		start := i
		v := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 3 {
			v = v*10 + int(b[i]-'0')
			i++
		}
		if i == start || v > 255 || (i-start > 1 && b[start] == '0') {
			return netip.Addr{}, false
		}
		ip[k] = byte(v)
	}
	if i != len(b) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}
