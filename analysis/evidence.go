package analysis

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"unsafe"
)

// Port evidence: who is the service side of a conversation when neither the
// TCP flags nor anything else in a record says it (default format, long-lived
// flows whose windows carry no SYN, UDP).
//
// The service side of a conversation is the endpoint that many peers share:
// a listener on port 2049 talks to one client port per connection, and a
// client port talks to the few services its host calls. So, per interface
// and protocol (TCP, UDP), two tables record which ports met which: "local"
// maps each local port to the remote ports it exchanged records with, and
// "remote" each remote port to the local ports. An entry keeps the smallest
// evPeers peers and whether there were more; past evExactMax keys a table
// keeps 256-port buckets instead of ports (the union of their entries). Both
// operations are unions, so tables merge exactly (commutative, associative)
// and the outcome does not depend on the order of records nor on how they
// are split over partitions or instances. The judgement comes only when the
// rules are judged (judgePorts), from the merged tables:
//
//   - a peer port is a service when at least svcMin entries of the table list
//     it (many local ports met it): counting entries never overestimates,
//     since a coarse or full entry lists fewer, never more;
//   - a local port (the destination of inbound records, so what an inbound
//     rule is credited with) is a reply port when every peer it met is a
//     service, none is the port itself (123↔123, 53↔53) and it met no more
//     than evPeers of them; the same for a remote port and outbound rules,
//     from the other table;
//   - a port the TCP flags showed to be a service (a SYN to it, a SYN-ACK
//     from it) is never a reply port.
//
// Records credited on such a port are discounted, everywhere: the decision
// is per port across all interfaces (a port is a reply port only if it is one
// on every interface that used it), so every rule crediting a record judges
// it alike, which keeps "redundant" sound. Everything else stays credited;
// where the evidence is thin the suggestion says so (confidence low).
//
// A local port is a reply port only if, moreover, each remote address it met
// (a 64-bit signature of them per entry) served one of its peer ports to
// addrMin other entries: a client whose source port happens to equal a port
// the interface calls elsewhere does not make its request look like a reply.
//
// Memory: an entry is 32 bytes; a table holds at most evExactMax entries
// (≤ 4 KiB with slice growth) or 256 buckets (8 KiB, plus a 512-byte index),
// an interface four tables: at most 34 KiB per interface seen with TCP or UDP
// traffic (4 KB on average in BenchmarkMemory100kRules).
const (
	evPeers      = 8  // peers kept per entry: the smallest
	evExactMax   = 64 // exact keys per table before it keeps buckets
	evBucketBits = 8  // a bucket key is port >> evBucketBits
	svcMin       = 8  // entries listing a port that make it a service
	sureMin      = 4  // peers that are not services making a port surely a service
	addrMin      = 4  // other entries whose peer an address served
)

// Evidence flags.
const (
	evService uint8 = 1 // the TCP flags showed the key to be a service
)

// EvidenceEntry is one key of an evidence table (exported for gob).
type EvidenceEntry struct {
	Key   uint16 // a port, or in a coarse table port >> evBucketBits
	N     uint8  // peers stored; evPeers+1: more than evPeers were seen
	Flags uint8
	Peers [evPeers]uint16 // the smallest min(N, evPeers) peers, sorted
	Last  uint32          // latest record end (unix seconds)
	// Addrs has bit addrBit(a) set for every remote address a of the records.
	Addrs uint64
}

// EvidenceTable maps ports to the peer ports they met (exported for gob).
type EvidenceTable struct {
	Coarse  bool
	Entries []EvidenceEntry // sorted by Key
	// pos indexes a coarse table: pos[k] is 1 + the index of key k, 0 when
	// absent; valid while posOK (an insertion or deletion clears it: the
	// length alone does not tell, as expiry may shrink the table back to the
	// length it was indexed at).
	pos   *[1 << (16 - evBucketBits)]uint16
	posOK bool
}

// Tables of an interface's evidence.
const (
	evTCPLocal = iota
	evTCPRemote
	evUDPLocal
	evUDPRemote
	evTables
)

// endpointEvidence is the port evidence of one interface.
type endpointEvidence struct {
	t [evTables]EvidenceTable
	// gen counts the changes of the tables other than in time (a PortJudge
	// judges again the interfaces whose gen moved).
	gen uint64
}

// addPeer adds peer p; it reports whether the entry changed.
func (e *EvidenceEntry) addPeer(p uint16) bool {
	n := min(int(e.N), evPeers)
	i, found := slices.BinarySearch(e.Peers[:n], p)
	if found {
		return false
	}
	if n < evPeers {
		copy(e.Peers[i+1:n+1], e.Peers[i:n])
		e.Peers[i] = p
		e.N++
		return true
	}
	changed := false
	if e.N == evPeers {
		e.N = evPeers + 1
		changed = true
	}
	if i < evPeers {
		copy(e.Peers[i+1:], e.Peers[i:evPeers-1])
		e.Peers[i] = p
		changed = true
	}
	return changed
}

// merge adds o's peers, flags and time to e.
func (e *EvidenceEntry) merge(o *EvidenceEntry) bool {
	changed := false
	for _, p := range o.Peers[:min(int(o.N), evPeers)] {
		if e.addPeer(p) {
			changed = true
		}
	}
	if o.N > evPeers && e.N <= evPeers {
		e.N, changed = evPeers+1, true
	}
	if e.Flags|o.Flags != e.Flags {
		e.Flags |= o.Flags
		changed = true
	}
	e.Last = max(e.Last, o.Last)
	if e.Addrs|o.Addrs != e.Addrs {
		e.Addrs |= o.Addrs
		changed = true
	}
	return changed
}

// addrBit maps an address to one of 64 bits.
func addrBit(a netip.Addr) uint64 {
	b := a.As16()
	h := binary.LittleEndian.Uint64(b[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b[8:])*0xc2b2ae3d27d4eb4f
	return 1 << (h >> 58)
}

// search returns the index of key k in t, or where it would go.
func (t *EvidenceTable) search(k uint16) int {
	if t.Coarse {
		if t.pos == nil || !t.posOK {
			if t.pos == nil {
				t.pos = new([1 << (16 - evBucketBits)]uint16)
			} else {
				clear(t.pos[:])
			}
			for i := range t.Entries {
				t.pos[t.Entries[i].Key] = uint16(i + 1)
			}
			t.posOK = true
		}
		if p := t.pos[k]; p != 0 {
			return int(p - 1)
		}
	}
	lo, hi := 0, len(t.Entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.Entries[m].Key < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// entry returns the entry of key k, inserting an empty one; grew says whether
// it was inserted.
func (t *EvidenceTable) entry(k uint16) (e *EvidenceEntry, grew bool) {
	i := t.search(k)
	if i < len(t.Entries) && t.Entries[i].Key == k {
		return &t.Entries[i], false
	}
	t.Entries = slices.Insert(t.Entries, i, EvidenceEntry{Key: k})
	t.posOK = false
	return &t.Entries[i], true
}

// add records that port met peer (at a remote address of signature addr) at
// time last; it reports whether the table changed other than in time.
func (t *EvidenceTable) add(port, peer uint16, flags uint8, addr uint64, last int64) bool {
	k := port
	if t.Coarse {
		k = port >> evBucketBits
	}
	i := t.search(k)
	var e *EvidenceEntry
	grew := false
	if i < len(t.Entries) && t.Entries[i].Key == k {
		e = &t.Entries[i]
	} else {
		coarsened := false
		if !t.Coarse && len(t.Entries) >= evExactMax {
			t.coarsen()
			k, coarsened = port>>evBucketBits, true
		}
		e, grew = t.entry(k)
		grew = grew || coarsened
	}
	if e.N <= evPeers || peer < e.Peers[evPeers-1] {
		if e.addPeer(peer) {
			grew = true
		}
	}
	if e.Flags|flags != e.Flags {
		e.Flags |= flags
		grew = true
	}
	if e.Addrs|addr != e.Addrs {
		e.Addrs |= addr
		grew = true
	}
	if l := uint32(min(max(last, 0), math.MaxUint32)); l > e.Last {
		e.Last = l
	}
	return grew
}

// coarsen turns an exact table into buckets.
func (t *EvidenceTable) coarsen() {
	old := t.Entries
	t.Entries, t.Coarse, t.posOK = make([]EvidenceEntry, 0, 1<<(16-evBucketBits)), true, false
	for i := range old {
		e, _ := t.entry(old[i].Key >> evBucketBits)
		e.merge(&old[i])
	}
}

// merge adds o to t; it reports whether t changed other than in time.
func (t *EvidenceTable) merge(o *EvidenceTable) bool {
	changed := false
	if o.Coarse && !t.Coarse {
		t.coarsen()
		changed = true
	}
	for i := range o.Entries {
		k := o.Entries[i].Key
		if t.Coarse && !o.Coarse {
			k >>= evBucketBits
		}
		e, grew := t.entry(k)
		if e.merge(&o.Entries[i]) || grew {
			changed = true
		}
	}
	if !t.Coarse && len(t.Entries) > evExactMax {
		t.coarsen()
	}
	return changed
}

// expire drops the entries last seen before before (unix seconds); it
// reports whether it dropped any.
func (t *EvidenceTable) expire(before int64) bool {
	n := len(t.Entries)
	t.Entries = slices.DeleteFunc(t.Entries, func(e EvidenceEntry) bool { return int64(e.Last) < before })
	if len(t.Entries) == n {
		return false
	}
	t.posOK = false
	return true
}

// span returns the ports an entry of t stands for.
func (t *EvidenceTable) span(e *EvidenceEntry) (lo, hi uint16) {
	if !t.Coarse {
		return e.Key, e.Key
	}
	return e.Key << evBucketBits, e.Key<<evBucketBits | (1<<evBucketBits - 1)
}

// observe records one record's ports: local port lp met remote port rp.
// localSvc/remoteSvc say the TCP flags showed that side to be the service.
// It reports whether the evidence changed other than in time.
func (ev *endpointEvidence) observe(proto uint8, lp, rp uint16, remote netip.Addr, localSvc, remoteSvc bool, last int64) bool {
	base := evTCPLocal
	if proto == 17 {
		base = evUDPLocal
	}
	var fl, fr uint8
	if localSvc {
		fl = evService
	}
	if remoteSvc {
		fr = evService
	}
	ab := addrBit(remote)
	g := ev.t[base].add(lp, rp, fl, ab, last)
	if ev.t[base+1].add(rp, lp, fr, ab, last) {
		g = true
	}
	if g {
		ev.gen++
	}
	return g
}

func (ev *endpointEvidence) merge(o *endpointEvidence) bool {
	changed := false
	for i := range ev.t {
		if ev.t[i].merge(&o.t[i]) {
			changed = true
		}
	}
	if changed {
		ev.gen++
	}
	return changed
}

func (ev *endpointEvidence) clone() *endpointEvidence {
	c := &endpointEvidence{gen: ev.gen}
	for i := range ev.t {
		c.t[i] = EvidenceTable{Coarse: ev.t[i].Coarse, Entries: slices.Clone(ev.t[i].Entries)}
	}
	return c
}

// expire drops what was last seen before before (unix seconds) and reports
// whether nothing is left.
func (ev *endpointEvidence) expire(before int64) bool {
	empty, dropped := true, false
	for i := range ev.t {
		if ev.t[i].expire(before) {
			dropped = true
		}
		if len(ev.t[i].Entries) > 0 {
			empty = false
		}
	}
	if dropped {
		ev.gen++
	}
	return empty
}

// portWords is a bitmap of the 65536 ports.
type portWords [1 << 10]uint64

func (w *portWords) setSpan(lo, hi uint16) {
	for p := uint32(lo); p <= uint32(hi); p++ {
		w[p>>6] |= 1 << (p & 63)
	}
}

func (w *portWords) has(p uint16) bool { return w[p>>6]&(1<<(p&63)) != 0 }

// verdicts is the judgement of every port, per protocol (0 TCP, 1 UDP) and
// side (0: local ports, what inbound rules are credited with; 1: remote
// ports, for outbound rules).
type verdicts struct {
	reply, other, sure [2][2]portWords
}

// discounted reports whether records credited on port of proto (6 or 17) to
// a rule of direction egress are replies: the port is a reply port wherever
// it was seen.
func (v *verdicts) discounted(proto uint8, egress bool, port uint16) bool {
	pi, si := protoIndex(proto), sideIndex(egress)
	return v.reply[pi][si].has(port) && !v.other[pi][si].has(port)
}

// sureRequest reports whether the evidence shows port to be a service.
func (v *verdicts) sureRequest(proto uint8, egress bool, port uint16) bool {
	return v.sure[protoIndex(proto)][sideIndex(egress)].has(port)
}

// bucketDiscounted reports whether every port of the 64-port bucket b
// (a coarse port set's granularity) is discounted.
func (v *verdicts) bucketDiscounted(proto uint8, egress bool, b uint16) bool {
	pi, si := protoIndex(proto), sideIndex(egress)
	return v.reply[pi][si][b] == ^uint64(0) && v.other[pi][si][b] == 0
}

func protoIndex(p uint8) int {
	if p == 17 {
		return 1
	}
	return 0
}

func sideIndex(egress bool) int {
	if egress {
		return 1
	}
	return 0
}

// What judgeTable says of an entry's span of ports.
const (
	spanReply uint8 = 1 << iota // a reply port
	spanOther                   // not a reply port
	spanSure                    // surely a service (with spanOther)
)

// set marks the ports lo..hi of table ps (protocol×2 + side) as kind says.
func (v *verdicts) set(ps int, lo, hi uint16, kind uint8) {
	pi, si := ps/2, ps%2
	if kind&spanReply != 0 {
		v.reply[pi][si].setSpan(lo, hi)
	}
	if kind&spanOther != 0 {
		v.other[pi][si].setSpan(lo, hi)
	}
	if kind&spanSure != 0 {
		v.sure[pi][si].setSpan(lo, hi)
	}
}

// judgePorts derives the verdicts from every interface's evidence: the union
// of what judgeTable says of each of their tables.
func judgePorts(evs map[string]*endpointEvidence) *verdicts {
	v := &verdicts{}
	var j tableJudge
	for _, ev := range evs {
		for ti := range ev.t {
			j.judge(&ev.t[ti], ti%2, func(lo, hi uint16, kind uint8) { v.set(ti, lo, hi, kind) })
		}
	}
	return v
}

// tableJudge judges evidence tables, reusing its buffers from one to the next.
type tableJudge struct {
	peers []uint16    // the distinct peer ports of the table, sorted
	n     []int       // per peer: the entries listing it
	addrs [][64]int32 // per peer: the entries listing it, by address bit
}

// judge calls emit with the span of every entry of t, a table of side si (0:
// local ports, 1: remote), and what the entry makes of those ports.
func (j *tableJudge) judge(t *EvidenceTable, si int, emit func(lo, hi uint16, kind uint8)) {
	if len(t.Entries) == 0 {
		return
	}
	peers := j.peers[:0]
	for i := range t.Entries {
		e := &t.Entries[i]
		peers = append(peers, e.Peers[:min(int(e.N), evPeers)]...)
	}
	slices.Sort(peers)
	// How many entries list each peer (an entry's peers are distinct).
	n := j.n[:0]
	u := 0
	for i, p := range peers {
		if i > 0 && p == peers[u-1] {
			n[u-1]++
			continue
		}
		peers[u] = p
		n = append(n, 1)
		u++
	}
	peers = peers[:u]
	j.peers, j.n = peers, n
	idx := func(p uint16) int {
		i, _ := slices.BinarySearch(peers, p)
		return i
	}
	// On the local side a reply port must also have met its peers at
	// addresses that served them: per peer port, how many entries list it,
	// by address bit.
	var addrs [][64]int32
	if si == 0 {
		if cap(j.addrs) < u {
			j.addrs = make([][64]int32, u)
		}
		addrs = j.addrs[:u]
		clear(addrs)
		for i := range t.Entries {
			e := &t.Entries[i]
			if e.Addrs == 0 {
				continue
			}
			for _, p := range e.Peers[:min(int(e.N), evPeers)] {
				c := &addrs[idx(p)]
				for a := e.Addrs; a != 0; a &= a - 1 {
					c[bits.TrailingZeros64(a)]++
				}
			}
		}
	}
	service := func(p uint16) bool { return n[idx(p)] >= svcMin }
	for i := range t.Entries {
		e := &t.Entries[i]
		lo, hi := t.span(e)
		np := min(int(e.N), evPeers)
		allSvc, nonSvc := e.N <= evPeers && np > 0 && e.Flags&evService == 0, 0
		for _, p := range e.Peers[:np] {
			if p >= lo && p <= hi {
				allSvc = false
			}
			if !service(p) {
				allSvc = false
				nonSvc++
			}
		}
		if allSvc && addrs != nil {
			// every remote address of the entry served one of its peer
			// ports to addrMin other entries: a client port that happens to
			// equal a service port does not make a request look like a reply
			for a := e.Addrs; a != 0 && allSvc; a &= a - 1 {
				b := bits.TrailingZeros64(a)
				served := false
				for _, p := range e.Peers[:np] {
					if int(addrs[idx(p)][b])-1 >= addrMin {
						served = true
					}
				}
				allSvc = served
			}
		}
		switch {
		case allSvc:
			emit(lo, hi, spanReply)
		case e.Flags&evService != 0 || nonSvc >= sureMin:
			emit(lo, hi, spanOther|spanSure)
		default:
			emit(lo, hi, spanOther)
		}
	}
}

// sureBucket reports whether every port of the 64-port bucket b is surely a service.
func (v *verdicts) sureBucket(proto uint8, egress bool, b uint16) bool {
	return v.sure[protoIndex(proto)][sideIndex(egress)][b] == ^uint64(0)
}

// check verifies a restored table's invariants (sorted distinct keys, sizes,
// sorted peers), so that a corrupt checkpoint is an error, not a panic.
func (t *EvidenceTable) check() error {
	if !t.Coarse && len(t.Entries) > evExactMax {
		return fmt.Errorf("exact evidence table of %d entries", len(t.Entries))
	}
	for i := range t.Entries {
		e := &t.Entries[i]
		if i > 0 && t.Entries[i-1].Key >= e.Key {
			return fmt.Errorf("evidence keys out of order")
		}
		if t.Coarse && e.Key >= 1<<(16-evBucketBits) {
			return fmt.Errorf("evidence bucket %d out of range", e.Key)
		}
		if e.N > evPeers+1 {
			return fmt.Errorf("evidence entry with %d peers", e.N)
		}
		n := min(int(e.N), evPeers)
		for j := 1; j < n; j++ {
			if e.Peers[j-1] >= e.Peers[j] {
				return fmt.Errorf("evidence peers out of order")
			}
		}
	}
	return nil
}

// memSize returns the bytes the evidence holds (tables and their indexes).
func (ev *endpointEvidence) memSize() int {
	n := int(unsafe.Sizeof(*ev))
	for i := range ev.t {
		n += cap(ev.t[i].Entries) * int(unsafe.Sizeof(EvidenceEntry{}))
		if ev.t[i].pos != nil {
			n += len(ev.t[i].pos) * 2
		}
	}
	return n
}
