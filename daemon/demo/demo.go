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
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cinch-sg/cinch/daemon"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// Topic is the demo's flow-log topic.
const Topic = "flowlogs"

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
}

// DefaultOptions are what `cinch daemon --demo` uses.
func DefaultOptions() Options {
	return Options{Rate: 2000, Seed: 1, AdminsFor: 40 * time.Second, StoppedAfter: 20 * time.Second}
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
	cfg.Analysis.EvaluateInterval = config.Duration(500 * time.Millisecond)
	cfg.Checkpoint.Interval = config.Duration(5 * time.Second)
	// The demo never redelivers; remember about its last 20 minutes of
	// batches (50,000 per partition, about 2.3 MB each) rather than a day's.
	cfg.Analysis.DedupeMaxBatches = 50_000
}

// Run starts the fake cluster, the daemon and the traffic, and serves until
// ctx is cancelled. cfg is the daemon configuration (listen address, auth);
// its inputs are replaced by the demo's.
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

	acct := simulate.NewAccount(simulate.Config{Seed: opts.Seed, Apps: 3, ENIsPerTier: 2, InternetClients: 400, AccountID: "123456789012"})
	d, err := daemon.New(daemon.Options{Config: cfg, Logger: logger, Version: version, OpenReads: true,
		LoadInventory: acct.Inventory})
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
	go produce(pctx, prod, acct, opts, logger)
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

// produce sends live traffic every 100 ms until ctx is done.
func produce(ctx context.Context, prod *kafka.Producer, acct *simulate.Account, opts Options, logger *slog.Logger) {
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
			payloads, err := enc.Encode(flows)
			if err != nil {
				logger.Error("demo: encode", "err", err)
				continue
			}
			for _, p := range payloads {
				if err := prod.Produce(ctx, Topic, []byte(p.LogStream), p.Data); err != nil && ctx.Err() == nil {
					logger.Warn("demo: produce", "err", err)
				}
			}
		}
	}
}
