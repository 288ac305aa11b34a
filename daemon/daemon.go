// Package daemon is `cinch daemon`: it consumes flow-log records (Kafka,
// local files), keeps every rule's sketch current in time buckets per input
// partition, re-judges the rules as traffic arrives, publishes the changes
// on the HTTP API and websocket, exposes Prometheus metrics, and checkpoints
// state together with the offsets it includes so that a restart neither
// loses nor double-counts a record.
//
// It reuses the core unchanged: stream/envelope and stream/flowlog decode,
// analysis attributes and sketches, advisor judges.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/daemon/metrics"
	"github.com/cinch-sg/cinch/dashboards/web"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/sinks/webhook"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// Options configure a daemon.
type Options struct {
	Config config.Config
	Logger *slog.Logger
	// Version is reported by the API.
	Version string
	// Listener, when set, is served instead of listening on Config.Listen.
	Listener net.Listener
	// LoadInventory, when set, replaces loading Config.Inventory (the demo).
	LoadInventory func() (*inventory.Inventory, error)
	// OpenReads lets reads through without a token (demo on loopback).
	OpenReads bool
	// Stdin is what the file input "-" reads (os.Stdin when nil).
	Stdin io.Reader
}

// Daemon is a running cinch daemon.
type Daemon struct {
	opts    Options
	cfg     config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	met     *metrics.Metrics
	hub     *api.Hub
	server  *api.Server
	ln      net.Listener
	scfg    sketch.Config
	acfg    advisor.Config
	formats *formatSet

	mu       sync.Mutex // guards eng, shards, peers
	eng      *analysis.Engine
	shards   map[string]*shard
	peers    map[string]*peerShard
	invStamp string

	consumer *kafka.Consumer
	alerts   *webhook.Notifier      // nil without alerts.webhooks
	ch       *chSink                // nil without ClickHouse
	aws      *awsSource             // the live EC2 inventory, nil without inventory.aws
	apply    *applier               // POST /api/v1/apply, nil unless apply.enabled
	ready    atomic.Pointer[string] // nil = ready; else the reason
	// logGroups counts parsed and failed lines per log group (readiness).
	logGroups logGroups
	// problems are further reasons not to be ready, by source (a missing
	// input file, a missing dead-letter topic).
	probMu   sync.Mutex
	problems map[string]string
	kstats   kafka.Stats     // consumer counts already in the metrics (watchKafka, then Run)
	stopped  map[string]bool // rule keys flagged as stopped matching
	lastEval time.Time

	// The inventory in use has invGroups groups and invENIs interfaces;
	// suspect is a reload held back as suspect (see reloadInventory), its
	// reason also in invSuspect for /readyz.
	invGroups, invENIs int
	suspect            *suspectInventory
	invSuspect         atomic.Pointer[string]

	// The state of the last evaluation (used by the evaluate goroutine only):
	// its engine and shards, each rule's suggestion and last match by rule
	// index, the rules' keys, and the report order of the rules.
	lastEng    *analysis.Engine
	lastShards map[*shard]bool
	sugs       []advisor.Suggestion
	lastSeen   []int64
	keys       []string
	order      []int
	// evDependent holds the rules whose last judgement rested on records of
	// uncertain initiator: the port evidence decides about them, so they are
	// judged again when the verdicts on the ports they read (deps[i]) change.
	// ports judges the evidence of every shard, again only where it changed.
	evDependent analysis.RuleSet
	deps        []analysis.PortDeps
	ports       *analysis.PortJudge
}

// New prepares a daemon: it loads the inventory and opens the listener.
func New(opts Options) (*Daemon, error) {
	cfg := opts.Config
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	d := &Daemon{
		opts: opts, cfg: cfg, log: opts.Logger,
		reg:    prometheus.NewRegistry(),
		shards: map[string]*shard{}, peers: map[string]*peerShard{}, stopped: map[string]bool{},
		problems: map[string]string{}, ports: analysis.NewPortJudge(),
		scfg: sketch.Config{MaxNodes: cfg.Analysis.NodeBudget, HLLPrecision: sketch.DefaultHLLPrecision,
			Slot: windowSlot(cfg.Analysis.Window.Std(), cfg.Analysis.Bucket.Std())},
		acfg: advisor.Config{WildcardThreshold: cfg.Analysis.WildcardThreshold, MaxCIDRs: cfg.Analysis.MaxCIDRs,
			MaxPortRanges: cfg.Analysis.MaxPortRanges, MinHistory: cfg.Analysis.MinHistory.Std(),
			MaxUnobservedListed: advisor.DefaultMaxUnobservedListed},
	}
	d.setNotReady("starting")
	var err error
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.met = metrics.New(d.reg)
	d.logGroups.gauge = d.met.LogGroupUnparseable
	d.hub = api.NewHub(4096, api.WithMetrics(d.met))
	if len(cfg.Alerts.Webhooks) > 0 {
		d.alerts, err = webhook.New(webhookConfigs(cfg.Alerts), webhook.Options{Logger: d.log, Registerer: d.reg,
			ExternalURL: "http://" + cfg.Listen + "/"})
		if err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
	}
	if d.formats, err = newFormatSet(cfg.Formats); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	// Reviews and event versions outlive restarts.
	if skipped, err := d.hub.Persist(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	} else if skipped > 0 {
		d.log.Warn("skipped unreadable lines of the reviews file (a write cut short)", "file", api.ReviewsFile, "lines", skipped)
	}
	done := false
	defer func() {
		if !done {
			d.hub.Close()
		}
	}()
	if err := d.openAWS(); err != nil {
		return nil, err
	}
	if err := d.loadInventory(); err != nil {
		return nil, err
	}
	tokens := make([]api.Token, 0, len(cfg.Auth.Tokens))
	for _, t := range cfg.Auth.Tokens {
		h := t.SHA256
		if h == "" && t.Token != "" {
			h = api.HashToken(t.Token)
		}
		tokens = append(tokens, api.Token{Name: t.Name, Role: t.Role, SHA256: h})
	}
	scfg := api.ServerConfig{Tokens: tokens, OpenReads: opts.OpenReads, AllowedOrigins: cfg.Auth.AllowedOrigins,
		Version: opts.Version, Metrics: d.met, MaxClients: cfg.API.MaxWebsocketClients, Inspector: d, Assets: web.Assets()}
	if err := scfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if err := d.openApply(); err != nil {
		return nil, err
	}
	scfg.Apply = d.applyFunc()
	d.server = api.NewServer(scfg, d.hub, d.reg, d.readyErr, d.log)
	d.ln = opts.Listener
	if d.ln == nil {
		if d.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
	}
	if err := d.openClickHouse(); err != nil {
		d.ln.Close()
		return nil, err
	}
	if cfg.Kafka != nil {
		if d.consumer, err = kafka.New(KafkaConfig(cfg.Kafka), (*kafkaHandler)(d), d.log); err != nil {
			d.ln.Close()
			return nil, err
		}
	}
	done = true
	return d, nil
}

// KafkaConfig converts the daemon's Kafka section for the Kafka client.
func KafkaConfig(k *config.Kafka) kafka.Config {
	return kafka.Config{Brokers: k.Brokers, Topics: k.Topics, Group: k.Group, Concurrency: runtime.GOMAXPROCS(0),
		ClientID: k.ClientID, DeadLetterTopic: k.DeadLetterTopic, StartAtEnd: k.StartAtEnd,
		TLS: kafka.TLSConfig{Enabled: k.TLS.Enabled, CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile,
			KeyFile: k.TLS.KeyFile, InsecureSkipVerify: k.TLS.InsecureSkipVerify, ServerName: k.TLS.ServerName},
		SASL: kafka.SASLConfig{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username,
			Password: k.SASL.Password, AWSRegion: k.SASL.AWSRegion}}
}

// Addr is the address the API listens on.
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// Hub returns the versioned suggestion state the API serves.
func (d *Daemon) Hub() *api.Hub { return d.hub }

func (d *Daemon) setNotReady(reason string) { d.ready.Store(&reason) }

// setProblem records (msg != "") or clears a reason not to be ready.
func (d *Daemon) setProblem(source, msg string) {
	d.probMu.Lock()
	defer d.probMu.Unlock()
	if msg == "" {
		delete(d.problems, source)
	} else {
		d.problems[source] = msg
	}
}

func (d *Daemon) readyErr() error {
	if p := d.ready.Load(); p != nil {
		return errors.New(*p)
	}
	d.probMu.Lock()
	msgs := make([]string, 0, len(d.problems)+3)
	for _, k := range slices.Sorted(maps.Keys(d.problems)) {
		msgs = append(msgs, d.problems[k])
	}
	d.probMu.Unlock()
	if p := d.invSuspect.Load(); p != nil {
		msgs = append(msgs, *p)
	}
	if err := d.logGroups.err(); err != nil {
		msgs = append(msgs, err.Error())
	}
	if err := d.clickHouseReady(); err != nil {
		msgs = append(msgs, err.Error())
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Run serves until ctx is cancelled, then finishes the batch in progress,
// checkpoints, commits and returns nil.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := d.server.Run(ctx, d.ln); err != nil {
			errc <- fmt.Errorf("api: %w", err)
			cancel()
		}
	}()
	if d.consumer != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.consumer.Run(ctx); err != nil {
				errc <- fmt.Errorf("kafka: %w", err)
				cancel()
			}
		}()
	}
	if d.aws != nil {
		wg.Go(func() { d.runAWSRefresh(ctx) })
	}
	if len(d.cfg.S3Backfill) > 0 {
		wg.Go(func() { d.readS3Backfills(ctx) })
	}
	if d.cfg.LiveTail != nil {
		wg.Go(func() { d.readLiveTail(ctx) })
	}
	if len(d.cfg.Files) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.readFiles(ctx)
		}()
	}
	if d.consumer != nil {
		d.setNotReady("kafka: not connected yet")
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.watchKafka(ctx)
		}()
	} else {
		d.ready.Store(nil)
	}
	if d.alerts != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runAlerts(ctx, d.hub, d.alerts)
		}()
	}
	d.log.Info("cinch daemon running", "listen", d.ln.Addr().String(), "kafka", d.consumer != nil, "files", len(d.cfg.Files))

	evalT := time.NewTicker(d.cfg.Analysis.EvaluateInterval.Std())
	ckptT := time.NewTicker(d.cfg.Checkpoint.Interval.Std())
	invT := time.NewTicker(max(d.cfg.Inventory.ReloadInterval.Std(), time.Second))
	defer evalT.Stop()
	defer ckptT.Stop()
	defer invT.Stop()
	d.startClickHouse(ctx, &wg)
	d.evaluate()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-evalT.C:
			d.evaluate()
		case <-ckptT.C:
			if err := d.checkpointAll(ctx); err != nil {
				d.log.Error("checkpoint failed", "err", err)
			}
			d.loadPeers()
		case <-invT.C:
			if d.opts.LoadInventory == nil {
				if err := d.reloadInventory(); err != nil {
					d.log.Error("inventory reload failed; keeping the previous one", "err", err)
				}
			}
		}
	}
	d.setNotReady("shutting down")
	wg.Wait() // the consumer has finished its batch
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	err := d.checkpointAll(sctx)
	err = errors.Join(err, d.stopClickHouse(sctx))
	if d.consumer != nil {
		d.consumer.Close()
		d.syncKafkaStats(&d.kstats)
	}
	d.evaluate()
	if err := d.hub.Close(); err != nil {
		errc <- err
	}
	close(errc)
	var errs []error
	for e := range errc {
		errs = append(errs, e)
	}
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// watchKafka marks the daemon ready once the brokers answer, and keeps the
// consumer-lag metric current.
func (d *Daemon) watchKafka(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	connected := false
	lagged := map[kafka.Partition]bool{}
	for n := 0; ; n++ {
		d.syncKafkaStats(&d.kstats)
		if err := d.consumer.DeadLetterProblem(); err != nil {
			d.setProblem(problemDeadLetter, err.Error())
		} else {
			d.setProblem(problemDeadLetter, "")
		}
		if !connected {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := d.consumer.Ping(pctx)
			cancel()
			if err == nil {
				connected = true
				d.ready.Store(nil)
			} else if ctx.Err() == nil {
				d.setNotReady(err.Error())
			}
		} else if n%5 == 0 {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			lags, err := d.consumer.Lag(lctx)
			cancel()
			if err == nil {
				for p := range lagged {
					if _, ok := lags[p]; !ok {
						d.met.DeleteConsumerLag(p.Topic, p.Partition)
						delete(lagged, p)
					}
				}
				for p, l := range lags {
					d.met.SetConsumerLag(p.Topic, p.Partition, l)
					lagged[p] = true
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close releases what New acquired when Run was never called.
func (d *Daemon) Close() error {
	if d.consumer != nil {
		d.consumer.Close()
	}
	d.hub.Close()
	if d.ch != nil {
		d.ch.s.Close()
	}
	return d.ln.Close()
}

// partitionKey names a Kafka partition's shard.
func partitionKey(p kafka.Partition) string {
	return p.Topic + "/" + strconv.Itoa(int(p.Partition))
}

// SketchMemory reports how many rules hold state in this instance's shards
// and the bytes their sketches take (all partitions).
func (d *Daemon) SketchMemory() (rules, bytes int) {
	d.mu.Lock()
	shards := make([]*shard, 0, len(d.shards))
	for _, s := range d.shards {
		shards = append(shards, s)
	}
	n := len(d.eng.Rules())
	d.mu.Unlock()
	used := make([]bool, n)
	for _, s := range shards {
		s.mu.Lock()
		acc := s.acc
		for i := range min(n, len(acc.Engine().Rules())) {
			rs := acc.Rule(i)
			if rs.Sketch != nil {
				used[i] = true
				bytes += rs.Sketch.MemSize()
				for _, ps := range rs.ByProtocol {
					bytes += ps.Sketch.MemSize()
				}
			}
		}
		s.mu.Unlock()
	}
	for _, u := range used {
		if u {
			rules++
		}
	}
	return rules, bytes
}

// RecordsParsed is the number of flow-log records parsed so far.
func (d *Daemon) RecordsParsed() float64 { return readCounter(d.met.RecordsParsed) }
