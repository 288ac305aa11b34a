// Package metrics defines the daemon's Prometheus metrics.
//
// Every collector is registered on the registerer given to New, never on the
// default registry. Names follow the Prometheus conventions: a cinch_ prefix,
// base units (seconds, bytes) and _total on counters.
//
// Per-rule series are bounded by the inventory: SetRules deletes the series
// of rules that left it (however they were written), and RuleMatched and
// RuleStopped only record rules announced by the latest SetRules.
package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const namespace = "cinch"

// Metrics holds the daemon's collectors. Create it with New.
type Metrics struct {
	// RecordsConsumed counts raw input records read (Kafka records, file
	// lines, CloudWatch envelopes) before parsing.
	RecordsConsumed prometheus.Counter
	// RecordsParsed counts flow-log records parsed successfully.
	RecordsParsed prometheus.Counter
	// RecordsFailed counts records that could not be parsed, by reason. The
	// reason must come from a small fixed set.
	RecordsFailed *prometheus.CounterVec
	// DuplicatesDropped counts duplicate input events dropped.
	DuplicatesDropped prometheus.Counter
	// LiveTailSampled counts Live Tail events that came in sampled updates;
	// LiveTailGaps the gaps between Live Tail sessions (events lost).
	LiveTailSampled, LiveTailGaps prometheus.Counter
	// DeadLettered counts records sent to the dead-letter output.
	DeadLettered prometheus.Counter
	// DeadLetterFailures counts records that could not be sent to the
	// dead-letter output (missing topic, failed produce).
	DeadLetterFailures prometheus.Counter
	// ConsumerLag is the Kafka consumer lag in records per topic and partition.
	ConsumerLag *prometheus.GaugeVec
	// Unattributed counts records whose interface the inventory does not know.
	Unattributed prometheus.Counter
	// RulesByVerdict is the number of rules per current verdict.
	RulesByVerdict *prometheus.GaugeVec
	// Interfaces counts the interfaces that carried a security group in the
	// window by coverage: state "observed" (flow logs seen all the window)
	// or "unobserved" (their groups are kept).
	Interfaces *prometheus.GaugeVec
	// LogGroupUnparseable is 1 for a CloudWatch log group none of whose
	// lines parsed (usually a custom format formats.log_groups lacks), 0
	// once one did. Bounded by the log groups feeding the daemon.
	LogGroupUnparseable *prometheus.GaugeVec
	// InventoryLastSuccess is the Unix time of the last inventory check that
	// left a current inventory in use: a load, or a check that found the
	// sources unchanged (the CinchInventoryStale alert reads it).
	InventoryLastSuccess prometheus.Gauge
	// InventoryRefused is 1 while a suspect reload (one that lost most
	// groups or interfaces at once) is held back, else 0.
	InventoryRefused prometheus.Gauge
	// RulesUnresolved is the number of rules whose source is a group or
	// prefix list the inventory cannot resolve (kept, never judged).
	RulesUnresolved prometheus.Gauge
	// WindowRecords is the number of records in the observation window by
	// what attribution made of them (inbound, outbound, ambiguous, reply, ...).
	WindowRecords *prometheus.GaugeVec
	// RuleLastMatch is the Unix time of the last flow credited to a rule.
	// SetRules deletes the series of rules that left the inventory.
	RuleLastMatch *prometheus.GaugeVec
	// RuleStoppedMatching is 1 while a rule that matched traffic has stopped
	// matching, else 0. SetRules deletes the series of rules that left the
	// inventory.
	RuleStoppedMatching *prometheus.GaugeVec
	// AdvisorEvaluations counts advisor passes over the rules.
	AdvisorEvaluations prometheus.Counter
	// DedupeBatches is the number of CloudWatch batches remembered for
	// dedupe, over this instance's partitions.
	DedupeBatches prometheus.Gauge
	// DedupeEvicted counts batches forgotten early to respect
	// analysis.dedupe_max_batches.
	DedupeEvicted prometheus.Counter
	// AdvisorRulesJudged counts rules judged by advisor passes (a pass
	// judges only the rules whose usage changed).
	AdvisorRulesJudged prometheus.Counter
	// AdvisorDuration observes the duration of one advisor pass.
	AdvisorDuration prometheus.Histogram
	// CheckpointLastSuccess is the Unix time of the last successful
	// checkpoint; CheckpointAge derives from it.
	CheckpointLastSuccess prometheus.Gauge
	// CheckpointAge reports the seconds since the last successful checkpoint,
	// or since New when none succeeded yet.
	CheckpointAge prometheus.GaugeFunc
	// CheckpointDuration observes the duration of successful checkpoints.
	CheckpointDuration prometheus.Histogram
	// Events counts events published to dashboard clients, by type.
	Events *prometheus.CounterVec
	// WebsocketClients is the number of connected websocket clients.
	WebsocketClients prometheus.Gauge

	now   func() time.Time
	start time.Time

	mu        sync.Mutex
	rules     map[string]struct{}   // rule keys of the inventory
	lastMatch map[string]ruleLabels // labels of each RuleLastMatch series, by rule key
	stopped   map[string]string     // group of each RuleStoppedMatching series, by rule key
	verdicts  map[string]struct{}   // verdict label values set so far
}

// ruleLabels are the identifying labels of a rule's series.
type ruleLabels struct{ groupID, ruleID string }

// New creates the metrics and registers them on reg. It panics if a metric is
// already registered there, as prometheus.MustRegister does.
func New(reg prometheus.Registerer) *Metrics {
	return newMetrics(reg, time.Now)
}

func newMetrics(reg prometheus.Registerer, now func() time.Time) *Metrics {
	m := &Metrics{
		now:       now,
		start:     now(),
		rules:     map[string]struct{}{},
		lastMatch: map[string]ruleLabels{},
		stopped:   map[string]string{},
		verdicts:  map[string]struct{}{},
	}
	m.RecordsConsumed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "records_consumed_total",
		Help: "Raw input records read (Kafka records, file lines, envelopes) before parsing.",
	})
	m.RecordsParsed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "flow_records_parsed_total",
		Help: "Flow-log records parsed successfully.",
	})
	m.RecordsFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "flow_records_failed_total",
		Help: "Flow-log records that could not be parsed, by reason.",
	}, []string{"reason"})
	m.DuplicatesDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "duplicate_events_dropped_total",
		Help: "Duplicate input events dropped.",
	})
	m.LiveTailSampled = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "livetail_sampled_events_total",
		Help: "Live Tail events that came in updates CloudWatch sampled (above 500 events/s): records around them are missing.",
	})
	m.LiveTailGaps = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "livetail_session_gaps_total",
		Help: "Gaps between Live Tail sessions (the three-hour limit, errors): the events in between are lost.",
	})
	m.DeadLettered = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "dead_lettered_total",
		Help: "Records sent to the dead-letter output.",
	})
	m.DeadLetterFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "dead_letter_failures_total",
		Help: "Records that could not be sent to the dead-letter output (missing topic, failed produce).",
	})
	m.ConsumerLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "kafka_consumer_lag",
		Help: "Kafka consumer lag in records, per topic and partition.",
	}, []string{"topic", "partition"})
	m.Unattributed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "unattributed_records_total",
		Help: "Flow records whose network interface the inventory does not know.",
	})
	m.WindowRecords = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "window_records",
		Help: "Records in the observation window by outcome of attribution (ambiguous: of unknown initiator, counted as requests because a rule allows them; included in inbound and outbound).",
	}, []string{"outcome"})
	m.RulesByVerdict = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "rules",
		Help: "Security-group rules per current verdict.",
	}, []string{"verdict"})
	m.Interfaces = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "interfaces",
		Help: "Interfaces that carried a security group in the window, by whether their flow logs were observed all the while (state observed or unobserved).",
	}, []string{"state"})
	m.InventoryLastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "inventory_last_success_timestamp_seconds",
		Help: "Unix time of the last inventory check that left a current inventory in use (a load, or sources found unchanged).",
	})
	m.InventoryRefused = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "inventory_refused",
		Help: "1 while a suspect inventory reload (most groups or interfaces lost at once) is held back, else 0.",
	})
	m.LogGroupUnparseable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "log_group_unparseable",
		Help: "1 for a log group none of whose flow-log lines parsed (set its format under formats.log_groups), else 0.",
	}, []string{"log_group"})
	m.RulesUnresolved = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "rules_unresolved",
		Help: "Rules referencing a security group or prefix list the inventory cannot resolve: kept, not judged.",
	})
	m.RuleLastMatch = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "rule_last_match_timestamp_seconds",
		Help: "Unix time of the last flow credited to a rule in the inventory.",
	}, []string{"group_id", "rule_id", "rule_key"})
	m.RuleStoppedMatching = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "rule_stopped_matching",
		Help: "1 while a rule that matched traffic has stopped matching, else 0.",
	}, []string{"group_id", "rule_key"})
	m.AdvisorEvaluations = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "advisor_evaluations_total",
		Help: "Advisor passes over the rules.",
	})
	m.DedupeBatches = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "dedupe_batches",
		Help: "CloudWatch batches remembered so that a redelivery counts once.",
	})
	m.DedupeEvicted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "dedupe_evicted_batches_total",
		Help: "Batches forgotten before the end of analysis.dedupe_window to respect analysis.dedupe_max_batches.",
	})
	m.AdvisorRulesJudged = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "advisor_rules_judged_total",
		Help: "Rules judged by advisor passes; a pass judges only the rules whose usage changed.",
	})
	m.AdvisorDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "advisor_evaluation_duration_seconds",
		Help:    "Duration of one advisor pass over the rules.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9), // 0.5ms .. ~33s
	})
	m.CheckpointLastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "checkpoint_last_success_timestamp_seconds",
		Help: "Unix time of the last successful checkpoint; 0 before the first.",
	})
	m.CheckpointAge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "checkpoint_age_seconds",
		Help: "Seconds since the last successful checkpoint, or since start when none succeeded.",
	}, m.checkpointAge)
	m.CheckpointDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "checkpoint_duration_seconds",
		Help:    "Duration of successful checkpoints.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9), // 1ms .. ~65s
	})
	m.Events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "events_published_total",
		Help: "Events published to dashboard clients, by type.",
	}, []string{"type"})
	m.WebsocketClients = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "websocket_clients",
		Help: "Connected websocket clients.",
	})
	reg.MustRegister(
		m.RecordsConsumed, m.RecordsParsed, m.RecordsFailed, m.DuplicatesDropped, m.LiveTailSampled, m.LiveTailGaps,
		m.DeadLettered, m.DeadLetterFailures, m.ConsumerLag, m.Unattributed, m.RulesByVerdict, m.RulesUnresolved, m.Interfaces, m.LogGroupUnparseable, m.InventoryLastSuccess, m.InventoryRefused, m.WindowRecords,
		m.RuleLastMatch, m.RuleStoppedMatching, m.AdvisorEvaluations,
		m.AdvisorRulesJudged, m.AdvisorDuration, m.DedupeBatches, m.DedupeEvicted, m.CheckpointLastSuccess, m.CheckpointAge,
		m.CheckpointDuration, m.Events, m.WebsocketClients,
	)
	return m
}

// checkpointAge is the value of CheckpointAge: the age of
// CheckpointLastSuccess, or the time since start while it is 0.
func (m *Metrics) checkpointAge() float64 {
	since := unixSeconds(m.start)
	var pb dto.Metric
	if err := m.CheckpointLastSuccess.Write(&pb); err == nil && pb.GetGauge().GetValue() > 0 {
		since = pb.GetGauge().GetValue()
	}
	return max(unixSeconds(m.now())-since, 0)
}

// CheckpointSucceeded records a successful checkpoint finished at t that
// took d.
func (m *Metrics) CheckpointSucceeded(t time.Time, d time.Duration) {
	m.CheckpointLastSuccess.Set(unixSeconds(t))
	m.CheckpointDuration.Observe(d.Seconds())
}

// AdvisorEvaluated records one advisor pass that judged rules and took d.
func (m *Metrics) AdvisorEvaluated(d time.Duration, rules int) {
	m.AdvisorEvaluations.Inc()
	m.AdvisorRulesJudged.Add(float64(rules))
	m.AdvisorDuration.Observe(d.Seconds())
}

// SetConsumerLag sets the lag of one Kafka partition.
func (m *Metrics) SetConsumerLag(topic string, partition int32, lag int64) {
	m.ConsumerLag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(lag))
}

// DeleteConsumerLag removes the lag series of a partition no longer
// assigned to this consumer.
func (m *Metrics) DeleteConsumerLag(topic string, partition int32) {
	m.ConsumerLag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
}

// SetInterfaces sets the interfaces by coverage state.
func (m *Metrics) SetInterfaces(observed, unobserved int) {
	m.Interfaces.WithLabelValues("observed").Set(float64(observed))
	m.Interfaces.WithLabelValues("unobserved").Set(float64(unobserved))
}

// SetRulesByVerdict sets the number of rules per verdict. Verdicts set
// before and absent from counts are set to 0 rather than left stale.
func (m *Metrics) SetRulesByVerdict(counts map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for v := range m.verdicts {
		if _, ok := counts[v]; !ok {
			m.RulesByVerdict.WithLabelValues(v).Set(0)
		}
	}
	for v, n := range counts {
		m.verdicts[v] = struct{}{}
		m.RulesByVerdict.WithLabelValues(v).Set(float64(n))
	}
}

// SetRules declares the rule keys of the current inventory. Per-rule series
// of keys not in keys are deleted, and later RuleMatched and RuleStopped
// calls for such keys are ignored, so the per-rule series never outnumber
// the inventory's rules.
func (m *Metrics) SetRules(keys []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rules := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		rules[k] = struct{}{}
	}
	m.rules = rules
	for k := range m.lastMatch {
		if _, ok := rules[k]; !ok {
			delete(m.lastMatch, k)
		}
	}
	for k := range m.stopped {
		if _, ok := rules[k]; !ok {
			delete(m.stopped, k)
		}
	}
	// Prune what the vectors hold, including series written directly.
	prune(m.RuleLastMatch, rules)
	prune(m.RuleStoppedMatching, rules)
}

// prune deletes the series of vec whose rule_key label is not in keep.
func prune(vec *prometheus.GaugeVec, keep map[string]struct{}) {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		vec.Collect(ch)
		close(ch)
	}()
	var stale []prometheus.Labels
	for metric := range ch {
		var pb dto.Metric
		if err := metric.Write(&pb); err != nil {
			continue
		}
		labels := make(prometheus.Labels, len(pb.GetLabel()))
		for _, lp := range pb.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if _, ok := keep[labels["rule_key"]]; !ok {
			stale = append(stale, labels)
		}
	}
	// Delete after Collect returned: it holds the vector's lock.
	for _, l := range stale {
		vec.Delete(l)
	}
}

// RuleMatched records that a flow credited to the rule was seen at t. It is
// ignored for a key outside the inventory given to SetRules.
func (m *Metrics) RuleMatched(groupID, ruleID, key string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rules[key]; !ok {
		return
	}
	l := ruleLabels{groupID, ruleID}
	if old, ok := m.lastMatch[key]; ok && old != l {
		m.RuleLastMatch.DeleteLabelValues(old.groupID, old.ruleID, key)
	}
	m.lastMatch[key] = l
	m.RuleLastMatch.WithLabelValues(groupID, ruleID, key).Set(unixSeconds(t))
}

// RuleStopped sets whether the rule has stopped matching traffic. It is
// ignored for a key outside the inventory given to SetRules.
func (m *Metrics) RuleStopped(groupID, key string, stopped bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rules[key]; !ok {
		return
	}
	if old, ok := m.stopped[key]; ok && old != groupID {
		m.RuleStoppedMatching.DeleteLabelValues(old, key)
	}
	m.stopped[key] = groupID
	v := 0.0
	if stopped {
		v = 1
	}
	m.RuleStoppedMatching.WithLabelValues(groupID, key).Set(v)
}

// unixSeconds is t as fractional Unix seconds.
func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
