// Package loadtest is `cinch bench`: it measures the daemon end to end
// through a Kafka broker — records per second from a pre-filled topic to
// attributed sketches, sketch memory per rule, and the time from producing a
// record that changes a verdict to the change arriving on the websocket.
package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cinch-sg/cinch/daemon"
	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// Options size a run.
type Options struct {
	Brokers    []string
	Records    int
	Partitions int32
	Apps       int
	// Samples is the number of verdict-change latencies to measure.
	Samples int
	Logger  *slog.Logger
	// Profile, when set, receives a CPU profile of the consuming phase only
	// (daemon start to the last record), without the topic fill.
	Profile io.Writer
}

// Result holds the measurements.
type Result struct {
	Records          int             `json:"records"`
	Payloads         int             `json:"payloads"`
	Partitions       int32           `json:"partitions"`
	ProduceSeconds   float64         `json:"produce_seconds"`
	StartupSeconds   float64         `json:"startup_seconds"`
	ConsumeSeconds   float64         `json:"consume_seconds"`
	RecordsPerSecond float64         `json:"records_per_second"`
	Rules            int             `json:"rules"`
	RulesWithState   int             `json:"rules_with_state"`
	SketchBytes      int             `json:"sketch_bytes"`
	SketchBytesRule  float64         `json:"sketch_bytes_per_rule"`
	HeapBytes        uint64          `json:"heap_bytes"`
	Latencies        []time.Duration `json:"latencies_ns"`
	LatencyP50       time.Duration   `json:"latency_p50_ns"`
	LatencyMax       time.Duration   `json:"latency_max_ns"`
}

// String renders the result for people.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "records:            %d in %d payloads over %d partitions (produced in %.1fs)\n", r.Records, r.Payloads, r.Partitions, r.ProduceSeconds)
	fmt.Fprintf(&b, "end to end:         %.0f records/s (%.2fs from the first to the last record attributed; %.2fs from daemon start to the first)\n",
		r.RecordsPerSecond, r.ConsumeSeconds, r.StartupSeconds)
	fmt.Fprintf(&b, "rules:              %d, %d with state; sketches %d bytes, %.0f bytes per rule; heap %.1f MiB\n",
		r.Rules, r.RulesWithState, r.SketchBytes, r.SketchBytesRule, float64(r.HeapBytes)/(1<<20))
	fmt.Fprintf(&b, "verdict change → websocket: p50 %v, max %v over %d samples\n", r.LatencyP50.Round(time.Millisecond), r.LatencyMax.Round(time.Millisecond), len(r.Latencies))
	return b.String()
}

// Run performs the measurement.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	res := Result{Partitions: o.Partitions}
	dir, err := os.MkdirTemp("", "cinch-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	acct := simulate.NewAccount(simulate.Config{Seed: 7, Apps: o.Apps, ENIsPerTier: 2, InternetClients: 2000, AccountID: "123456789012"})
	// Every subnet has had its flow log for a month (coverage: all observed).
	flowLogs := func(w io.Writer) error { return acct.WriteFlowLogs(w, time.Now().AddDate(0, -1, 0)) }
	for name, w := range map[string]func(io.Writer) error{"sg.json": acct.WriteSecurityGroups, "eni.json": acct.WriteNetworkInterfaces, "flow-logs.json": flowLogs} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return res, err
		}
		err = w(f)
		f.Close()
		if err != nil {
			return res, err
		}
	}
	topic := fmt.Sprintf("cinch-bench-%d", time.Now().UnixNano())
	kc := kafka.Config{Brokers: o.Brokers}
	if err := kafka.EnsureTopics(ctx, kc, o.Partitions, topic); err != nil {
		return res, err
	}

	// Fill the topic first, so the daemon is measured alone.
	fm := flowlog.MustParseFormat(simulate.RichFormat)
	prod, err := kafka.NewProducer(kc, o.Logger)
	if err != nil {
		return res, err
	}
	defer prod.Close()
	start := time.Now().Add(-2 * time.Hour)
	tr := acct.Traffic(7, start)
	enc := simulate.NewEnvelopes(fm, "123456789012", 1)
	t0 := time.Now()
	flows := make([]simulate.Flow, 0, 20000)
	for res.Records < o.Records {
		flows = flows[:0]
		for range min(20000, o.Records-res.Records) {
			flows = append(flows, tr.Next())
		}
		ps, err := enc.Encode(flows)
		if err != nil {
			return res, err
		}
		for _, p := range ps {
			prod.ProduceAsync(ctx, topic, []byte(p.LogStream), p.Data)
		}
		res.Payloads += len(ps)
		res.Records += len(flows)
	}
	if err := prod.Flush(ctx); err != nil {
		return res, err
	}
	res.ProduceSeconds = time.Since(t0).Seconds()

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Kafka = &config.Kafka{Brokers: o.Brokers, Topics: []string{topic}, Group: topic, ClientID: "cinch-bench"}
	cfg.Inventory.SecurityGroups = []string{filepath.Join(dir, "sg.json")}
	cfg.Inventory.NetworkInterfaces = []string{filepath.Join(dir, "eni.json")}
	cfg.Inventory.FlowLogs = []string{filepath.Join(dir, "flow-logs.json")}
	cfg.Formats.LogGroups = map[string]string{simulate.LogGroup: simulate.RichFormat}
	d, err := daemon.New(daemon.Options{Config: cfg, Logger: o.Logger, OpenReads: true})
	if err != nil {
		return res, err
	}
	stopProfile := func() {}
	if o.Profile != nil {
		if err := pprof.StartCPUProfile(o.Profile); err != nil {
			return res, err
		}
		stopProfile = sync.OnceFunc(pprof.StopCPUProfile)
		defer stopProfile()
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	t1 := time.Now()
	go func() { done <- d.Run(dctx) }()
	defer func() {
		stop()
		<-done
	}()
	var first time.Time
	var firstN float64
	for {
		n := d.RecordsParsed()
		if n > 0 && first.IsZero() {
			first, firstN = time.Now(), n
		}
		if n >= float64(res.Records) {
			break
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		time.Sleep(2 * time.Millisecond)
	}
	stopProfile()
	res.StartupSeconds = first.Sub(t1).Seconds()
	res.ConsumeSeconds = time.Since(first).Seconds()
	res.RecordsPerSecond = (float64(res.Records) - firstN) / res.ConsumeSeconds
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapBytes = ms.HeapAlloc
	res.Rules = len(acct.Groups) * 4
	res.RulesWithState, res.SketchBytes = d.SketchMemory()
	if res.RulesWithState > 0 {
		res.SketchBytesRule = float64(res.SketchBytes) / float64(res.RulesWithState)
	}

	lat, err := latencies(ctx, d, acct, prod, topic, enc, o.Samples)
	if err != nil {
		return res, err
	}
	res.Latencies = lat
	if len(lat) > 0 {
		sorted := append([]time.Duration(nil), lat...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		res.LatencyP50, res.LatencyMax = sorted[len(sorted)/2], sorted[len(sorted)-1]
	}
	return res, nil
}

// latencies produces, one at a time, a flow to a web tier's unused port-80
// rule and times its verdict change (remove → narrow) on the websocket.
func latencies(ctx context.Context, d *daemon.Daemon, acct *simulate.Account, prod *kafka.Producer, topic string, enc *simulate.Envelopes, samples int) ([]time.Duration, error) {
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+d.Addr().String()+"/api/v1/events", nil)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	defer conn.Close()
	events := make(chan api.Event, 1024)
	go func() {
		defer close(events)
		for {
			var ev api.Event
			if err := conn.ReadJSON(&ev); err != nil {
				return
			}
			events <- ev
		}
	}()
	var out []time.Duration
	for _, g := range acct.Groups {
		if len(out) >= samples {
			break
		}
		if !strings.HasPrefix(g.GroupName, "web-") {
			continue
		}
		var eni simulate.NetworkInterface
		for _, e := range acct.ENIs {
			if len(e.Groups) > 0 && e.Groups[0].GroupID == g.GroupID {
				eni = e
				break
			}
		}
		rule := inventory.Rule{GroupID: g.GroupID, Protocol: 6, FromPort: 80, ToPort: 80,
			Source: inventory.CIDRSource(netip.MustParsePrefix("0.0.0.0/0"))}
		key := rule.Key()
		now := time.Now().Unix()
		f := simulate.Flow{AccountID: "123456789012", ENI: eni.NetworkInterfaceID, VPC: eni.VpcID,
			Src: netip.AddrFrom4([4]byte{198, 51, 100, byte(len(out) + 1)}), Dst: netip.MustParseAddr(eni.PrivateIPAddress),
			SrcPort: 50000, DstPort: 80, Protocol: 6, Packets: 3, Bytes: 180, Start: now, End: now, Accept: true, TCPFlags: 2, Ingress: true}
		ps, err := enc.Encode([]simulate.Flow{f})
		if err != nil {
			return out, err
		}
		sent := time.Now()
		if err := prod.Produce(ctx, topic, []byte(ps[0].LogStream), ps[0].Data); err != nil {
			return out, err
		}
		timeout := time.After(30 * time.Second)
	wait:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return out, fmt.Errorf("websocket closed")
				}
				if ev.Type == api.EventVerdictChanged && ev.RuleKey == key {
					out = append(out, time.Since(sent))
					break wait
				}
			case <-timeout:
				return out, fmt.Errorf("no verdict change for %s within 30s", key)
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
	}
	return out, nil
}

// JSON renders the result as JSON.
func (r Result) JSON() string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}
