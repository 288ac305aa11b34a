package awsjson

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cinch-sg/cinch/inventory"
)

// flowLogJSON is one element of describe-flow-logs' FlowLogs.
type flowLogJSON struct {
	FlowLogID          string          `json:"FlowLogId"`
	ResourceID         string          `json:"ResourceId"`
	TrafficType        string          `json:"TrafficType"`
	CreationTime       json.RawMessage `json:"CreationTime"`
	LogFormat          string          `json:"LogFormat"`
	LogDestinationType string          `json:"LogDestinationType"`
	LogDestination     string          `json:"LogDestination"`
	LogGroupName       string          `json:"LogGroupName"`
	DeliverLogsStatus  string          `json:"DeliverLogsStatus"`
	FlowLogStatus      string          `json:"FlowLogStatus"`
}

// LoadFlowLogsFile is LoadFlowLogs on a file (gzip detected).
func LoadFlowLogsFile(inv *inventory.Inventory, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := LoadFlowLogs(inv, f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// LoadFlowLogs adds the flow-log configurations of an `aws ec2
// describe-flow-logs` output ({"FlowLogs": [...]}, a bare array as `--query
// FlowLogs` prints, or a recorded response) to inv and returns how many. A
// flow log without a resource id, or with a traffic type other than ALL,
// ACCEPT or REJECT, or an unreadable creation time, is an error; a failed
// load adds nothing.
func LoadFlowLogs(inv *inventory.Inventory, r io.Reader) (int, error) {
	data, err := readInput(r)
	if err != nil {
		return 0, err
	}
	d, err := decodeDoc(data)
	if err != nil {
		return 0, err
	}
	var raw []json.RawMessage
	switch {
	case d.obj != nil:
		fl, ok := d.obj["FlowLogs"]
		if !ok {
			return 0, fmt.Errorf("expected describe-flow-logs output ({\"FlowLogs\": [...]}), found %s", d.describe())
		}
		if err := json.Unmarshal(fl, &raw); err != nil {
			return 0, fmt.Errorf("FlowLogs is not an array: %w", err)
		}
	default:
		raw = d.arr
	}
	out := make([]inventory.FlowLog, 0, len(raw))
	for i, el := range raw {
		var j flowLogJSON
		if err := json.Unmarshal(el, &j); err != nil {
			return 0, fmt.Errorf("FlowLogs[%d]: %w", i, err)
		}
		if j.ResourceID == "" {
			return 0, fmt.Errorf("FlowLogs[%d]: no ResourceId (is this describe-flow-logs output?)", i)
		}
		tt := strings.ToUpper(strings.TrimSpace(j.TrafficType))
		switch tt {
		case "ALL", "ACCEPT", "REJECT":
		case "":
			// Transit gateway flow logs have no traffic type: they log
			// attachments, not interfaces.
		default:
			return 0, fmt.Errorf("FlowLogs[%d] (%s): unknown TrafficType %q", i, j.FlowLogID, j.TrafficType)
		}
		created, err := parseTime(j.CreationTime)
		if err != nil {
			return 0, fmt.Errorf("FlowLogs[%d] (%s): CreationTime: %w", i, j.FlowLogID, err)
		}
		dest := j.LogDestination
		if dest == "" {
			dest = j.LogGroupName
		}
		dt := j.LogDestinationType
		if dt == "" && j.LogGroupName != "" {
			dt = "cloud-watch-logs"
		}
		out = append(out, inventory.FlowLog{ID: j.FlowLogID, ResourceID: j.ResourceID, TrafficType: tt, Created: created,
			LogFormat: j.LogFormat, DestinationType: dt, Destination: dest,
			DeliverLogsStatus: j.DeliverLogsStatus, Status: j.FlowLogStatus})
	}
	for _, f := range out {
		inv.AddFlowLog(f)
	}
	return len(out), nil
}
