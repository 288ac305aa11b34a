package flowlog

import (
	"errors"
	"fmt"
	"strings"
)

// Format is the ordered list of columns of a flow log. Each column has a Field
// (FieldUnknown for names this package does not know) and a name: the AWS name
// with hyphens for known fields, the name as written for unknown ones.
// A Format is immutable once built and safe for concurrent use.
type Format struct {
	names   []string
	fields  []Field
	index   [numFields]int16 // column of each known field, -1 when absent
	unknown []string

	ops     []colOp                       // how Parse decodes each column
	present [len(Record{}.present)]uint64 // presence bits of every known column
}

// opCode says how Parse decodes a column and where the value goes.
type opCode uint8

// Column operations. Each typed Record field has its own code, so Parse needs a
// single switch (a jump table) per column.
const (
	opText          opCode = iota // free text kept only as a view (unknown fields too)
	opAccountID                   // Record.AccountID
	opInterfaceID                 // Record.InterfaceID
	opVersion                     // Record.Version
	opSrcPort                     // Record.SrcPort
	opDstPort                     // Record.DstPort
	opProtocol                    // Record.Protocol
	opPackets                     // Record.Packets
	opBytes                       // Record.Bytes
	opStart                       // Record.Start
	opEnd                         // Record.End
	opTCPFlags                    // Record.TCPFlags
	opTrafficPath                 // Record.TrafficPath
	opInt                         // KindInt field without a Record field: validated only
	opSrcAddr                     // Record.SrcAddr
	opDstAddr                     // Record.DstAddr
	opPktSrcAddr                  // Record.PktSrcAddr
	opPktDstAddr                  // Record.PktDstAddr
	opAddr                        // KindAddr field without a Record field: validated only
	opAction                      // Record.Action
	opLogStatus                   // Record.LogStatus
	opFlowDirection               // Record.FlowDirection
)

// colOp is the precompiled decoding of one column.
type colOp struct {
	code  opCode
	field Field
}

// fieldOps maps the fields that have a Record field to their operation.
var fieldOps = [numFields]opCode{
	FieldAccountID:     opAccountID,
	FieldInterfaceID:   opInterfaceID,
	FieldVersion:       opVersion,
	FieldSrcPort:       opSrcPort,
	FieldDstPort:       opDstPort,
	FieldProtocol:      opProtocol,
	FieldPackets:       opPackets,
	FieldBytes:         opBytes,
	FieldStart:         opStart,
	FieldEnd:           opEnd,
	FieldTCPFlags:      opTCPFlags,
	FieldTrafficPath:   opTrafficPath,
	FieldSrcAddr:       opSrcAddr,
	FieldDstAddr:       opDstAddr,
	FieldPktSrcAddr:    opPktSrcAddr,
	FieldPktDstAddr:    opPktDstAddr,
	FieldAction:        opAction,
	FieldLogStatus:     opLogStatus,
	FieldFlowDirection: opFlowDirection,
}

// opFor returns the operation that decodes a column of field fl.
func opFor(fl Field) colOp {
	code := fieldOps[fl]
	if code == opText {
		switch fl.Kind() {
		case KindInt:
			code = opInt
		case KindAddr:
			code = opAddr
		}
	}
	return colOp{code: code, field: fl}
}

// defaultNames is the version 2 default format, in order.
var defaultNames = []string{
	"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
	"protocol", "packets", "bytes", "start", "end", "action", "log-status",
}

// defaultFormat is shared by every caller of DefaultFormat; Format is immutable.
var defaultFormat = func() *Format {
	f, err := newFormat(defaultNames)
	if err != nil {
		panic(err) // the table above is valid
	}
	return f
}()

// DefaultFormat returns the version 2 default format (14 fields).
func DefaultFormat() *Format { return defaultFormat }

// ErrEmptyFormat is returned by ParseFormat for a format without any field.
var ErrEmptyFormat = errors.New("flowlog: empty format")

// ParseFormat parses a format in the AWS LogFormat syntax ("${version} ${vpc-id}")
// or as plain field names separated by spaces ("version vpc-id"); the two may be
// mixed and underscore spellings ("pkt_srcaddr") are accepted. Unknown names are
// kept as text columns and listed by Unknown. An empty format, a malformed token
// or a repeated field is an error.
func ParseFormat(s string) (*Format, error) {
	toks := strings.Fields(s)
	if len(toks) == 0 {
		return nil, ErrEmptyFormat
	}
	names := make([]string, len(toks))
	for i, t := range toks {
		n := t
		if strings.HasPrefix(n, "${") {
			if !strings.HasSuffix(n, "}") {
				return nil, fmt.Errorf("flowlog: format: unterminated %q", t)
			}
			n = n[2 : len(n)-1]
		}
		if !validName(n) {
			return nil, fmt.Errorf("flowlog: format: invalid field name %q", t)
		}
		names[i] = n
	}
	return newFormat(names)
}

// MustParseFormat is ParseFormat that panics on error; for constant formats.
func MustParseFormat(s string) *Format {
	f, err := ParseFormat(s)
	if err != nil {
		panic(err)
	}
	return f
}

// validName reports whether n looks like a field name: letters, digits, '-', '_',
// starting with a letter.
func validName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}

func newFormat(names []string) (*Format, error) {
	f := &Format{names: make([]string, len(names)), fields: make([]Field, len(names)), ops: make([]colOp, len(names))}
	for i := range f.index {
		f.index[i] = -1
	}
	if len(names) > 1<<15-1 {
		return nil, fmt.Errorf("flowlog: format: too many fields (%d)", len(names))
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		fl, ok := FieldByName(n)
		if ok {
			n = fl.Name()
		}
		if seen[n] {
			return nil, fmt.Errorf("flowlog: format: duplicate field %q", n)
		}
		seen[n] = true
		f.names[i] = n
		f.fields[i] = fl
		f.ops[i] = opFor(fl)
		if ok {
			f.index[fl] = int16(i)
			f.present[fl>>6] |= 1 << (fl & 63)
		} else {
			f.unknown = append(f.unknown, n)
		}
	}
	return f, nil
}

// FormatFromHeader recognises the header line that S3 text files start with
// ("version account-id interface-id ..."). It returns the format and true when
// every token is a field-name-like word and most tokens are known field names;
// otherwise (a record line, an empty line) it returns nil, false.
func FormatFromHeader(line []byte) (*Format, bool) {
	line = trimLine(line)
	if len(line) == 0 || line[0] < 'A' || (line[0] > 'Z' && line[0] < 'a') || line[0] > 'z' {
		return nil, false
	}
	s := string(line)
	toks := strings.Fields(s)
	known := 0
	for _, t := range toks {
		if !validName(t) {
			return nil, false
		}
		if _, ok := FieldByName(t); ok {
			known++
		}
	}
	if known == 0 || known*2 <= len(toks) {
		return nil, false
	}
	f, err := newFormat(toks)
	if err != nil {
		return nil, false
	}
	return f, true
}

// Len returns the number of columns.
func (f *Format) Len() int { return len(f.fields) }

// Names returns the column names in order (a copy).
func (f *Format) Names() []string { return append([]string(nil), f.names...) }

// Name returns the name of column i.
func (f *Format) Name(i int) string { return f.names[i] }

// Field returns the field of column i (FieldUnknown for unknown names).
func (f *Format) Field(i int) Field { return f.fields[i] }

// Index returns the column of fl, or -1 when the format lacks it.
func (f *Format) Index(fl Field) int {
	if fl == FieldUnknown || fl >= numFields {
		return -1
	}
	return int(f.index[fl])
}

// Has reports whether the format has a column for fl.
func (f *Format) Has(fl Field) bool { return f.Index(fl) >= 0 }

// Unknown returns the names of the columns whose field is unknown, in order (a copy).
func (f *Format) Unknown() []string { return append([]string(nil), f.unknown...) }

// Version returns the highest version among the format's known fields.
func (f *Format) Version() int {
	v := 0
	for _, fl := range f.fields {
		v = max(v, fl.Version())
	}
	return v
}

// String returns the format in AWS LogFormat syntax: "${version} ${account-id} ...".
func (f *Format) String() string {
	var b strings.Builder
	for i, n := range f.names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("${")
		b.WriteString(n)
		b.WriteByte('}')
	}
	return b.String()
}

// Equal reports whether f and g have the same columns in the same order.
func (f *Format) Equal(g *Format) bool {
	if f == g {
		return true
	}
	if f == nil || g == nil || len(f.names) != len(g.names) {
		return false
	}
	for i := range f.names {
		if f.names[i] != g.names[i] {
			return false
		}
	}
	return true
}
