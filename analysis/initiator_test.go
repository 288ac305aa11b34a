package analysis

import (
	"net/netip"
	"testing"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

func TestPortRole(t *testing.T) {
	for _, c := range []struct {
		sp, dp uint16
		want   Role
	}{
		{40000, 443, RoleInitiator},   // client → service
		{443, 40000, RoleResponder},   // its reply
		{51234, 8080, RoleInitiator},  // Windows ephemeral → registered port
		{8080, 51234, RoleResponder},  // reply
		{1030, 80, RoleInitiator},     // old Windows range → well-known
		{80, 1030, RoleResponder},     // reply
		{5000, 40000, RoleResponder},  // registered → ephemeral: a reply
		{40000, 50051, RoleUnknown},   // both ephemeral: a gRPC service on 50051, or its reply
		{50051, 40000, RoleUnknown},   // the same pair seen the other way
		{5000, 8080, RoleUnknown},     // NAT-mapped client port, or a reply to it
		{8080, 5000, RoleUnknown},     // the reverse record
		{123, 123, RoleUnknown},       // NTP between servers
		{53, 443, RoleUnknown},        // both well-known
		{40000, 40000, RoleUnknown},   // equal
		{32767, 32768, RoleResponder}, // class edges
		{32768, 32767, RoleInitiator},
		{1023, 1024, RoleResponder},
		{1024, 1023, RoleInitiator},
	} {
		if got := PortRole(c.sp, c.dp); got != c.want {
			t.Errorf("PortRole(%d, %d) = %v, want %v", c.sp, c.dp, got, c.want)
		}
	}
}

func TestSenderRole(t *testing.T) {
	p := flowlog.NewParser(flowlog.MustParseFormat("${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${action}"))
	for _, c := range []struct {
		line string
		want Role
	}{
		{"3 eni-1 10.0.0.1 10.0.0.2 5000 8080 6 2 ACCEPT", RoleInitiator},    // SYN beats the ports
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 443 6 18 ACCEPT", RoleResponder},   // SYN-ACK beats them
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 443 6 3 ACCEPT", RoleInitiator},    // SYN+FIN of a short flow
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 443 6 19 ACCEPT", RoleResponder},   // SYN-ACK+FIN
		{"3 eni-1 10.0.0.1 10.0.0.2 443 40000 6 1 ACCEPT", RoleResponder},    // FIN only: ports decide
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 50051 6 0 ACCEPT", RoleUnknown},    // no handshake, both ephemeral
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 53 17 - ACCEPT", RoleInitiator},    // UDP: ports
		{"3 eni-1 10.0.0.1 10.0.0.2 0 0 1 - ACCEPT", RoleUnknown},            // ICMP: no type in the log
		{"3 eni-1 10.0.0.1 10.0.0.2 0 0 47 - ACCEPT", RoleUnknown},           // GRE
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 50051 17 - ACCEPT", RoleUnknown},   // UDP both ephemeral
		{"3 eni-1 10.0.0.1 10.0.0.2 5000 40000 6 - ACCEPT", RoleResponder},   // tcp-flags absent: ports
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 5000 6 - ACCEPT", RoleInitiator},   // and the reverse
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 5000 132 - ACCEPT", RoleUnknown},   // SCTP: not TCP/UDP
		{"3 eni-1 10.0.0.1 10.0.0.2 443 40000 6 16 ACCEPT", RoleResponder},   // ACK only: ports
		{"3 eni-1 10.0.0.1 10.0.0.2 8080 5000 6 16 ACCEPT", RoleUnknown},     // ACK only, ambiguous ports
		{"3 eni-1 10.0.0.1 10.0.0.2 8080 5000 6 2 ACCEPT", RoleInitiator},    // SYN settles it
		{"3 eni-1 10.0.0.1 10.0.0.2 5000 8080 6 18 ACCEPT", RoleResponder},   // SYN-ACK settles it
		{"3 eni-1 10.0.0.1 10.0.0.2 40000 50051 6 18 ACCEPT", RoleResponder}, // even both ephemeral
	} {
		var rec flowlog.Record
		if err := p.Parse([]byte(c.line), &rec); err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		if got := SenderRole(&rec); got != c.want {
			t.Errorf("SenderRole(%q) = %v, want %v", c.line, got, c.want)
		}
	}
}

// TestAmbiguousRecordsFollowTheRules checks how records of unknown initiator
// are counted: as requests where a rule of their direction allows them, as
// return traffic where none does — and that a record of known initiator that
// no rule allows stays "unmatched".
func TestAmbiguousRecordsFollowTheRules(t *testing.T) {
	inv := inventory.New()
	inv.AddGroup(inventory.Group{ID: "sg-1", VPCID: "vpc-1", Rules: []inventory.Rule{
		{GroupID: "sg-1", Protocol: 6, FromPort: 50051, ToPort: 50051, Source: inventory.CIDRSource(netip.MustParsePrefix("10.0.0.0/16"))},
		{GroupID: "sg-1", Protocol: 6, FromPort: 8080, ToPort: 8080, Source: inventory.CIDRSource(netip.MustParsePrefix("0.0.0.0/0"))},
	}})
	inv.AddENI(inventory.ENI{ID: "eni-1", VPCID: "vpc-1", Groups: []string{"sg-1"}, Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.5")}})
	eng := NewEngine(inv)
	acc := NewAccumulator(eng, sketch.DefaultConfig())
	p := flowlog.NewParser(flowlog.DefaultFormat())
	observe := func(line string) Outcome {
		t.Helper()
		var rec flowlog.Record
		if err := p.Parse([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		return acc.Observe(&rec)
	}
	const pre = "2 123456789012 eni-1 "
	const post = " 6 10 840 1700000000 1700000060 ACCEPT OK"
	for _, c := range []struct {
		flow string
		want Outcome
	}{
		{"10.0.9.9 10.0.1.5 40000 50051", Attributed}, // both ephemeral, a rule allows it: a request
		{"10.0.1.5 10.0.9.9 50051 40000", Response},   // the reverse record: no egress rule, so a reply
		{"203.0.113.7 10.0.1.5 5000 8080", Attributed},
		{"10.0.1.5 203.0.113.7 8080 5000", Response},
		{"10.9.0.1 10.0.1.5 40000 50051", Response},    // outside 10.0.0.0/16: only a reply could pass
		{"10.9.0.1 10.0.1.5 40000 22", Unmatched},      // surely a request, yet no rule: reported
		{"10.0.1.5 10.9.0.1 40000 22", Unmatched},      // the same outbound (sg-1 has no egress rule)
		{"10.0.9.9 10.0.1.5 443 40000", Response},      // surely a reply
		{"10.0.9.10 10.0.1.5 40001 50051", Attributed}, // another source
	} {
		if got := observe(pre + c.flow + post); got != c.want {
			t.Errorf("%s: outcome %d, want %d", c.flow, got, c.want)
		}
	}
	st := acc.Stats()
	if st.Ambiguous != 3 || st.Inbound != 4 || st.Outbound != 1 || st.Unmatched != 2 || st.Responses != 4 {
		t.Errorf("stats %+v: want ambiguous 3, inbound 4, outbound 1, unmatched 2, responses 4", st)
	}
	rep := acc.Report(advisor.DefaultConfig())
	var saw50051, saw8080 bool
	for _, s := range rep.Suggestions {
		switch {
		case s.Rule.FromPort == 50051:
			saw50051 = true
			if s.Evidence.Flows != 2 || s.Evidence.DistinctSources != 2 {
				t.Errorf("rule on 50051: evidence %+v, want 2 flows from 2 sources", s.Evidence)
			}
		case s.Rule.FromPort == 8080:
			saw8080 = true
			if s.Evidence.Flows != 1 {
				t.Errorf("rule on 8080: evidence %+v, want 1 flow", s.Evidence)
			}
		}
	}
	if !saw50051 || !saw8080 {
		t.Fatalf("suggestions lack the rules: %+v", rep.Suggestions)
	}
}
