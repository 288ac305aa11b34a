// Package config loads the configuration of the cinch streaming daemon.
//
// A configuration comes from three layers, each overriding the one before:
//
//  1. built-in defaults (see [Default]);
//  2. one YAML file; unknown keys, wrong types and duplicate keys are errors
//     that name the file, the line and the key path;
//  3. environment variables.
//
// The result is then checked by [Config.Validate], which reports every
// problem at once.
//
// # Environment overrides
//
// Every scalar, boolean, number, duration and list key can be set from the
// environment: CINCH_ followed by the key path in upper case, the parts
// joined by "_". Lists are comma-separated. Examples:
//
//	CINCH_LISTEN=0.0.0.0:8080
//	CINCH_STATE_DIR=/var/lib/cinch
//	CINCH_KAFKA_BROKERS=b-1.example:9096,b-2.example:9096
//	CINCH_KAFKA_SASL_PASSWORD=...        (keep secrets out of the file)
//	CINCH_KAFKA_TLS_ENABLED=true
//	CINCH_ANALYSIS_WINDOW=48h
//	CINCH_DEMO=true
//
// Setting any CINCH_KAFKA_* variable creates the kafka section when the file
// has none. Empty variables are treated as unset. formats.log_groups cannot
// be set from the environment.
//
// Tokens: CINCH_AUTH_TOKEN_<NAME>=<role>:<token> sets the role and plain token
// of the token called NAME (upper-cased, characters other than letters and
// digits as "_"). It applies to every token named in the file, and adds the
// tokens named in CINCH_AUTH_TOKEN_NAMES (comma-separated) when the file does
// not have them. Other CINCH_ variables are ignored, so other tools may set
// them; [Config.IgnoredEnv] lists them so that the daemon can warn about typos.
//
// # Demo mode
//
// [Config.Demo] (key demo, CINCH_DEMO) marks the configuration of
// "cinch daemon --demo", which runs on a built-in simulated account and
// traffic: it is then valid without any input (kafka or files).
//
// Relative paths (state_dir, files, inventory and TLS files) are relative to
// the working directory of the daemon, not to the configuration file.
package config

import (
	"maps"
	"slices"
	"time"
)

// RedactedValue replaces secrets in [Config.Redacted].
const RedactedValue = "REDACTED"

// Config is the whole configuration of the daemon.
type Config struct {
	// Listen is the host:port of the HTTP API and dashboard.
	Listen string `yaml:"listen"`
	// StateDir is the directory where checkpoints are written.
	StateDir string `yaml:"state_dir"`
	// Demo marks the built-in demo mode, which needs no input.
	Demo bool `yaml:"demo"`
	// Inventory names the offline inventory files (AWS CLI JSON exports).
	Inventory Inventory `yaml:"inventory"`
	// Kafka is the Kafka input; nil means no Kafka input.
	Kafka *Kafka `yaml:"kafka"`
	// Files are local flow-log files replayed through the same pipeline;
	// "-" is standard input.
	Files []string `yaml:"files"`
	// Formats are the flow-log formats of the inputs.
	Formats Formats `yaml:"formats"`
	// Analysis tunes attribution, sketches and verdicts.
	Analysis Analysis `yaml:"analysis"`
	// Checkpoint tunes how state is saved to StateDir.
	Checkpoint Checkpoint `yaml:"checkpoint"`
	// ClickHouse is the ClickHouse sink; nil means none.
	ClickHouse *ClickHouse `yaml:"clickhouse"`
	// Auth holds API tokens and allowed browser origins.
	Auth Auth `yaml:"auth"`
	// Alerts configures rule alerts sent to webhooks.
	Alerts Alerts `yaml:"alerts"`
	// API tunes the HTTP API.
	API API `yaml:"api"`
	// Log configures the daemon's own logging.
	Log Log `yaml:"log"`
	// Apply configures POST /api/v1/apply (off by default).
	Apply Apply `yaml:"apply"`
	// S3Backfill lists ranges of flow-log files in S3 to read once.
	S3Backfill []S3Backfill `yaml:"s3_backfill"`
	// LiveTail reads CloudWatch Logs Live Tail; nil means not.
	LiveTail *LiveTail `yaml:"livetail"`
}

// Inventory names the files that describe the AWS account, as printed by
// the AWS CLI. Files are re-read when their modification time changes.
type Inventory struct {
	// SecurityGroups are outputs of "aws ec2 describe-security-groups".
	SecurityGroups []string `yaml:"security_groups"`
	// SecurityGroupRules are outputs of "aws ec2 describe-security-group-rules".
	SecurityGroupRules []string `yaml:"security_group_rules"`
	// NetworkInterfaces are outputs of "aws ec2 describe-network-interfaces".
	NetworkInterfaces []string `yaml:"network_interfaces"`
	// ConfigSnapshots are AWS Config snapshot or history files, for
	// interfaces that no longer exist.
	ConfigSnapshots []string `yaml:"config_snapshots"`
	// PrefixLists are outputs of "aws ec2 get-managed-prefix-list-entries"
	// or "describe-managed-prefix-lists".
	PrefixLists []string `yaml:"prefix_lists"`
	// FlowLogs are outputs of "aws ec2 describe-flow-logs": interfaces under
	// a flow log of type ALL or ACCEPT count as observed from its creation.
	FlowLogs []string `yaml:"flow_logs"`
	// ReloadInterval is how often the files' modification times are checked.
	ReloadInterval Duration `yaml:"reload_interval"`
	// AWS reads the inventory live from the EC2 API; nil means it is not.
	AWS *AWSInventory `yaml:"aws"`
	// SuspectDrop is the share (0 to 1) of its security groups or network
	// interfaces a reloaded inventory may lose at once; one that loses more
	// is suspect: held back (the previous one stays in use) and reported on
	// /readyz. 1 turns the check off.
	SuspectDrop float64 `yaml:"suspect_drop"`
	// SuspectReloads is how many consecutive reload checks a suspect
	// inventory must persist unchanged before it is accepted.
	SuspectReloads int `yaml:"suspect_reloads"`
}

// Kafka configures the Kafka input.
type Kafka struct {
	// Brokers are the seed brokers, as host:port.
	Brokers []string `yaml:"brokers"`
	// Topics are the topics carrying flow logs.
	Topics []string `yaml:"topics"`
	// Group is the consumer group (default "cinch").
	Group string `yaml:"group"`
	// ClientID is the Kafka client id (default "cinch").
	ClientID string `yaml:"client_id"`
	// DeadLetterTopic receives records that cannot be parsed; "" drops them.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// StartAtEnd starts a new consumer group at the newest offsets instead
	// of the oldest.
	StartAtEnd bool `yaml:"start_at_end"`
	// TLS configures encryption to the brokers.
	TLS TLS `yaml:"tls"`
	// SASL configures authentication to the brokers.
	SASL SASL `yaml:"sasl"`
}

// TLS configures TLS to the Kafka brokers.
type TLS struct {
	// Enabled turns TLS on; without CAFile the system roots are trusted.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of CA certificates to trust.
	CAFile string `yaml:"ca_file"`
	// CertFile is the PEM client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `yaml:"key_file"`
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string `yaml:"server_name"`
}

// SASL mechanisms accepted in [SASL.Mechanism].
const (
	SASLPlain       = "PLAIN"         // user and password in clear (use TLS)
	SASLScramSHA256 = "SCRAM-SHA-256" // salted challenge, SHA-256
	SASLScramSHA512 = "SCRAM-SHA-512" // salted challenge, SHA-512 (MSK SCRAM)
	SASLAWSMSKIAM   = "AWS_MSK_IAM"   // Amazon MSK IAM, AWS credential chain
)

// SASL configures authentication to the Kafka brokers.
type SASL struct {
	// Mechanism is "" (none), PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or
	// AWS_MSK_IAM; Load also accepts lower case.
	Mechanism string `yaml:"mechanism"`
	// Username is the user for PLAIN and SCRAM.
	Username string `yaml:"username"`
	// Password is the password for PLAIN and SCRAM; prefer
	// CINCH_KAFKA_SASL_PASSWORD to writing it in the file.
	Password string `yaml:"password"`
	// AWSRegion is the region of the MSK cluster for AWS_MSK_IAM;
	// credentials come from the usual AWS chain.
	AWSRegion string `yaml:"aws_region"`
}

// Formats are the flow-log formats of the inputs.
type Formats struct {
	// Default is the format of records with no more specific format,
	// as in AWS ("${version} ${vpc-id} ..."); "" is the AWS default format.
	Default string `yaml:"default"`
	// LogGroups maps a CloudWatch log group name to its format.
	LogGroups map[string]string `yaml:"log_groups"`
}

// Analysis tunes attribution, sketches and verdicts.
type Analysis struct {
	// Window is the observation window of verdicts.
	Window Duration `yaml:"window"`
	// Bucket is the time granularity of usage inside Window.
	Bucket Duration `yaml:"bucket"`
	// StoppedMatchingAfter is how long a rule that matched traffic must be
	// silent before a "stopped matching" alert.
	StoppedMatchingAfter Duration `yaml:"stopped_matching_after"`
	// WildcardThreshold is the number of distinct sources from which a
	// wildcard rule is kept.
	WildcardThreshold uint64 `yaml:"wildcard_threshold"`
	// MaxCIDRs is the most prefixes a narrowed rule is split into.
	MaxCIDRs int `yaml:"max_cidrs"`
	// MaxPortRanges is the most port ranges a narrowed rule is split into.
	MaxPortRanges int `yaml:"max_port_ranges"`
	// NodeBudget is the per-rule node budget of the source sketch.
	NodeBudget int `yaml:"node_budget"`
	// EvaluateInterval is how often verdicts are recomputed.
	EvaluateInterval Duration `yaml:"evaluate_interval"`
	// DedupeWindow is how long, in event time, a CloudWatch batch is
	// remembered so that its redelivery counts once.
	DedupeWindow Duration `yaml:"dedupe_window"`
	// DedupeMaxBatches bounds the batches remembered per partition (the
	// oldest minutes go first beyond it; 0: no bound).
	DedupeMaxBatches int `yaml:"dedupe_max_batches"`
	// MinHistory is the span of observation below which verdicts have low
	// confidence (reason short-history).
	MinHistory Duration `yaml:"min_history"`
}

// Checkpoint tunes how state is saved to [Config.StateDir].
type Checkpoint struct {
	// Interval is the time between two checkpoints.
	Interval Duration `yaml:"interval"`
}

// Token roles accepted in [Token.Role], from least to most powerful.
const (
	RoleViewer   = "viewer"   // read suggestions, events and metrics
	RoleReviewer = "reviewer" // also accept or reject proposals
	RoleApplier  = "applier"  // also apply changes to AWS
)

// Auth holds API tokens and allowed browser origins.
type Auth struct {
	// Tokens are the accepted API tokens.
	Tokens []Token `yaml:"tokens"`
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call the API and open the websocket, besides the daemon's own.
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// API tunes the HTTP API.
type API struct {
	// MaxWebsocketClients bounds the open events websockets; beyond it a
	// new one is refused with 503.
	MaxWebsocketClients int `yaml:"max_websocket_clients"`
}

// Token is one API token. Give exactly one of SHA256 and Token.
type Token struct {
	// Name identifies the token in logs and in CINCH_AUTH_TOKEN_<NAME>.
	Name string `yaml:"name"`
	// Role is viewer, reviewer or applier.
	Role string `yaml:"role"`
	// SHA256 is the hex SHA-256 of the token (preferred).
	SHA256 string `yaml:"sha256"`
	// Token is the plain token (discouraged: prefer SHA256 or
	// CINCH_AUTH_TOKEN_<NAME>).
	Token string `yaml:"token"`
}

// Log configures the daemon's own logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default returns the built-in defaults. It has no input, so it is valid
// only with Demo set.
func Default() Config {
	return Config{
		Listen:    "127.0.0.1:8080",
		StateDir:  "./cinch-state",
		Inventory: Inventory{ReloadInterval: Duration(30 * time.Second), SuspectDrop: 0.5, SuspectReloads: 3},
		Analysis: Analysis{
			Window:               Duration(720 * time.Hour),
			Bucket:               Duration(time.Hour),
			StoppedMatchingAfter: Duration(24 * time.Hour),
			WildcardThreshold:    100,
			MaxCIDRs:             4,
			MaxPortRanges:        4,
			NodeBudget:           128,
			EvaluateInterval:     Duration(time.Second),
			DedupeWindow:         Duration(24 * time.Hour),
			DedupeMaxBatches:     1_000_000,
			MinHistory:           Duration(14 * 24 * time.Hour),
		},
		Checkpoint: Checkpoint{Interval: Duration(10 * time.Second)},
		API:        API{MaxWebsocketClients: 256},
		Log:        Log{Level: "info", Format: "text"},
	}
}

// setKafkaDefaults fills the defaults of a Kafka section that the file or
// the environment created.
func setKafkaDefaults(k *Kafka) {
	if k == nil {
		return
	}
	if k.Group == "" {
		k.Group = "cinch"
	}
	if k.ClientID == "" {
		k.ClientID = "cinch"
	}
}

// Redacted returns a deep copy of c with passwords and plain tokens
// replaced by "REDACTED", fit for logging. Token hashes are kept.
func (c Config) Redacted() Config {
	r := c
	r.Files = slices.Clone(c.Files)
	r.Inventory.SecurityGroups = slices.Clone(c.Inventory.SecurityGroups)
	r.Inventory.SecurityGroupRules = slices.Clone(c.Inventory.SecurityGroupRules)
	r.Inventory.NetworkInterfaces = slices.Clone(c.Inventory.NetworkInterfaces)
	r.Inventory.ConfigSnapshots = slices.Clone(c.Inventory.ConfigSnapshots)
	r.Inventory.PrefixLists = slices.Clone(c.Inventory.PrefixLists)
	r.Inventory.FlowLogs = slices.Clone(c.Inventory.FlowLogs)
	if c.Inventory.AWS != nil {
		r.Inventory.AWS = c.Inventory.AWS.clone()
	}
	r.Apply = c.Apply.clone()
	r.S3Backfill = cloneBackfills(c.S3Backfill)
	if c.LiveTail != nil {
		r.LiveTail = c.LiveTail.clone()
	}
	r.Formats.LogGroups = maps.Clone(c.Formats.LogGroups)
	r.Auth.AllowedOrigins = slices.Clone(c.Auth.AllowedOrigins)
	if c.Kafka != nil {
		k := *c.Kafka
		k.Brokers = slices.Clone(k.Brokers)
		k.Topics = slices.Clone(k.Topics)
		if k.SASL.Password != "" {
			k.SASL.Password = RedactedValue
		}
		r.Kafka = &k
	}
	r.Alerts = c.Alerts.redacted()
	if c.ClickHouse != nil {
		ch := *c.ClickHouse
		if ch.Password != "" {
			ch.Password = RedactedValue
		}
		r.ClickHouse = &ch
	}
	r.Auth.Tokens = slices.Clone(c.Auth.Tokens)
	for i := range r.Auth.Tokens {
		if r.Auth.Tokens[i].Token != "" {
			r.Auth.Tokens[i].Token = RedactedValue
		}
	}
	return r
}
