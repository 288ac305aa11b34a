package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLintAndRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	// Give every vector one child so the lint sees each metric.
	m.RecordsConsumed.Add(3)
	m.RecordsParsed.Inc()
	m.RecordsFailed.WithLabelValues("bad-field").Inc()
	m.DuplicatesDropped.Inc()
	m.LiveTailSampled.Inc()
	m.LiveTailGaps.Inc()
	m.DeadLettered.Inc()
	m.DeadLetterFailures.Inc()
	m.SetConsumerLag("flowlogs", 3, 42)
	m.Unattributed.Inc()
	m.SetRulesByVerdict(map[string]int{"keep": 2})
	m.SetRules([]string{"k1"})
	m.RuleMatched("sg-1", "sgr-1", "k1", time.Unix(100, 0))
	m.RuleStopped("sg-1", "k1", true)
	m.AdvisorEvaluated(time.Millisecond, 5)
	m.CheckpointSucceeded(time.Unix(200, 0), 2*time.Second)
	m.Events.WithLabelValues("review").Inc()
	m.WebsocketClients.Inc()
	m.DedupeBatches.Set(3)
	m.WindowRecords.WithLabelValues("inbound").Set(5)
	m.DedupeEvicted.Add(2)

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 27 {
		t.Errorf("gathered %d metric families, want 27", len(mfs))
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "cinch_") {
			t.Errorf("metric %s lacks the cinch_ prefix", mf.GetName())
		}
	}
	for _, c := range []prometheus.Collector{m.RecordsConsumed, m.RulesByVerdict, m.AdvisorDuration, m.CheckpointAge} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil || len(problems) != 0 {
			t.Errorf("CollectAndLint: %v %v", problems, err)
		}
	}

	// A second New on the same registry is a programming error.
	defer func() {
		if recover() == nil {
			t.Error("registering twice did not panic")
		}
	}()
	New(reg)
}

func TestValues(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.RecordsConsumed.Add(3)
	if got := testutil.ToFloat64(m.RecordsConsumed); got != 3 {
		t.Errorf("records consumed = %v", got)
	}
	m.SetConsumerLag("flowlogs", 3, 42)
	if got := testutil.ToFloat64(m.ConsumerLag.WithLabelValues("flowlogs", "3")); got != 42 {
		t.Errorf("lag = %v", got)
	}
	m.DeleteConsumerLag("flowlogs", 3)
	if n := testutil.CollectAndCount(m.ConsumerLag); n != 0 {
		t.Errorf("lag series after delete = %d", n)
	}
	m.AdvisorEvaluated(20*time.Millisecond, 100)
	m.AdvisorEvaluated(30*time.Millisecond, 7)
	if got := testutil.ToFloat64(m.AdvisorEvaluations); got != 2 {
		t.Errorf("evaluations = %v", got)
	}
	if got := testutil.ToFloat64(m.AdvisorRulesJudged); got != 107 {
		t.Errorf("rules judged = %v", got)
	}
	if n := testutil.CollectAndCount(m.AdvisorDuration, "cinch_advisor_evaluation_duration_seconds"); n != 1 {
		t.Errorf("histogram count = %d", n)
	}
}

func TestRulesByVerdictResetsAbsentVerdicts(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.SetRulesByVerdict(map[string]int{"keep": 2, "narrow": 5})
	m.SetRulesByVerdict(map[string]int{"keep": 3})
	if got := testutil.ToFloat64(m.RulesByVerdict.WithLabelValues("narrow")); got != 0 {
		t.Errorf("narrow = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.RulesByVerdict.WithLabelValues("keep")); got != 3 {
		t.Errorf("keep = %v, want 3", got)
	}
}

func TestCheckpointAge(t *testing.T) {
	now := time.Unix(1000, 0)
	m := newMetrics(prometheus.NewRegistry(), func() time.Time { return now })
	now = now.Add(30 * time.Second)
	if got := testutil.ToFloat64(m.CheckpointAge); got != 30 {
		t.Errorf("age before any checkpoint = %v, want 30 (since start)", got)
	}
	m.CheckpointSucceeded(now, 1500*time.Millisecond)
	now = now.Add(5 * time.Second)
	if got := testutil.ToFloat64(m.CheckpointAge); got != 5 {
		t.Errorf("age = %v, want 5", got)
	}
	if got := testutil.ToFloat64(m.CheckpointLastSuccess); got != 1030 {
		t.Errorf("last success = %v, want 1030", got)
	}
	// Setting the gauge directly drives the age too.
	m.CheckpointLastSuccess.Set(1033)
	if got := testutil.ToFloat64(m.CheckpointAge); got != 2 {
		t.Errorf("age after a direct set = %v, want 2", got)
	}
}

func TestSetRulesBoundsCardinality(t *testing.T) {
	m := New(prometheus.NewRegistry())
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("sg-1|ingress|tcp|%d-%d|0.0.0.0/0", i, i)
	}
	m.SetRules(keys)
	at := time.Unix(1_700_000_000, 0)
	for i, k := range keys {
		m.RuleMatched("sg-1", fmt.Sprintf("sgr-%d", i), k, at)
		m.RuleStopped("sg-1", k, i%2 == 0)
	}
	// Keys outside the inventory are not recorded.
	for i := range 50 {
		k := fmt.Sprintf("unknown-%d", i)
		m.RuleMatched("sg-9", "sgr-x", k, at)
		m.RuleStopped("sg-9", k, true)
	}
	if n := testutil.CollectAndCount(m.RuleLastMatch); n != 100 {
		t.Errorf("last-match series = %d, want 100", n)
	}
	if n := testutil.CollectAndCount(m.RuleStoppedMatching); n != 100 {
		t.Errorf("stopped series = %d, want 100", n)
	}
	if got := testutil.ToFloat64(m.RuleLastMatch.WithLabelValues("sg-1", "sgr-7", keys[7])); got != 1_700_000_000 {
		t.Errorf("last match = %v", got)
	}

	// The inventory shrinks: series of departed rules go.
	m.SetRules(keys[:10])
	if n := testutil.CollectAndCount(m.RuleLastMatch); n != 10 {
		t.Errorf("last-match series after shrink = %d, want 10", n)
	}
	if n := testutil.CollectAndCount(m.RuleStoppedMatching); n != 10 {
		t.Errorf("stopped series after shrink = %d, want 10", n)
	}
	m.RuleMatched("sg-1", "sgr-50", keys[50], at)
	if n := testutil.CollectAndCount(m.RuleLastMatch); n != 10 {
		t.Errorf("departed rule recorded: %d series", n)
	}

	// Series written directly on the vectors are pruned too.
	m.RuleLastMatch.WithLabelValues("sg-3", "sgr-direct", "direct-key").Set(1)
	m.RuleStoppedMatching.WithLabelValues("sg-3", "direct-key").Set(1)
	m.RuleLastMatch.WithLabelValues("sg-1", "sgr-direct", keys[1]).Set(1) // stays: in the inventory
	m.SetRules(keys[:10])
	if n := testutil.CollectAndCount(m.RuleLastMatch); n != 11 {
		t.Errorf("last-match series after pruning direct writes = %d, want 11", n)
	}
	if n := testutil.CollectAndCount(m.RuleStoppedMatching); n != 10 {
		t.Errorf("stopped series after pruning direct writes = %d, want 10", n)
	}
	m.RuleLastMatch.DeleteLabelValues("sg-1", "sgr-direct", keys[1])

	// A rule whose labels change keeps one series.
	m.RuleMatched("sg-2", "sgr-0b", keys[0], at)
	m.RuleStopped("sg-2", keys[0], false)
	if n := testutil.CollectAndCount(m.RuleLastMatch); n != 10 {
		t.Errorf("relabelled rule: %d last-match series, want 10", n)
	}
	if n := testutil.CollectAndCount(m.RuleStoppedMatching); n != 10 {
		t.Errorf("relabelled rule: %d stopped series, want 10", n)
	}
}
