package envelope

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchPayload builds a CloudWatch Logs subscription message of n VPC flow-log
// events of about 150 bytes each, as a subscription filter delivers it.
func benchPayload(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	type ev struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	msg := struct {
		MessageType         string   `json:"messageType"`
		Owner               string   `json:"owner"`
		LogGroup            string   `json:"logGroup"`
		LogStream           string   `json:"logStream"`
		SubscriptionFilters []string `json:"subscriptionFilters"`
		LogEvents           []ev     `json:"logEvents"`
	}{"DATA_MESSAGE", "123456789012", "/vpc/flow-logs/prod", "eni-0a1b2c3d4e5f67890-all", []string{"cinch"}, nil}
	for i := range n {
		start := int64(1700000000 + i)
		line := fmt.Sprintf("2 123456789012 eni-0a1b2c3d4e5f67890 10.0.%d.%d 172.31.%d.%d %d %d 6 %d %d %d %d ACCEPT OK vpc-0123456789abcdef0 subnet-0123456789abcdef0 i-0123456789abcdef0",
			r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), 1024+r.IntN(60000), r.IntN(1024), 1+r.IntN(100), 40+r.IntN(100000), start, start+60)
		msg.LogEvents = append(msg.LogEvents, ev{fmt.Sprintf("3%055d", 1e12+i), start * 1000, line})
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err)
	}
	return b
}

func benchDecode(b *testing.B, payload []byte, events int) {
	d := NewDecoder()
	var lines int
	fn := func(line []byte, m *Meta) error { lines++; return nil }
	if _, err := d.Decode(payload, fn); err != nil || lines != events {
		b.Fatalf("%d lines, %v", lines, err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Decode(payload, fn); err != nil {
			b.Fatal(err)
		}
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(events)
	b.ReportMetric(ns, "ns/event")
	b.ReportMetric(1e9/ns, "events/s")
}

// BenchmarkDecodeCloudWatch decodes a gzip CloudWatch payload of 200 events,
// the common Kafka record of a subscription-filter forwarder.
func BenchmarkDecodeCloudWatch(b *testing.B) {
	benchDecode(b, gz(benchPayload(200)), 200)
}

// BenchmarkDecodeCloudWatchJSON is BenchmarkDecodeCloudWatch without gzip:
// the JSON part alone.
func BenchmarkDecodeCloudWatchJSON(b *testing.B) {
	for _, n := range []int{50, 200, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchDecode(b, benchPayload(n), n) })
	}
}
