package clickhouse

import "strings"

// The SQL below runs unchanged on ClickHouse 18.16 and on current releases:
// MergeTree() with PARTITION BY / ORDER BY clauses, DateTime, String instead
// of LowCardinality, parallel arrays instead of Map, and no TTL clause
// (retention drops whole partitions). {db} stands for the database.

// createDatabase creates the database.
const createDatabase = `CREATE DATABASE IF NOT EXISTS {db}`

// createMigrations is the table that records applied migrations. Two
// instances migrating at once may both record a version; ReplacingMergeTree
// folds the duplicates and readers group by version anyway.
const createMigrations = `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version UInt32,
    name String,
    applied DateTime,
    instance String
) ENGINE = ReplacingMergeTree(applied)
ORDER BY version`

// createRuleUsage: one row per rule, time bucket and input partition with the
// bucket's totals so far; a later row for the same key (higher version: the
// partition's offset) replaces it, so replays after a restart or an outage
// converge on the same rows. Read with FINAL (or argMax by version).
const createRuleUsage = `CREATE TABLE IF NOT EXISTS {db}.rule_usage (
    bucket DateTime,
    bucket_seconds UInt32,
    group_id String,
    rule_key String,
    rule_id String,
    direction String,
    protocol Int16,
    from_port Int32,
    to_port Int32,
    source String,
    partition String,
    flows UInt64,
    packets UInt64,
    bytes UInt64,
    sources UInt64,
    sources_estimated UInt8,
    first_seen DateTime,
    last_seen DateTime,
    version UInt64,
    instance String,
    written DateTime
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(bucket)
ORDER BY (group_id, rule_key, bucket, partition)`

// createSuggestions: every verdict the daemon published, append-only.
const createSuggestions = `CREATE TABLE IF NOT EXISTS {db}.suggestions (
    time DateTime,
    version UInt64,
    instance String,
    rule_key String,
    rule_id String,
    group_id String,
    direction String,
    verdict String,
    confidence String,
    reasons Array(String),
    proposed Array(String),
    flows UInt64,
    distinct_sources UInt64,
    first_seen String,
    last_seen String,
    suggestion String
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (rule_key, time, version)`

// createSketches: the latest checkpoint of each input partition (the bytes
// the state directory holds), so that instances merge each other's
// partitions and a new owner restores a partition.
const createSketches = `CREATE TABLE IF NOT EXISTS {db}.sketches (
    partition String,
    version UInt64,
    next_offset Int64,
    watermark Int64,
    instance String,
    written DateTime,
    data String
) ENGINE = ReplacingMergeTree(version)
ORDER BY partition`

// createReviews: review decisions on suggestions.
const createReviews = `CREATE TABLE IF NOT EXISTS {db}.reviews (
    time DateTime,
    version UInt64,
    instance String,
    rule_key String,
    decision String,
    comment String,
    reviewer String
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (rule_key, time)`

// createEvents: verdict changes, rules that stopped or resumed matching,
// rules removed, review decisions.
const createEvents = `CREATE TABLE IF NOT EXISTS {db}.events (
    time DateTime,
    version UInt64,
    instance String,
    type String,
    rule_key String,
    group_id String,
    verdict String,
    previous_verdict String
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (type, time, rule_key)`

// createApplies: every apply run, one row per step (an EC2 call of the plan)
// and one per proposal left out, append-only and never dropped by
// retention: it is the audit trail of what cinch changed in the account.
// A run's rows share run_id and time (the run's start); step orders them
// (skipped proposals come after the steps, status "skipped").
const createApplies = `CREATE TABLE IF NOT EXISTS {db}.applies (
    time DateTime,
    run_id String,
    instance String,
    who String,
    dry_run UInt8,
    step UInt32,
    target String,
    op String,
    group_id String,
    rule_key String,
    rule_id String,
    rules Array(String),
    status String,
    error String,
    new_rule_ids Array(String),
    run_error String
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (time, run_id, step)`

// migration is one versioned step of the schema. Its statements must be
// idempotent (IF NOT EXISTS; a column addition checks system.columns first)
// so that two instances may run it at once.
type migration struct {
	version    uint32
	name       string
	statements []string
}

// migrations is the schema history, oldest first. Append; never edit.
var migrations = []migration{
	{1, "rule_usage, suggestions, sketches, reviews, events",
		[]string{createRuleUsage, createSuggestions, createSketches, createReviews, createEvents}},
	{2, "applies", []string{createApplies}},
}

// SchemaVersion is the version the migrations bring the schema to.
func SchemaVersion() uint32 { return migrations[len(migrations)-1].version }

// withDB substitutes the database name into a statement.
func withDB(stmt, db string) string { return strings.ReplaceAll(stmt, "{db}", db) }

// DDL returns every schema statement, in order, for database db.
func DDL(db string) []string {
	out := []string{withDB(createDatabase, db), withDB(createMigrations, db)}
	for _, m := range migrations {
		for _, s := range m.statements {
			out = append(out, withDB(s, db))
		}
	}
	return out
}
