// Package seed measures cinch against the approach of the project's seed
// design, on the same generated records and inventory, in one run:
//
//   - cinch: parse, attribute and sketch every record, then judge every rule
//     (what `cinch analyze` does, on one core);
//   - seed: parse every record, enrich each accepted flow with its
//     interface's security groups (and the groups of the remote address),
//     insert the enriched flows into one ClickHouse table, run one query per
//     rule for its distinct sources, protocols and ports, and feed the
//     answers to the same advisor.
//
// It reports both times, their ratio, and whether the verdicts agree rule by
// rule (verdict, reasons and proposed rules).
package seed

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// Options configure a run.
type Options struct {
	// Addr is ClickHouse's native-protocol address.
	Addr string
	// Database is created for the run and dropped after it.
	Database string
	// Records is the number of flow-log records.
	Records int
	// Apps is the number of three-tier applications (12 rules each).
	Apps int
	// Seed makes the account and traffic reproducible.
	Seed uint64
	// SampleRules, when > 0, runs the seed's per-rule queries for about that
	// many rules only (all the rules of groups spread evenly) and
	// extrapolates their time to all rules; verdicts are then compared on
	// the sample.
	SampleRules int
	// BatchSize is the number of rows per insert (default 100000).
	BatchSize int
	// Log receives progress lines (nil: none).
	Log func(format string, args ...any)
}

// Result is what a run measured.
type Result struct {
	Records, Rules int
	// Cinch is cinch's time from the records to all suggestions.
	Cinch time.Duration
	// SeedEnrich, SeedInsert and SeedQuery split the seed's time: parse and
	// enrich, insert, and the per-rule queries with the advisor.
	SeedEnrich, SeedInsert, SeedQuery time.Duration
	// SeedRows is the number of enriched flows inserted.
	SeedRows int
	// QueriedRules is the number of rules queried (all, or the sample);
	// Extrapolated says SeedQuery was scaled from the sample to all rules.
	QueriedRules int
	Extrapolated bool
	// Agree is the number of queried rules whose verdict, reasons and
	// proposed rules are identical; Differ lists the first differences.
	Agree  int
	Differ []string
}

// Seed is the seed approach's total time.
func (r Result) Seed() time.Duration { return r.SeedEnrich + r.SeedInsert + r.SeedQuery }

// Ratio is the seed's time over cinch's.
func (r Result) Ratio() float64 { return r.Seed().Seconds() / r.Cinch.Seconds() }

func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "records %d, rules %d, enriched flows %d\n", r.Records, r.Rules, r.SeedRows)
	fmt.Fprintf(&b, "cinch (parse, attribute, sketch, judge; one core): %v\n", r.Cinch.Round(time.Millisecond))
	ext := ""
	if r.Extrapolated {
		ext = fmt.Sprintf(" (extrapolated from %d rules queried)", r.QueriedRules)
	}
	fmt.Fprintf(&b, "seed (parse+enrich %v, insert %v, %d queries+advisor %v%s): %v\n", r.SeedEnrich.Round(time.Millisecond),
		r.SeedInsert.Round(time.Millisecond), r.Rules, r.SeedQuery.Round(time.Millisecond), ext, r.Seed().Round(time.Millisecond))
	fmt.Fprintf(&b, "ratio seed/cinch: %.1fx\n", r.Ratio())
	fmt.Fprintf(&b, "verdicts identical: %d of %d rules compared\n", r.Agree, r.QueriedRules)
	for _, d := range r.Differ {
		fmt.Fprintf(&b, "  differs: %s\n", d)
	}
	return b.String()
}

var format = flowlog.MustParseFormat(simulate.RichFormat)

// Run generates the account and records, then measures both approaches.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 100000
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	cfg := simulate.DefaultConfig()
	cfg.Seed, cfg.Apps = o.Seed, o.Apps
	acct := simulate.NewAccount(cfg)
	inv, err := acct.Inventory()
	if err != nil {
		return Result{}, err
	}
	tr := acct.Traffic(o.Seed, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	lines := make([]byte, 0, o.Records*160)
	for range o.Records {
		f := tr.Next()
		lines = simulate.AppendLine(lines, &f, format)
		lines = append(lines, '\n')
	}
	eng := analysis.NewEngine(inv)
	res := Result{Records: o.Records, Rules: len(eng.Rules())}
	scfg := sketch.Config{MaxNodes: 128, HLLPrecision: sketch.DefaultHLLPrecision}
	acfg := advisor.DefaultConfig()
	logf("generated %d records (%d MB), %d rules", o.Records, len(lines)>>20, res.Rules)

	// cinch.
	start := time.Now()
	acc := analysis.NewAccumulator(eng, scfg)
	p := flowlog.NewParser(format)
	var rec flowlog.Record
	for line := range bytes.Lines(lines) {
		if err := p.Parse(line[:len(line)-1], &rec); err != nil {
			return res, err
		}
		acc.Observe(&rec)
	}
	rules := eng.Rules()
	cinch := make([]advisor.Suggestion, len(rules))
	for i, r := range rules {
		// The usage as credited, without the port evidence's discounting
		// (the seed's approach has no counterpart of it; see enrich).
		cinch[i] = advisor.Evaluate(r, acc.Rule(i).Usage(r.Protocol == -1), acfg)
	}
	res.Cinch = time.Since(start)
	logf("cinch: %v", res.Cinch)

	// The seed's approach.
	conn, err := ch.Open(&ch.Options{Addr: []string{o.Addr}, DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Minute,
		Compression: &ch.Compression{Method: ch.CompressionLZ4}})
	if err != nil {
		return res, err
	}
	defer conn.Close()
	db := o.Database
	for _, q := range []string{"DROP DATABASE IF EXISTS " + db, "CREATE DATABASE " + db, `CREATE TABLE ` + db + `.flows (
    eni String,
    groups Array(String),
    direction UInt8,
    remote String,
    remote4 UInt32,
    is4 UInt8,
    remote_groups Array(String),
    protocol UInt8,
    port UInt16,
    packets UInt64,
    bytes UInt64,
    ts_start UInt32,
    ts_end UInt32
) ENGINE = MergeTree() ORDER BY (direction, protocol, port)`} {
		if err := conn.Exec(ctx, q); err != nil {
			return res, fmt.Errorf("seed: %s: %w", q, err)
		}
	}
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	if err := seedLoad(ctx, conn, db, inv, lines, o.BatchSize, &res); err != nil {
		return res, err
	}
	logf("seed: enrich %v, insert %v (%d rows)", res.SeedEnrich, res.SeedInsert, res.SeedRows)
	if err := seedQuery(ctx, conn, db, eng, scfg, acfg, cinch, o.SampleRules, &res, logf); err != nil {
		return res, err
	}
	return res, nil
}

// enriched is one accepted flow with its interface's groups.
type enriched struct {
	eni          string
	groups       []string
	direction    uint8 // 1 ingress, 2 egress
	remote       netip.Addr
	remoteGroups []string
	proto        uint8
	port         uint16
	packets      uint64
	bytes        uint64
	start, end   int64
}

// seedLoad parses, enriches and inserts the flows; parsing and enrichment
// are timed apart from the inserts.
func seedLoad(ctx context.Context, conn driver.Conn, db string, inv *inventory.Inventory, lines []byte, batch int, res *Result) error {
	p := flowlog.NewParser(format)
	var rec flowlog.Record
	buf := make([]enriched, 0, batch)
	flush := func() error {
		t := time.Now()
		defer func() { res.SeedInsert += time.Since(t) }()
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".flows")
		if err != nil {
			return err
		}
		for i := range buf {
			e := &buf[i]
			var r4 uint32
			is4 := uint8(0)
			if e.remote.Is4() {
				a := e.remote.As4()
				r4, is4 = uint32(a[0])<<24|uint32(a[1])<<16|uint32(a[2])<<8|uint32(a[3]), 1
			}
			if err := b.Append(e.eni, e.groups, e.direction, e.remote.String(), r4, is4, e.remoteGroups, e.proto, e.port,
				e.packets, e.bytes, uint32(e.start), uint32(e.end)); err != nil {
				return err
			}
		}
		res.SeedRows += len(buf)
		buf = buf[:0]
		return b.Send()
	}
	start := time.Now()
	for line := range bytes.Lines(lines) {
		if err := p.Parse(line[:len(line)-1], &rec); err != nil {
			return err
		}
		if e, ok := enrich(inv, &rec); ok {
			buf = append(buf, e)
			if len(buf) == batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if len(buf) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	res.SeedEnrich = time.Since(start) - res.SeedInsert
	return nil
}

// enrich classifies a record as the seed's loader would: accepted, of a
// known interface, direction from the record, return traffic dropped.
func enrich(inv *inventory.Inventory, rec *flowlog.Record) (enriched, bool) {
	if rec.LogStatus != flowlog.StatusOK || rec.Action != flowlog.ActionAccept {
		return enriched{}, false
	}
	t := rec.Start
	if t == 0 {
		t = rec.End
	}
	at := time.Unix(t, 0)
	eni, ok := inv.ENIAt(string(rec.InterfaceID), at)
	if !ok {
		return enriched{}, false
	}
	// Return traffic the TCP flags prove is left out, as cinch leaves it
	// out when the record arrives; every other record is kept (cinch credits
	// it too, and only its port evidence, which SQL per rule has no
	// counterpart of, may discount it later: both sides here judge without it).
	if role, ok := analysis.FlagRole(rec); ok && role == analysis.RoleResponder {
		return enriched{}, false
	}
	src, dst := rec.SrcAddr, rec.DstAddr
	if rec.PktSrcAddr.IsValid() {
		src = rec.PktSrcAddr
	}
	if rec.PktDstAddr.IsValid() {
		dst = rec.PktDstAddr
	}
	e := enriched{eni: eni.ID, groups: eni.Groups, proto: rec.Protocol, port: rec.DstPort, packets: rec.Packets,
		bytes: rec.Bytes, start: rec.Start, end: rec.End}
	switch rec.FlowDirection {
	case flowlog.DirectionIngress:
		e.direction, e.remote = 1, src
	case flowlog.DirectionEgress:
		e.direction, e.remote = 2, dst
	default:
		return enriched{}, false
	}
	e.remoteGroups = []string{}
	for _, o := range inv.ENIsWithAddr(e.remote, at) {
		e.remoteGroups = append(e.remoteGroups, o.Groups...)
	}
	return e, true
}

// ruleQuery is the seed's query for one rule: the distinct remotes,
// protocols and ports (per interface, for crediting overlapping rules) of
// the flows the rule allowed.
func ruleQuery(db string, r inventory.Rule) (sql string, inGo func(netip.Addr) bool) {
	dir := 1
	if r.Egress {
		dir = 2
	}
	var w []string
	w = append(w, "has(groups, '"+strings.ReplaceAll(r.GroupID, "'", "")+"')", "direction = "+strconv.Itoa(dir))
	if r.Protocol != -1 {
		w = append(w, "protocol = "+strconv.Itoa(int(r.Protocol)))
		if (r.Protocol == 6 || r.Protocol == 17) && r.FromPort >= 0 {
			w = append(w, fmt.Sprintf("port BETWEEN %d AND %d", r.FromPort, r.ToPort))
		}
	}
	switch r.Source.Kind {
	case inventory.SourceCIDR:
		pf := r.Source.Prefix.Masked()
		if pf.Addr().Is4() {
			a := pf.Addr().As4()
			n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
			mask := uint32(uint64(0xffffffff) << (32 - pf.Bits()))
			w = append(w, fmt.Sprintf("is4 = 1 AND bitAnd(remote4, %d) = %d", mask, n))
		} else {
			w = append(w, "is4 = 0")
			inGo = pf.Contains
		}
	case inventory.SourceGroup:
		w = append(w, "has(remote_groups, '"+strings.ReplaceAll(r.Source.ID, "'", "")+"')")
	default: // prefix lists: unknown ones allow everything, as in cinch
	}
	return "SELECT eni, remote, protocol, port, count(), sum(packets), sum(bytes), min(ts_start), max(ts_end) FROM " + db +
		".flows WHERE " + strings.Join(w, " AND ") + " GROUP BY eni, remote, protocol, port", inGo
}

// row is one answer row of a rule's query.
type row struct {
	eni                  string
	remote               netip.Addr
	proto                uint8
	port                 uint16
	flows, packets, byts uint64
	first, last          int64
}

// classKey is a set of flows that every rule matches alike (the inventory
// of the benchmark does not change over time).
type classKey struct {
	egress bool
	eni    string
	remote netip.Addr
	proto  uint8
	port   uint16
}

func seedQuery(ctx context.Context, conn driver.Conn, db string, eng *analysis.Engine, scfg sketch.Config, acfg advisor.Config,
	cinch []advisor.Suggestion, sample int, res *Result, logf func(string, ...any)) error {
	rules := eng.Rules()
	idx := sampleRules(rules, sample)
	res.Extrapolated = len(idx) < len(rules)
	res.QueriedRules = len(idx)
	start := time.Now()
	answers := make(map[int][]row, len(idx))
	best := map[classKey]int{} // the rule credited first for each class, as cinch ranks rules
	counts := map[classKey]uint64{}
	for n, i := range idx {
		sql, inGo := ruleQuery(db, rules[i])
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			return fmt.Errorf("seed: rule %s: %w", rules[i].Key(), err)
		}
		var out []row
		for rows.Next() {
			var r row
			var remote string
			var first, last uint32
			if err := rows.Scan(&r.eni, &remote, &r.proto, &r.port, &r.flows, &r.packets, &r.byts, &first, &last); err != nil {
				rows.Close()
				return err
			}
			r.remote, _ = netip.ParseAddr(remote)
			if inGo != nil && !inGo(r.remote) {
				continue
			}
			r.first, r.last = int64(first), int64(last)
			out = append(out, r)
			k := classKey{rules[i].Egress, r.eni, r.remote, r.proto, r.port}
			counts[k] = r.flows
			if b, ok := best[k]; !ok || rankLess(eng.Inventory(), rules[i], i, rules[b], b) {
				best[k] = i
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		answers[i] = out
		if n%1000 == 999 {
			logf("seed: %d of %d queries", n+1, len(idx))
		}
	}
	primary := map[int]uint64{}
	for k, b := range best {
		primary[b] += counts[k]
	}
	seed := make(map[int]advisor.Suggestion, len(idx))
	for _, i := range idx {
		seed[i] = advisor.Evaluate(rules[i], usage(rules[i], answers[i], primary[i], scfg), acfg)
	}
	res.SeedQuery = time.Since(start)
	if res.Extrapolated {
		res.SeedQuery = time.Duration(float64(res.SeedQuery) * float64(len(rules)) / float64(len(idx)))
	}
	for _, i := range idx {
		a, b := cinch[i], seed[i]
		if a.Verdict == b.Verdict && reflect.DeepEqual(a.Reasons, b.Reasons) && reflect.DeepEqual(a.Proposed, b.Proposed) {
			res.Agree++
		} else if len(res.Differ) < 10 {
			res.Differ = append(res.Differ, fmt.Sprintf("%s: cinch %s %v %v, seed %s %v %v", rules[i].Key(),
				a.Verdict, a.Reasons, a.Proposed, b.Verdict, b.Reasons, b.Proposed))
		}
	}
	return nil
}

// sampleRules returns the indexes of all rules, or with n > 0 of about n
// rules: every rule of groups taken evenly, since which of overlapping rules
// is credited first depends on the other rules of the interface's groups.
func sampleRules(rules []inventory.Rule, n int) []int {
	var idx []int
	if n <= 0 || n >= len(rules) {
		for i := range rules {
			idx = append(idx, i)
		}
		return idx
	}
	var groups []string
	byGroup := map[string][]int{}
	for i, r := range rules {
		if _, ok := byGroup[r.GroupID]; !ok {
			groups = append(groups, r.GroupID)
		}
		byGroup[r.GroupID] = append(byGroup[r.GroupID], i)
	}
	step := float64(len(rules)) / float64(n)
	for f := 0.0; int(f) < len(groups) && len(idx) < n; f += step {
		idx = append(idx, byGroup[groups[int(f)]]...)
	}
	sort.Ints(idx)
	return idx
}

// usage turns a rule's answer rows into the advisor's input through the
// same summary cinch uses (a sketch per rule; per protocol for -1 rules).
func usage(r inventory.Rule, rows []row, primary uint64, cfg sketch.Config) *advisor.Usage {
	if len(rows) == 0 {
		return nil
	}
	rs := analysis.RuleState{Sketch: sketch.New(cfg), Primary: primary}
	var flows uint64
	perProto := map[uint8]*sketch.Sketch{}
	for _, x := range rows {
		rs.Sketch.Observe(x.remote, x.proto, x.port, x.packets, x.byts, x.first, x.last)
		flows += x.flows
		if r.Protocol == -1 {
			sk := perProto[x.proto]
			if sk == nil {
				sk = sketch.New(cfg)
				perProto[x.proto] = sk
			}
			sk.Observe(x.remote, x.proto, x.port, x.packets, x.byts, x.first, x.last)
		}
	}
	rs.Sketch.Flows = flows
	protos := make([]int, 0, len(perProto))
	for p := range perProto {
		protos = append(protos, int(p))
	}
	sort.Ints(protos)
	for _, p := range protos {
		rs.ByProtocol = append(rs.ByProtocol, analysis.ProtocolSketch{Protocol: uint8(p), Sketch: perProto[uint8(p)]})
	}
	return rs.Usage(r.Protocol == -1)
}

// rankLess orders overlapping rules as cinch credits them: group
// references, then the smallest source, the narrowest ports, a specific
// protocol, then the rule's index.
func rankLess(inv *inventory.Inventory, a inventory.Rule, ai int, b inventory.Rule, bi int) bool {
	class := func(r inventory.Rule) int {
		switch r.Source.Kind {
		case inventory.SourceGroup:
			return 0
		case inventory.SourceCIDR:
			return 1
		}
		return 2
	}
	size := func(r inventory.Rule) float64 {
		switch r.Source.Kind {
		case inventory.SourceCIDR:
			p := r.Source.Prefix.Masked()
			return math.Ldexp(1, p.Addr().BitLen()-p.Bits())
		case inventory.SourcePrefixList:
			pl, ok := inv.PrefixList(r.Source.ID)
			if !ok {
				return math.Inf(1)
			}
			s := 0.0
			for _, p := range pl.Entries {
				s += math.Ldexp(1, p.Addr().BitLen()-p.Bits())
			}
			return s
		}
		return 0
	}
	width := func(r inventory.Rule) int64 {
		if r.Protocol == -1 || r.FromPort < 0 {
			return 1 << 20
		}
		return int64(r.ToPort) - int64(r.FromPort)
	}
	if ca, cb := class(a), class(b); ca != cb {
		return ca < cb
	}
	if sa, sb := size(a), size(b); sa != sb {
		return sa < sb
	}
	if wa, wb := width(a), width(b); wa != wb {
		return wa < wb
	}
	if (a.Protocol == -1) != (b.Protocol == -1) {
		return b.Protocol == -1
	}
	return ai < bi
}
