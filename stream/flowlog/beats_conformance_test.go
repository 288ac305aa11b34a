package flowlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/internal/peers"
)

// beatsECSFields maps the ECS keys that Elastic Beats' parse_aws_vpc_flow_log
// processor fills from a flow-log column to that column's AWS field.
var beatsECSFields = map[string]Field{
	"cloud.account.id":           FieldAccountID,
	"cloud.instance.id":          FieldInstanceID,
	"cloud.region":               FieldRegion,
	"cloud.availability_zone":    FieldAZID,
	"source.address":             FieldSrcAddr,
	"source.ip":                  FieldSrcAddr,
	"source.port":                FieldSrcPort,
	"source.packets":             FieldPackets,
	"source.bytes":               FieldBytes,
	"destination.address":        FieldDstAddr,
	"destination.ip":             FieldDstAddr,
	"destination.port":           FieldDstPort,
	"network.packets":            FieldPackets,
	"network.bytes":              FieldBytes,
	"network.iana_number":        FieldProtocol,
	"network.direction":          FieldFlowDirection,
	"event.start":                FieldStart,
	"event.end":                  FieldEnd,
	"event.action":               FieldAction,
	"container.id":               FieldECSContainerID,
	"orchestrator.cluster.id":    FieldECSClusterARN,
	"orchestrator.cluster.name":  FieldECSClusterName,
	"orchestrator.resource.id":   FieldECSContainerInstanceID,
	"orchestrator.resource.name": FieldECSContainerInstanceARN,
	"service.name":               FieldECSServiceName,
}

// beatsEnrichments are keys Elastic derives rather than reads from one column;
// they are not compared.
var beatsEnrichments = map[string]bool{
	"@timestamp":                  true, // copy of end (or ingest time)
	"message":                     true, // the input line itself
	"event.outcome":               true, // from action
	"event.type":                  true, // from action
	"event.kind":                  true,
	"network.transport":           true, // protocol name from the IANA number
	"network.type":                true, // ipv4/ipv6 from the address
	"related.ip":                  true, // every address of the record
	"orchestrator.type":           true, // constant "ecs"
	"orchestrator.resource.type":  true, // constant "container"
	"aws.vpcflow.tcp_flags_array": true, // flag names decoded from tcp-flags
}

// beatsFormats reads the format of every case of Beats' processor test YAML,
// following "<<: *anchor" merges.
func beatsFormats(t *testing.T, path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	formats := map[string]string{}
	anchors := map[string]string{} // anchor -> case name
	merges := map[string]string{}  // case name -> anchor
	name := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l != "" && l[0] != ' ' && l[0] != '#' && strings.Contains(l, ":"):
			key, rest, _ := strings.Cut(l, ":")
			name = key
			if a, ok := strings.CutPrefix(strings.TrimSpace(rest), "&"); ok {
				anchors[a] = name
			}
		case strings.HasPrefix(strings.TrimSpace(l), "format:"):
			formats[name] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "format:"))
		case strings.HasPrefix(strings.TrimSpace(l), "<<: *"):
			merges[name] = strings.TrimPrefix(strings.TrimSpace(l), "<<: *")
		}
	}
	for n, a := range merges {
		if _, ok := formats[n]; !ok {
			formats[n] = formats[anchors[a]]
		}
	}
	return formats
}

// flatten turns nested objects into dotted keys.
func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			flatten(k, x, out)
		}
		return
	}
	out[prefix] = v
}

// TestConformanceBeatsGolden parses the message of every golden event of Elastic
// Beats' processor tests with the case's format and compares every value the
// event holds that comes from one flow-log column: aws.vpcflow.* keys (AWS names
// with underscores) and the ECS keys of beatsECSFields.
func TestConformanceBeatsGolden(t *testing.T) {
	dir := peers.Path(t, "elastic-beats-aws-vpcflow", "processor-testdata")
	formats := beatsFormats(t, filepath.Join(dir, "aws-vpc-flow-logs.yml"))
	goldens, err := filepath.Glob(filepath.Join(dir, "*.golden.json"))
	if err != nil || len(goldens) < 8 {
		t.Fatalf("golden files: %v %v", goldens, err)
	}
	var r Record
	compared := 0
	for _, g := range goldens {
		name := strings.TrimSuffix(filepath.Base(g), ".golden.json")
		fs, ok := formats[name]
		if !ok {
			t.Errorf("%s: no format in the YAML", name)
			continue
		}
		p := NewParser(MustParseFormat(fs))
		raw, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		var events []map[string]any
		if err := json.Unmarshal(raw, &events); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for n, ev := range events {
			msg, _ := ev["message"].(string)
			if err := p.Parse([]byte(msg), &r); err != nil {
				t.Errorf("%s[%d]: %v", name, n, err)
				continue
			}
			flat := map[string]any{}
			flatten("", ev, flat)
			for key, want := range flat {
				if beatsEnrichments[key] {
					continue
				}
				fl, ecs := beatsECSFields[key]
				if !ecs {
					aws, _ := strings.CutPrefix(key, "aws.vpcflow.")
					if fl, ok = FieldByName(aws); !ok {
						t.Errorf("%s[%d]: unmapped golden key %s", name, n, key)
						continue
					}
				}
				if got := beatsValue(&r, fl, ecs, key); !reflect.DeepEqual(got, want) {
					t.Errorf("%s[%d]: %s (%s) = %#v, want %#v", name, n, key, fl, got, want)
				}
				compared++
			}
		}
	}
	t.Logf("%d golden files, %d values compared", len(goldens), compared)
	if compared < 300 {
		t.Errorf("only %d values compared", compared)
	}
}

// beatsValue renders field fl of r the way the golden events hold it (nil when
// the record lacks it): numbers as float64, start/end as RFC 3339, the ECS
// event.action in lower case and network.iana_number as a string.
func beatsValue(r *Record, fl Field, ecs bool, key string) any {
	v, ok := r.Value(fl)
	if !ok {
		return nil
	}
	switch {
	case fl == FieldStart || fl == FieldEnd:
		n, _ := strconv.ParseInt(string(v), 10, 64)
		if typed := map[Field]int64{FieldStart: r.Start, FieldEnd: r.End}[fl]; typed != n {
			return fmt.Sprintf("typed %d != %d", typed, n)
		}
		return time.Unix(n, 0).UTC().Format(time.RFC3339)
	case key == "event.action":
		return strings.ToLower(r.Action.String())
	case key == "network.iana_number":
		return strconv.Itoa(int(r.Protocol))
	case ecs && fl.Kind() == KindAddr:
		return typedString(r, fl)
	case fl.Kind() == KindInt:
		if s := typedString(r, fl); s != "" && s != string(v) {
			return "typed " + s
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return err.Error()
		}
		return float64(n)
	}
	if s := typedString(r, fl); s != "" {
		return s
	}
	return string(v)
}
