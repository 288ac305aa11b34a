package analysis

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// defaultLine is one default-format record (no tcp-flags: the ports decide).
func defaultLine(eni, src, dst string, sp, dp int, proto int) string {
	return fmt.Sprintf("2 123456789012 %s %s %s %d %d %d 10 840 1700000000 1700000060 ACCEPT OK", eni, src, dst, sp, dp, proto)
}

// conversation returns both records (request and reply) of one connection
// between a client and a server, as seen on the interface eni.
func conversation(eni, client string, cport int, server string, sport, proto int) []string {
	return []string{defaultLine(eni, client, server, cport, sport, proto), defaultLine(eni, server, client, sport, cport, proto)}
}

func allOut() inventory.Rule {
	return inventory.Rule{Egress: true, Protocol: -1, FromPort: -1, ToPort: -1, Source: cidrSrc("0.0.0.0/0")}
}

func withGroup(g string, rs ...inventory.Rule) []inventory.Rule {
	for i := range rs {
		rs[i].GroupID = g
	}
	return rs
}

// TestReservedPortClients: NFS clients use source ports below 1024
// (10.0.200.10:785 → server:2049). The port heuristic calls that a reply;
// the evidence does not: the rules on 2049 are never removed. One client on a
// long-lived mount is thin evidence (kept, confidence low); eight clients show
// 2049 to be the service (confidence high).
func TestReservedPortClients(t *testing.T) {
	for _, clients := range []int{1, 8} {
		inv := inventory.New()
		inv.AddGroup(inventory.Group{ID: "sg-client", VPCID: "vpc-1"})
		inv.AddGroup(inventory.Group{ID: "sg-nfs", VPCID: "vpc-1", Rules: withGroup("sg-nfs",
			rule("", 6, 2049, 2049, cidrSrc("10.0.200.0/24")),
			rule("", 6, 2049, 2049, groupSrc("sg-client")),
			allOut())})
		inv.AddENI(inventory.ENI{ID: "eni-nfs", VPCID: "vpc-1", Groups: []string{"sg-nfs"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.201.10")}})
		var lines []string
		for c := range clients {
			addr := fmt.Sprintf("10.0.200.%d", 10+c)
			inv.AddENI(inventory.ENI{ID: fmt.Sprintf("eni-c%d", c), VPCID: "vpc-1", Groups: []string{"sg-client"}, Addrs: []netip.Addr{netip.MustParseAddr(addr)}})
			for range 3 { // windows of a long-lived mount: no SYN
				lines = append(lines, conversation("eni-nfs", addr, 785-c*7, "10.0.201.10", 2049, 6)...)
			}
		}
		by := suggestionsByKey(observeLines(t, inv, flowlog.DefaultFormat(), lines...))
		wantConf := advisor.ConfidenceLow
		if clients >= svcMin {
			wantConf = advisor.ConfidenceHigh
		}
		// The group reference is credited first; the CIDR rule, which allows
		// the same flows, may go as redundant — never for lack of traffic.
		if s := by["sg-nfs|ingress|6|2049|2049|sg-client"]; s.Verdict == advisor.VerdictRemove || s.Evidence.Flows == 0 || s.Confidence != wantConf {
			t.Errorf("%d clients: group rule (want confidence %s): %+v", clients, wantConf, s)
		}
		if s := by["sg-nfs|ingress|6|2049|2049|10.0.200.0/24"]; s.Evidence.Flows == 0 || (s.Verdict == advisor.VerdictRemove && !slices.Equal(s.Reasons, []string{advisor.ReasonRedundant})) {
			t.Errorf("%d clients: CIDR rule: %+v", clients, s)
		}
		// The server's replies are not outbound requests: with eight clients
		// the evidence shows it, and the egress rule has no traffic.
		if out := by["sg-nfs|egress|-1|-1|-1|0.0.0.0/0"]; clients >= svcMin && out.Verdict != advisor.VerdictRemove {
			t.Errorf("%d clients: egress rule credited with replies: %+v", clients, out)
		}
	}
}

// TestHighPortServicesBehindNAT: a game server or TURN relay on high ports,
// clients arriving from NAT-mapped ports in 1024–32767. The port heuristic
// calls every request a reply; the evidence (many peers per server port)
// shows the server ports to be the services.
func TestHighPortServicesBehindNAT(t *testing.T) {
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-game", VPCID: "vpc-1", Rules: withGroup("sg-game",
		rule("", 17, 49152, 65535, cidrSrc("0.0.0.0/0")),
		rule("", 6, 50000, 50000, cidrSrc("0.0.0.0/0")),
		allOut())})
	inv.AddENI(inventory.ENI{ID: "eni-game", VPCID: "vpc-1", Groups: []string{"sg-game"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.3.3")}})
	r := rand.New(rand.NewPCG(1, 2))
	var lines []string
	for c := range 40 {
		client := fmt.Sprintf("198.51.%d.%d", c/200, 1+c%200)
		nat := 1024 + r.IntN(31744)
		lines = append(lines, conversation("eni-game", client, nat, "10.0.3.3", 50000+c%4, 17)...)
		lines = append(lines, conversation("eni-game", client, nat+1, "10.0.3.3", 50000, 6)...)
	}
	by := suggestionsByKey(observeLines(t, inv, flowlog.DefaultFormat(), lines...))
	udp := by["sg-game|ingress|17|49152|65535|0.0.0.0/0"]
	if udp.Verdict == advisor.VerdictRemove || udp.Confidence != advisor.ConfidenceHigh ||
		!slices.ContainsFunc(udp.Proposed, func(p advisor.RuleSpec) bool { return p.FromPort <= 50000 && p.ToPort >= 50003 }) {
		t.Errorf("udp rule: %+v", udp)
	}
	if tcp := by["sg-game|ingress|6|50000|50000|0.0.0.0/0"]; tcp.Verdict == advisor.VerdictRemove || tcp.Confidence != advisor.ConfidenceHigh {
		t.Errorf("tcp rule: %+v", tcp)
	}
	// The server's answers to the clients' NAT ports are replies: the egress
	// rule is not narrowed to them, it has no outbound request at all.
	if out := by["sg-game|egress|-1|-1|-1|0.0.0.0/0"]; out.Verdict != advisor.VerdictRemove {
		t.Errorf("egress rule: %+v", out)
	}
}

// TestRepliesOnlyRule: the stateless-thinking rule "tcp 1024-65535 from
// 0.0.0.0/0" is found unused where the evidence shows that only replies
// reached it: answers of HTTPS servers, and of a gRPC service between two
// ephemeral ports whose clients reconnected often. A long-lived gRPC stream
// seen on three client ports is thin evidence: not removed, but its proposal
// says its confidence is low.
func TestRepliesOnlyRule(t *testing.T) {
	mk := func(grpcPorts int) map[string]advisor.Suggestion {
		inv := inventory.New()
		inv.AddGroup(inventory.Group{ID: "sg-app", VPCID: "vpc-1", Rules: withGroup("sg-app",
			rule("", 6, 1024, 65535, cidrSrc("0.0.0.0/0")),
			allOut())})
		inv.AddENI(inventory.ENI{ID: "eni-app", VPCID: "vpc-1", Groups: []string{"sg-app"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.4.4")}})
		var lines []string
		for i := range 20 {
			lines = append(lines, conversation("eni-app", "10.0.4.4", 40000+i*37, fmt.Sprintf("203.0.113.%d", 1+i%3), 443, 6)...)
		}
		for i := range grpcPorts {
			lines = append(lines, conversation("eni-app", "10.0.4.4", 45000+i*11, "10.0.9.9", 50051, 6)...)
		}
		return suggestionsByKey(observeLines(t, inv, flowlog.DefaultFormat(), lines...))
	}
	const key = "sg-app|ingress|6|1024|65535|0.0.0.0/0"
	if s := mk(12)[key]; s.Verdict != advisor.VerdictRemove || s.Confidence != advisor.ConfidenceHigh {
		t.Errorf("replies only, ample evidence: %+v", s)
	}
	s := mk(3)[key]
	if s.Verdict == advisor.VerdictRemove || s.Confidence != advisor.ConfidenceLow || !slices.Contains(s.Reasons, advisor.ReasonUncertainInitiator) {
		t.Errorf("a thinly observed stream between ephemeral ports: %+v", s)
	}
	for _, p := range s.Proposed {
		if p.FromPort < 45000 {
			t.Errorf("the proposal keeps ports of the HTTPS replies: %+v", s)
		}
	}
}

// TestPortEvidenceTable checks the evidence table's merge: exact against a
// model of full sets, commutative and associative, through coarsening.
func TestPortEvidenceTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 300 {
		type pair struct{ port, peer uint16 }
		var pairs []pair
		nports := []int{3, 40, 70, 400}[r.IntN(4)]
		for range r.IntN(300) {
			pairs = append(pairs, pair{uint16(r.IntN(nports) * 97), uint16(r.IntN(20) * 1000)})
		}
		parts := make([]EvidenceTable, 1+r.IntN(4))
		var whole EvidenceTable
		for _, p := range pairs {
			whole.add(p.port, p.peer, 0, 1<<(p.peer%64), 1)
			parts[r.IntN(len(parts))].add(p.port, p.peer, 0, 1<<(p.peer%64), 1)
		}
		r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		var merged EvidenceTable
		for i := range parts {
			merged.merge(&parts[i])
		}
		if merged.Coarse != whole.Coarse || !slices.Equal(merged.Entries, whole.Entries) {
			t.Fatalf("iter %d: merged parts differ from the whole", iter)
		}
		if err := merged.check(); err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		// The model: the full set of peers per key.
		full := map[uint16]map[uint16]bool{}
		distinct := map[uint16]bool{}
		for _, p := range pairs {
			distinct[p.port] = true
		}
		coarse := len(distinct) > evExactMax
		for _, p := range pairs {
			k := p.port
			if coarse {
				k >>= evBucketBits
			}
			if full[k] == nil {
				full[k] = map[uint16]bool{}
			}
			full[k][p.peer] = true
		}
		if whole.Coarse != coarse || len(whole.Entries) != len(full) {
			t.Fatalf("iter %d: coarse %v entries %d, want %v %d", iter, whole.Coarse, len(whole.Entries), coarse, len(full))
		}
		for _, e := range whole.Entries {
			set := full[e.Key]
			var all []uint16
			for p := range set {
				all = append(all, p)
			}
			slices.Sort(all)
			n := min(len(all), evPeers)
			if !slices.Equal(e.Peers[:min(int(e.N), evPeers)], all[:n]) || (len(all) > evPeers) != (e.N > evPeers) {
				t.Fatalf("iter %d key %d: entry %+v, peers %v", iter, e.Key, e, all)
			}
		}
	}
}

// TestSplitOverAccumulators: records split at random over several
// accumulators (partitions, daemon instances, analyze's workers) and merged in
// any order, or passed through a snapshot, give the report of one
// accumulator that saw them all, port evidence included.
func TestSplitOverAccumulators(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	parser := flowlog.NewParser(richFormat)
	for iter := range 40 {
		w := randomWorld(r, 100+r.IntN(500))
		eng := NewEngine(w.inv)
		one := NewAccumulator(eng, sketch.DefaultConfig())
		parts := make([]*Accumulator, 1+r.IntN(5))
		for i := range parts {
			parts[i] = NewAccumulator(eng, sketch.DefaultConfig())
		}
		var rec flowlog.Record
		for _, line := range w.records {
			if parser.Parse(line, &rec) != nil {
				continue
			}
			one.Observe(&rec)
			parts[r.IntN(len(parts))].Observe(&rec)
		}
		r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		merged := NewAccumulator(eng, sketch.DefaultConfig())
		for _, p := range parts {
			if err := merged.Merge(p); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := merged.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(snap); err != nil {
			t.Fatal(err)
		}
		var back Snapshot
		if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
			t.Fatal(err)
		}
		restored := NewAccumulator(eng, sketch.DefaultConfig())
		if _, err := restored.Restore(back); err != nil {
			t.Fatal(err)
		}
		cfg := advisor.DefaultConfig()
		want := one.Report(cfg)
		for name, acc := range map[string]*Accumulator{"merged": merged, "restored": restored} {
			if got := acc.Report(cfg); !reflect.DeepEqual(got, want) {
				t.Fatalf("iter %d: %s report differs from one accumulator's", iter, name)
			}
		}
	}
}

// TestClientPortEqualToAServicePort: the interface calls a service on port
// 1567 from many ports, so remote port 1567 is a service; a client that
// happens to use source port 1567 to reach the interface's listener on 134
// is still a request: that address never served 1567.
func TestClientPortEqualToAServicePort(t *testing.T) {
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-app", VPCID: "vpc-1", Rules: withGroup("sg-app",
		rule("", 6, 31, 487, cidrSrc("10.0.0.0/8")),
		rule("", 6, 1024, 65535, cidrSrc("10.0.0.0/8")),
		allOut())})
	inv.AddENI(inventory.ENI{ID: "eni-app", VPCID: "vpc-1", Groups: []string{"sg-app"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.4.4")}})
	var lines []string
	for i := range 20 {
		lines = append(lines, conversation("eni-app", "10.0.4.4", 40000+i*37, fmt.Sprintf("10.1.0.%d", 1+i%2), 1567, 6)...)
	}
	lines = append(lines, conversation("eni-app", "10.49.38.148", 1567, "10.0.4.4", 134, 6)...)
	by := suggestionsByKey(observeLines(t, inv, flowlog.DefaultFormat(), lines...))
	if s := by["sg-app|ingress|6|31|487|10.0.0.0/8"]; s.Verdict == advisor.VerdictRemove {
		t.Errorf("the listener's rule: %+v", s)
	}
	if s := by["sg-app|ingress|6|1024|65535|10.0.0.0/8"]; s.Verdict != advisor.VerdictRemove {
		t.Errorf("the rule only the answers of 1567 reach: %+v", s)
	}
}

// TestExpireEvidence: expiry drops what was last seen before the cut, and
// an interface whose evidence is all gone.
func TestExpireEvidence(t *testing.T) {
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-1", VPCID: "vpc-1", Rules: withGroup("sg-1", rule("", 6, 1024, 65535, cidrSrc("0.0.0.0/0")))})
	inv.AddENI(inventory.ENI{ID: "eni-1", VPCID: "vpc-1", Groups: []string{"sg-1"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.4.4")}})
	inv.AddENI(inventory.ENI{ID: "eni-2", VPCID: "vpc-1", Groups: []string{"sg-1"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.4.5")}})
	acc := observeLines(t, inv, flowlog.DefaultFormat(),
		"2 1 eni-1 10.0.9.9 10.0.4.4 443 40000 6 1 60 1000 1060 ACCEPT OK",
		"2 1 eni-1 10.0.9.9 10.0.4.4 443 40001 6 1 60 5000 5060 ACCEPT OK",
		"2 1 eni-2 10.0.9.9 10.0.4.5 443 40002 6 1 60 1000 1060 ACCEPT OK")
	if b, n := acc.EvidenceBytes(); n != 2 || b == 0 {
		t.Fatalf("evidence of %d interfaces, %d bytes", n, b)
	}
	acc.ExpireEvidence(2000)
	if _, n := acc.EvidenceBytes(); n != 1 {
		t.Fatalf("after expiry: %d interfaces, want 1", n)
	}
	local := acc.evidence["eni-1"].t[evTCPLocal]
	if len(local.Entries) != 1 || local.Entries[0].Key != 40001 {
		t.Errorf("eni-1 local table after expiry: %+v", local.Entries)
	}
}

// TestExpireKeepsCoarseIndex: a coarse table's index of keys stays right
// when expiry shrinks the table back to the length it was indexed at (it
// used to be trusted then: the next record of a surviving port was filed
// under another key, out of order, and the checkpoint no longer restored).
func TestExpireKeepsCoarseIndex(t *testing.T) {
	var tb EvidenceTable
	tb.add(0, 80, 0, 1, 50) // the oldest entry: key 0
	for i := 1; i <= evExactMax; i++ {
		tb.add(uint16(i)<<evBucketBits, 80, 0, 1, 100)
	}
	if !tb.Coarse {
		t.Fatal("the table did not coarsen")
	}
	tb.add(200<<evBucketBits, 80, 0, 1, 100) // a new key: the index is rebuilt before it goes in
	if !tb.expire(60) {
		t.Fatal("nothing expired")
	}
	// Records of ports that survived, in buckets 10 and 64.
	tb.add(10<<evBucketBits|7, 443, 0, 1, 120)
	tb.add(64<<evBucketBits, 443, 0, 1, 120)
	if err := tb.check(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []uint16{10, 64} {
		i := tb.search(k)
		if i >= len(tb.Entries) || tb.Entries[i].Key != k || tb.Entries[i].N != 2 {
			t.Errorf("bucket %d: entry %+v, want its two peers", k, tb.Entries[min(i, len(tb.Entries)-1)])
		}
	}
	if len(tb.Entries) != evExactMax+1 {
		t.Errorf("%d entries, want %d", len(tb.Entries), evExactMax+1)
	}
}
