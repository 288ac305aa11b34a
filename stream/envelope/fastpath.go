package envelope

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// The CloudWatch fast path.
//
// A CloudWatch Logs subscription message is one JSON object per payload with
// one small object per log event, and decoding it with encoding/json costs
// several microseconds per event. fastCloudWatch scans the bytes directly
// instead, for the common, well-formed case only: a single DATA_MESSAGE object
// whose known keys are spelled exactly, appear once and hold values of the
// expected JSON type. It works in two passes, so that it can give up before
// calling the callback: the first validates the whole object (strictly, as
// encoding/json's scanner would) and records where each event's fields are;
// the second hands the events to the callback. Anything else - invalid JSON,
// duplicate keys, keys that only match case-insensitively or contain escapes,
// other envelope shapes' keys, null or mistyped values, a timestamp that is not
// an int64 literal, CONTROL_MESSAGE or an unknown messageType, a missing
// logGroup, logStream or logEvents, nesting deeper than fastMaxDepth - makes it
// report !ok, and the encoding/json path decodes the object with its exact
// behaviour and error messages. Concatenated objects are taken one at a time:
// the first object that does not qualify, and all that follow it, go to
// encoding/json.
//
// Strings are unescaped exactly as encoding/json does (including replacing
// invalid UTF-8 and unpaired surrogates with U+FFFD), and only when they need
// it: a message without escapes is handed to the callback in place.

// fastMaxDepth bounds the nesting of skipped values; deeper payloads take the
// encoding/json path (which allows 10000 levels).
const fastMaxDepth = 64

// String flags recorded by scanString.
const (
	strEscaped  = 1 << iota // holds a backslash escape
	strNonASCII             // holds a byte >= 0x80
)

// fspan locates the contents of a JSON string (between the quotes) in the payload.
type fspan struct {
	start, end int
	flags      uint8
}

// fastEvent is one logEvents entry found by the first pass.
type fastEvent struct {
	id, msg fspan
	ts      int64
}

// fastState is what the fast path reuses between payloads.
type fastState struct {
	events  []fastEvent
	ids     []byte // the payload's event ids, concatenated
	idEnds  []int  // end of each event's id in ids
	scratch []byte
	// The previous payload's owner, log group and log stream, reused when the
	// next payload has the same (no allocation per payload for a stream).
	owner, group, stream string
	objects              int // objects decoded by the fast path (for tests)
}

// fastCloudWatch decodes t, which starts with '{', when it is a well-formed
// CloudWatch DATA_MESSAGE. When it returns ok, the object was decoded (err is
// fn's error, if any) and rest is what follows it; otherwise fn was not called
// and nothing changed but scratch buffers.
func (d *Decoder) fastCloudWatch(t []byte, fn func([]byte, *Meta) error) (rest []byte, ok bool, err error) {
	end, owner, group, stream, ok := d.scanCloudWatch(t)
	if !ok {
		return nil, false, nil
	}
	f := &d.fast
	f.owner = f.intern(t, owner, f.owner)
	f.group = f.intern(t, group, f.group)
	f.stream = f.intern(t, stream, f.stream)
	f.objects++

	// One string holds every event id: one allocation per payload, and the
	// ids stay valid (immutable) however long a callback keeps them.
	f.ids, f.idEnds = f.ids[:0], f.idEnds[:0]
	for i := range f.events {
		f.ids = f.appendString(f.ids, t, f.events[i].id)
		f.idEnds = append(f.idEnds, len(f.ids))
	}
	ids := string(f.ids)
	h := newBatchHash().add(f.group).add(f.stream)
	idStart := 0
	for _, e := range f.idEnds {
		h = h.add(ids[idStart:e])
		idStart = e
	}
	batch := h.sum()

	idStart = 0
	first := true
	for i := range f.events {
		ev := &f.events[i]
		d.stats.Events++
		d.meta = Meta{Owner: f.owner, LogGroup: f.group, LogStream: f.stream,
			EventID: ids[idStart:f.idEnds[i]], Timestamp: ev.ts, Batch: batch}
		idStart = f.idEnds[i]
		var line []byte
		if ev.msg.flags == 0 || ev.msg.flags == strNonASCII && utf8.Valid(t[ev.msg.start:ev.msg.end]) {
			line = t[ev.msg.start:ev.msg.end:ev.msg.end] // capacity capped: appends must not write into the payload
		} else {
			d.line = unquoteInto(d.line[:0], t[ev.msg.start:ev.msg.end])
			line = d.line
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		d.meta.First, first = first, false
		d.stats.Lines++
		if err := fn(line, &d.meta); err != nil {
			return nil, true, err
		}
	}
	return t[end:], true, nil
}

// intern returns the string at s in t, reusing prev when it is equal.
func (f *fastState) intern(t []byte, s fspan, prev string) string {
	b := t[s.start:s.end]
	if s.flags != 0 {
		f.scratch = f.appendString(f.scratch[:0], t, s)
		b = f.scratch
	}
	if string(b) == prev {
		return prev
	}
	return string(b)
}

// appendString appends the unescaped string at s in t to dst.
func (f *fastState) appendString(dst, t []byte, s fspan) []byte {
	raw := t[s.start:s.end]
	if s.flags == 0 || s.flags == strNonASCII && utf8.Valid(raw) {
		return append(dst, raw...)
	}
	return unquoteInto(dst, raw)
}

// unquoteInto appends the contents s of a valid JSON string literal to dst,
// unescaped as encoding/json's unquoteBytes does: escapes are decoded, an
// invalid or unpaired \u surrogate becomes U+FFFD, and so does every byte of
// invalid UTF-8.
func unquoteInto(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != utf8.RuneError {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		v := unhex(c)
		if v < 0 {
			return -1
		}
		r = r*16 + rune(v)
	}
	return r
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// Top-level keys the fast path reads, as bits of a seen-set.
const (
	keyMessageType = 1 << iota
	keyOwner
	keyLogGroup
	keyLogStream
	keyLogEvents
)

// objectKeys are the JSON names of object's fields: encoding/json matches them
// case-insensitively, so a key that folds to one of them but is not spelled as
// the fast path expects takes the encoding/json path.
var objectKeys = []string{"messageType", "owner", "logGroup", "logStream", "logEvents", "awslogs", "requestId", "records", "message"}

// eventKeys are logEvent's JSON names.
var eventKeys = []string{"id", "timestamp", "message"}

// foldsToAny reports whether key equals one of names under Unicode simple
// case folding, as encoding/json matches keys to fields (foldName(x) ==
// foldName(y) iff bytes.EqualFold(x, y); the Kelvin sign matches k).
func foldsToAny(key []byte, ascii bool, names []string) bool {
	for _, n := range names {
		if (!ascii || len(n) == len(key)) && bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// scanCloudWatch is the first pass: it validates the object at the start of t
// and fills d.fast.events. It returns the offset just past the object and the
// spans of owner, logGroup and logStream.
func (d *Decoder) scanCloudWatch(t []byte) (end int, owner, group, stream fspan, ok bool) {
	f := &d.fast
	f.events = f.events[:0]
	var seen int
	var msgType fspan
	i := 1 // t[0] == '{'
	i = skipWS(t, i)
	if i < len(t) && t[i] == '}' {
		return 0, owner, group, stream, false // no messageType
	}
	for {
		if i >= len(t) || t[i] != '"' {
			return
		}
		ks := i + 1
		var kflags uint8
		var kok bool
		if i, kflags, kok = scanString(t, i); !kok || kflags&strEscaped != 0 {
			return
		}
		key := t[ks : i-1]
		i = skipWS(t, i)
		if i >= len(t) || t[i] != ':' {
			return
		}
		i = skipWS(t, i+1)
		var bit int
		var dst *fspan
		switch string(key) {
		case "messageType":
			bit, dst = keyMessageType, &msgType
		case "owner":
			bit, dst = keyOwner, &owner
		case "logGroup":
			bit, dst = keyLogGroup, &group
		case "logStream":
			bit, dst = keyLogStream, &stream
		case "logEvents":
			bit = keyLogEvents
		default:
			if foldsToAny(key, kflags == 0, objectKeys) {
				return
			}
			var vok bool
			if i, vok = skipValue(t, i, 0); !vok {
				return
			}
		}
		if bit != 0 {
			if seen&bit != 0 {
				return // duplicate key: encoding/json merges; let it
			}
			seen |= bit
			var vok bool
			if dst != nil {
				*dst, i, vok = stringSpan(t, i)
			} else {
				i, vok = d.scanEvents(t, i)
			}
			if !vok {
				return
			}
		}
		i = skipWS(t, i)
		if i >= len(t) {
			return
		}
		if t[i] == '}' {
			i++
			break
		}
		if t[i] != ',' {
			return
		}
		i = skipWS(t, i+1)
	}
	const required = keyMessageType | keyLogGroup | keyLogStream | keyLogEvents
	if seen&required != required || msgType.flags != 0 || string(t[msgType.start:msgType.end]) != "DATA_MESSAGE" ||
		group.end == group.start || stream.end == stream.start {
		return
	}
	return i, owner, group, stream, true
}

// scanEvents scans the logEvents array at t[i], appending to d.fast.events.
func (d *Decoder) scanEvents(t []byte, i int) (int, bool) {
	f := &d.fast
	if i >= len(t) || t[i] != '[' {
		return i, false
	}
	i = skipWS(t, i+1)
	if i < len(t) && t[i] == ']' {
		return i + 1, true
	}
	for {
		if i >= len(t) || t[i] != '{' {
			return i, false // null and non-object elements: encoding/json's business
		}
		var ev fastEvent
		var seen int
		i = skipWS(t, i+1)
		if i < len(t) && t[i] == '}' {
			i++
		} else {
			for {
				if i >= len(t) || t[i] != '"' {
					return i, false
				}
				ks := i + 1
				var kflags uint8
				var ok bool
				if i, kflags, ok = scanString(t, i); !ok || kflags&strEscaped != 0 {
					return i, false
				}
				key := t[ks : i-1]
				i = skipWS(t, i)
				if i >= len(t) || t[i] != ':' {
					return i, false
				}
				i = skipWS(t, i+1)
				var bit int
				switch string(key) {
				case "message":
					bit = 1
					if ev.msg, i, ok = stringSpan(t, i); !ok {
						return i, false
					}
				case "id":
					bit = 2
					if ev.id, i, ok = stringSpan(t, i); !ok {
						return i, false
					}
				case "timestamp":
					bit = 4
					if ev.ts, i, ok = scanInt64(t, i); !ok {
						return i, false
					}
				default:
					if foldsToAny(key, kflags == 0, eventKeys) {
						return i, false
					}
					if i, ok = skipValue(t, i, 1); !ok {
						return i, false
					}
				}
				if seen&bit != 0 {
					return i, false
				}
				seen |= bit
				i = skipWS(t, i)
				if i >= len(t) {
					return i, false
				}
				if t[i] == '}' {
					i++
					break
				}
				if t[i] != ',' {
					return i, false
				}
				i = skipWS(t, i+1)
			}
		}
		f.events = append(f.events, ev)
		i = skipWS(t, i)
		if i >= len(t) {
			return i, false
		}
		if t[i] == ']' {
			return i + 1, true
		}
		if t[i] != ',' {
			return i, false
		}
		i = skipWS(t, i+1)
	}
}

// skipWS returns the index of the first non-whitespace byte of t at or after i.
func skipWS(t []byte, i int) int {
	for i < len(t) {
		switch t[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// stringSpan scans the JSON string value starting at t[i] (its opening
// quote) and returns where its contents lie and the index after it.
func stringSpan(t []byte, i int) (fspan, int, bool) {
	if i >= len(t) || t[i] != '"' {
		return fspan{}, i, false
	}
	s := i + 1
	i, fl, ok := scanString(t, i)
	return fspan{s, i - 1, fl}, i, ok
}

// scanString validates the JSON string literal at t[i] (t[i] == '"') and
// returns the index past its closing quote and whether it holds escapes or
// non-ASCII bytes.
func scanString(t []byte, i int) (int, uint8, bool) {
	var flags uint8
	i++
	// Keys and other short plain strings.
	for k := i; k < len(t) && k < i+16; k++ {
		c := t[k]
		if c == '"' {
			return k + 1, 0, true
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	// A longer string without escapes: find the closing quote and check what
	// lies before it, with the assembly of IndexByte.
	if j := bytes.IndexByte(t[i:], '"'); j >= 0 {
		s := t[i : i+j]
		if bytes.IndexByte(s, '\\') < 0 {
			switch checkPlain(s) {
			case 0:
				return i + j + 1, 0, true
			case strNonASCII:
				return i + j + 1, strNonASCII, true
			}
			return i, 0, false // a control character
		}
	}
	for {
		// Eight bytes at a time while none is a quote, a backslash, a
		// control character or non-ASCII.
		for i+8 <= len(t) {
			x := binary.LittleEndian.Uint64(t[i:])
			q := x ^ ('"' * lsb)
			b := x ^ ('\\' * lsb)
			if ((x-0x20*lsb)&^x|(q-lsb)&^q|(b-lsb)&^b|x)&msb != 0 {
				break
			}
			i += 8
		}
		if i >= len(t) {
			return i, flags, false
		}
		c := t[i]
		switch {
		case c == '"':
			return i + 1, flags, true
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(t) {
				return i, flags, false
			}
			switch t[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(t) || unhex(t[i+2]) < 0 || unhex(t[i+3]) < 0 || unhex(t[i+4]) < 0 || unhex(t[i+5]) < 0 {
					return i, flags, false
				}
				i += 6
			default:
				return i, flags, false
			}
		case c < 0x20:
			return i, flags, false
		case c >= utf8.RuneSelf:
			flags |= strNonASCII
			i++
		default:
			i++
		}
	}
}

// checkPlain returns strNonASCII when s holds a byte >= 0x80, or 0xff when it
// holds a control character (invalid in a JSON string), or else 0.
func checkPlain(s []byte) uint8 {
	var acc uint64
	r := s
	for len(r) >= 16 {
		x, y := binary.LittleEndian.Uint64(r), binary.LittleEndian.Uint64(r[8:])
		// A byte < 0x20 borrows into its top bit; a byte >= 0x80 has it set.
		// (Borrows only spread upwards from such a byte.)
		acc |= (x - 0x20*lsb) | x | (y - 0x20*lsb) | y
		r = r[16:]
	}
	if len(r) >= 8 {
		x := binary.LittleEndian.Uint64(r)
		acc |= (x - 0x20*lsb) | x
		r = r[8:]
	}
	for _, c := range r {
		acc |= uint64(c-0x20) | uint64(c)
	}
	if acc&msb == 0 {
		return 0
	}
	var flags uint8
	for _, c := range s {
		if c < 0x20 {
			return 0xff
		}
		if c >= utf8.RuneSelf {
			flags = strNonASCII
		}
	}
	return flags
}

// scanInt64 reads the JSON number at t[i] when it is an integer literal that
// fits an int64 and is followed by a delimiter, as encoding/json accepts for an
// int64 field.
func scanInt64(t []byte, i int) (int64, int, bool) {
	neg := false
	if i < len(t) && t[i] == '-' {
		neg = true
		i++
	}
	start := i
	var u uint64
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		u = u*10 + uint64(t[i]-'0')
		i++
		if i-start > 19 {
			return 0, i, false
		}
	}
	n := i - start
	if n == 0 || n > 1 && t[start] == '0' {
		return 0, i, false
	}
	if i < len(t) && (t[i] == '.' || t[i] == 'e' || t[i] == 'E') {
		return 0, i, false
	}
	if u > 1<<63 || !neg && u > 1<<63-1 {
		return 0, i, false // out of range (19 digits do not wrap a uint64)
	}
	if neg {
		return -int64(u), i, true
	}
	return int64(u), i, true
}

// skipValue validates the JSON value at t[i] and returns the index past it.
func skipValue(t []byte, i, depth int) (int, bool) {
	if i >= len(t) {
		return i, false
	}
	switch c := t[i]; c {
	case '"':
		i, _, ok := scanString(t, i)
		return i, ok
	case '{', '[':
		if depth >= fastMaxDepth {
			return i, false
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipWS(t, i+1)
		if i < len(t) && t[i] == closer {
			return i + 1, true
		}
		for {
			var ok bool
			if c == '{' {
				if i >= len(t) || t[i] != '"' {
					return i, false
				}
				if i, _, ok = scanString(t, i); !ok {
					return i, false
				}
				i = skipWS(t, i)
				if i >= len(t) || t[i] != ':' {
					return i, false
				}
				i = skipWS(t, i+1)
			}
			if i, ok = skipValue(t, i, depth+1); !ok {
				return i, false
			}
			i = skipWS(t, i)
			if i >= len(t) {
				return i, false
			}
			if t[i] == closer {
				return i + 1, true
			}
			if t[i] != ',' {
				return i, false
			}
			i = skipWS(t, i+1)
		}
	case 't':
		return i + 4, bytes.HasPrefix(t[i:], []byte("true"))
	case 'f':
		return i + 5, bytes.HasPrefix(t[i:], []byte("false"))
	case 'n':
		return i + 4, bytes.HasPrefix(t[i:], []byte("null"))
	}
	return skipNumber(t, i)
}

// skipNumber validates the JSON number at t[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(t []byte, i int) (int, bool) {
	if i < len(t) && t[i] == '-' {
		i++
	}
	if i >= len(t) {
		return i, false
	}
	switch {
	case t[i] == '0':
		i++
	case t[i] >= '1' && t[i] <= '9':
		i = skipDigits(t, i)
	default:
		return i, false
	}
	if i < len(t) && t[i] == '.' {
		j := skipDigits(t, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		j := skipDigits(t, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func skipDigits(t []byte, i int) int {
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	return i
}
