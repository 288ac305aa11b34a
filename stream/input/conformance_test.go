package input

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/internal/peers"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// rawRecord is one parsed record: AWS field name -> raw column text ("-" kept).
type rawRecord struct {
	cols map[string]string
	meta envelope.Meta
}

func readAll(t *testing.T, path string, opts Options) ([]rawRecord, Stats) {
	t.Helper()
	var out []rawRecord
	r := NewReader(opts, func(file string, line int, err error) { t.Logf("%s:%d: %v", file, line, err) })
	err := r.ReadFile(context.Background(), path, func(rec *flowlog.Record, m *envelope.Meta) error {
		f := rec.Format()
		rr := rawRecord{cols: map[string]string{}, meta: *m}
		for i := 0; i < f.Len(); i++ {
			rr.cols[f.Name(i)] = string(rec.Column(i))
		}
		if !json.Valid(rec.AppendJSON(nil)) {
			t.Errorf("invalid JSON for %v", rr.cols)
		}
		out = append(out, rr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, r.Stats()
}

// otelRecord is one log record of an OTel pdata YAML: attribute key -> value.
type otelRecord map[string]string

// readOTelYAML reads the attributes of the resource and of each log record of an
// OTel expected-output YAML. It understands only the shape these files use:
// "- key: K" followed by "value:" and "stringValue: V" / "intValue: "N"", record
// boundaries at "- attributes:" after "logRecords:", and "timeUnixNano".
func readOTelYAML(t *testing.T, path string) (resource otelRecord, records []otelRecord) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resource = otelRecord{}
	cur := resource
	inRecords := false
	key := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "- logRecords:" || l == "logRecords:":
			inRecords = true
		case l == "scope: {}" || strings.HasPrefix(l, "scope:"):
			inRecords = false
			cur = otelRecord{} // scope attributes: ignored
		case inRecords && l == "- attributes:":
			cur = otelRecord{}
			records = append(records, cur)
		case strings.HasPrefix(l, "- key: "):
			key = strings.TrimPrefix(l, "- key: ")
		case strings.HasPrefix(l, "stringValue: "), strings.HasPrefix(l, "intValue: "):
			v := l[strings.Index(l, ": ")+2:]
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			cur[key] = v
		case strings.HasPrefix(l, "timeUnixNano: "):
			v, _ := strconv.Unquote(strings.TrimPrefix(l, "timeUnixNano: "))
			cur["timeUnixNano"] = v
		}
	}
	return resource, records
}

// otelToAWS maps OTel attribute names to AWS field names (identity conversions).
var otelToAWS = map[string]string{
	"aws.vpc.flow.log.version":               "version",
	"network.interface.name":                 "interface-id",
	"source.address":                         "srcaddr",
	"destination.address":                    "dstaddr",
	"source.port":                            "srcport",
	"destination.port":                       "dstport",
	"aws.vpc.flow.packets":                   "packets",
	"aws.vpc.flow.bytes":                     "bytes",
	"aws.vpc.flow.start":                     "start",
	"aws.vpc.flow.action":                    "action",
	"aws.vpc.flow.status":                    "log-status",
	"network.tcp.flags":                      "tcp-flags",
	"cloud.region":                           "region",
	"aws.ecs.cluster.arn":                    "ecs-cluster-arn",
	"aws.ecs.cluster.name":                   "ecs-cluster-name",
	"aws.ecs.container.instance.arn":         "ecs-container-instance-arn",
	"aws.ecs.container.instance.id":          "ecs-container-instance-id",
	"aws.ecs.container.id":                   "ecs-container-id",
	"aws.ecs.second.container.id":            "ecs-second-container-id",
	"aws.ecs.service.name":                   "ecs-service-name",
	"aws.ecs.task.definition.arn":            "ecs-task-definition-arn",
	"aws.ecs.task.arn":                       "ecs-task-arn",
	"aws.ecs.task.id":                        "ecs-task-id",
	"aws.tgw.id":                             "tgw-id",
	"aws.tgw.attachment.id":                  "tgw-attachment-id",
	"aws.tgw.attachment.pair.id":             "tgw-pair-attachment-id",
	"aws.tgw.source.vpc.id":                  "tgw-src-vpc-id",
	"aws.tgw.destination.vpc.id":             "tgw-dst-vpc-id",
	"aws.tgw.source.vpc.subnet.id":           "tgw-src-subnet-id",
	"aws.tgw.destination.vpc.subnet.id":      "tgw-dst-subnet-id",
	"aws.tgw.source.eni.id":                  "tgw-src-eni",
	"aws.tgw.destination.eni.id":             "tgw-dst-eni",
	"aws.tgw.source.az.id":                   "tgw-src-az-id",
	"aws.tgw.destination.az.id":              "tgw-dst-az-id",
	"aws.vpc.flow.packets_lost_no_route":     "packets-lost-no-route",
	"aws.vpc.flow.packets_lost_blackhole":    "packets-lost-blackhole",
	"aws.vpc.flow.packets_lost_mtu_exceeded": "packets-lost-mtu-exceeded",
	"aws.vpc.flow.packets_lost_ttl_expired":  "packets-lost-ttl-expired",
}

// checkOTel compares one OTel record with one parsed record. OTel renders some
// fields through its own vocabulary; those conversions are undone here:
// protocol number -> network.protocol.name, type -> lower-case network.type,
// flow-direction -> network.io.direction (receive/transmit), end -> timeUnixNano.
func checkOTel(t *testing.T, name string, want otelRecord, got rawRecord) {
	t.Helper()
	for k, v := range want {
		var g string
		switch k {
		case "network.protocol.name":
			g = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}[got.cols["protocol"]]
		case "network.type":
			g = strings.ToLower(got.cols["type"])
		case "network.io.direction":
			g = map[string]string{"ingress": "receive", "egress": "transmit"}[got.cols["flow-direction"]]
		case "timeUnixNano":
			end, _ := strconv.ParseInt(got.cols["end"], 10, 64)
			g = strconv.FormatInt(end*1e9, 10)
		default:
			f, ok := otelToAWS[k]
			if !ok {
				t.Errorf("%s: unmapped OTel attribute %s", name, k)
				continue
			}
			g = got.cols[f]
		}
		if g != v {
			t.Errorf("%s: %s = %q, want %q", name, k, g, v)
		}
	}
}

func TestConformanceOTelVPCFlowLogFiles(t *testing.T) {
	dir := peers.Path(t, "otel-collector-contrib-awslogs", "vpc-flow-log")
	cases := []struct {
		log, yaml string
		n         int
	}{
		{"valid_vpc_flow_log_ecs.log", "valid_vpc_flow_log_ecs_expected.yaml", 1},
		{"valid_tgw_flow_log.log", "valid_tgw_flow_log_expected.yaml", 1},
		{"valid_vpc_flow_log.log", "", 1},
		{"valid_vpc_flow_log_multi.log", "", 2},
	}
	for _, c := range cases {
		recs, st := readAll(t, filepath.Join(dir, c.log), Options{})
		if len(recs) != c.n || st.Headers != 1 || st.Malformed != 0 || len(st.UnknownFields) != 0 {
			t.Fatalf("%s: %d records, stats %+v", c.log, len(recs), st)
		}
		if c.yaml == "" {
			continue
		}
		res, want := readOTelYAML(t, filepath.Join(dir, c.yaml))
		if len(want) != c.n {
			t.Fatalf("%s: yaml has %d records", c.yaml, len(want))
		}
		if res["cloud.account.id"] != recs[0].cols["account-id"] {
			t.Errorf("%s: account %q vs %q", c.log, res["cloud.account.id"], recs[0].cols["account-id"])
		}
		if res["cloud.region"] != "" && res["cloud.region"] != recs[0].cols["region"] {
			t.Errorf("%s: region %q", c.log, res["cloud.region"])
		}
		for i := range want {
			checkOTel(t, c.log, want[i], recs[i])
		}
	}
	nodata, _ := readAll(t, filepath.Join(dir, "valid_vpc_flow_log.log"), Options{})
	if nodata[0].cols["log-status"] != "NODATA" || nodata[0].cols["srcaddr"] != "-" {
		t.Errorf("nodata %+v", nodata[0])
	}
	// Negative cases: the record line is malformed (field count), the run goes on.
	for _, name := range []string{"vpc_flow_log_too_few_fields.log", "vpc_flow_log_too_many_fields.log"} {
		recs, st := readAll(t, filepath.Join(dir, name), Options{})
		if len(recs) != 0 || st.Malformed != 1 || st.MalformedByReason[flowlog.ReasonFieldCount] != 1 {
			t.Errorf("%s: %d records, stats %+v", name, len(recs), st)
		}
	}
}

func TestConformanceOTelCloudWatch(t *testing.T) {
	dir := peers.Path(t, "otel-collector-contrib-awslogs", "vpc-flow-log")
	custom := flowlog.MustParseFormat("version interface-id srcaddr dstaddr")
	cases := []struct {
		in, yaml string
		opts     Options
	}{
		{"valid_vpc_flow_cw.json", "valid_vpc_flow_cw_expected.yaml", Options{}},
		// OTel takes this custom format from its configuration, not from the data.
		{"valid_vpc_flow_cw_custom.json", "valid_vpc_flow_cw_custom_expected.yaml", Options{FormatByLogGroup: map[string]*flowlog.Format{"/aws/vpc/flowlogs": custom}}},
	}
	for _, c := range cases {
		recs, st := readAll(t, filepath.Join(dir, c.in), c.opts)
		res, want := readOTelYAML(t, filepath.Join(dir, c.yaml))
		if len(recs) != len(want) || len(recs) != 2 || st.Malformed != 0 {
			t.Fatalf("%s: %d records, want %d; %+v", c.in, len(recs), len(want), st)
		}
		for i := range want {
			if res["aws.log.group.names"] != recs[i].meta.LogGroup || res["aws.log.stream.names"] != recs[i].meta.LogStream {
				t.Errorf("%s: meta %+v vs %v", c.in, recs[i].meta, res)
			}
			if acct := res["cloud.account.id"]; acct != "" && acct != recs[i].meta.Owner {
				t.Errorf("%s: owner %q, want %q", c.in, recs[i].meta.Owner, acct)
			}
			checkOTel(t, c.in, want[i], recs[i])
		}
	}
}

// elasticToAWS maps Elastic's ECS and aws.vpcflow.* names to AWS field names.
// orchestrator.resource.id/name carry the container-instance id/ARN (in that
// crossed order, as Elastic's pipeline writes them).
var elasticToAWS = map[string]string{
	"source.address": "srcaddr", "destination.address": "dstaddr",
	"source.port": "srcport", "destination.port": "dstport",
	"network.iana_number": "protocol", "network.packets": "packets", "network.bytes": "bytes",
	"source.packets": "packets", "source.bytes": "bytes",
	"cloud.account.id": "account-id", "cloud.region": "region", "cloud.availability_zone": "az-id",
	"cloud.instance.id":           "instance-id",
	"orchestrator.cluster.id":     "ecs-cluster-arn",
	"orchestrator.cluster.name":   "ecs-cluster-name",
	"orchestrator.resource.id":    "ecs-container-instance-id",
	"orchestrator.resource.name":  "ecs-container-instance-arn",
	"service.name":                "ecs-service-name",
	"event.reason":                "reject-reason",
	"aws.vpcflow.pkt_src_service": "pkt-src-aws-service",
	"aws.vpcflow.pkt_dst_service": "pkt-dst-aws-service",
}

// elasticSkip lists Elastic enrichments that are not flow-log fields: ECS
// bookkeeping, geo/AS lookups, community id, computed transport/type/outcome,
// related.ip, tags, and the derived tcp_flags_array/sublocation objects.
func elasticSkip(k string) bool {
	for _, p := range []string{"source.geo", "destination.geo", "source.as", "destination.as", "source.ip", "destination.ip",
		"ecs.", "tags", "related.", "network.community_id", "network.transport", "network.type", "event.category",
		"event.kind", "event.type", "event.outcome", "event.original", "event.action", "cloud.provider",
		"aws.vpcflow.tcp_flags_array", "aws.vpcflow.sublocation", "@timestamp"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		for k, vv := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, vv, out)
		}
		return
	}
	out[prefix] = v
}

// TestConformanceElastic reads Elastic's pipeline inputs and compares every
// flow-log field of the expected ECS documents. Elastic picks the format by
// field count; the formats below are the ones its pipeline uses for those counts.
func TestConformanceElastic(t *testing.T) {
	dir := peers.Path(t, "elastic-integrations-aws-vpcflow", "pipeline")
	v5 := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"
	ecs := " ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id"
	tgw := "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service"
	cases := map[string]string{
		"test-extra-samples.log":      "",
		"test-with-message-field.log": "",
		"test-tcp-flag-sequence.log":  "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status",
		"test-v5-all-fields.log":      v5,
		"test-ecs-samples.log":        v5 + ecs,
		"test-v8-samples.log":         v5 + ecs + " reject-reason",
		"test-tgw-samples.log":        tgw,
	}
	for file, format := range cases {
		var opts Options
		if format != "" {
			opts.Format = flowlog.MustParseFormat(format)
		}
		recs, st := readAll(t, filepath.Join(dir, file), opts)
		raw, err := os.ReadFile(filepath.Join(dir, file+"-expected.json"))
		if err != nil {
			t.Fatal(err)
		}
		var exp struct{ Expected []map[string]any }
		if err := json.Unmarshal(raw, &exp); err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(exp.Expected) || st.Malformed != 0 {
			t.Fatalf("%s: %d records, want %d (%+v)", file, len(recs), len(exp.Expected), st)
		}
		for i, doc := range exp.Expected {
			flat := map[string]any{}
			flatten("", doc, flat)
			got := recs[i]
			covered := map[string]bool{}
			for k, v := range flat {
				if elasticSkip(k) {
					continue
				}
				want := fmt.Sprint(v)
				var g string
				switch {
				case k == "event.start" || k == "event.end":
					f := map[string]string{"event.start": "start", "event.end": "end"}[k]
					sec, _ := strconv.ParseInt(got.cols[f], 10, 64)
					g = time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05.000Z")
					covered[f] = true
				case k == "network.direction":
					// Elastic copies flow-direction here when the format has it.
					g = got.cols["flow-direction"]
					covered["flow-direction"] = true
				case strings.HasPrefix(k, "aws.vpcflow.") && elasticToAWS[k] == "":
					f, ok := flowlog.FieldByName(strings.TrimPrefix(k, "aws.vpcflow."))
					if !ok {
						t.Errorf("%s: unmapped %s", file, k)
						continue
					}
					g = got.cols[f.Name()]
					covered[f.Name()] = true
				default:
					f, ok := elasticToAWS[k]
					if !ok {
						t.Errorf("%s: unmapped %s", file, k)
						continue
					}
					g = got.cols[f]
					covered[f] = true
				}
				if g != want {
					t.Errorf("%s #%d: %s = %q, want %q", file, i+1, k, g, want)
				}
			}
			// Every non-"-" column must have been checked against Elastic, except
			// those Elastic's pipeline drops (documented per field).
			dropped := map[string]bool{
				"sublocation-type": true, "sublocation-id": true, // folded into an object Elastic leaves empty
				"resource-type": true, "tgw-src-vpc-account-id": true, "tgw-dst-vpc-account-id": true,
				"tgw-src-subnet-id": true, "tgw-dst-subnet-id": true, "tgw-src-az-id": true, "tgw-dst-az-id": true,
				"tgw-pair-attachment-id": true, "type": true, "tcp-flags": true, "pkt-src-aws-service": true, "pkt-dst-aws-service": true,
				"packets-lost-no-route": true, "packets-lost-blackhole": true, "packets-lost-mtu-exceeded": true, "packets-lost-ttl-expired": true,
				"action": true, // TGW records carry no action; elsewhere checked through aws.vpcflow.action
			}
			for f, v := range got.cols {
				if v != "-" && !covered[f] && !dropped[f] {
					t.Errorf("%s #%d: field %s=%q not in Elastic's output", file, i+1, f, v)
				}
			}
		}
	}
}
