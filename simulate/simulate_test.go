package simulate

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func flows(seed uint64, n int) []Flow {
	a := NewAccount(DefaultConfig())
	tr := a.Traffic(seed, t0)
	out := make([]Flow, n)
	for i := range out {
		out[i] = tr.Next()
	}
	return out
}

// TestReproducible: the same seed gives the same account and the same
// traffic; another seed other traffic.
func TestReproducible(t *testing.T) {
	var a, b bytes.Buffer
	if err := NewAccount(DefaultConfig()).WriteSecurityGroups(&a); err != nil {
		t.Fatal(err)
	}
	if err := NewAccount(DefaultConfig()).WriteSecurityGroups(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same seed, different security groups")
	}
	if !reflect.DeepEqual(flows(5, 2000), flows(5, 2000)) {
		t.Error("same seed, different traffic")
	}
	if reflect.DeepEqual(flows(5, 200), flows(6, 200)) {
		t.Error("different seeds, same traffic")
	}
}

// TestRecordsRoundTrip: every generated flow, written in the default and
// the rich format and wrapped in CloudWatch envelopes, parses back to its
// values; and the traffic references interfaces of the inventory (but for
// the one deliberately unknown), in both directions, with accepted and
// rejected records.
func TestRecordsRoundTrip(t *testing.T) {
	acct := NewAccount(DefaultConfig())
	inv, err := acct.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, id := range inv.ENIs() {
		known[id] = true
	}
	fs := flows(9, 5000)
	unknown := map[string]bool{}
	var ingress, egress, rejected, nodata int
	for _, f := range fs {
		if !known[f.ENI] {
			unknown[f.ENI] = true
		}
		switch {
		case f.NoData:
			nodata++
		case !f.Accept:
			rejected++
		case f.Ingress:
			ingress++
		default:
			egress++
		}
	}
	if len(unknown) != 1 || ingress == 0 || egress == 0 || rejected == 0 {
		t.Errorf("traffic mix: unknown interfaces %v, %d ingress, %d egress, %d rejected, %d nodata", unknown, ingress, egress, rejected, nodata)
	}
	for _, fm := range []*flowlog.Format{flowlog.DefaultFormat(), flowlog.MustParseFormat(RichFormat)} {
		env := NewEnvelopes(fm, "123456789012", 0)
		payloads, err := env.Encode(fs)
		if err != nil {
			t.Fatal(err)
		}
		byENI := map[string][]Flow{}
		for _, f := range fs {
			byENI[f.ENI+"-all"] = append(byENI[f.ENI+"-all"], f)
		}
		p := flowlog.NewParser(fm)
		dec := envelope.NewDecoder()
		total := 0
		for _, pl := range payloads {
			want := byENI[pl.LogStream]
			i := 0
			_, err := dec.Decode(pl.Data, func(line []byte, m *envelope.Meta) error {
				var r flowlog.Record
				if err := p.Parse(line, &r); err != nil {
					t.Fatalf("%s: %q: %v", fm, line, err)
				}
				f := want[i]
				i++
				if m.LogGroup != LogGroup || m.LogStream != pl.LogStream || m.EventID == "" {
					t.Fatalf("meta %+v", m)
				}
				if string(r.InterfaceID) != f.ENI {
					t.Fatalf("interface %s, want %s", r.InterfaceID, f.ENI)
				}
				if f.NoData {
					if r.LogStatus != flowlog.StatusNoData {
						t.Fatalf("%q: want NODATA", line)
					}
					return nil
				}
				if r.SrcAddr != f.Src || r.DstAddr != f.Dst || r.SrcPort != f.SrcPort || r.DstPort != f.DstPort ||
					r.Protocol != f.Protocol || r.Packets != f.Packets || r.Bytes != f.Bytes || r.Start != f.Start || r.End != f.End ||
					(r.Action == flowlog.ActionAccept) != f.Accept {
					t.Fatalf("%q parses to %+v, generated %+v", line, r, f)
				}
				if fm.Has(flowlog.FieldFlowDirection) && (r.FlowDirection == flowlog.DirectionIngress) != f.Ingress {
					t.Fatalf("%q: direction, generated ingress=%v", line, f.Ingress)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if i != pl.Records || i != len(want) {
				t.Fatalf("%s: %d lines, payload says %d, want %d", pl.LogStream, i, pl.Records, len(want))
			}
			total += i
		}
		if total != len(fs) {
			t.Errorf("%d records in the envelopes, want %d", total, len(fs))
		}
	}
}
