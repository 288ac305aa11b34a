package flowlog

import (
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// Action is the record's action field.
type Action uint8

// Actions; ActionNone stands for "-" or a format without the field.
const (
	ActionNone Action = iota
	ActionAccept
	ActionReject
)

// parseAction reads an action column.
func parseAction(b []byte) (Action, bool) {
	switch string(b) {
	case "ACCEPT":
		return ActionAccept, true
	case "REJECT":
		return ActionReject, true
	}
	return ActionNone, false
}

// parseLogStatus reads a log-status column.
func parseLogStatus(b []byte) (LogStatus, bool) {
	switch string(b) {
	case "OK":
		return StatusOK, true
	case "NODATA":
		return StatusNoData, true
	case "SKIPDATA":
		return StatusSkipData, true
	}
	return StatusNone, false
}

// String returns "ACCEPT", "REJECT" or "-".
func (a Action) String() string {
	switch a {
	case ActionAccept:
		return "ACCEPT"
	case ActionReject:
		return "REJECT"
	default:
		return "-"
	}
}

// LogStatus is the record's log-status field.
type LogStatus uint8

// Log statuses; StatusNone stands for "-" or a format without the field.
const (
	StatusNone LogStatus = iota
	StatusOK
	StatusNoData
	StatusSkipData
)

// String returns "OK", "NODATA", "SKIPDATA" or "-".
func (s LogStatus) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusNoData:
		return "NODATA"
	case StatusSkipData:
		return "SKIPDATA"
	default:
		return "-"
	}
}

// Direction is the record's flow-direction field, relative to the interface.
type Direction uint8

// Directions; DirectionUnknown stands for "-" or a format without the field.
const (
	DirectionUnknown Direction = iota
	DirectionIngress
	DirectionEgress
)

// String returns "ingress", "egress" or "-".
func (d Direction) String() string {
	switch d {
	case DirectionIngress:
		return "ingress"
	case DirectionEgress:
		return "egress"
	default:
		return "-"
	}
}

// Record is one parsed flow-log line. Typed fields are zero when the column is
// absent from the format or holds "-"; use Has to tell zero from absent. Byte
// slices (AccountID, InterfaceID, Value, Column) are views into the parsed line:
// they are valid until the line's buffer is reused or the next Parse into this
// Record.
type Record struct {
	Version       uint8
	AccountID     []byte
	InterfaceID   []byte
	SrcAddr       netip.Addr
	DstAddr       netip.Addr
	PktSrcAddr    netip.Addr
	PktDstAddr    netip.Addr
	SrcPort       uint16
	DstPort       uint16
	Protocol      uint8
	Packets       uint64
	Bytes         uint64
	Start         int64 // unix seconds
	End           int64 // unix seconds
	Action        Action
	LogStatus     LogStatus
	TCPFlags      uint16
	FlowDirection Direction
	TrafficPath   uint8

	format  *Format
	cols    [][]byte
	present [(numFields + 63) / 64]uint64
}

func (r *Record) setPresent(f Field) { r.present[f>>6] |= 1 << (f & 63) }

// Has reports whether the record's format has f and its value is not "-".
func (r *Record) Has(f Field) bool {
	return f < numFields && r.present[f>>6]&(1<<(f&63)) != 0
}

// Value returns the raw text of f; ok is false when the format lacks f or the
// value is "-" (the raw "-" stays reachable through Column).
func (r *Record) Value(f Field) (v []byte, ok bool) {
	if !r.Has(f) {
		return nil, false
	}
	return r.cols[r.format.index[f]], true
}

// Format returns the format the record was parsed with (nil before any Parse).
func (r *Record) Format() *Format { return r.format }

// NumColumns returns the number of columns of the last successful parse.
func (r *Record) NumColumns() int { return len(r.cols) }

// Column returns the raw text of column i.
func (r *Record) Column(i int) []byte { return r.cols[i] }

// AppendLine appends the record as a flow-log line (columns joined by one space).
func (r *Record) AppendLine(dst []byte) []byte {
	for i, c := range r.cols {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, c...)
	}
	return dst
}

// AppendJSON appends the record as one JSON object whose keys are the column
// names (AWS names with hyphens) in format order. KindInt values are JSON numbers,
// every other value a string; "-" columns are omitted. The output is valid JSON
// whatever bytes the line held (invalid UTF-8 becomes U+FFFD).
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	first := true
	for i, c := range r.cols {
		if isDash(c) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		// Column names are validated identifiers: no escaping needed.
		dst = append(dst, '"')
		dst = append(dst, r.format.names[i]...)
		dst = append(dst, '"', ':')
		if r.format.fields[i].Kind() == KindInt {
			if v, ok := parseUint(c, ^uint64(0)); ok {
				dst = strconv.AppendUint(dst, v, 10)
				continue
			}
		}
		dst = appendJSONString(dst, c)
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		rn, size := utf8.DecodeRune(s[i:])
		if rn == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if rn == '\u2028' || rn == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[rn&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
