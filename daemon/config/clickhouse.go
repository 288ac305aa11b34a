package config

import (
	"net"
	"regexp"
)

// ClickHouse configures the ClickHouse sink: rule usage over time,
// suggestions, events, reviews, and the partitions' checkpoints through
// which instances on different hosts meet. Nil means no ClickHouse;
// CINCH_CLICKHOUSE_ADDR creates the section.
type ClickHouse struct {
	// Addr is the server's native-protocol address, host:port.
	Addr string `yaml:"addr"`
	// Database holds cinch's tables (default "cinch"; created by the daemon).
	Database string `yaml:"database"`
	// Username and Password authenticate (default user "default").
	Username string `yaml:"username"`
	// Password; prefer CINCH_CLICKHOUSE_PASSWORD.
	Password string `yaml:"password"`
	// BatchSize is the number of rows that triggers a write before
	// FlushInterval, and the most rows one insert sends (default 10000).
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a row waits before it is written (default 1s).
	FlushInterval Duration `yaml:"flush_interval"`
	// Buffer bounds the suggestions, events and reviews waiting while
	// ClickHouse is unreachable (default 100000; the oldest are dropped and
	// counted beyond). Usage and checkpoint rows are state: the latest per
	// key waits, whatever the outage's length.
	Buffer int `yaml:"buffer"`
	// Retention drops rule_usage, suggestions and events partitions older
	// than this (0: keep everything).
	Retention Duration `yaml:"retention"`
	// Instance names this daemon in the rows it writes (default: host name
	// and listen address).
	Instance string `yaml:"instance"`
}

var chDatabase = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *ClickHouse) validate(v *validator) {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		v.add("clickhouse.addr", "must be host:port of ClickHouse's native protocol, such as 127.0.0.1:9000")
	}
	if c.Database != "" && !chDatabase.MatchString(c.Database) {
		v.add("clickhouse.database", "letters, digits and _ only")
	}
	if c.BatchSize < 0 || c.Buffer < 0 || c.FlushInterval < 0 || c.Retention < 0 {
		v.add("clickhouse", "batch_size, buffer, flush_interval and retention must not be negative")
	}
}
