// The OTel half of the peer anchor: the OpenTelemetry Collector's
// awslogsencodingextension (v0.148.0, pinned in go.mod and go.sum) on the
// same bytes as the cinch benchmarks.

package otelpeer

import (
	"context"
	"testing"

	awslogs "github.com/open-telemetry/opentelemetry-collector-contrib/extension/encoding/awslogsencodingextension"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/cinch-sg/cinch/stream/flowlog"
)

// newOTelVPCUnmarshaler builds the extension the public way, through its
// factory, configured for VPC flow logs in S3 plain text (first line is the
// header that names the fields).
func newOTelVPCUnmarshaler(tb testing.TB) plog.Unmarshaler {
	tb.Helper()
	ctx := context.Background()
	f := awslogs.NewFactory()
	cfg := f.CreateDefaultConfig().(*awslogs.Config)
	cfg.Format = "vpcflow"
	cfg.VPCFlowLogConfig.FileFormat = "plain-text"
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("config: %v", err)
	}
	ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		tb.Fatalf("create extension: %v", err)
	}
	if err := ext.Start(ctx, componenttest.NewNopHost()); err != nil {
		tb.Fatalf("start extension: %v", err)
	}
	tb.Cleanup(func() { _ = ext.Shutdown(ctx) })
	u, ok := ext.(plog.Unmarshaler)
	if !ok {
		tb.Fatalf("extension %T does not implement plog.Unmarshaler", ext)
	}
	return u
}

// BenchmarkOTelUnmarshal unmarshals the same S3 object as BenchmarkCinchParse
// (header + batchLines records) per iteration.
func BenchmarkOTelUnmarshal(b *testing.B) {
	buf := s3Object(batchLines)
	u := newOTelVPCUnmarshaler(b)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		logs, err := u.UnmarshalLogs(buf)
		if err != nil {
			b.Fatal(err)
		}
		if n := logs.LogRecordCount(); n != batchLines {
			b.Fatalf("unmarshalled %d records, want %d", n, batchLines)
		}
	}
	b.ReportMetric(float64(b.N)*batchLines/b.Elapsed().Seconds(), "records/s")
}

// otelRecords flattens every log record in order.
func otelRecords(logs plog.Logs) []plog.LogRecord {
	var out []plog.LogRecord
	for i := 0; i < logs.ResourceLogs().Len(); i++ {
		sl := logs.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sl.Len(); j++ {
			lr := sl.At(j).LogRecords()
			for k := 0; k < lr.Len(); k++ {
				out = append(out, lr.At(k))
			}
		}
	}
	return out
}

// TestPeersAgree: both parse the same number of records, and for the first
// records agree on srcaddr, dstport and bytes (OTel attribute names:
// source.address, destination.port, aws.vpc.flow.bytes; absent for "-").
func TestPeersAgree(t *testing.T) {
	const n, check = 1000, 100
	buf := s3Object(n)

	logs, err := newOTelVPCUnmarshaler(t).UnmarshalLogs(buf)
	if err != nil {
		t.Fatal(err)
	}
	recs := otelRecords(logs)

	var r flowlog.Record
	i := 0
	got, err := cinchParseObject(buf, &r, func(r *flowlog.Record) {
		if i >= check || i >= len(recs) {
			i++
			return
		}
		attrs := recs[i].Attributes()
		src, srcOK := attrs.Get("source.address")
		if srcOK != r.Has(flowlog.FieldSrcAddr) || (srcOK && src.Str() != r.SrcAddr.String()) {
			t.Errorf("record %d srcaddr: otel=%v(%v) cinch=%v(%v)", i, src.AsString(), srcOK, r.SrcAddr, r.Has(flowlog.FieldSrcAddr))
		}
		port, portOK := attrs.Get("destination.port")
		if portOK != r.Has(flowlog.FieldDstPort) || (portOK && port.Int() != int64(r.DstPort)) {
			t.Errorf("record %d dstport: otel=%v(%v) cinch=%d(%v)", i, port.AsString(), portOK, r.DstPort, r.Has(flowlog.FieldDstPort))
		}
		nb, bytesOK := attrs.Get("aws.vpc.flow.bytes")
		if bytesOK != r.Has(flowlog.FieldBytes) || (bytesOK && nb.Int() != int64(r.Bytes)) {
			t.Errorf("record %d bytes: otel=%v(%v) cinch=%d(%v)", i, nb.AsString(), bytesOK, r.Bytes, r.Has(flowlog.FieldBytes))
		}
		i++
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != n || len(recs) != n {
		t.Fatalf("record counts: cinch=%d otel=%d want %d", got, len(recs), n)
	}
}
