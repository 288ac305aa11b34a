package awsjson

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/inventory"
)

func peersDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("CINCH_PEERS_DIR")
	if d == "" {
		t.Fatal("CINCH_PEERS_DIR is not set: point it at the peers' public test data (scripts/test.sh sets it)")
	}
	return d
}

func TestLoadFlowLogsAWSCLIExample(t *testing.T) {
	inv := inventory.New()
	n, err := LoadFlowLogsFile(inv, filepath.Join(peersDir(t), "aws-cli-examples", "describe-flow-logs.example1.json"))
	if err != nil || n != 2 {
		t.Fatalf("loaded %d, %v", n, err)
	}
	fls := inv.FlowLogs()
	sub, vpc := fls[0], fls[1]
	if sub.ResourceID != "subnet-12345678901234567" || sub.TrafficType != "ALL" || sub.DestinationType != "cloud-watch-logs" ||
		sub.Destination != "FlowLogGroup" || !sub.Created.Equal(time.Date(2018, 2, 21, 13, 22, 12, 644e6, time.UTC)) ||
		!strings.HasPrefix(sub.LogFormat, "${version} ${account-id}") || sub.Status != "ACTIVE" || sub.DeliverLogsStatus != "SUCCESS" {
		t.Fatalf("subnet flow log %+v", sub)
	}
	if vpc.ResourceID != "vpc-00112233445566778" || vpc.TrafficType != "ACCEPT" || vpc.DestinationType != "s3" ||
		vpc.Destination != "arn:aws:s3:::my-flow-log-bucket/custom" {
		t.Fatalf("vpc flow log %+v", vpc)
	}
	// An interface of the subnet is logged from the subnet flow log's
	// creation; one of the VPC from the VPC's; one of neither is not.
	e := &inventory.ENI{ID: "eni-1", SubnetID: "subnet-12345678901234567", VPCID: "vpc-00112233445566778"}
	if since, ok := inv.LoggedSince(e); !ok || !since.Equal(sub.Created) {
		t.Fatalf("LoggedSince = %v %v, want the subnet's creation", since, ok)
	}
	e.SubnetID = "subnet-other"
	if since, ok := inv.LoggedSince(e); !ok || !since.Equal(vpc.Created) {
		t.Fatalf("LoggedSince = %v %v, want the VPC's creation", since, ok)
	}
	if _, ok := inv.LoggedSince(&inventory.ENI{ID: "eni-2", SubnetID: "subnet-x", VPCID: "vpc-x"}); ok {
		t.Fatal("an interface under no flow log is logged")
	}
}

func TestLoadFlowLogsRecordedResponses(t *testing.T) {
	// cloud-custodian's recorded DescribeFlowLogs responses: the placebo
	// wrapper and datetime objects.
	files, err := filepath.Glob(filepath.Join(peersDir(t), "cloud-custodian", "placebo", "*", "ec2.DescribeFlowLogs_*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded DescribeFlowLogs responses: %v", err)
	}
	total := 0
	for _, f := range files {
		inv := inventory.New()
		n, err := LoadFlowLogsFile(inv, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		total += n
		for _, fl := range inv.FlowLogs() {
			if fl.Created.IsZero() || fl.Created.Year() < 2010 {
				t.Fatalf("%s: creation time %v", f, fl.Created)
			}
		}
	}
	if total == 0 {
		t.Fatal("no flow log in the recorded responses")
	}
	// The misconfigured case: REJECT-only and non-ACTIVE flow logs observe
	// nothing of accepted traffic; the ACTIVE ALL one does.
	inv := inventory.New()
	if _, err := LoadFlowLogsFile(inv, filepath.Join(peersDir(t), "cloud-custodian", "placebo", "test_vpc_flow_logs_misconfigured", "ec2.DescribeFlowLogs_1.json")); err != nil {
		t.Fatal(err)
	}
	var observing int
	for _, fl := range inv.FlowLogs() {
		if fl.ObservesAccepted() {
			observing++
			if fl.TrafficType != "ALL" || fl.Status != "ACTIVE" {
				t.Fatalf("observing flow log %+v", fl)
			}
		}
	}
	if observing == 0 || observing == len(inv.FlowLogs()) {
		t.Fatalf("%d of %d flow logs observe accepted traffic", observing, len(inv.FlowLogs()))
	}
}

func TestLoadFlowLogsShapesAndErrors(t *testing.T) {
	good := `{"FlowLogs":[{"FlowLogId":"fl-1","ResourceId":"eni-1","TrafficType":"REJECT","CreationTime":"2026-11-01T00:00:00Z"},
	{"FlowLogId":"fl-2","ResourceId":"eni-1","TrafficType":"ACCEPT","CreationTime":"2026-11-05T00:00:00Z","DeliverLogsStatus":"FAILED"},
	{"FlowLogId":"fl-3","ResourceId":"eni-1","TrafficType":"ALL","CreationTime":"2026-11-09T00:00:00Z"}]}`
	for _, in := range []string{good, good[len(`{"FlowLogs":`) : len(good)-1]} {
		inv := inventory.New()
		if n, err := LoadFlowLogs(inv, strings.NewReader(in)); err != nil || n != 3 {
			t.Fatalf("loaded %d: %v", n, err)
		}
		// REJECT-only and failed delivery do not count: logged from fl-3.
		since, ok := inv.LoggedSince(&inventory.ENI{ID: "eni-1"})
		if !ok || !since.Equal(time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("LoggedSince = %v %v", since, ok)
		}
	}
	for in, want := range map[string]string{
		`{"SecurityGroups":[]}`:                                                                                   "expected describe-flow-logs output",
		`{"FlowLogs":[{"FlowLogId":"fl-1","TrafficType":"ALL"}]}`:                                                 "no ResourceId",
		`{"FlowLogs":[{"FlowLogId":"fl-1","ResourceId":"vpc-1","TrafficType":"SOME"}]}`:                           "unknown TrafficType",
		`{"FlowLogs":[{"FlowLogId":"fl-1","ResourceId":"vpc-1","TrafficType":"ALL","CreationTime":"yesterday"}]}`: "CreationTime",
		`not json`: "not JSON",
	} {
		inv := inventory.New()
		_, err := LoadFlowLogs(inv, strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %v, want %q", in, err, want)
		}
		if inv.HasFlowLogs() {
			t.Fatalf("%s: a failed load added flow logs", in)
		}
	}
}

// FuzzLoadFlowLogs: arbitrary input never panics; a failed load adds
// nothing, and a successful one only flow logs with a resource.
func FuzzLoadFlowLogs(f *testing.F) {
	for _, p := range [][]string{
		{"aws-cli-examples", "describe-flow-logs.example1.json"},
		{"cloud-custodian", "placebo", "test_vpc_flow_logs_misconfigured", "ec2.DescribeFlowLogs_1.json"},
	} {
		data, err := os.ReadFile(filepath.Join(peersDir(f), filepath.Join(p...)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`[{"ResourceId":"eni-1","TrafficType":"ALL","CreationTime":1700000000}]`))
	f.Add([]byte(`{"FlowLogs":[{"ResourceId":"vpc-1","CreationTime":{"__class__":"datetime","year":2020,"month":1,"day":1}}]}`))
	f.Add([]byte{0x1f, 0x8b, 0x08})
	f.Fuzz(func(t *testing.T, data []byte) {
		inv := inventory.New()
		n, err := LoadFlowLogs(inv, bytes.NewReader(data))
		if err != nil {
			if inv.HasFlowLogs() || n != 0 {
				t.Fatalf("failed load added %d flow logs", n)
			}
			return
		}
		fls := inv.FlowLogs()
		if len(fls) != n {
			t.Fatalf("loaded %d, holds %d", n, len(fls))
		}
		for _, fl := range fls {
			if fl.ResourceID == "" {
				t.Fatalf("flow log without a resource: %+v", fl)
			}
			e := &inventory.ENI{ID: fl.ResourceID}
			if since, ok := inv.LoggedSince(e); ok && since.IsZero() {
				t.Fatalf("logged since the zero time: %+v", fl)
			}
			_ = inv.RejectOnly(e)
		}
	})
}
