package analysis

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// Stats counts what an accumulator did with the records it saw.
type Stats struct {
	Records      uint64 `json:"records"`      // all records observed
	NoData       uint64 `json:"nodata"`       // NODATA records (counted, not attributed)
	SkipData     uint64 `json:"skipdata"`     // SKIPDATA records
	Rejected     uint64 `json:"rejected"`     // REJECT records
	Unattributed uint64 `json:"unattributed"` // accepted records of interfaces the inventory lacks
	Undetermined uint64 `json:"undetermined"` // direction unknown (no flow-direction, no address of the interface)
	Responses    uint64 `json:"responses"`    // return traffic: never needs a rule
	Inbound      uint64 `json:"inbound"`      // remote-initiated, entering the interface
	Outbound     uint64 `json:"outbound"`     // interface-initiated, leaving it
	Ambiguous    uint64 `json:"ambiguous"`    // of those, initiator unknown and credited because a rule allows them
	Unmatched    uint64 `json:"unmatched"`    // inbound/outbound flows no rule of the inventory allows
	WindowFrom   int64  `json:"window_from"`  // earliest start of an attributed record (unix s)
	WindowTo     int64  `json:"window_to"`    // latest end
}

// RuleState is the usage of one rule.
type RuleState struct {
	Sketch *sketch.Sketch
	// Primary counts flows this rule was credited for first.
	Primary uint64
	// ByProtocol holds, for rules of protocol -1 only, one sketch per
	// protocol seen, so that narrowing such a rule keeps which sources used
	// which protocol and ports instead of their cross product.
	ByProtocol []ProtocolSketch

	// primary splits Primary per time slot (windowed accumulators only).
	primary []SlotCount
}

// SlotCount is a count in one time slot.
type SlotCount struct {
	Start int64
	N     uint64
}

// ProtocolSketch is the part of a -1 rule's usage of one protocol.
type ProtocolSketch struct {
	Protocol uint8
	Sketch   *sketch.Sketch
}

// protocolSketch returns the sketch of protocol p, creating it.
func (rs *RuleState) protocolSketch(p uint8, cfg sketch.Config) *sketch.Sketch {
	for i := range rs.ByProtocol {
		if rs.ByProtocol[i].Protocol == p {
			return rs.ByProtocol[i].Sketch
		}
	}
	sk := sketch.New(protocolConfig(cfg))
	rs.ByProtocol = append(rs.ByProtocol, ProtocolSketch{Protocol: p, Sketch: sk})
	return sk
}

// merge adds o's usage to rs.
func (rs *RuleState) merge(o *RuleState, cfg sketch.Config) {
	switch {
	case rs.Sketch == nil && cfg.Slot <= 0:
		rs.Sketch = o.Sketch.CloneUntimed() // totals only: no slots to copy
	case rs.Sketch == nil:
		rs.Sketch = o.Sketch.Clone()
	default:
		rs.Sketch.Merge(o.Sketch)
	}
	rs.Primary += o.Primary
	if cfg.Slot > 0 {
		rs.primary = mergeCounts(rs.primary, o.primary)
	}
	for _, ps := range o.ByProtocol {
		rs.protocolSketch(ps.Protocol, cfg).Merge(ps.Sketch)
	}
}

// Accumulator holds per-rule sketches for one engine. It is not safe for
// concurrent use; give each goroutine its own and Merge them.
type Accumulator struct {
	eng     *Engine
	cfg     sketch.Config
	rules   []RuleState
	unknown map[string]*uint64
	stats   Stats

	// The segments of the interface last attributed (records of one interface
	// often come in runs), keyed by a copy of its id; lastSegs is nil when unset.
	lastENI  []byte
	lastSegs []segment

	track *RuleSet // rules credited since tracking began (nil: not tracked)

	// Windowed accumulators (cfg.Slot > 0): stats and unknown interfaces per
	// time slot, sorted by start, whose sums are stats and unknown.
	slots []statSlot
	// orphans holds the usage of rules the engine lacks, by rule key, until
	// the rule returns (Rebind) or the window ages it out (Expire).
	orphans map[string]*RuleState
}

// NewAccumulator returns an empty accumulator for eng.
func NewAccumulator(eng *Engine, cfg sketch.Config) *Accumulator {
	return &Accumulator{eng: eng, cfg: cfg, rules: make([]RuleState, len(eng.rules)), unknown: map[string]*uint64{}}
}

// Engine returns the engine the accumulator attributes with.
func (a *Accumulator) Engine() *Engine { return a.eng }

// Stats returns the counters.
func (a *Accumulator) Stats() Stats { return a.stats }

// Outcome says what Observe did with a record.
type Outcome uint8

// Outcomes of Observe.
const (
	Attributed   Outcome = iota // credited to at least one rule
	NoData                      // NODATA record
	SkipData                    // SKIPDATA record
	Rejected                    // REJECT record
	Unattributed                // interface not in the inventory
	Undetermined                // direction unknown
	Response                    // return traffic
	Unmatched                   // no rule of the interface allows it
)

// Observe attributes one record. It allocates only the first time a rule,
// source, port or unknown interface is seen (or, windowed, a time slot opens).
func (a *Accumulator) Observe(rec *flowlog.Record) Outcome {
	if a.cfg.Slot <= 0 {
		return a.attribute(rec, nil)
	}
	sl := a.slotOf(rec)
	before := a.stats
	out := a.attribute(rec, sl)
	sl.add(&a.stats, &before, rec, out)
	return out
}

// attribute attributes one record; sl is its time slot (nil when not windowed).
func (a *Accumulator) attribute(rec *flowlog.Record, sl *statSlot) Outcome {
	a.stats.Records++
	switch rec.LogStatus {
	case flowlog.StatusNoData:
		a.stats.NoData++
		return NoData
	case flowlog.StatusSkipData:
		a.stats.SkipData++
		return SkipData
	}
	if rec.Action != flowlog.ActionAccept {
		a.stats.Rejected++
		return Rejected
	}
	t := rec.Start
	if t == 0 {
		t = rec.End
	}
	segs := a.lastSegs
	if segs == nil || string(rec.InterfaceID) != string(a.lastENI) {
		var ok bool
		if segs, ok = a.eng.segmentsOf(rec.InterfaceID); ok {
			a.lastENI = append(a.lastENI[:0], rec.InterfaceID...)
			a.lastSegs = segs
		}
	}
	if segs == nil {
		a.stats.Unattributed++
		countUnknown(a.unknown, rec.InterfaceID)
		if sl != nil {
			if sl.unknown == nil {
				sl.unknown = map[string]*uint64{}
			}
			countUnknown(sl.unknown, rec.InterfaceID)
		}
		return Unattributed
	}
	seg := pickSegment(segs, t)
	src, dst := rec.SrcAddr, rec.DstAddr
	if rec.PktSrcAddr.IsValid() {
		src = rec.PktSrcAddr
	}
	if rec.PktDstAddr.IsValid() {
		dst = rec.PktDstAddr
	}
	dir := rec.FlowDirection
	if dir == flowlog.DirectionUnknown {
		switch {
		case seg.hasAddr(rec.DstAddr) || seg.hasAddr(dst):
			dir = flowlog.DirectionIngress
		case seg.hasAddr(rec.SrcAddr) || seg.hasAddr(src):
			dir = flowlog.DirectionEgress
		default:
			a.stats.Undetermined++
			return Undetermined
		}
	}
	role := SenderRole(rec)
	if role == RoleResponder {
		a.stats.Responses++
		return Response
	}
	var rules []compiled
	var remote netip.Addr
	if dir == flowlog.DirectionIngress {
		rules, remote = seg.ingress, src
	} else {
		rules, remote = seg.egress, dst
	}
	// Per-record work shared by every rule: the remote as an IPv4 integer and
	// its group memberships (looked up at the first group rule).
	r4, is4 := uint32(0), remote.Is4()
	if is4 {
		b := remote.As4()
		r4 = binary.BigEndian.Uint32(b[:])
	}
	var mems []membership
	memsDone := false
	matched := false
	for i := range rules {
		c := &rules[i]
		if !c.matchesPort(rec.Protocol, rec.DstPort) {
			continue
		}
		var ok bool
		switch c.kind {
		case inventory.SourceCIDR:
			if c.is4 {
				ok = is4 && (r4^c.net4)&c.mask4 == 0
			} else {
				ok = c.prefix.Contains(remote)
			}
		case inventory.SourceGroup:
			if !memsDone {
				mems, memsDone = a.eng.addrIdx[remote], true
			}
			ok = inGroup(mems, c.group, t)
		default:
			ok = c.matchesList(remote)
		}
		if !ok {
			continue
		}
		rs := &a.rules[c.idx]
		if rs.Sketch == nil {
			rs.Sketch = sketch.New(a.cfg)
		}
		rs.Sketch.Observe(remote, rec.Protocol, rec.DstPort, rec.Packets, rec.Bytes, rec.Start, rec.End)
		if c.proto == -1 {
			rs.protocolSketch(rec.Protocol, a.cfg).Observe(remote, rec.Protocol, rec.DstPort, rec.Packets, rec.Bytes, rec.Start, rec.End)
		}
		if !matched {
			rs.Primary++
			if sl != nil {
				rs.primary = addCount(rs.primary, sl.Start, 1)
			}
			matched = true
		}
		if a.track != nil {
			a.track.Add(int(c.idx))
		}
	}
	if !matched && role == RoleUnknown {
		// Accepted, and no rule would have let it in as a new connection:
		// it answers one the interface opened (security groups are stateful).
		a.stats.Responses++
		return Response
	}
	if dir == flowlog.DirectionIngress {
		a.stats.Inbound++
	} else {
		a.stats.Outbound++
	}
	if !matched {
		a.stats.Unmatched++
		return Unmatched
	}
	if role == RoleUnknown {
		a.stats.Ambiguous++
	}
	if a.stats.WindowFrom == 0 || (rec.Start != 0 && rec.Start < a.stats.WindowFrom) {
		a.stats.WindowFrom = rec.Start
	}
	if rec.End > a.stats.WindowTo {
		a.stats.WindowTo = rec.End
	}
	return Attributed
}

// Merge adds o's usage to a. Both must share the engine.
func (a *Accumulator) Merge(o *Accumulator) error { return a.merge(o, nil) }

func countUnknown(m map[string]*uint64, id []byte) {
	if p := m[string(id)]; p != nil {
		*p++
	} else {
		n := uint64(1)
		m[string(id)] = &n
	}
}

// merge adds o's usage of the rules in set (all when set is nil) to a.
func (a *Accumulator) merge(o *Accumulator, set *RuleSet) error {
	if a.eng != o.eng {
		return fmt.Errorf("analysis: merge of accumulators of different engines")
	}
	for i := range o.rules {
		or := &o.rules[i]
		if or.Sketch == nil || (set != nil && !set.Has(i)) {
			continue
		}
		a.rules[i].merge(or, a.cfg)
	}
	if set == nil {
		for k, rs := range o.orphans {
			a.adoptOrphan(k, rs)
		}
	}
	mergeUnknown(a.unknown, o.unknown)
	a.mergeSlots(o)
	s, os := &a.stats, o.stats
	s.Records += os.Records
	s.NoData += os.NoData
	s.SkipData += os.SkipData
	s.Rejected += os.Rejected
	s.Unattributed += os.Unattributed
	s.Undetermined += os.Undetermined
	s.Responses += os.Responses
	s.Inbound += os.Inbound
	s.Outbound += os.Outbound
	s.Ambiguous += os.Ambiguous
	s.Unmatched += os.Unmatched
	if os.WindowFrom != 0 && (s.WindowFrom == 0 || os.WindowFrom < s.WindowFrom) {
		s.WindowFrom = os.WindowFrom
	}
	if os.WindowTo > s.WindowTo {
		s.WindowTo = os.WindowTo
	}
	return nil
}

// Rule returns the state of rule i (Engine().Rules()[i]).
func (a *Accumulator) Rule(i int) *RuleState { return &a.rules[i] }

// Unattributed lists the unknown interfaces with their record counts, most first.
func (a *Accumulator) Unattributed() []advisor.Unattributed {
	out := make([]advisor.Unattributed, 0, len(a.unknown))
	for k, v := range a.unknown {
		out = append(out, advisor.Unattributed{InterfaceID: k, Records: *v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Records != out[j].Records {
			return out[i].Records > out[j].Records
		}
		return out[i].InterfaceID < out[j].InterfaceID
	})
	return out
}

func unixUTC(t int64) time.Time { return time.Unix(t, 0).UTC() }

// Usage converts a rule's sketch to the advisor's input (nil when unused).
func (rs *RuleState) Usage() *advisor.Usage {
	s := rs.Sketch
	if s == nil || s.Flows == 0 {
		return nil
	}
	u := &advisor.Usage{Flows: s.Flows, Packets: s.Packets, Bytes: s.Bytes, PrimaryFlows: rs.Primary}
	if s.FirstSeen != 0 {
		u.FirstSeen = time.Unix(s.FirstSeen, 0).UTC()
	}
	if s.LastSeen != 0 {
		u.LastSeen = time.Unix(s.LastSeen, 0).UTC()
	}
	for _, it := range s.Items() {
		u.Sources = append(u.Sources, it.Prefix)
	}
	u.DistinctSources, u.Estimated = s.DistinctSources()
	u.Ports = portRanges(s)
	if len(rs.ByProtocol) > 0 {
		u.ByProtocol = make(map[uint8]advisor.ProtocolUsage, len(rs.ByProtocol))
		for _, ps := range rs.ByProtocol {
			var pu advisor.ProtocolUsage
			for _, it := range ps.Sketch.Items() {
				pu.Sources = append(pu.Sources, it.Prefix)
			}
			pu.Ports = portRanges(ps.Sketch)[ps.Protocol]
			u.ByProtocol[ps.Protocol] = pu
		}
	}
	return u
}

// portRanges lists the destination ports a sketch saw, per protocol.
func portRanges(s *sketch.Sketch) map[uint8][]advisor.PortRange {
	out := map[uint8][]advisor.PortRange{}
	for _, p := range s.Protocols() {
		for _, r := range s.Ports(p).Ranges() {
			out[p] = append(out[p], advisor.PortRange{From: r.From, To: r.To})
		}
	}
	return out
}

// Report judges every rule of the engine and returns the suggestions.
func (a *Accumulator) Report(cfg advisor.Config) advisor.Report {
	rep, _ := a.ReportKeys(cfg)
	return rep
}

// ReportKeys is Report with the stable key of each suggestion's rule.
func (a *Accumulator) ReportKeys(cfg advisor.Config) (advisor.Report, []string) {
	rules := a.eng.rules
	order := a.eng.ReportOrder()
	rep := advisor.Report{Suggestions: make([]advisor.Suggestion, 0, len(rules)), Unattributed: a.Unattributed()}
	keys := make([]string, 0, len(rules))
	for _, i := range order {
		rep.Suggestions = append(rep.Suggestions, advisor.Evaluate(rules[i], a.rules[i].Usage(), cfg))
		keys = append(keys, rules[i].Key())
	}
	rep.Window = a.Window()
	return rep, keys
}
