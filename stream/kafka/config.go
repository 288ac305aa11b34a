package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	kaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanism names accepted in [SASLConfig.Mechanism].
const (
	MechanismPLAIN       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
	MechanismAWSMSKIAM   = "AWS_MSK_IAM"
)

const (
	// defaultMaxPollRecords bounds one poll when Config.MaxPollRecords is 0,
	// so that rebalances (blocked while a poll is handled) are not delayed
	// by huge batches.
	defaultMaxPollRecords = 10_000
	// maxFetchMaxBytes is franz-go's default BrokerMaxReadBytes; a larger
	// fetch size would make every fetch response unreadable.
	maxFetchMaxBytes = 100 << 20
	// maxTopicNameLen is Kafka's limit on topic name length.
	maxTopicNameLen = 249
)

// TLSConfig configures TLS to the brokers. Files are PEM encoded.
type TLSConfig struct {
	// Enabled turns TLS on. With no CAFile the system roots are used.
	Enabled bool
	// CAFile is a PEM bundle of CAs trusted to sign the brokers' certificates.
	CAFile string
	// CertFile and KeyFile are the client certificate and key (mutual TLS);
	// both or neither must be set.
	CertFile, KeyFile string
	// InsecureSkipVerify disables verification of the brokers' certificates
	// (tests only).
	InsecureSkipVerify bool
	// ServerName overrides the name verified in the brokers' certificates;
	// by default each broker's host name is used.
	ServerName string
}

// SASLConfig configures SASL authentication. Its String and LogValue methods
// never reveal the password.
type SASLConfig struct {
	// Mechanism is "" (no SASL), "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" or
	// "AWS_MSK_IAM" (case-insensitive).
	Mechanism string
	// Username and Password authenticate PLAIN and SCRAM.
	Username, Password string
	// AWSRegion is the region for AWS_MSK_IAM; credentials come from the
	// default AWS chain (environment, shared files, IMDS, ...). Empty means
	// the region from the AWS environment.
	AWSRegion string
}

// String describes the SASL configuration with the password redacted.
func (s SASLConfig) String() string {
	pw := ""
	if s.Password != "" {
		pw = "REDACTED"
	}
	return fmt.Sprintf("{Mechanism:%s Username:%s Password:%s AWSRegion:%s}", s.Mechanism, s.Username, pw, s.AWSRegion)
}

// LogValue implements slog.LogValuer with the password redacted.
func (s SASLConfig) LogValue() slog.Value {
	pw := ""
	if s.Password != "" {
		pw = "REDACTED"
	}
	return slog.GroupValue(
		slog.String("mechanism", s.Mechanism),
		slog.String("username", s.Username),
		slog.String("password", pw),
		slog.String("aws_region", s.AWSRegion),
	)
}

// MarshalJSON encodes the SASL configuration with the password redacted, so
// that a configuration dumped as JSON (or logged by a JSON handler) never
// carries the secret.
func (s SASLConfig) MarshalJSON() ([]byte, error) {
	type redacted SASLConfig // no methods: no recursion
	r := redacted(s)
	if r.Password != "" {
		r.Password = "REDACTED"
	}
	return json.Marshal(r)
}

// Config configures a [Consumer] (and, through its connection fields, a
// [Producer] and [EnsureTopics]).
type Config struct {
	// Brokers are the seed brokers, "host:port" (port 9092 when omitted).
	Brokers []string
	// Topics are consumed as one consumer group.
	Topics []string
	// Group is the consumer group id.
	Group string
	// ClientID is sent to the brokers (default "cinch").
	ClientID string
	// TLS configures TLS to the brokers.
	TLS TLSConfig
	// SASL configures SASL authentication.
	SASL SASLConfig
	// DeadLetterTopic receives records passed to Consumer.DeadLetter; ""
	// disables dead-lettering (such records are only counted).
	DeadLetterTopic string
	// FetchMaxBytes bounds one fetch response (0 = franz-go's 50 MiB; at most
	// 100 MiB).
	FetchMaxBytes int32
	// MaxPollRecords bounds the records handled per poll (0 = 10000).
	MaxPollRecords int
	// StartAtEnd starts partitions that have neither a checkpoint nor a
	// committed offset at their end instead of their start.
	StartAtEnd bool
	// SessionTimeout is the group session timeout (0 = franz-go's 45s).
	SessionTimeout time.Duration
	// HeartbeatInterval is the group heartbeat interval (0 = franz-go's 3s);
	// it also bounds how quickly a member notices a rebalance.
	HeartbeatInterval time.Duration
	// Concurrency is how many partitions of one poll are handled at once
	// (0 or 1: one after another). Handle is then called concurrently for
	// different partitions, never for the same one.
	Concurrency int
}

// LogValue implements slog.LogValuer: the configuration without secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("brokers", c.Brokers),
		slog.Any("topics", c.Topics),
		slog.String("group", c.Group),
		slog.String("client_id", c.ClientID),
		slog.Bool("tls", c.TLS.Enabled),
		slog.Any("sasl", c.SASL),
		slog.String("dead_letter_topic", c.DeadLetterTopic),
		slog.Bool("start_at_end", c.StartAtEnd),
	)
}

// Validate reports every problem of a consumer configuration at once.
func (c Config) Validate() error {
	errs := c.validateConn()
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("no topics"))
	}
	seen := make(map[string]bool, len(c.Topics))
	for _, t := range c.Topics {
		if err := validateTopic(t); err != nil {
			errs = append(errs, fmt.Errorf("topics: %w", err))
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("topics: %q listed twice", t))
		}
		seen[t] = true
	}
	if strings.TrimSpace(c.Group) == "" {
		errs = append(errs, errors.New("no consumer group"))
	}
	if c.DeadLetterTopic != "" {
		if err := validateTopic(c.DeadLetterTopic); err != nil {
			errs = append(errs, fmt.Errorf("dead-letter topic: %w", err))
		} else if seen[c.DeadLetterTopic] {
			errs = append(errs, fmt.Errorf("dead-letter topic %q is also consumed", c.DeadLetterTopic))
		}
	}
	if c.FetchMaxBytes < 0 || c.FetchMaxBytes > maxFetchMaxBytes {
		errs = append(errs, fmt.Errorf("fetch max bytes %d out of range [0, %d]", c.FetchMaxBytes, maxFetchMaxBytes))
	}
	if c.MaxPollRecords < 0 {
		errs = append(errs, fmt.Errorf("max poll records %d is negative", c.MaxPollRecords))
	}
	if c.SessionTimeout < 0 || c.HeartbeatInterval < 0 {
		errs = append(errs, errors.New("negative session timeout or heartbeat interval"))
	}
	if c.SessionTimeout > 0 && c.HeartbeatInterval > 0 && c.HeartbeatInterval >= c.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat interval %s must be below session timeout %s", c.HeartbeatInterval, c.SessionTimeout))
	}
	if len(errs) > 0 {
		return fmt.Errorf("kafka config: %w", errors.Join(errs...))
	}
	return nil
}

// validateConn checks the fields needed to connect: brokers, TLS and SASL.
func (c Config) validateConn() []error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	for _, b := range c.Brokers {
		if err := validateBroker(b); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.TLS.validate()...)
	errs = append(errs, c.SASL.validate()...)
	return errs
}

func validateBroker(b string) error {
	if strings.TrimSpace(b) == "" || strings.ContainsAny(b, " \t/") {
		return fmt.Errorf("broker %q: want host:port", b)
	}
	if !strings.Contains(b, ":") {
		return nil // franz-go adds the default port 9092
	}
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		return fmt.Errorf("broker %q: %w", b, err)
	}
	n, err := strconv.Atoi(port)
	if host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("broker %q: want host:port", b)
	}
	return nil
}

func validateTopic(t string) error {
	if t == "" || t == "." || t == ".." || len(t) > maxTopicNameLen {
		return fmt.Errorf("invalid topic name %q", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("invalid topic name %q: only [a-zA-Z0-9._-] allowed", t)
		}
	}
	return nil
}

func (t TLSConfig) validate() []error {
	var errs []error
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify || t.ServerName != "" {
			errs = append(errs, errors.New("tls: options set but tls is not enabled"))
		}
		return errs
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert file and key file must be set together"))
	}
	for _, f := range []struct{ name, path string }{{"ca file", t.CAFile}, {"cert file", t.CertFile}, {"key file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("tls %s: %w", f.name, err))
		}
	}
	return errs
}

func (s SASLConfig) validate() []error {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		if s.Username != "" || s.Password != "" {
			return []error{errors.New("sasl: username/password set but no mechanism")}
		}
	case MechanismPLAIN, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		if s.Username == "" || s.Password == "" {
			return []error{fmt.Errorf("sasl %s: username and password are required", s.Mechanism)}
		}
	case MechanismAWSMSKIAM:
		if s.Username != "" || s.Password != "" {
			return []error{errors.New("sasl AWS_MSK_IAM: credentials come from the AWS chain, not username/password")}
		}
	default:
		return []error{fmt.Errorf("sasl: unknown mechanism %q (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM)", s.Mechanism)}
	}
	return nil
}

// clientOpts returns the franz-go options shared by consumers, producers and
// admin clients: brokers, client id, TLS, SASL and logging.
func clientOpts(cfg Config, logger *slog.Logger) ([]kgo.Opt, error) {
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = "cinch"
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(clientID),
		kgo.WithLogger(kgoLogger{logger}),
	}
	if cfg.TLS.Enabled {
		tc, err := cfg.TLS.build()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if cfg.SASL.Mechanism != "" {
		m, err := cfg.SASL.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
		if !cfg.TLS.Enabled && strings.ToUpper(cfg.SASL.Mechanism) != MechanismAWSMSKIAM {
			logger.Warn("kafka: SASL without TLS sends credentials unencrypted", "mechanism", cfg.SASL.Mechanism)
		}
	}
	return opts, nil
}

// build loads the TLS files into a tls.Config.
func (t TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // explicit opt-in for tests
		ServerName:         t.ServerName,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: read ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls: ca file %s: no PEM certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// mechanism builds the franz-go SASL mechanism.
func (s SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case MechanismPLAIN:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case MechanismSCRAMSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case MechanismSCRAMSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	case MechanismAWSMSKIAM:
		var loadOpts []func(*awsconfig.LoadOptions) error
		if s.AWSRegion != "" {
			loadOpts = append(loadOpts, awsconfig.WithRegion(s.AWSRegion))
		}
		// LoadDefaultConfig only reads the environment and shared files;
		// credentials are resolved (and cached, refreshed) per connection.
		awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), loadOpts...)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl AWS_MSK_IAM: load AWS config: %w", err)
		}
		return kaws.ManagedStreamingIAM(func(ctx context.Context) (kaws.Auth, error) {
			creds, err := awsCfg.Credentials.Retrieve(ctx)
			if err != nil {
				return kaws.Auth{}, fmt.Errorf("kafka sasl AWS_MSK_IAM: retrieve AWS credentials: %w", err)
			}
			return kaws.Auth{
				AccessKey:    creds.AccessKeyID,
				SecretKey:    creds.SecretAccessKey,
				SessionToken: creds.SessionToken,
			}, nil
		}), nil
	default:
		return nil, fmt.Errorf("kafka sasl: unknown mechanism %q", s.Mechanism)
	}
}

// kgoLogger adapts a slog.Logger to franz-go's logger interface.
type kgoLogger struct{ l *slog.Logger }

// Level reports the most verbose franz-go level the slog handler accepts.
// franz-go's info lines (metadata refreshes, group joins) are chatty, so
// they are logged at debug level.
func (k kgoLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case k.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelDebug
	case k.l.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	case k.l.Enabled(ctx, slog.LevelError):
		return kgo.LogLevelError
	default:
		return kgo.LogLevelNone
	}
}

// Log forwards one franz-go log line.
func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var l slog.Level
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	default:
		l = slog.LevelDebug
	}
	k.l.Log(context.Background(), l, "kafka: "+msg, keyvals...)
}

// orDiscard returns l, or a logger that discards everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
