// Package demo runs `cinch daemon --demo`: a simulated account and live
// traffic through the daemon's real pipeline, with no AWS, no Kafka and no
// ClickHouse to install. Traffic is produced as CloudWatch Logs subscription
// payloads into franz-go's in-process fake Kafka cluster (kfake), which the
// daemon consumes with its real consumer group client.
package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cinch-sg/cinch/daemon"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// Topic is the demo's flow-log topic.
const Topic = "flowlogs"

// ConfigYAML is the demo's configuration: "cinch daemon --demo" loads it
// as if it were its configuration file, and configs/demo.yaml holds the same
// settings (a test checks it), so the flag and the file mean one thing.
// Reads are open on loopback (and only there: config.Validate refuses the
// demo on another address); reviews need the published token demo-token,
// whose role is reviewer and which is refused on a non-loopback listener.
const ConfigYAML = `demo: true
listen: 127.0.0.1:8080
analysis:
  window: 24h
  bucket: 5m
  stopped_matching_after: 10m
  min_history: 1m
auth:
  tokens:
    - name: demo
      role: reviewer
      token: demo-token
`

// Options tune the demo.
type Options struct {
	// Rate is records per second of simulated traffic.
	Rate int
	// Seed makes the account reproducible.
	Seed uint64
	// AdminsFor is how long administrators keep using SSH before they stop
	// (so the SSH rules stop matching and the daemon says so).
	AdminsFor time.Duration
	// StoppedAfter is how long a rule must see no traffic to count as stopped.
	StoppedAfter time.Duration
	// NewSourceEvery, when positive, brings a new internal client to an
	// application tier at this interval, so proposals keep changing.
	NewSourceEvery time.Duration
	// HostileNames adds a security group whose name, description and rule
	// description are markup (HostileName), to show that the dashboard
	// renders attacker-controlled text as text.
	HostileNames bool
}

// HostileName is the name of the group HostileNames adds.
const HostileName = "<img src=x onerror=alert(1)>"

// HostileGroupID is the id of the group HostileNames adds.
const HostileGroupID = "sg-0badc0ffee0000001"

// withHostileGroup adds to inv a group named HostileName with one rule
// (nothing carries it, so it sees no traffic).
func withHostileGroup(inv *inventory.Inventory, account string) {
	var vpc string
	if ids := inv.Groups(); len(ids) > 0 {
		if vs := inv.GroupVersions(ids[0]); len(vs) > 0 {
			vpc = vs[0].VPCID
		}
	}
	inv.AddGroup(inventory.Group{ID: HostileGroupID, Name: HostileName, VPCID: vpc, OwnerID: account,
		Description: `<script>alert("description")</script>`,
		Rules: []inventory.Rule{{ID: "sgr-0badc0ffee0000001", GroupID: HostileGroupID, Protocol: inventory.ProtoTCP,
			FromPort: 8443, ToPort: 8443, Source: inventory.CIDRSource(netip.MustParsePrefix("0.0.0.0/0")),
			Description: `"><svg onload=alert(2)>`}}})
}

// DefaultOptions are what `cinch daemon --demo` uses.
func DefaultOptions() Options {
	return Options{Rate: 2000, Seed: 1, AdminsFor: 40 * time.Second, StoppedAfter: 20 * time.Second,
		NewSourceEvery: 20 * time.Second}
}

// Configure fills cfg for the demo: the fake cluster's brokers, the topic,
// the simulated log group's format, short timers so changes show at once.
func Configure(cfg *config.Config, brokers []string, stateDir string, stoppedAfter time.Duration) {
	cfg.Demo = true
	cfg.Kafka = &config.Kafka{Brokers: brokers, Topics: []string{Topic}, Group: "cinch-demo", ClientID: "cinch-demo",
		DeadLetterTopic: Topic + "-dlq"}
	cfg.Formats.LogGroups = map[string]string{simulate.LogGroup: simulate.RichFormat}
	cfg.StateDir = stateDir
	cfg.Analysis.StoppedMatchingAfter = config.Duration(stoppedAfter)
	cfg.Analysis.WildcardThreshold = 250
	// The demo's history is minutes long: a minute of it gives confidence
	// high (configs/demo.yaml says the same; real accounts want 14d or more).
	cfg.Analysis.MinHistory = config.Duration(time.Minute)
	cfg.Analysis.EvaluateInterval = config.Duration(500 * time.Millisecond)
	cfg.Analysis.Bucket = config.Duration(10 * time.Second) // usage timelines with points to show
	cfg.Checkpoint.Interval = config.Duration(5 * time.Second)
	// The demo never redelivers; remember about its last 20 minutes of
	// batches (50,000 per partition, about 2.3 MB each) rather than a day's.
	cfg.Analysis.DedupeMaxBatches = 50_000
}

// Run starts the fake cluster, the daemon and the traffic, and serves until
// ctx is cancelled. cfg is the daemon configuration (listen address, auth,
// window, logs); the demo brings its inputs, keeps its state in a temporary
// directory removed at exit, and sets short timers (see Configure).
func Run(ctx context.Context, cfg config.Config, opts Options, logger *slog.Logger, version string) error {
	// Small segments, so that trim can drop what the daemon has consumed.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, Topic, Topic+"-dlq"),
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": "1048576"}))
	if err != nil {
		return fmt.Errorf("demo: fake kafka: %w", err)
	}
	defer cluster.Close()
	stateDir, err := os.MkdirTemp("", "cinch-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	Configure(&cfg, cluster.ListenAddrs(), stateDir, opts.StoppedAfter)

	acct := NewAccount(opts.Seed)
	// Every subnet has had its flow log for a month: all interfaces are observed.
	created := time.Now().AddDate(0, -1, 0)
	load := func() (*inventory.Inventory, error) { return acct.InventoryWithFlowLogs(created) }
	if opts.HostileNames {
		load = func() (*inventory.Inventory, error) {
			inv, err := acct.InventoryWithFlowLogs(created)
			if err == nil {
				withHostileGroup(inv, "123456789012")
			}
			return inv, err
		}
	}
	d, err := daemon.New(daemon.Options{Config: cfg, Logger: logger, Version: version, OpenReads: true,
		LoadInventory: load})
	if err != nil {
		return err
	}
	logger.Info("demo: simulated account with live traffic", "api", "http://"+d.Addr().String()+"/api/v1/suggestions",
		"events", "ws://"+d.Addr().String()+"/api/v1/events", "records_per_second", opts.Rate)
	prod, err := kafka.NewProducer(daemon.KafkaConfig(cfg.Kafka), logger)
	if err != nil {
		d.Close()
		return err
	}
	defer prod.Close()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go Produce(pctx, prod, Topic, acct, opts, logger)
	go trim(pctx, cluster.ListenAddrs(), logger)
	return d.Run(ctx)
}

// trimEvery is how often the demo deletes the records the daemon has consumed.
const trimEvery = 10 * time.Second

// trim deletes, every trimEvery, the flow-log records below the daemon's
// committed offsets and every dead letter: the fake cluster keeps records in
// memory with no retention (and frees them a 1 MiB segment at a time), so
// without this the demo's memory would grow by the traffic instead of
// staying flat as the daemon's does.
func trim(ctx context.Context, brokers []string, logger *slog.Logger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		logger.Warn("demo: trim client", "err", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tick := time.NewTicker(trimEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		offs, err := adm.FetchOffsetsForTopics(ctx, "cinch-demo", Topic)
		if err != nil {
			continue
		}
		del := kadm.Offsets{}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At > 0 {
				del.AddOffset(o.Topic, o.Partition, o.At, -1)
			}
		})
		if ends, err := adm.ListEndOffsets(ctx, Topic+"-dlq"); err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil && o.Offset > 0 {
					del.AddOffset(o.Topic, o.Partition, o.Offset, -1)
				}
			})
		}
		if len(del) > 0 {
			if _, err := adm.DeleteRecords(ctx, del); err != nil && ctx.Err() == nil {
				logger.Debug("demo: trim", "err", err)
			}
		}
	}
}

// NewAccount returns the demo's simulated account.
func NewAccount(seed uint64) *simulate.Account {
	return simulate.NewAccount(simulate.Config{Seed: seed, Apps: 3, ENIsPerTier: 2, InternetClients: 400, AccountID: "123456789012"})
}

// Produce sends acct's live traffic to topic, as CloudWatch Logs
// subscription payloads keyed by log stream, every 100 ms until ctx is done.
func Produce(ctx context.Context, prod *kafka.Producer, topic string, acct *simulate.Account, opts Options, logger *slog.Logger) {
	now := time.Now()
	tr := acct.Traffic(opts.Seed, now)
	tr.PerSecond, tr.Jitter = 0, 1
	if opts.AdminsFor > 0 {
		tr.AdminsUntil = now.Add(opts.AdminsFor).Unix()
	}
	enc := simulate.NewEnvelopes(flowlog.MustParseFormat(simulate.RichFormat), "123456789012", uint64(now.UnixNano()))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	per := max(1, opts.Rate/10)
	flows := make([]simulate.Flow, 0, per)
	newcomer := newcomers(acct)
	var lastNew time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-tick.C:
			tr.SetNow(t)
			flows = flows[:0]
			for range per {
				flows = append(flows, tr.Next())
			}
			if opts.NewSourceEvery > 0 && t.Sub(lastNew) >= opts.NewSourceEvery {
				if f, ok := newcomer(t); ok {
					flows = append(flows, f)
				}
				lastNew = t
			}
			payloads, err := enc.Encode(flows)
			if err != nil {
				logger.Error("demo: encode", "err", err)
				continue
			}
			for _, p := range payloads {
				if err := prod.Produce(ctx, topic, []byte(p.LogStream), p.Data); err != nil && ctx.Err() == nil {
					logger.Warn("demo: produce", "err", err)
				}
			}
		}
	}
}

// newcomers returns a generator of connections from a new internal client
// (10.0.200.1, 10.0.200.2, ...) to the first application-tier interface on
// port 8080: each one widens what the 10.0.0.0/8 rules' proposals allow.
func newcomers(acct *simulate.Account) func(time.Time) (simulate.Flow, bool) {
	var eni simulate.NetworkInterface
	for _, e := range acct.ENIs {
		if len(e.Groups) > 0 && strings.HasPrefix(e.Groups[0].GroupName, "app-") {
			eni = e
			break
		}
	}
	dst, err := netip.ParseAddr(eni.PrivateIPAddress)
	n := 0
	return func(t time.Time) (simulate.Flow, bool) {
		if err != nil || n >= 250*50 {
			return simulate.Flow{}, false
		}
		src := netip.AddrFrom4([4]byte{10, 0, byte(200 + n/250), byte(1 + n%250)})
		n++
		return simulate.Flow{AccountID: eni.OwnerID, ENI: eni.NetworkInterfaceID, VPC: eni.VpcID, Src: src, Dst: dst,
			SrcPort: uint16(40000 + n%20000), DstPort: 8080, Protocol: 6, Packets: 6, Bytes: 900,
			Start: t.Unix() - 1, End: t.Unix(), Accept: true, TCPFlags: 2, Ingress: true}, true
	}
}
