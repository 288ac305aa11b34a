package analysis

import "github.com/cinch-sg/cinch/stream/flowlog"

// Role says who sent the packets a record counts, relative to the connection.
type Role uint8

// Roles of a record's sender.
const (
	// RoleInitiator: the sender opened the connection (or, without
	// connections, sent the request).
	RoleInitiator Role = iota
	// RoleResponder: the sender answers a connection the other side opened.
	RoleResponder
	// RoleUnknown: the record does not say. The accumulator then lets the
	// security group decide: the record counts as a request when a rule of its
	// direction allows it, and as return traffic otherwise.
	RoleUnknown
)

// String names the role.
func (r Role) String() string {
	switch r {
	case RoleInitiator:
		return "initiator"
	case RoleResponder:
		return "responder"
	default:
		return "unknown"
	}
}

// Port classes of the heuristic.
const (
	// WellKnownPortMax is the highest well-known (system) port.
	WellKnownPortMax = 1023
	// EphemeralPortMin is the lowest port the heuristic treats as ephemeral
	// (Linux uses 32768–60999, Windows, macOS and the IANA range 49152–65535).
	EphemeralPortMin = 32768
)

const (
	tcpSYN    = 0x02
	tcpSYNACK = 0x12
)

// SenderRole decides whether the sender of rec (srcaddr) initiated the
// connection. With TCP flags (format version ≥ 3) the handshake says it: a
// record with SYN and without SYN-ACK was sent by the initiator, one with
// SYN-ACK by the responder. Without them (default format, long-lived flows,
// UDP) the ports decide, by PortRole. Other protocols (ICMP, whose type is not
// in flow logs, GRE, ESP…) give RoleUnknown.
func SenderRole(rec *flowlog.Record) Role {
	if r, ok := flagRole(rec); ok {
		return r
	}
	if rec.Protocol != 6 && rec.Protocol != 17 {
		return RoleUnknown
	}
	return PortRole(rec.SrcPort, rec.DstPort)
}

// PortRole is the port heuristic for a flow from port sp to port dp. A flow
// from an ephemeral port (≥ 32768) to a lower one, or from a port ≥ 1024 to a
// well-known one (< 1024), is a request; the mirror images are replies. Any
// other pair — both ephemeral (a service on a high port such as 50051), both
// in 1024–32767 (a client behind a NAT that maps source ports anywhere), both
// well-known, equal ports — is RoleUnknown: guessing "the lower port is the
// service" there would, for a client on port 5000 reaching a service on 8080,
// call the request a reply and propose removing a rule in use.
func PortRole(sp, dp uint16) Role {
	switch {
	case sp >= EphemeralPortMin && dp < EphemeralPortMin,
		sp > WellKnownPortMax && dp <= WellKnownPortMax:
		return RoleInitiator
	case dp >= EphemeralPortMin && sp < EphemeralPortMin,
		dp > WellKnownPortMax && sp <= WellKnownPortMax:
		return RoleResponder
	default:
		return RoleUnknown
	}
}

// flagRole returns the role the TCP flags settle, and false when they do not
// (not TCP, no tcp-flags field, no SYN in the window).
// FlagRole is the role the TCP flags settle (SYN without ACK: initiator;
// SYN-ACK: responder); ok is false when they settle nothing. It is the only
// decision the accumulator takes when a record arrives: every other record
// is credited and judged later by the port evidence.
func FlagRole(rec *flowlog.Record) (role Role, ok bool) { return flagRole(rec) }

func flagRole(rec *flowlog.Record) (Role, bool) {
	if rec.Protocol == 6 && rec.Has(flowlog.FieldTCPFlags) {
		switch rec.TCPFlags & tcpSYNACK {
		case tcpSYN:
			return RoleInitiator, true
		case tcpSYNACK:
			return RoleResponder, true
		}
	}
	return RoleUnknown, false
}
