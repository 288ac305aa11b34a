package inventory

import (
	"sort"
	"strings"
	"time"
)

// FlowLog is one flow-log configuration, as DescribeFlowLogs lists it.
type FlowLog struct {
	ID string
	// ResourceID is what the flow log covers: a VPC (vpc-...), a subnet
	// (subnet-...) or one interface (eni-...). Transit gateway flow logs
	// cover no interface.
	ResourceID string
	// TrafficType is ALL, ACCEPT or REJECT.
	TrafficType string
	// Created is when the flow log was created: its interfaces' logging is
	// on from then.
	Created time.Time
	// LogFormat is the record format (empty: the default format).
	LogFormat string
	// DestinationType is cloud-watch-logs, s3 or kinesis-data-firehose;
	// Destination the log group name or the destination ARN.
	DestinationType, Destination string
	// DeliverLogsStatus is SUCCESS or FAILED; Status (FlowLogStatus) is ACTIVE.
	DeliverLogsStatus, Status string
}

// ObservesAccepted reports whether the flow log records accepted traffic and
// delivers it: traffic type ALL or ACCEPT, status ACTIVE (or not given) and
// delivery not FAILED. A REJECT-only flow log shows nothing of the traffic
// that security-group rules let in.
func (f *FlowLog) ObservesAccepted() bool {
	tt := strings.ToUpper(f.TrafficType)
	if tt != "ALL" && tt != "ACCEPT" {
		return false
	}
	if f.Status != "" && !strings.EqualFold(f.Status, "ACTIVE") {
		return false
	}
	return !strings.EqualFold(f.DeliverLogsStatus, "FAILED")
}

// Covers reports whether the flow log's resource is e's interface, subnet or VPC.
func (f *FlowLog) Covers(e *ENI) bool {
	r := f.ResourceID
	return r != "" && (r == e.ID || r == e.SubnetID || r == e.VPCID)
}

// AddFlowLog adds a flow-log configuration. Duplicates are harmless: an
// interface is logged from the earliest flow log that covers it.
func (inv *Inventory) AddFlowLog(f FlowLog) { inv.flowLogs = append(inv.flowLogs, f) }

// FlowLogs returns the flow-log configurations, by resource then id.
func (inv *Inventory) FlowLogs() []FlowLog {
	out := append([]FlowLog(nil), inv.flowLogs...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].ResourceID != out[j].ResourceID {
			return out[i].ResourceID < out[j].ResourceID
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// HasFlowLogs reports whether any flow-log configuration was added.
func (inv *Inventory) HasFlowLogs() bool { return len(inv.flowLogs) > 0 }

// LoggedSince returns the earliest time from which a flow log observing
// accepted traffic (ObservesAccepted) covers interface version e, through its
// own id, its subnet or its VPC; false when none does. A flow log without a
// creation time says nothing of when logging began and does not count.
func (inv *Inventory) LoggedSince(e *ENI) (time.Time, bool) {
	var since time.Time
	found := false
	for i := range inv.flowLogs {
		f := &inv.flowLogs[i]
		if !f.ObservesAccepted() || !f.Covers(e) || f.Created.IsZero() {
			continue
		}
		if !found || f.Created.Before(since) {
			since, found = f.Created, true
		}
	}
	return since, found
}

// RejectOnly reports whether the flow-log configuration shows that interface
// version e is logged for rejected traffic only: flow logs cover it, and
// none of them observes accepted traffic. Its REJECT records then say
// nothing of the traffic its security groups let in.
func (inv *Inventory) RejectOnly(e *ENI) bool {
	covered := false
	for i := range inv.flowLogs {
		f := &inv.flowLogs[i]
		if !f.Covers(e) {
			continue
		}
		if f.ObservesAccepted() {
			return false
		}
		covered = true
	}
	return covered
}
