package flowlog

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
)

// isDefaultOps reports whether ops decode the columns of the default format, the
// layout parseDefault handles.
func isDefaultOps(ops []colOp) bool { return slices.Equal(ops, defaultFormat.ops) }

// nextCol delimits the column that starts at line[i] (i < len(line), not a
// separator): it returns its end e and the start of the next column (or
// len(line)), and false when the column is "-".
func nextCol(line []byte, i int) (e, next int, ok bool) {
	if i+8 <= len(line) {
		if m := sepMask(binary.LittleEndian.Uint64(line[i : i+8])); m != 0 {
			e = i + bits.TrailingZeros64(m)>>3
		} else {
			e = colEnd(line, i+8)
		}
	} else {
		e = colEnd(line, i)
	}
	if e == i+1 && line[i] == '-' {
		return e, e, false
	}
	return e, skipSep(line, e), true
}

// skipSep returns the index of the first byte at or after line[e] that is not a
// space or a tab, or len(line).
func skipSep(line []byte, e int) int {
	for e < len(line) && isSep(line[e]) {
		e++
	}
	return e
}

// nonDigits returns the top bit of the lowest byte of w that is not an ASCII
// digit, plus possibly bits above it (only the lowest set bit is exact); 0 when
// the 8 bytes are digits.
func nonDigits(w uint64) uint64 {
	return (w | (w + 0x46*lsb) | (w - '0'*lsb)) & msb
}

// eightDigits returns the value of the 8 decimal digit values (0 to 9) held in
// the bytes of d, the most significant in the low byte (Lemire, "Fast float
// parsing in practice": pairs, then quads, then the two halves).
func eightDigits(d uint64) uint64 {
	d = d*10 + d>>8
	return (d&0x000000ff000000ff*(100+1000000<<32) + d>>16&0x000000ff000000ff*(1+10000<<32)) >> 32
}

// numCol decodes the column that starts at line[i] when it is 1 to 15 decimal
// digits followed by a space or a tab, reading 16 bytes at once: it returns the
// value and the column's end. ok is false otherwise (the column may still be a
// valid number: the caller then decodes it the general way).
func numCol(line []byte, i int) (v uint64, e int, ok bool) {
	if i < 0 || len(line)-i < 16 {
		return 0, 0, false
	}
	w := binary.LittleEndian.Uint64(line[i : i+8])
	if m := nonDigits(w); m != 0 {
		k := uint(bits.TrailingZeros64(m)) &^ 7 // 8 × the number of digits
		if !isSep(byte(w >> k)) {
			return 0, 0, false // a column starts with a non-separator: k > 0 here
		}
		return eightDigits((w - '0'*lsb) << (64 - k)), i + int(k>>3), true
	}
	w2 := binary.LittleEndian.Uint64(line[i+8 : i+16])
	m := nonDigits(w2)
	k := uint(bits.TrailingZeros64(m)) &^ 7
	if m == 0 || !isSep(byte(w2>>k)) {
		return 0, 0, false
	}
	// The digits after the first 8 shift into the high bytes; none is zero.
	lo := eightDigits((w2 - '0'*lsb) << (64 - k))
	return eightDigits(w-'0'*lsb)*pow10[k>>3] + lo, i + 8 + int(k>>3), true
}

// ipv4Col decodes the column that starts at line[i] when it is a dotted-quad
// IPv4 address followed by a space or a tab, reading 16 bytes at once: it returns
// the address and the column's end. ok is false otherwise (the column may still
// be a valid address: the caller then decodes it the general way).
func ipv4Col(line []byte, i int) (a netip.Addr, e int, ok bool) {
	if i < 0 || len(line)-i < 16 {
		return netip.Addr{}, 0, false
	}
	w1 := binary.LittleEndian.Uint64(line[i : i+8])
	w2 := binary.LittleEndian.Uint64(line[i+8 : i+16])
	d1 := zeroBytes(w1 ^ '.'*lsb) // the dots, exactly
	d2 := zeroBytes(w2 ^ '.'*lsb)
	w1 += d1 >> 6 // dots read '0'
	w2 += d2 >> 6
	// The column is the digits and dots before the first other byte, which must
	// be a separator.
	n := bits.TrailingZeros(gatherBits(nonDigits(w1)) | gatherBits(nonDigits(w2))<<8 | 1<<16)
	if n > 15 || !isSep(line[i+n]) {
		return netip.Addr{}, 0, false
	}
	dots := (gatherBits(d1) | gatherBits(d2)<<8) & (1<<n - 1)
	if bits.OnesCount(dots) != 3 {
		return netip.Addr{}, 0, false
	}
	// Four octets of 1 to 3 digits.
	p1 := bits.TrailingZeros(dots)
	p2 := bits.TrailingZeros(dots & (dots - 1))
	p3 := bits.Len(dots) - 1
	l0, l1, l2, l3 := p1, p2-p1-1, p3-p2-1, n-p3-1
	if uint(l0-1) > 2 || uint(l1-1) > 2 || uint(l2-1) > 2 || uint(l3-1) > 2 {
		return netip.Addr{}, 0, false
	}
	// Digit values (dots read 0) after 8 zero bytes: an octet is the 3 bytes
	// before its end (the hundreds only when it has 3 digits; the tens byte is
	// a dot or padding when it has 1).
	var d [32]byte
	binary.LittleEndian.PutUint64(d[8:16], w1^'0'*lsb)
	binary.LittleEndian.PutUint64(d[16:24], w2^'0'*lsb)
	o0 := octetAt(&d, p1, l0)
	o1 := octetAt(&d, p2, l1)
	o2 := octetAt(&d, p3, l2)
	o3 := octetAt(&d, n, l3)
	// No octet above 255 or with a leading zero.
	if o0|o1|o2|o3 > 255 || o0 < octetMin[l0&3] || o1 < octetMin[l1&3] || o2 < octetMin[l2&3] || o3 < octetMin[l3&3] {
		return netip.Addr{}, 0, false
	}
	return netip.AddrFrom4([4]byte{byte(o0), byte(o1), byte(o2), byte(o3)}), i + n, true
}

// setNum stores v, decoded from a column of operation code (opVersion to
// opInt), into r; it reports false when v is out of the field's range.
func (r *Record) setNum(code opCode, v uint64) bool {
	switch code {
	case opVersion:
		r.Version = uint8(v)
		return v <= 255
	case opSrcPort:
		r.SrcPort = uint16(v)
		return v <= 65535
	case opDstPort:
		r.DstPort = uint16(v)
		return v <= 65535
	case opProtocol:
		r.Protocol = uint8(v)
		return v <= 255
	case opPackets:
		r.Packets = v
	case opBytes:
		r.Bytes = v
	case opStart:
		r.Start = int64(v)
		return v <= 1<<63-1
	case opEnd:
		r.End = int64(v)
		return v <= 1<<63-1
	case opTCPFlags:
		r.TCPFlags = uint16(v)
		return v <= 65535
	case opTrafficPath:
		r.TrafficPath = uint8(v)
		return v <= 255
	}
	return true
}

// setAddr stores a, decoded from a column of operation code (opSrcAddr to
// opAddr), into r.
func (r *Record) setAddr(code opCode, a netip.Addr) {
	switch code {
	case opSrcAddr:
		r.SrcAddr = a
	case opDstAddr:
		r.DstAddr = a
	case opPktSrcAddr:
		r.PktSrcAddr = a
	case opPktDstAddr:
		r.PktDstAddr = a
	}
}

// octetAt returns the value of the octet of l digits (1 to 3) that ends before
// column byte x, from the digit values d (column byte j at d[8+j]).
func octetAt(d *[32]byte, x, l int) uint {
	h := uint(d[(x+5)&31]) & -uint((l+1)>>2) // hundreds only when l == 3
	return uint(d[(x+7)&31]) + 10*uint(d[(x+6)&31]) + 100*h
}

// "ACCEPT " and "REJECT " as little-endian words (7 bytes), the action
// columns of default lines with their separator.
const (
	acceptSp = 0x0020545045434341
	rejectSp = 0x00205443454a4552
)

// numSlow decodes the number column that starts at line[i] with the general
// decoder, for values numCol leaves. ok is false for "-" or a bad number.
func numSlow(line []byte, i int) (v uint64, e int, ok bool) {
	if i >= len(line) {
		return 0, 0, false
	}
	e = colEnd(line, i)
	v, ok = uintCol(line, i, e)
	return v, e, ok
}

// addrSlow decodes the address column that starts at line[i] with the general
// decoder, for values ipv4Col leaves (IPv6). ok is false for "-" or a bad address.
func addrSlow(line []byte, i int) (a netip.Addr, e int, ok bool) {
	if i >= len(line) {
		return netip.Addr{}, 0, false
	}
	e = colEnd(line, i)
	a, ok = addrCol(line, i, e)
	return a, e, ok
}

// parseDefault is Parse's decoding unrolled for the default format, for lines
// whose 14 columns are all present (no "-"). Numbers and IPv4 addresses are
// delimited and decoded in one step (numCol, ipv4Col); other values of those
// columns (IPv6, long numbers) go through the general decoders. It sets every field of r (format f, columns cols, which has room for 14)
// without resetting it first; it reports false, leaving r in any state, when the
// line needs the general path (which then resets r and decodes the line from
// scratch, errors included).
func parseDefault(line []byte, f *Format, r *Record, cols [][]byte) bool {
	cols = cols[:14]
	var v uint64
	var e, i int
	var ok bool

	// version: one digit in practice.
	if len(line) < 2 {
		return false
	}
	if c := line[0] - '0'; c <= 9 && isSep(line[1]) {
		r.Version = c
		e = 1
	} else {
		if v, e, ok = numSlow(line, 0); !ok || v > 255 {
			return false
		}
		r.Version = uint8(v)
	}
	cols[0] = line[0:e:e]

	s := skipSep(line, e)
	if s >= len(line) {
		return false
	}
	if e, i, ok = nextCol(line, s); !ok || i >= len(line) {
		return false
	}
	r.AccountID = line[s:e:e]
	cols[1] = r.AccountID

	s = i
	if e, i, ok = nextCol(line, s); !ok || i >= len(line) {
		return false
	}
	r.InterfaceID = line[s:e:e]
	cols[2] = r.InterfaceID

	s = i
	if r.SrcAddr, e, ok = ipv4Col(line, s); !ok {
		if r.SrcAddr, e, ok = addrSlow(line, s); !ok {
			return false
		}
	}
	cols[3] = line[s:e:e]

	s = skipSep(line, e)
	if r.DstAddr, e, ok = ipv4Col(line, s); !ok {
		if r.DstAddr, e, ok = addrSlow(line, s); !ok {
			return false
		}
	}
	cols[4] = line[s:e:e]

	s = skipSep(line, e)
	if v, e, ok = numCol(line, s); !ok {
		v, e, ok = numSlow(line, s)
	}
	if !ok || v > 65535 {
		return false
	}
	r.SrcPort = uint16(v)
	cols[5] = line[s:e:e]

	s = skipSep(line, e)
	if v, e, ok = numCol(line, s); !ok {
		v, e, ok = numSlow(line, s)
	}
	if !ok || v > 65535 {
		return false
	}
	r.DstPort = uint16(v)
	cols[6] = line[s:e:e]

	s = skipSep(line, e)
	if v, e, ok = numCol(line, s); !ok {
		v, e, ok = numSlow(line, s)
	}
	if !ok || v > 255 {
		return false
	}
	r.Protocol = uint8(v)
	cols[7] = line[s:e:e]

	s = skipSep(line, e)
	if r.Packets, e, ok = numCol(line, s); !ok {
		if r.Packets, e, ok = numSlow(line, s); !ok {
			return false
		}
	}
	cols[8] = line[s:e:e]

	s = skipSep(line, e)
	if r.Bytes, e, ok = numCol(line, s); !ok {
		if r.Bytes, e, ok = numSlow(line, s); !ok {
			return false
		}
	}
	cols[9] = line[s:e:e]

	s = skipSep(line, e)
	if v, e, ok = numCol(line, s); !ok {
		v, e, ok = numSlow(line, s)
	}
	if !ok || v > 1<<63-1 {
		return false
	}
	r.Start = int64(v)
	cols[10] = line[s:e:e]

	s = skipSep(line, e)
	if v, e, ok = numCol(line, s); !ok {
		v, e, ok = numSlow(line, s)
	}
	if !ok || v > 1<<63-1 {
		return false
	}
	r.End = int64(v)
	cols[11] = line[s:e:e]

	// action and log-status, usually "ACCEPT OK".
	s = skipSep(line, e)
	ok = false
	if len(line)-s >= 8 {
		switch binary.LittleEndian.Uint64(line[s:s+8]) & (1<<56 - 1) {
		case acceptSp:
			r.Action, ok = ActionAccept, true
		case rejectSp:
			r.Action, ok = ActionReject, true
		}
		if ok {
			r.LogStatus, ok = parseLogStatus(line[s+7:])
		}
	}
	if ok {
		cols[12] = line[s : s+6 : s+6]
		cols[13] = line[s+7 : len(line) : len(line)]
	} else if !parseLast(line, s, r, cols) {
		return false
	}
	setRest(r, f, cols)
	return true
}

// setRest sets the fields of r that parseDefault does not decode: the columns
// the default format lacks are absent.
func setRest(r *Record, f *Format, cols [][]byte) {
	r.PktSrcAddr = netip.Addr{}
	r.PktDstAddr = netip.Addr{}
	r.TCPFlags = 0
	r.FlowDirection = DirectionUnknown
	r.TrafficPath = 0
	r.format = f
	r.cols = cols
	r.present = f.present
}

// parseLast decodes the action and log-status columns, starting at line[s], of
// a default line in the general way.
func parseLast(line []byte, s int, r *Record, cols [][]byte) bool {
	cols = cols[:14]
	if s >= len(line) {
		return false
	}
	e, i, ok := nextCol(line, s)
	if !ok || i >= len(line) {
		return false
	}
	if r.Action, ok = parseAction(line[s:e]); !ok {
		return false
	}
	cols[12] = line[s:e:e]
	s = i
	if e, i, ok = nextCol(line, s); !ok || i != len(line) {
		return false
	}
	if r.LogStatus, ok = parseLogStatus(line[s:e]); !ok {
		return false
	}
	cols[13] = line[s:e:e]
	return true
}
