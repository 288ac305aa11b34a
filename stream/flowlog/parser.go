package flowlog

import (
	"bytes"
	"fmt"
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
}

// NewParser returns a parser for f (DefaultFormat when f is nil).
func NewParser(f *Format) *Parser {
	if f == nil {
		f = DefaultFormat()
	}
	return &Parser{format: f}
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
	f := p.format
	n := len(f.fields)
	line = trimLine(line)
	cols := r.cols[:0]
	if cap(cols) < n {
		cols = make([][]byte, 0, n)
	}
	count := 0
	if bytes.IndexByte(line, '\t') < 0 {
		// Fast path: spaces only, so the vectorised IndexByte finds each end.
		for len(line) > 0 {
			if line[0] == ' ' {
				line = line[1:]
				continue
			}
			j := bytes.IndexByte(line, ' ')
			if j < 0 {
				j = len(line)
			}
			if count < n {
				cols = append(cols, line[:j:j])
			}
			count++
			line = line[j:]
		}
	} else {
		for i := 0; i < len(line); {
			c := line[i]
			if c == ' ' || c == '\t' {
				i++
				continue
			}
			j := i + 1
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			if count < n {
				cols = append(cols, line[i:j:j])
			}
			count++
			i = j
		}
	}
	*r = Record{format: f, cols: cols}
	if count != n {
		r.cols = cols[:0]
		return &ParseError{Reason: ReasonFieldCount, Column: -1, Want: n, Got: count}
	}
	for i, c := range cols {
		fl := f.fields[i]
		if fl == FieldUnknown || isDash(c) {
			continue
		}
		if err := r.set(fl, c); err != nil {
			err.Column = i
			r.cols = cols[:0]
			return err
		}
		r.setPresent(fl)
	}
	return nil
}

// set decodes column text c of known field fl into r.
func (r *Record) set(fl Field, c []byte) *ParseError {
	var ok bool
	var v uint64
	switch fl {
	case FieldVersion:
		v, ok = parseUint(c, 255)
		r.Version = uint8(v)
	case FieldAccountID:
		r.AccountID, ok = c, true
	case FieldInterfaceID:
		r.InterfaceID, ok = c, true
	case FieldSrcAddr:
		r.SrcAddr, ok = parseAddr(c)
	case FieldDstAddr:
		r.DstAddr, ok = parseAddr(c)
	case FieldPktSrcAddr:
		r.PktSrcAddr, ok = parseAddr(c)
	case FieldPktDstAddr:
		r.PktDstAddr, ok = parseAddr(c)
	case FieldSrcPort:
		v, ok = parseUint(c, 65535)
		r.SrcPort = uint16(v)
	case FieldDstPort:
		v, ok = parseUint(c, 65535)
		r.DstPort = uint16(v)
	case FieldProtocol:
		v, ok = parseUint(c, 255)
		r.Protocol = uint8(v)
	case FieldPackets:
		r.Packets, ok = parseUint(c, ^uint64(0))
	case FieldBytes:
		r.Bytes, ok = parseUint(c, ^uint64(0))
	case FieldStart:
		v, ok = parseUint(c, 1<<63-1)
		r.Start = int64(v)
	case FieldEnd:
		v, ok = parseUint(c, 1<<63-1)
		r.End = int64(v)
	case FieldTCPFlags:
		v, ok = parseUint(c, 65535)
		r.TCPFlags = uint16(v)
	case FieldTrafficPath:
		v, ok = parseUint(c, 255)
		r.TrafficPath = uint8(v)
	case FieldAction:
		switch string(c) {
		case "ACCEPT":
			r.Action, ok = ActionAccept, true
		case "REJECT":
			r.Action, ok = ActionReject, true
		}
	case FieldLogStatus:
		switch string(c) {
		case "OK":
			r.LogStatus, ok = StatusOK, true
		case "NODATA":
			r.LogStatus, ok = StatusNoData, true
		case "SKIPDATA":
			r.LogStatus, ok = StatusSkipData, true
		}
	case FieldFlowDirection:
		switch string(c) {
		case "ingress":
			r.FlowDirection, ok = DirectionIngress, true
		case "egress":
			r.FlowDirection, ok = DirectionEgress, true
		}
	default:
		switch fl.Kind() {
		case KindInt:
			_, ok = parseUint(c, ^uint64(0))
		case KindAddr:
			_, ok = parseAddr(c)
		default:
			ok = true
		}
	}
	if ok {
		return nil
	}
	reason := ReasonBadValue
	switch fl.Kind() {
	case KindInt:
		reason = ReasonBadNumber
	case KindAddr:
		reason = ReasonBadAddress
	}
	return &ParseError{Reason: reason, Field: fl.Name(), Value: string(c[:min(len(c), 64)])}
}

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
