package analysis

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
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
	Ambiguous    uint64 `json:"ambiguous"`    // credited records whose initiator the TCP flags do not settle (judged by the port evidence; counted above as their ports suggest)
	Unmatched    uint64 `json:"unmatched"`    // inbound/outbound flows no rule of the inventory allows
	NoGroups     uint64 `json:"no_groups"`    // accepted records of interfaces without security groups (NAT gateways, ...)
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
	// Uncertain holds the TCP and UDP records whose initiator the TCP flags
	// do not settle, apart from Sketch (which then holds the others, and
	// exists, maybe empty, whenever the rule has usage): the port evidence
	// credits or discounts them when the rule is judged.
	Uncertain []UncertainPart

	// primary splits Primary per time slot (windowed accumulators only).
	primary []SlotCount
}

// SlotCount is a count in one time slot.
type SlotCount struct {
	Start int64
	N     uint64
}

// UncertainPart is the usage of one rule by records of one protocol whose
// initiator the flags do not settle, split by what the port heuristic says
// (Likely: the sender's port is the more ephemeral one) only so that replies
// and requests mostly keep their sources apart: the heuristic decides nothing.
type UncertainPart struct {
	Protocol uint8
	Likely   bool
	Sketch   *sketch.Sketch
	Primary  uint64 // records for which the rule was credited first

	// primary splits Primary per time slot (windowed accumulators only).
	primary []SlotCount
}

// uncertainPart returns the part of protocol p and class likely, creating it.
func (rs *RuleState) uncertainPart(p uint8, likely bool, cfg sketch.Config) *UncertainPart {
	// Kept sorted by protocol, unlikely before likely.
	i := 0
	for ; i < len(rs.Uncertain); i++ {
		u := &rs.Uncertain[i]
		if u.Protocol == p && u.Likely == likely {
			return u
		}
		if u.Protocol > p || (u.Protocol == p && u.Likely && !likely) {
			break // the first part that sorts after the new one
		}
	}
	rs.Uncertain = slices.Insert(rs.Uncertain, i, UncertainPart{Protocol: p, Likely: likely, Sketch: sketch.New(cfg)})
	return &rs.Uncertain[i]
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
	for _, up := range o.Uncertain {
		u := rs.uncertainPart(up.Protocol, up.Likely, cfg)
		u.Sketch.Merge(up.Sketch)
		u.Primary += up.Primary
		if cfg.Slot > 0 {
			u.primary = mergeCounts(u.primary, up.primary)
		}
	}
}

// LastSeen returns the latest end of a record credited to the rule, whether
// its initiator is settled or not (0 when none).
func (rs *RuleState) LastSeen() int64 {
	var t int64
	if rs.Sketch != nil {
		t = rs.Sketch.LastSeen
	}
	for _, u := range rs.Uncertain {
		t = max(t, u.Sketch.LastSeen)
	}
	return t
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

	obs observations // each interface's logging (coverage)
	// Port evidence per interface (see evidence.go); lastEv is that of lastENI
	// (nil until needed). verdicts caches judgePorts until the next change.
	evidence map[string]*endpointEvidence
	lastEv   *endpointEvidence
	verdicts *verdicts
	evApart  bool // merged without its evidence: verdicts come from SetPortVerdicts
	// Windowed accumulators (cfg.Slot > 0): stats and unknown interfaces per
	// time slot, sorted by start, whose sums are stats and unknown.
	slots []statSlot
	// orphans holds the usage of rules the engine lacks, by rule key, until
	// the rule returns (Rebind) or the window ages it out (Expire).
	orphans map[string]*RuleState
}

// NewAccumulator returns an empty accumulator for eng.
func NewAccumulator(eng *Engine, cfg sketch.Config) *Accumulator {
	return &Accumulator{eng: eng, cfg: cfg, rules: make([]RuleState, len(eng.rules)), unknown: map[string]*uint64{},
		obs: newObservations(), evidence: map[string]*endpointEvidence{}}
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
	NoGroups                    // the interface has no security group: nothing to attribute
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
	a.observe(rec)
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
			a.lastEv = nil
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
	if seg.noGroups {
		a.stats.NoGroups++
		return NoGroups
	}
	role, certain := flagRole(rec) // RoleUnknown when not certain
	ported := rec.Protocol == 6 || rec.Protocol == 17
	if !certain && ported {
		role = PortRole(rec.SrcPort, rec.DstPort) // as SenderRole, without reading the flags again
	}
	if ported {
		a.observeEvidence(rec, dir == flowlog.DirectionIngress, role, certain)
	}
	if role == RoleResponder && certain {
		a.stats.Responses++
		return Response
	}
	// A TCP or UDP record the flags do not settle is credited apart, for the
	// port evidence to judge when the rules are.
	uncertain := ported && !certain
	likely := role == RoleInitiator
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
			if c.unresolved {
				continue
			}
			if !memsDone {
				mems, memsDone = a.eng.addrIdx[remote], true
			}
			ok = inGroup(mems, c.group, t) || (len(a.eng.pfxIdx) > 0 && a.eng.prefixInGroup(remote, c.group, t))
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
		if uncertain {
			up := rs.uncertainPart(rec.Protocol, likely, a.cfg)
			up.Sketch.Observe(remote, rec.Protocol, rec.DstPort, rec.Packets, rec.Bytes, rec.Start, rec.End)
			if !matched {
				up.Primary++
				if sl != nil {
					up.primary = addCount(up.primary, sl.Start, 1)
				}
				matched = true
			}
		} else {
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
		}
		if a.track != nil {
			a.track.Add(int(c.idx))
		}
	}
	if !matched && role != RoleInitiator {
		// Accepted, and no rule would have let it in as a new connection:
		// it answers one the interface opened (security groups are stateful).
		a.stats.Responses++
		return Response
	}
	if !matched {
		if dir == flowlog.DirectionIngress {
			a.stats.Inbound++
		} else {
			a.stats.Outbound++
		}
		a.stats.Unmatched++
		return Unmatched
	}
	if uncertain || role != RoleInitiator {
		a.stats.Ambiguous++
	}
	if a.stats.WindowFrom == 0 || (rec.Start != 0 && rec.Start < a.stats.WindowFrom) {
		a.stats.WindowFrom = rec.Start
	}
	if rec.End > a.stats.WindowTo {
		a.stats.WindowTo = rec.End
	}
	// The statistics split the records the flags do not settle as their
	// ports suggest; their credit waits for the port evidence.
	if uncertain && role == RoleResponder {
		a.stats.Responses++
		return Attributed
	}
	if dir == flowlog.DirectionIngress {
		a.stats.Inbound++
	} else {
		a.stats.Outbound++
	}
	return Attributed
}

// observeEvidence adds a TCP or UDP record's ports to its interface's port
// evidence.
func (a *Accumulator) observeEvidence(rec *flowlog.Record, ingress bool, role Role, certain bool) {
	ev := a.lastEv
	if ev == nil {
		if ev = a.evidence[string(rec.InterfaceID)]; ev == nil {
			ev = &endpointEvidence{}
			a.evidence[string(rec.InterfaceID)] = ev
		}
		a.lastEv = ev
	}
	lp, rp, remote := rec.DstPort, rec.SrcPort, rec.SrcAddr
	if rec.PktSrcAddr.IsValid() {
		remote = rec.PktSrcAddr
	}
	if !ingress {
		lp, rp, remote = rp, lp, rec.DstAddr
		if rec.PktDstAddr.IsValid() {
			remote = rec.PktDstAddr
		}
	}
	// Who the flags showed to be the service: the receiver of a SYN, the
	// sender of a SYN-ACK.
	senderSvc := certain && role == RoleResponder
	recvSvc := certain && role == RoleInitiator
	localSvc, remoteSvc := recvSvc, senderSvc
	if !ingress {
		localSvc, remoteSvc = senderSvc, recvSvc
	}
	if ev.observe(rec.Protocol, lp, rp, remote, localSvc, remoteSvc, rec.End) {
		a.verdicts = nil
	}
}

// ExpireEvidence drops the port evidence last seen before before (unix
// seconds), for a window that ages state out. Expire the evidence no earlier
// than the usage it judges: a record whose own interface's evidence is gone
// would be judged on the other interfaces' alone.
func (a *Accumulator) ExpireEvidence(before int64) {
	for k, ev := range a.evidence {
		if ev.expire(before) {
			delete(a.evidence, k)
		}
	}
	a.lastEv, a.lastSegs, a.verdicts = nil, nil, nil
}

// EvidenceBytes returns the memory the port evidence holds and the number of
// interfaces it covers.
func (a *Accumulator) EvidenceBytes() (bytes, interfaces int) {
	for _, ev := range a.evidence {
		bytes += ev.memSize()
	}
	return bytes, len(a.evidence)
}

// Merge adds o's usage to a. Both must share the engine.
func (a *Accumulator) Merge(o *Accumulator) error { return a.merge(o, nil, true) }

func countUnknown(m map[string]*uint64, id []byte) {
	if p := m[string(id)]; p != nil {
		*p++
	} else {
		n := uint64(1)
		m[string(id)] = &n
	}
}

// merge adds o's usage of the rules in set (all when set is nil) to a, and
// o's port evidence when evidence is set.
func (a *Accumulator) merge(o *Accumulator, set *RuleSet, evidence bool) error {
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
	if evidence {
		for k, ev := range o.evidence {
			if mine := a.evidence[k]; mine != nil {
				mine.merge(ev)
			} else {
				a.evidence[k] = ev.clone()
			}
		}
	}
	a.lastEv, a.lastSegs, a.verdicts = nil, nil, nil
	if set == nil {
		for k, rs := range o.orphans {
			a.adoptOrphan(k, rs)
		}
	}
	mergeUnknown(a.unknown, o.unknown)
	a.mergeObservations(o)
	a.mergeSlots(o)
	addStats(&a.stats, o.stats)
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

// Usage converts the usage of rule i to the advisor's input (nil when
// unused), with the records of uncertain initiator that the port evidence
// does not discount.
func (a *Accumulator) Usage(i int) *advisor.Usage {
	r := a.eng.rules[i]
	u, _ := a.rules[i].usage(a.portVerdicts(), r.Egress, r.Protocol == -1, false)
	return u
}

// Usage converts rs on its own, with nothing discounted by port evidence
// (every record credited counts as a request): for callers that build a
// RuleState themselves, such as the seed benchmark. all says the rule is of
// protocol -1.
func (rs *RuleState) Usage(all bool) *advisor.Usage {
	u, _ := rs.usage(nil, false, all, false)
	return u
}

// keptPart is an uncertain part the port evidence does not discount, with
// the ports it keeps.
type keptPart struct {
	part  *UncertainPart
	ports []advisor.PortRange
}

// usage converts the usage of a rule of direction egress (all: of protocol
// -1) to the advisor's input under the port verdicts v (nil: nothing
// discounted). Uncertain records on ports v discounts are left out; a part
// with ports left brings its sources and counters whole. unsure reports
// whether a part kept ports the evidence does not show to be services (thin
// evidence; the port heuristic's opinion does not count); skipUnsure leaves
// such parts out.
func (rs *RuleState) usage(v *verdicts, egress, all, skipUnsure bool) (u *advisor.Usage, unsure bool) {
	s := rs.Sketch
	if s == nil {
		return nil, false
	}
	var kept []keptPart
	for i := range rs.Uncertain {
		up := &rs.Uncertain[i]
		ps := up.Sketch.Ports(up.Protocol)
		if ps == nil {
			continue
		}
		var ports []advisor.PortRange
		add := func(from, to uint16) {
			if n := len(ports); n > 0 && uint32(ports[n-1].To)+1 == uint32(from) {
				ports[n-1].To = to
				return
			}
			ports = append(ports, advisor.PortRange{From: from, To: to})
		}
		partUnsure := false
		for _, r := range ps.Ranges() {
			if ps.Exact() {
				for p := uint32(r.From); p <= uint32(r.To); p++ {
					if v == nil || !v.discounted(up.Protocol, egress, uint16(p)) {
						add(uint16(p), uint16(p))
						if v == nil || !v.sureRequest(up.Protocol, egress, uint16(p)) {
							partUnsure = true
						}
					}
				}
				continue
			}
			for b := uint32(r.From) / 64; b <= uint32(r.To)/64; b++ {
				if v == nil || !v.bucketDiscounted(up.Protocol, egress, uint16(b)) {
					add(uint16(max(b*64, uint32(r.From))), uint16(min(b*64+63, uint32(r.To))))
					if v == nil || !v.sureBucket(up.Protocol, egress, uint16(b)) {
						partUnsure = true
					}
				}
			}
		}
		if len(ports) == 0 {
			continue
		}
		if partUnsure {
			unsure = true
			if skipUnsure {
				continue
			}
		}
		kept = append(kept, keptPart{up, ports})
	}
	merged := s
	if len(kept) > 0 {
		merged = s.Clone()
		for _, k := range kept {
			merged.Merge(k.part.Sketch)
		}
	}
	if merged.Flows == 0 {
		return nil, unsure
	}
	u = &advisor.Usage{Flows: merged.Flows, Packets: merged.Packets, Bytes: merged.Bytes, PrimaryFlows: rs.Primary}
	if merged.FirstSeen != 0 {
		u.FirstSeen = time.Unix(merged.FirstSeen, 0).UTC()
	}
	if merged.LastSeen != 0 {
		u.LastSeen = time.Unix(merged.LastSeen, 0).UTC()
	}
	for _, it := range merged.Items() {
		u.Sources = append(u.Sources, it.Prefix)
	}
	u.DistinctSources, u.Estimated = merged.DistinctSources()
	u.Ports = portRanges(s)
	for _, k := range kept {
		u.Ports[k.part.Protocol] = append(u.Ports[k.part.Protocol], k.ports...)
		u.PrimaryFlows += k.part.Primary
	}
	if all {
		u.ByProtocol = map[uint8]advisor.ProtocolUsage{}
		byProto := map[uint8]*sketch.Sketch{}
		for _, ps := range rs.ByProtocol {
			byProto[ps.Protocol] = ps.Sketch
		}
		for _, k := range kept {
			p := k.part.Protocol
			if byProto[p] == nil {
				byProto[p] = k.part.Sketch.Clone()
				continue
			}
			c := byProto[p].Clone()
			c.Merge(k.part.Sketch)
			byProto[p] = c
		}
		for p, sk := range byProto {
			var pu advisor.ProtocolUsage
			for _, it := range sk.Items() {
				pu.Sources = append(pu.Sources, it.Prefix)
			}
			pu.Ports = u.Ports[p]
			u.ByProtocol[p] = pu
		}
	}
	return u, unsure
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
	cov := a.Coverage()
	for _, i := range order {
		k := rules[i].Key()
		rep.Suggestions = append(rep.Suggestions, cov.Apply(k, a.judge(i, cfg), cfg))
		keys = append(keys, k)
	}
	rep.Window = a.Window()
	return rep, keys
}

// portVerdicts returns the port evidence's verdicts, computed once per change.
func (a *Accumulator) portVerdicts() *verdicts {
	if a.verdicts == nil {
		if a.evApart {
			panic("analysis: rules judged on an accumulator merged without its evidence, before SetPortVerdicts")
		}
		a.verdicts = judgePorts(a.evidence)
	}
	return a.verdicts
}

// judge returns the verdict on rule i. When the verdict rests on records
// whose initiator the evidence leaves open (and would differ without them),
// its confidence is low and it says why.
func (a *Accumulator) judge(i int, cfg advisor.Config) advisor.Suggestion {
	r := a.eng.rules[i]
	rs := &a.rules[i]
	v := a.portVerdicts()
	all := r.Protocol == -1
	u, unsure := rs.usage(v, r.Egress, all, false)
	if a.eng.unresolved[i] {
		return advisor.Unresolved(r, u)
	}
	s := advisor.Evaluate(r, u, cfg)
	if unsure {
		u2, _ := rs.usage(v, r.Egress, all, true)
		if s2 := advisor.Evaluate(r, u2, cfg); s2.Verdict != s.Verdict || !reflect.DeepEqual(s2.Proposed, s.Proposed) {
			s.Confidence = advisor.ConfidenceLow
			s.Reasons = append(s.Reasons, advisor.ReasonUncertainInitiator)
		}
	}
	return s
}
