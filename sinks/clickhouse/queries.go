package clickhouse

// Queries the sink runs and the example queries of the README, with ?
// placeholders bound by the driver. Each runs on 18.16 and current releases.
const (
	// qAppliedMigrations lists the versions recorded.
	qAppliedMigrations = `SELECT version FROM {db}.schema_migrations GROUP BY version ORDER BY version`
	// qSketchVersions is the latest version of each partition's checkpoint.
	qSketchVersions = `SELECT partition, max(version) AS v FROM {db}.sketches GROUP BY partition ORDER BY partition`
	// qSketch is a partition's latest checkpoint.
	qSketch = `SELECT partition, version, next_offset, watermark, instance, written, data FROM {db}.sketches WHERE partition = ? ORDER BY version DESC, written DESC LIMIT 1`
	// qPartitions lists a table's active partitions (for retention).
	qPartitions = `SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active`

	// QueryRuleUsage is the usage of one rule over time, all partitions
	// summed (Grafana: a rule's panel).
	QueryRuleUsage = `SELECT bucket, sum(flows) AS flows, sum(packets) AS packets, sum(bytes) AS bytes, max(sources) AS sources
FROM {db}.rule_usage FINAL
WHERE rule_key = ? AND bucket >= ? AND bucket < ?
GROUP BY bucket ORDER BY bucket`
	// QueryGroupExposure is, per group, how much traffic its rules let in
	// and how many of them saw any (Grafana: exposure by group).
	QueryGroupExposure = `SELECT group_id, uniqExact(rule_key) AS rules_used, sum(flows) AS flows, sum(bytes) AS bytes, max(sources) AS max_sources
FROM {db}.rule_usage FINAL
WHERE bucket >= ? AND bucket < ?
GROUP BY group_id ORDER BY flows DESC`
	// QueryLatestVerdicts is the latest verdict of every rule (Grafana:
	// current verdicts table).
	QueryLatestVerdicts = `SELECT rule_key, argMax(verdict, tuple(time, version)) AS verdict, argMax(confidence, tuple(time, version)) AS confidence, max(time) AS since
FROM {db}.suggestions
GROUP BY rule_key ORDER BY rule_key`
	// QueryEvents lists the events of a time range, newest first.
	QueryEvents = `SELECT time, type, rule_key, verdict, previous_verdict FROM {db}.events WHERE time >= ? ORDER BY time DESC, version DESC LIMIT 1000`
	// QueryReviews lists a rule's review decisions.
	QueryReviews = `SELECT time, decision, reviewer, comment FROM {db}.reviews WHERE rule_key = ? ORDER BY time`
	// QueryApplies lists the apply runs since a time, newest first, each
	// run's steps in order.
	QueryApplies = `SELECT time, run_id, who, dry_run, step, target, op, group_id, rule_key, rules, status, error, new_rule_ids, run_error
FROM {db}.applies WHERE time >= ? ORDER BY time DESC, run_id, step LIMIT 1000`
)
