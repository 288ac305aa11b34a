package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/apply"
)

// UsageRow is one rule's usage in one time bucket of one input partition:
// the bucket's totals so far. Version orders rows of the same key (the
// partition's offset: higher is newer).
type UsageRow struct {
	Bucket        time.Time
	BucketSeconds uint32
	GroupID       string
	RuleKey       string
	RuleID        string
	Direction     string
	Protocol      int16
	FromPort      int32
	ToPort        int32
	Source        string
	Partition     string
	Flows         uint64
	Packets       uint64
	Bytes         uint64
	// Sources is the distinct sources of the rule in this bucket and
	// partition; SourcesEstimated when part of it is a HyperLogLog estimate.
	Sources          uint64
	SourcesEstimated bool
	FirstSeen        time.Time
	LastSeen         time.Time
	Version          uint64
}

func (s *Sink) usageValues(r *UsageRow) []any {
	return []any{r.Bucket, r.BucketSeconds, r.GroupID, r.RuleKey, r.RuleID, r.Direction, r.Protocol, r.FromPort, r.ToPort,
		r.Source, r.Partition, r.Flows, r.Packets, r.Bytes, r.Sources, uint8Of(r.SourcesEstimated), r.FirstSeen, r.LastSeen, r.Version,
		s.cfg.Instance, time.Now()}
}

// SketchRow is an input partition's checkpoint: opaque bytes the daemon
// restores, with the offset they include.
type SketchRow struct {
	Partition string
	// Version orders checkpoints of a partition (higher is newer).
	Version    uint64
	NextOffset int64
	Watermark  int64
	Instance   string
	Written    time.Time
	Data       []byte
}

func sketchValues(r *SketchRow) []any {
	w := r.Written
	if w.IsZero() {
		w = time.Now()
	}
	return []any{r.Partition, r.Version, r.NextOffset, r.Watermark, r.Instance, w, string(r.Data)}
}

// SuggestionRow is a published verdict.
type SuggestionRow struct {
	Time       time.Time
	Version    uint64
	Instance   string
	RuleKey    string
	Suggestion advisor.Suggestion
}

func suggestionValues(r *SuggestionRow) []any {
	s := &r.Suggestion
	js, err := json.Marshal(s)
	if err != nil {
		js = []byte("{}")
	}
	proposed := make([]string, len(s.Proposed))
	for i, p := range s.Proposed {
		proposed[i] = RuleSpecString(p)
	}
	return []any{r.Time, r.Version, r.Instance, r.RuleKey, s.RuleID, s.GroupID, s.Direction, s.Verdict, s.Confidence,
		nonNil(s.Reasons), proposed, s.Evidence.Flows, s.Evidence.DistinctSources, s.Evidence.FirstSeen, s.Evidence.LastSeen, string(js)}
}

// RuleSpecString renders a proposed rule as "protocol from-to source", e.g.
// "tcp 22-22 10.0.0.0/8".
func RuleSpecString(p advisor.RuleSpec) string {
	return p.Protocol + " " + strconv.Itoa(int(p.FromPort)) + "-" + strconv.Itoa(int(p.ToPort)) + " " + p.Source
}

// EventRow is a change the daemon published.
type EventRow struct {
	Time            time.Time
	Version         uint64
	Instance        string
	Type            string
	RuleKey         string
	GroupID         string
	Verdict         string
	PreviousVerdict string
}

func eventValues(r *EventRow) []any {
	return []any{r.Time, r.Version, r.Instance, r.Type, r.RuleKey, r.GroupID, r.Verdict, r.PreviousVerdict}
}

// ReviewRow is a review decision.
type ReviewRow struct {
	Time     time.Time
	Version  uint64
	Instance string
	RuleKey  string
	Decision string
	Comment  string
	Reviewer string
}

func reviewValues(r *ReviewRow) []any {
	return []any{r.Time, r.Version, r.Instance, r.RuleKey, r.Decision, r.Comment, r.Reviewer}
}

// ApplyRow is one step of an apply run, or one proposal the run left out.
type ApplyRow struct {
	Time       time.Time // the run's start
	RunID      string
	Instance   string
	Who        string
	DryRun     bool
	Step       uint32 // 1-based order in the run; skipped proposals follow the steps
	Target     string // account/region
	Op         string // authorize-ingress, revoke-egress, ...; "skip" for a proposal left out
	GroupID    string
	RuleKey    string
	RuleID     string
	Rules      []string // the rules authorized, or the rule revoked, as RuleSpecString
	Status     string   // done, allowed, already, failed, not-done; skipped
	Error      string   // the step's error, or why the proposal was left out
	NewRuleIDs []string
	RunError   string // what stopped the run ("" when it finished)
}

func applyValues(r *ApplyRow) []any {
	return []any{r.Time, r.RunID, r.Instance, r.Who, uint8Of(r.DryRun), r.Step, r.Target, r.Op, r.GroupID, r.RuleKey, r.RuleID,
		nonNil(r.Rules), r.Status, r.Error, nonNil(r.NewRuleIDs), r.RunError}
}

// nonNil gives an Array column an empty array for nil.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// uint8Of gives a UInt8 flag column its value.
func uint8Of(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// ApplyRows returns the rows of an apply run's result, written by instance.
func ApplyRows(res *apply.Result, instance string) []ApplyRow {
	rows := make([]ApplyRow, 0, len(res.Steps)+len(res.Skipped))
	base := ApplyRow{Time: res.Start, RunID: res.RunID, Instance: instance, Who: res.Who, DryRun: res.DryRun, RunError: res.Error}
	for i, st := range res.Steps {
		r := base
		r.Step, r.Target, r.Op, r.GroupID, r.RuleKey, r.RuleID = uint32(i+1), st.Target, st.Op, st.GroupID, st.RuleKey, st.RuleID
		r.Status, r.Error, r.NewRuleIDs = st.Status, st.Error, st.NewRuleIDs
		if len(st.Rules) > 0 {
			for _, p := range st.Rules {
				r.Rules = append(r.Rules, RuleSpecString(p))
			}
		} else if st.Judged.Protocol != "" {
			r.Rules = []string{RuleSpecString(st.Judged)}
		}
		rows = append(rows, r)
	}
	for i, sk := range res.Skipped {
		r := base
		r.Step, r.Op, r.RuleKey, r.RuleID, r.Status, r.Error = uint32(len(res.Steps)+i+1), "skip", sk.RuleKey, sk.RuleID, "skipped", sk.Reason
		if g, _, ok := strings.Cut(sk.RuleKey, "|"); ok {
			r.GroupID = g
		}
		rows = append(rows, r)
	}
	return rows
}

// SketchVersions returns the latest checkpoint version of every partition.
func (s *Sink) SketchVersions(ctx context.Context) (map[string]uint64, error) {
	rows, err := s.conn.Query(ctx, withDB(qSketchVersions, s.cfg.Database))
	if err != nil {
		return nil, fmt.Errorf("clickhouse: sketches: %w", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var p string
		var v uint64
		if err := rows.Scan(&p, &v); err != nil {
			return nil, fmt.Errorf("clickhouse: sketches: %w", err)
		}
		out[p] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: sketches: %w", err)
	}
	return out, nil
}

// Sketch returns a partition's latest checkpoint; ok is false when there is none.
func (s *Sink) Sketch(ctx context.Context, partition string) (r SketchRow, ok bool, err error) {
	rows, err := s.conn.Query(ctx, withDB(qSketch, s.cfg.Database), partition)
	if err != nil {
		return r, false, fmt.Errorf("clickhouse: sketch %s: %w", partition, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return r, false, rows.Err()
	}
	var data string
	if err := rows.Scan(&r.Partition, &r.Version, &r.NextOffset, &r.Watermark, &r.Instance, &r.Written, &data); err != nil {
		return r, false, fmt.Errorf("clickhouse: sketch %s: %w", partition, err)
	}
	r.Data = []byte(data)
	return r, true, rows.Err()
}

// DropBefore drops the partitions of rule_usage, suggestions and events that
// lie wholly before t (ClickHouse 18.16 has no TTL clause).
func (s *Sink) DropBefore(ctx context.Context, t time.Time) error {
	t = t.UTC()
	for _, tb := range []struct {
		table string
		end   func(p string) (time.Time, bool) // end of the partition's span
	}{
		{"rule_usage", dayEnd}, {"suggestions", monthEnd}, {"events", monthEnd},
	} {
		parts, err := s.partitions(ctx, tb.table)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if end, ok := tb.end(p); ok && !end.After(t) {
				if err := s.conn.Exec(ctx, "ALTER TABLE "+s.cfg.Database+"."+tb.table+" DROP PARTITION "+p); err != nil {
					return fmt.Errorf("clickhouse: retention: %s partition %s: %w", tb.table, p, err)
				}
				s.log.Info("clickhouse: retention dropped a partition", "table", tb.table, "partition", p)
			}
		}
	}
	return nil
}

func (s *Sink) partitions(ctx context.Context, table string) ([]string, error) {
	rows, err := s.conn.Query(ctx, qPartitions, s.cfg.Database, table)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("clickhouse: partitions of %s: %w", table, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func dayEnd(p string) (time.Time, bool) {
	t, err := time.Parse("20060102", p)
	return t.AddDate(0, 0, 1), err == nil
}

func monthEnd(p string) (time.Time, bool) {
	t, err := time.Parse("200601", p)
	return t.AddDate(0, 1, 0), err == nil
}
