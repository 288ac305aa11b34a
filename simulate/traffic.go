package simulate

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/cinch-sg/cinch/stream/flowlog"
)

// Flow is one generated flow-log record, before formatting.
type Flow struct {
	AccountID        string
	ENI              string
	VPC, Subnet      string
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Protocol         uint8
	Packets, Bytes   uint64
	Start, End       int64
	Accept           bool
	NoData           bool
	TCPFlags         uint16 // 0 with HasFlags false means unknown
	Ingress          bool   // relative to ENI
}

// RichFormat is the custom format the generator and the benchmarks use for
// "all the useful fields": version 5 with tcp-flags, pkt-* and flow-direction.
const RichFormat = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} ${subnet-id} ${tcp-flags} ${pkt-srcaddr} ${pkt-dstaddr} ${flow-direction}"

// Traffic generates an endless, reproducible stream of records for an account.
type Traffic struct {
	a *Account
	r *rand.Rand
	// PerSecond is how many records share one second of simulated time
	// (0: the clock only moves with SetNow).
	PerSecond int
	// Jitter is how far before the clock a record's window may start
	// (flow logs aggregate over up to 60 s; the demo uses less).
	Jitter int
	// AdminsUntil, when not zero, ends administrator SSH sessions at that
	// unix time (the demo shows the rule stop matching).
	AdminsUntil int64
	now         int64
	n           int
	queue       []Flow
}

// Traffic returns a generator of records starting at start.
func (a *Account) Traffic(seed uint64, start time.Time) *Traffic {
	return &Traffic{a: a, r: rand.New(rand.NewPCG(seed, 0x7aff1c)), PerSecond: 1000, Jitter: 60, now: start.Unix()}
}

// SetNow moves the simulated clock (the demo follows the wall clock).
func (t *Traffic) SetNow(now time.Time) { t.now = now.Unix() }

// Next returns the next record.
func (t *Traffic) Next() Flow {
	for len(t.queue) == 0 {
		t.generate()
	}
	f := t.queue[0]
	t.queue = t.queue[1:]
	t.n++
	if t.PerSecond > 0 && t.n%t.PerSecond == 0 {
		t.now++
	}
	return f
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (t *Traffic) ephemeral() uint16 { return uint16(32768 + t.r.IntN(28000)) }

// conn queues the records of one connection from src to dst:port, as seen on
// the ENIs of the account at each end (srcENI or dstENI may be empty).
func (t *Traffic) conn(srcENI, dstENI string, src, dst netip.Addr, proto uint8, port uint16, accept bool) {
	sp := t.ephemeral()
	if proto == 1 || proto == 58 {
		sp, port = 0, 0
	}
	start := t.now - int64(t.r.IntN(max(t.Jitter, 1)))
	end := start + int64(t.r.IntN(int(t.now-start)+1)) // a window that ends by now
	pk := uint64(1 + t.r.IntN(40))
	by := pk * uint64(60+t.r.IntN(1400))
	var synFlags, ackFlags uint16
	if proto == 6 {
		if t.r.IntN(4) == 0 {
			synFlags, ackFlags = 0, 0 // long-lived: no handshake in the window
		} else {
			synFlags, ackFlags = 2, 18
			if t.r.IntN(3) == 0 {
				synFlags, ackFlags = 3, 19
			}
		}
	}
	base := Flow{AccountID: t.a.cfg.AccountID, VPC: "vpc-0c1a55e5", Protocol: proto, Packets: pk, Bytes: by, Start: start, End: end, Accept: accept}
	if dstENI != "" {
		f := base
		f.ENI, f.Src, f.Dst, f.SrcPort, f.DstPort, f.TCPFlags, f.Ingress = dstENI, src, dst, sp, port, synFlags, true
		t.queue = append(t.queue, f)
		if accept && proto != 1 && proto != 58 {
			r := base
			r.ENI, r.Src, r.Dst, r.SrcPort, r.DstPort, r.TCPFlags, r.Ingress = dstENI, dst, src, port, sp, ackFlags, false
			t.queue = append(t.queue, r)
		}
	}
	if srcENI != "" && accept {
		f := base
		f.ENI, f.Src, f.Dst, f.SrcPort, f.DstPort, f.TCPFlags, f.Ingress = srcENI, src, dst, sp, port, synFlags, false
		t.queue = append(t.queue, f)
		if proto != 1 && proto != 58 {
			r := base
			r.ENI, r.Src, r.Dst, r.SrcPort, r.DstPort, r.TCPFlags, r.Ingress = srcENI, dst, src, port, sp, ackFlags, true
			t.queue = append(t.queue, r)
		}
	}
}

func (t *Traffic) generate() {
	r := t.r
	ap := &t.a.apps[r.IntN(len(t.a.apps))]
	webI := r.IntN(len(ap.web.enis))
	appI := r.IntN(len(ap.app.enis))
	dbI := r.IntN(len(ap.db.enis))
	switch x := r.IntN(100); {
	case x < 40:
		if r.IntN(10) == 0 && len(ap.web.v6) > 0 {
			t.conn("", ap.web.enis[webI], pick(r, ap.internet6), ap.web.v6[webI], 6, 443, true)
		} else {
			t.conn("", ap.web.enis[webI], pick(r, ap.internet), ap.web.addrs[webI], 6, 443, true)
		}
	case x < 43:
		if t.AdminsUntil == 0 || t.now < t.AdminsUntil {
			t.conn("", ap.web.enis[webI], pick(r, ap.admins), ap.web.addrs[webI], 6, 22, true)
		}
	case x < 58:
		t.conn(ap.web.enis[webI], ap.app.enis[appI], ap.web.addrs[webI], ap.app.addrs[appI], 6, 8080, true)
	case x < 63:
		t.conn("", ap.app.enis[appI], pick(r, ap.partners), ap.app.addrs[appI], 6, uint16(8080+r.IntN(2)), true)
	case x < 72:
		t.conn(ap.app.enis[appI], ap.db.enis[dbI], ap.app.addrs[appI], ap.db.addrs[dbI], 6, 5432, true)
	case x < 76:
		if r.IntN(2) == 0 {
			t.conn("", ap.app.enis[appI], pick(r, ap.monitors), ap.app.addrs[appI], 17, 161, true)
		} else {
			t.conn("", ap.app.enis[appI], pick(r, ap.monitors), ap.app.addrs[appI], 1, 0, true)
		}
	case x < 84:
		t.conn(ap.web.enis[webI], "", ap.web.addrs[webI], pick(r, ap.apis), 6, 443, true)
	case x < 92:
		t.conn("", ap.web.enis[webI], publicAddr(r), ap.web.addrs[webI], 6, pick(r, []uint16{3389, 23, 445, 1433}), false)
	case x < 96:
		t.queue = append(t.queue, Flow{AccountID: t.a.cfg.AccountID, ENI: ap.db.enis[dbI], VPC: "vpc-0c1a55e5", NoData: true, Start: t.now - 60, End: t.now})
	default:
		// An interface the inventory does not know (created and deleted between exports).
		t.conn("", "eni-0ff1ce0000000dead", publicAddr(r), netip.AddrFrom4([4]byte{10, 99, 0, 7}), 6, 443, true)
	}
}

// AppendLine appends f as one flow-log line (no newline) in format fm.
func AppendLine(dst []byte, f *Flow, fm *flowlog.Format) []byte {
	version := 2
	for i := range fm.Len() {
		version = max(version, fm.Field(i).Version())
	}
	for i := range fm.Len() {
		if i > 0 {
			dst = append(dst, ' ')
		}
		if fm.Field(i) == flowlog.FieldVersion {
			dst = strconv.AppendInt(dst, int64(version), 10)
			continue
		}
		dst = appendField(dst, f, fm.Field(i))
	}
	return dst
}

func appendField(dst []byte, f *Flow, fl flowlog.Field) []byte {
	traffic := !f.NoData
	num := func(v uint64) []byte {
		if !traffic {
			return append(dst, '-')
		}
		return strconv.AppendUint(dst, v, 10)
	}
	addr := func(a netip.Addr) []byte {
		if !traffic {
			return append(dst, '-')
		}
		return a.AppendTo(dst)
	}
	switch fl {
	case flowlog.FieldAccountID:
		return append(dst, f.AccountID...)
	case flowlog.FieldInterfaceID:
		return append(dst, f.ENI...)
	case flowlog.FieldSrcAddr, flowlog.FieldPktSrcAddr:
		return addr(f.Src)
	case flowlog.FieldDstAddr, flowlog.FieldPktDstAddr:
		return addr(f.Dst)
	case flowlog.FieldSrcPort:
		return num(uint64(f.SrcPort))
	case flowlog.FieldDstPort:
		return num(uint64(f.DstPort))
	case flowlog.FieldProtocol:
		return num(uint64(f.Protocol))
	case flowlog.FieldPackets:
		return num(f.Packets)
	case flowlog.FieldBytes:
		return num(f.Bytes)
	case flowlog.FieldStart:
		return strconv.AppendInt(dst, f.Start, 10)
	case flowlog.FieldEnd:
		return strconv.AppendInt(dst, f.End, 10)
	case flowlog.FieldAction:
		switch {
		case !traffic:
			return append(dst, '-')
		case f.Accept:
			return append(dst, "ACCEPT"...)
		}
		return append(dst, "REJECT"...)
	case flowlog.FieldLogStatus:
		if !traffic {
			return append(dst, "NODATA"...)
		}
		return append(dst, "OK"...)
	case flowlog.FieldVPCID:
		return append(dst, f.VPC...)
	case flowlog.FieldSubnetID:
		if f.Subnet == "" {
			return append(dst, '-')
		}
		return append(dst, f.Subnet...)
	case flowlog.FieldTCPFlags:
		if !traffic || f.Protocol != 6 {
			return append(dst, '0')
		}
		return strconv.AppendUint(dst, uint64(f.TCPFlags), 10)
	case flowlog.FieldType:
		if f.Src.Is6() {
			return append(dst, "IPv6"...)
		}
		return append(dst, "IPv4"...)
	case flowlog.FieldFlowDirection:
		if f.Ingress {
			return append(dst, "ingress"...)
		}
		return append(dst, "egress"...)
	}
	return append(dst, '-')
}

// Lines generates n records in format fm, each followed by a newline.
func (t *Traffic) Lines(n int, fm *flowlog.Format) []byte {
	buf := make([]byte, 0, n*110)
	for range n {
		f := t.Next()
		buf = AppendLine(buf, &f, fm)
		buf = append(buf, '\n')
	}
	return buf
}
