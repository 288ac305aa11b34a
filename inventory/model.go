package inventory

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// IANA protocol numbers as EC2 rules use them; ProtoAll is EC2's "-1".
const (
	ProtoAll    int16 = -1
	ProtoICMP   int16 = 1
	ProtoTCP    int16 = 6
	ProtoUDP    int16 = 17
	ProtoICMPv6 int16 = 58
)

// ParseProtocol maps an EC2 IpProtocol value ("tcp", "udp", "icmp", "icmpv6",
// "-1", "all" or an IANA number such as "6" or "50") to its number; -1 means all.
func ParseProtocol(s string) (int16, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "-1", "all":
		return ProtoAll, nil
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	case "icmp":
		return ProtoICMP, nil
	case "icmpv6", "icmp6", "ipv6-icmp":
		return ProtoICMPv6, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < -1 || n > 255 {
		return 0, fmt.Errorf("unknown IP protocol %q", s)
	}
	return int16(n), nil
}

// ProtocolName returns the protocol as the suggestions JSON spells it: "tcp",
// "udp", "icmp", "icmpv6", "all" for -1, or the number as a string.
func ProtocolName(p int16) string {
	switch p {
	case ProtoAll:
		return "all"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	}
	return strconv.Itoa(int(p))
}

// HasPorts reports whether rules of protocol p carry a port range (tcp, udp) or
// an ICMP type and code (icmp, icmpv6); for every other protocol EC2 ignores
// FromPort and ToPort and the rule covers all ports.
func HasPorts(p int16) bool {
	return p == ProtoTCP || p == ProtoUDP || p == ProtoICMP || p == ProtoICMPv6
}

// SourceKind says what a rule's peer is.
type SourceKind uint8

// The kinds of rule peers.
const (
	SourceCIDR       SourceKind = iota // an IPv4 or IPv6 CIDR block
	SourceGroup                        // another (or the same) security group
	SourcePrefixList                   // a managed prefix list
)

// String returns "cidr", "group" or "prefix-list".
func (k SourceKind) String() string {
	switch k {
	case SourceCIDR:
		return "cidr"
	case SourceGroup:
		return "group"
	case SourcePrefixList:
		return "prefix-list"
	}
	return "source-kind(" + strconv.Itoa(int(k)) + ")"
}

// Source is the peer of one rule: the source of an ingress rule or the
// destination of an egress rule.
type Source struct {
	Kind   SourceKind
	Prefix netip.Prefix // SourceCIDR: the block, masked to its canonical form
	ID     string       // SourceGroup: sg-...; SourcePrefixList: pl-...
	UserID string       // SourceGroup: owning account, for cross-account references
}

// CIDRSource returns a CIDR source holding p in canonical (masked) form.
func CIDRSource(p netip.Prefix) Source {
	return Source{Kind: SourceCIDR, Prefix: p.Masked()}
}

// ParseCIDRSource parses a CIDR such as "10.0.0.0/8" or "::/0" into a canonical
// CIDR source ("100.68.0.18/18" becomes 100.68.0.0/18, as EC2 stores it).
func ParseCIDRSource(s string) (Source, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return Source{}, fmt.Errorf("bad CIDR %q: %w", s, err)
	}
	return CIDRSource(p), nil
}

// String returns the CIDR ("10.0.0.0/8"), the group id or the prefix-list id.
func (s Source) String() string {
	if s.Kind == SourceCIDR {
		if !s.Prefix.IsValid() {
			return ""
		}
		return s.Prefix.String()
	}
	return s.ID
}

// Rule is one security-group rule with exactly one peer, at the granularity of
// EC2's SecurityGroupRule. Protocol -1 means all protocols; FromPort/ToPort are
// -1/-1 for all ports and hold type/code for ICMP.
type Rule struct {
	ID          string // sgr-... when known, "" otherwise
	GroupID     string
	Egress      bool
	Protocol    int16
	FromPort    int32
	ToPort      int32
	Source      Source
	Description string
}

// Direction returns "ingress" or "egress".
func (r Rule) Direction() string {
	if r.Egress {
		return "egress"
	}
	return "ingress"
}

// Key returns the rule's identity independent of its rule id and description,
// e.g. "sg-1|ingress|6|22|22|10.0.0.0/8". Rules are expected in normalised form
// (see Normalize), as the loaders produce them.
func (r Rule) Key() string {
	var b strings.Builder
	b.Grow(len(r.GroupID) + 40)
	b.WriteString(r.GroupID)
	b.WriteByte('|')
	b.WriteString(r.Direction())
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(int(r.Protocol)))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(int(r.FromPort)))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(int(r.ToPort)))
	b.WriteByte('|')
	b.WriteString(r.Source.String())
	return b.String()
}

// ProtocolName returns "tcp", "udp", "icmp", "icmpv6", "all" or the number.
func (r Rule) ProtocolName() string { return ProtocolName(r.Protocol) }

// Normalize returns r in the canonical form Key relies on: a masked CIDR, and
// ports -1/-1 for protocols that have no ports (EC2 ignores them there).
func (r Rule) Normalize() Rule {
	if r.Source.Kind == SourceCIDR && r.Source.Prefix.IsValid() {
		r.Source.Prefix = r.Source.Prefix.Masked()
	}
	if !HasPorts(r.Protocol) {
		r.FromPort, r.ToPort = -1, -1
	}
	return r
}

// CheckPorts reports a port range or ICMP type and code that EC2 would not
// accept: for tcp and udp both ends within 0–65535 with the start not above
// the end (or both -1: all ports); for icmp and icmpv6 a type and a code
// within 0–255 (-1: all). Protocols without ports take any values.
func (r Rule) CheckPorts() error {
	switch r.Protocol {
	case ProtoTCP, ProtoUDP:
		if r.FromPort == -1 && r.ToPort == -1 {
			return nil
		}
		if r.FromPort < 0 || r.ToPort < 0 || r.FromPort > 65535 || r.ToPort > 65535 {
			return fmt.Errorf("%s port range %d-%d is out of range (0-65535)", r.ProtocolName(), r.FromPort, r.ToPort)
		}
		if r.FromPort > r.ToPort {
			return fmt.Errorf("%s port range %d-%d: FromPort is above ToPort", r.ProtocolName(), r.FromPort, r.ToPort)
		}
	case ProtoICMP, ProtoICMPv6:
		if r.FromPort < -1 || r.FromPort > 255 {
			return fmt.Errorf("%s type %d is out of range (0-255, or -1 for all)", r.ProtocolName(), r.FromPort)
		}
		if r.ToPort < -1 || r.ToPort > 255 {
			return fmt.Errorf("%s code %d is out of range (0-255, or -1 for all)", r.ProtocolName(), r.ToPort)
		}
	}
	return nil
}

// Interval is a half-open span of validity [From, To). A zero From means
// "since ever", a zero To means "still valid".
type Interval struct {
	From, To time.Time
}

// Contains reports whether t lies in the interval.
func (iv Interval) Contains(t time.Time) bool {
	if !iv.From.IsZero() && t.Before(iv.From) {
		return false
	}
	return iv.To.IsZero() || t.Before(iv.To)
}

// Open reports whether the interval has no end (the version is still valid).
func (iv Interval) Open() bool { return iv.To.IsZero() }

// String formats the interval as "[from, to)" with "-inf"/"+inf" for open ends.
func (iv Interval) String() string {
	f, t := "-inf", "+inf"
	if !iv.From.IsZero() {
		f = iv.From.UTC().Format(time.RFC3339Nano)
	}
	if !iv.To.IsZero() {
		t = iv.To.UTC().Format(time.RFC3339Nano)
	}
	return "[" + f + ", " + t + ")"
}

// Group is one version of a security group.
type Group struct {
	ID, Name, Description, VPCID, OwnerID string
	Rules                                 []Rule
	Valid                                 Interval
}

// Ingress returns the group's inbound rules.
func (g *Group) Ingress() []Rule { return filterRules(g.Rules, false) }

// Egress returns the group's outbound rules.
func (g *Group) Egress() []Rule { return filterRules(g.Rules, true) }

func filterRules(rs []Rule, egress bool) []Rule {
	var out []Rule
	for _, r := range rs {
		if r.Egress == egress {
			out = append(out, r)
		}
	}
	return out
}

// ENI is one version of an elastic network interface.
//
// Addrs lists the interface's addresses: the primary private IPv4 address
// first, then secondary private IPv4 addresses, then IPv6 addresses, and the
// public or Elastic IPs associated with it last. The last NumPublic entries
// are those public addresses; PrivateAddrs and PublicAddrs split the list.
// Prefixes are the IPv4 and IPv6 prefixes delegated to the interface (EKS
// prefix mode): every address inside them is one of its private addresses.
type ENI struct {
	ID, AccountID, Region, VPCID, SubnetID, InstanceID string
	InterfaceType, Status, Description                 string
	RequesterManaged                                   bool
	Groups                                             []string
	Addrs                                              []netip.Addr
	NumPublic                                          int
	Prefixes                                           []netip.Prefix
	Valid                                              Interval
}

// PrivateAddrs returns the interface's own addresses (private IPv4 and IPv6):
// the ones a security-group reference to this interface's groups matches.
func (e *ENI) PrivateAddrs() []netip.Addr {
	n := len(e.Addrs) - e.publicCount()
	return e.Addrs[:n:n]
}

// PublicAddrs returns the public and Elastic IPs associated with the interface.
func (e *ENI) PublicAddrs() []netip.Addr {
	return e.Addrs[len(e.Addrs)-e.publicCount():]
}

// PrimaryAddr returns the primary private address, if the interface has one.
func (e *ENI) PrimaryAddr() (netip.Addr, bool) {
	p := e.PrivateAddrs()
	if len(p) == 0 {
		return netip.Addr{}, false
	}
	return p[0], true
}

// HasPrivateAddr reports whether a is one of the interface's private
// addresses: a private IPv4 or IPv6 address, or an address inside a delegated
// prefix (never a public or Elastic IP).
func (e *ENI) HasPrivateAddr(a netip.Addr) bool {
	a = a.Unmap()
	if slices.Contains(e.PrivateAddrs(), a) {
		return true
	}
	for _, p := range e.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// HasGroup reports whether the interface carries group id.
func (e *ENI) HasGroup(id string) bool { return slices.Contains(e.Groups, id) }

func (e *ENI) publicCount() int {
	return min(max(e.NumPublic, 0), len(e.Addrs))
}

// PrefixList is a managed prefix list (customer- or AWS-managed).
type PrefixList struct {
	ID, Name      string
	AddressFamily string // "IPv4" or "IPv6" when known
	OwnerID       string
	Entries       []netip.Prefix
	MaxEntries    int
}

// Contains reports whether a lies in one of the list's entries.
func (p *PrefixList) Contains(a netip.Addr) bool {
	for _, e := range p.Entries {
		if e.Contains(a) {
			return true
		}
	}
	return false
}
