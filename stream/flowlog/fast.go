package flowlog

import (
	"encoding/binary"
	"math/bits"
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
	next = e
	for next < len(line) && isSep(line[next]) {
		next++
	}
	return e, next, true
}

// parseDefault is Parse's decoding unrolled for the default format, for lines
// whose 14 columns are all present (no "-"). r has been reset by Parse; cols
// has room for 14 columns. It reports false when the line needs the general
// path (which then decodes it from scratch, errors included).
func parseDefault(line []byte, r *Record, cols [][]byte) bool {
	cols = cols[:14]
	var v uint64
	e, n, ok := nextCol(line, 0)
	if !ok || n >= len(line) {
		return false
	}
	if v, ok = uintCol(line, 0, e); !ok || v > 255 {
		return false
	}
	r.Version = uint8(v)
	cols[0] = line[0:e:e]

	i := n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	r.AccountID = line[i:e:e]
	cols[1] = r.AccountID

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	r.InterfaceID = line[i:e:e]
	cols[2] = r.InterfaceID

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if r.SrcAddr, ok = addrCol(line, i, e); !ok {
		return false
	}
	cols[3] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if r.DstAddr, ok = addrCol(line, i, e); !ok {
		return false
	}
	cols[4] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if v, ok = uintCol(line, i, e); !ok || v > 65535 {
		return false
	}
	r.SrcPort = uint16(v)
	cols[5] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if v, ok = uintCol(line, i, e); !ok || v > 65535 {
		return false
	}
	r.DstPort = uint16(v)
	cols[6] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if v, ok = uintCol(line, i, e); !ok || v > 255 {
		return false
	}
	r.Protocol = uint8(v)
	cols[7] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if r.Packets, ok = uintCol(line, i, e); !ok {
		return false
	}
	cols[8] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if r.Bytes, ok = uintCol(line, i, e); !ok {
		return false
	}
	cols[9] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if v, ok = uintCol(line, i, e); !ok || v > 1<<63-1 {
		return false
	}
	r.Start = int64(v)
	cols[10] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if v, ok = uintCol(line, i, e); !ok || v > 1<<63-1 {
		return false
	}
	r.End = int64(v)
	cols[11] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n >= len(line) {
		return false
	}
	if r.Action, ok = parseAction(line[i:e]); !ok {
		return false
	}
	cols[12] = line[i:e:e]

	i = n
	if e, n, ok = nextCol(line, i); !ok || n != len(line) {
		return false
	}
	if r.LogStatus, ok = parseLogStatus(line[i:e]); !ok {
		return false
	}
	cols[13] = line[i:e:e]
	return true
}
