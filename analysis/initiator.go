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
)

// EphemeralPortMin is the lowest port the heuristic treats as ephemeral
// (Linux uses 32768–60999, Windows and the IANA range 49152–65535).
const EphemeralPortMin = 32768

const (
	tcpSYN    = 0x02
	tcpSYNACK = 0x12
)

// SenderRole decides whether the sender of rec (srcaddr) initiated the
// connection. With TCP flags (format version ≥ 3) the handshake says it: a
// record with SYN and without SYN-ACK was sent by the initiator, one with
// SYN-ACK by the responder. Without them (default format, long-lived flows,
// UDP) a port heuristic decides: a flow from an ephemeral port to a
// non-ephemeral one is a request; the reverse is a reply; otherwise the lower
// port is taken as the service port, and equal ports count as a request.
// ICMP has no ports in flow logs: its sender counts as the initiator, which
// errs on the side of keeping rules.
func SenderRole(rec *flowlog.Record) Role {
	if rec.Protocol == 6 && rec.Has(flowlog.FieldTCPFlags) {
		switch rec.TCPFlags & tcpSYNACK {
		case tcpSYN:
			return RoleInitiator
		case tcpSYNACK:
			return RoleResponder
		}
	}
	if rec.Protocol != 6 && rec.Protocol != 17 {
		return RoleInitiator
	}
	return PortRole(rec.SrcPort, rec.DstPort)
}

// PortRole is the port heuristic of SenderRole for a flow from port sp to dp.
func PortRole(sp, dp uint16) Role {
	spEph, dpEph := sp >= EphemeralPortMin, dp >= EphemeralPortMin
	switch {
	case spEph && !dpEph:
		return RoleInitiator
	case dpEph && !spEph:
		return RoleResponder
	case dp <= sp:
		return RoleInitiator
	default:
		return RoleResponder
	}
}
