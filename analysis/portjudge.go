package analysis

import (
	"math/bits"
	"slices"
)

// PortJudge keeps the port evidence's verdicts over the accumulators of
// several partitions from one evaluation to the next, judging again only the
// interfaces whose evidence changed, and says on which ports the verdicts
// changed (PortDiff), so that an incremental evaluation judges again only the
// rules that read those ports (PortDeps). Its verdicts are those of judging
// the merge of the accumulators' evidence (Merge, then Report): a port's
// verdict is the union over the interfaces of what each interface's merged
// tables say of it, and the tables of an interface merge exactly.
//
// A round, with each accumulator locked by the caller while it is read:
// Begin; Scan every accumulator; Take from every accumulator (the same ones,
// after all the Scans); Judge. Scan only compares generation counters; Take
// copies the evidence of the interfaces that changed.
//
// Memory: per interface judged, its accumulators' identities and a 6-byte
// span per table entry; 3 MiB of counters; copies only of the interfaces that
// changed, during a round. It is not safe for concurrent use.
type PortJudge struct {
	round  uint64
	ifaces map[string]*judgedIface
	dirty  []string // interfaces to judge again this round (set by the first Take)
	plan   bool     // dirty is set

	// count[ps][k][p] is the number of interfaces' table entries whose span
	// holds port p of table ps (protocol×2 + side) and which say kind k
	// (reply, other, sure) of it: a verdict bit is set while its count is.
	count [4][3][]uint32
	v     verdicts
	tj    tableJudge
	// The verdict words that changed this round, with their values before.
	touched [4][1024 / 64]uint64
	old     [4][3][1024]uint64
	diff    PortDiff
	first   bool // no round judged yet
}

// judgedIface is the judgement of one interface.
type judgedIface struct {
	round uint64
	srcs  []evSource // the evidence judged, per accumulator
	seen  []evSource // this round's (Scan)
	took  []evSource // this round's (Take), when judged again
	taken []*endpointEvidence
	spans []judgedSpan // what the merged tables said
}

// evSource is one accumulator's evidence of an interface, at a generation.
type evSource struct {
	ev  *endpointEvidence
	gen uint64
}

// judgedSpan is what one table entry says of its ports.
type judgedSpan struct {
	lo, hi   uint16
	ps, kind uint8
}

// PortDiff is where the port verdicts changed between two rounds of a
// PortJudge: the ports whose verdict (discounted or not, surely a service or
// not) changed, and the 64-port buckets whose verdict as a whole (every port
// discounted, every port surely a service: what a coarse port set reads)
// changed, per protocol (TCP, UDP) and side (inbound, outbound rules).
type PortDiff struct {
	ports   [4][1024]uint64
	buckets [4][1024 / 64]uint64
	all     bool // the first round: everything may have changed
}

// NewPortJudge returns a judge that has judged nothing yet.
func NewPortJudge() *PortJudge {
	j := &PortJudge{ifaces: map[string]*judgedIface{}, first: true}
	for ps := range j.count {
		for k := range j.count[ps] {
			j.count[ps][k] = make([]uint32, 1<<16)
		}
	}
	return j
}

// Begin starts a round.
func (j *PortJudge) Begin() {
	j.round++
	j.dirty, j.plan = j.dirty[:0], false
}

// Scan notes which evidence a holds. Call it for every accumulator, then
// Take from each.
func (j *PortJudge) Scan(a *Accumulator) {
	for k, ev := range a.evidence {
		ji := j.ifaces[k]
		if ji == nil {
			ji = &judgedIface{}
			j.ifaces[k] = ji
		}
		if ji.round != j.round {
			ji.round, ji.seen = j.round, ji.seen[:0]
		}
		ji.seen = append(ji.seen, evSource{ev, ev.gen})
	}
}

// sameSources reports whether a and b hold the same evidence at the same
// generations.
func sameSources(a, b []evSource) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// Take copies from a the evidence of the interfaces whose evidence changed
// since the last round (found by the Scans).
func (j *PortJudge) Take(a *Accumulator) {
	if !j.plan {
		for k, ji := range j.ifaces {
			ji.took, ji.taken = ji.took[:0], ji.taken[:0]
			if ji.round != j.round || !sameSources(ji.seen, ji.srcs) {
				j.dirty = append(j.dirty, k)
			}
		}
		j.plan = true
	}
	for _, k := range j.dirty {
		if ev := a.evidence[k]; ev != nil {
			ji := j.ifaces[k]
			ji.took = append(ji.took, evSource{ev, ev.gen})
			ji.taken = append(ji.taken, ev.clone())
		}
	}
}

// Judge ends the round: it judges again the interfaces whose evidence
// changed and returns the verdicts, and where they changed since the last
// round (valid until the next Begin).
func (j *PortJudge) Judge() (PortVerdicts, *PortDiff) {
	if !j.plan {
		j.Take(&Accumulator{}) // no accumulator: every interface went
	}
	j.touched = [4][1024 / 64]uint64{}
	for _, k := range j.dirty {
		ji := j.ifaces[k]
		j.apply(ji.spans, false)
		ji.spans = ji.spans[:0]
		if len(ji.taken) == 0 {
			delete(j.ifaces, k)
			continue
		}
		ev := ji.taken[0]
		for _, o := range ji.taken[1:] {
			ev.merge(o)
		}
		for ti := range ev.t {
			j.tj.judge(&ev.t[ti], ti%2, func(lo, hi uint16, kind uint8) {
				ji.spans = append(ji.spans, judgedSpan{lo: lo, hi: hi, ps: uint8(ti), kind: kind})
			})
		}
		j.apply(ji.spans, true)
		ji.srcs = append(ji.srcs[:0], ji.took...)
		clear(ji.taken)
		ji.took, ji.taken = ji.took[:0], ji.taken[:0]
	}
	j.diff = PortDiff{all: j.first}
	j.first = false
	for ps := range j.touched {
		pi, si := ps/2, ps%2
		for tw, x := range j.touched[ps] {
			for ; x != 0; x &= x - 1 {
				w := tw<<6 + bits.TrailingZeros64(x)
				or, oo, os := j.old[ps][0][w], j.old[ps][1][w], j.old[ps][2][w]
				nr, no, ns := j.v.reply[pi][si][w], j.v.other[pi][si][w], j.v.sure[pi][si][w]
				j.diff.ports[ps][w] = (or&^oo ^ nr&^no) | (os ^ ns)
				if (or == ^uint64(0) && oo == 0) != (nr == ^uint64(0) && no == 0) || (os == ^uint64(0)) != (ns == ^uint64(0)) {
					j.diff.buckets[ps][w>>6] |= 1 << (w & 63)
				}
			}
		}
	}
	v := j.v
	return PortVerdicts{&v}, &j.diff
}

// apply adds (or takes away) an interface's spans to the counts, flipping
// the verdict bits whose count starts or stops.
func (j *PortJudge) apply(spans []judgedSpan, add bool) {
	for _, s := range spans {
		ps := int(s.ps)
		pi, si := ps/2, ps%2
		for k, w := range [3]*portWords{&j.v.reply[pi][si], &j.v.other[pi][si], &j.v.sure[pi][si]} {
			if s.kind&(1<<k) == 0 {
				continue
			}
			c := j.count[ps][k]
			for p := uint32(s.lo); p <= uint32(s.hi); p++ {
				flip := false
				if add {
					c[p]++
					flip = c[p] == 1
				} else {
					c[p]--
					flip = c[p] == 0
				}
				if !flip {
					continue
				}
				word := p >> 6
				if t := &j.touched[ps][word>>6]; *t&(1<<(word&63)) == 0 {
					*t |= 1 << (word & 63)
					j.old[ps][0][word] = j.v.reply[pi][si][word]
					j.old[ps][1][word] = j.v.other[pi][si][word]
					j.old[ps][2][word] = j.v.sure[pi][si][word]
				}
				w[word] ^= 1 << (p & 63)
			}
		}
	}
}

// PortDeps is what the judgement of a rule reads of the port verdicts: the
// ports (and, for coarse port sets, the 64-port buckets) of its records of
// uncertain initiator. While its usage stays the same, its judgement changes
// only when the verdicts on those change.
type PortDeps []uint32

// Dependency encoding: table (protocol×2 + side) << 16 | port, or with
// depBucket set, | bucket.
const depBucket = 1 << 20

// PortDeps returns what the judgement of rule i reads of the port verdicts.
func (a *Accumulator) PortDeps(i int) PortDeps {
	var out PortDeps
	si := sideIndex(a.eng.rules[i].Egress)
	for _, up := range a.rules[i].Uncertain {
		ps := up.Sketch.Ports(up.Protocol)
		if ps == nil {
			continue
		}
		base := uint32(protoIndex(up.Protocol)*2+si) << 16
		for _, r := range ps.Ranges() {
			if ps.Exact() {
				for p := uint32(r.From); p <= uint32(r.To); p++ {
					out = append(out, base|p)
				}
				continue
			}
			for b := uint32(r.From) / 64; b <= uint32(r.To)/64; b++ {
				out = append(out, base|depBucket|b)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Changed reports whether diff changed a verdict that d reads.
func (d PortDeps) Changed(diff *PortDiff) bool {
	if diff.all {
		return len(d) > 0
	}
	for _, x := range d {
		ps, n := x>>16&3, x&0xffff
		if x&depBucket != 0 {
			if diff.buckets[ps][n>>6]&(1<<(n&63)) != 0 {
				return true
			}
		} else if diff.ports[ps][n>>6]&(1<<(n&63)) != 0 {
			return true
		}
	}
	return false
}
