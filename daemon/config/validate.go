package config

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Limits checked by Validate.
const (
	// MaxBuckets is the most buckets an analysis window may hold.
	MaxBuckets = 10000
	// MinNodeBudget is the smallest per-rule sketch node budget.
	MinNodeBudget = 8
	// MaxMaxCIDRs is the largest accepted analysis.max_cidrs.
	MaxMaxCIDRs = 50
	// MaxMaxPortRanges is the largest accepted analysis.max_port_ranges.
	MaxMaxPortRanges = 50
	// MaxWebsocketClients is the largest accepted api.max_websocket_clients.
	MaxWebsocketClients = 100000
)

// normalize canonicalizes values whose case does not matter.
func (c *Config) normalize() {
	if c.Kafka != nil {
		c.Kafka.SASL.Mechanism = strings.ToUpper(strings.TrimSpace(c.Kafka.SASL.Mechanism))
	}
	for i := range c.Auth.Tokens {
		c.Auth.Tokens[i].Role = strings.ToLower(strings.TrimSpace(c.Auth.Tokens[i].Role))
		c.Auth.Tokens[i].SHA256 = strings.ToLower(strings.TrimSpace(c.Auth.Tokens[i].SHA256))
	}
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	c.Log.Format = strings.ToLower(strings.TrimSpace(c.Log.Format))
}

// Validate checks c and returns every problem at once, joined with
// errors.Join, each an *Error such as
// "config: kafka.brokers: at least one broker is required".
// Without Demo, at least one input (kafka or files) is required.
// TLS files named in kafka.tls must exist.
func (c *Config) Validate() error {
	v := &validator{}

	v.hostPort("listen", c.Listen)
	if strings.TrimSpace(c.StateDir) == "" {
		v.add("state_dir", "must name a directory for checkpoints, such as ./cinch-state")
	}

	v.paths("inventory.security_groups", c.Inventory.SecurityGroups)
	v.paths("inventory.security_group_rules", c.Inventory.SecurityGroupRules)
	v.paths("inventory.network_interfaces", c.Inventory.NetworkInterfaces)
	v.paths("inventory.config_snapshots", c.Inventory.ConfigSnapshots)
	v.paths("inventory.prefix_lists", c.Inventory.PrefixLists)
	v.paths("inventory.flow_logs", c.Inventory.FlowLogs)
	v.positive("inventory.reload_interval", c.Inventory.ReloadInterval)
	if c.Inventory.AWS != nil {
		c.Inventory.AWS.validate(v)
	}
	c.Apply.validate(v)
	if d := c.Inventory.SuspectDrop; d < 0 || d > 1 {
		v.add("inventory.suspect_drop", fmt.Sprintf("must be between 0 and 1, got %v", d))
	}
	if c.Inventory.SuspectReloads < 1 {
		v.add("inventory.suspect_reloads", fmt.Sprintf("must be at least 1, got %d", c.Inventory.SuspectReloads))
	}

	if c.Kafka != nil {
		c.Kafka.validate(v)
	}
	if c.ClickHouse != nil {
		c.ClickHouse.validate(v)
	}

	v.paths("files", c.Files)
	stdin := 0
	for _, f := range c.Files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		v.add("files", `"-" (standard input) may appear only once`)
	}
	if c.Demo && (c.Kafka != nil || len(c.Files) > 0) {
		v.add("demo", "the demo brings its own simulated inputs: remove kafka and files, or set demo: false")
	}
	loopback := IsLoopbackListen(c.Listen)
	if c.Demo && !loopback {
		v.add("listen", fmt.Sprintf("the demo serves reads without a token, so it listens on a loopback address only (127.0.0.1, [::1] or localhost), not %q", c.Listen))
	}
	if !loopback {
		for i, t := range c.Auth.Tokens {
			if t.Token == DemoToken || strings.EqualFold(t.SHA256, demoTokenSHA256) {
				v.add(fmt.Sprintf("auth.tokens[%d]", i), fmt.Sprintf("%q is the published demo token: it is accepted on a loopback listener only, not on %q; make a secret token (e.g. openssl rand -hex 32) and give its sha256", DemoToken, c.Listen))
			}
		}
	}
	validateBackfills(v, c.S3Backfill)
	if c.LiveTail != nil {
		c.LiveTail.validate(v)
	}
	if !c.Demo && c.Kafka == nil && len(c.Files) == 0 && len(c.S3Backfill) == 0 && c.LiveTail == nil {
		v.add("", "no input: set kafka (a Kafka input) or files (flow-log files to replay), or demo: true for the built-in demo")
	}

	v.format("formats.default", c.Formats.Default, true)
	for group, f := range c.Formats.LogGroups {
		key := "formats.log_groups." + group
		if strings.TrimSpace(group) == "" {
			v.add("formats.log_groups", "log group names must not be empty")
			continue
		}
		v.format(key, f, false)
	}

	a := c.Analysis
	v.positive("analysis.window", a.Window)
	v.positive("analysis.bucket", a.Bucket)
	if a.Window > 0 && a.Bucket > 0 {
		if a.Bucket > a.Window {
			v.add("analysis.bucket", fmt.Sprintf("must not be longer than analysis.window (%s), got %s", a.Window, a.Bucket))
		} else if n := int64(a.Window) / int64(a.Bucket); n > MaxBuckets {
			v.add("analysis.bucket", fmt.Sprintf("analysis.window (%s) holds %d buckets of %s; at most %d are allowed: use a longer bucket or a shorter window", a.Window, n, a.Bucket, MaxBuckets))
		}
	}
	v.positive("analysis.stopped_matching_after", a.StoppedMatchingAfter)
	if a.WildcardThreshold < 1 {
		v.add("analysis.wildcard_threshold", "must be at least 1 (distinct sources needed to keep a wildcard rule)")
	}
	if a.MaxCIDRs < 1 || a.MaxCIDRs > MaxMaxCIDRs {
		v.add("analysis.max_cidrs", fmt.Sprintf("must be between 1 and %d, got %d", MaxMaxCIDRs, a.MaxCIDRs))
	}
	if a.MaxPortRanges < 1 || a.MaxPortRanges > MaxMaxPortRanges {
		v.add("analysis.max_port_ranges", fmt.Sprintf("must be between 1 and %d, got %d", MaxMaxPortRanges, a.MaxPortRanges))
	}
	if a.NodeBudget < MinNodeBudget {
		v.add("analysis.node_budget", fmt.Sprintf("must be at least %d, got %d", MinNodeBudget, a.NodeBudget))
	}
	v.positive("analysis.evaluate_interval", a.EvaluateInterval)
	v.positive("analysis.dedupe_window", a.DedupeWindow)
	if a.DedupeMaxBatches < 0 {
		v.add("analysis.dedupe_max_batches", fmt.Sprintf("must be 0 (no bound) or more, got %d", a.DedupeMaxBatches))
	}
	if a.MinHistory < 0 {
		v.add("analysis.min_history", fmt.Sprintf("must be 0 or more, got %s", a.MinHistory))
	}
	v.positive("checkpoint.interval", c.Checkpoint.Interval)

	c.Auth.validate(v)
	c.Alerts.validate(v)
	if n := c.API.MaxWebsocketClients; n < 1 || n > MaxWebsocketClients {
		v.add("api.max_websocket_clients", fmt.Sprintf("must be between 1 and %d, got %d", MaxWebsocketClients, n))
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", fmt.Sprintf("must be debug, info, warn or error, got %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", fmt.Sprintf("must be text or json, got %q", c.Log.Format))
	}
	return errors.Join(v.errs...)
}

func (k *Kafka) validate(v *validator) {
	if len(k.Brokers) == 0 {
		v.add("kafka.brokers", "at least one broker is required (host:port)")
	}
	for i, b := range k.Brokers {
		v.hostPort(fmt.Sprintf("kafka.brokers[%d]", i), b)
	}
	if len(k.Topics) == 0 {
		v.add("kafka.topics", "at least one topic is required")
	}
	for i, t := range k.Topics {
		key := fmt.Sprintf("kafka.topics[%d]", i)
		if err := topicName(t); err != "" {
			v.add(key, err)
		} else if t == k.DeadLetterTopic {
			v.add("kafka.dead_letter_topic", fmt.Sprintf("must differ from the input topics, got %q", t))
		}
	}
	if k.DeadLetterTopic != "" {
		if err := topicName(k.DeadLetterTopic); err != "" {
			v.add("kafka.dead_letter_topic", err)
		}
	}
	if strings.TrimSpace(k.Group) == "" {
		v.add("kafka.group", "must not be empty (the consumer group, default cinch)")
	}
	if strings.TrimSpace(k.ClientID) == "" {
		v.add("kafka.client_id", "must not be empty (default cinch)")
	}

	t := k.TLS
	if !t.Enabled {
		for _, f := range []struct{ key, val string }{
			{"kafka.tls.ca_file", t.CAFile}, {"kafka.tls.cert_file", t.CertFile},
			{"kafka.tls.key_file", t.KeyFile}, {"kafka.tls.server_name", t.ServerName},
		} {
			if f.val != "" {
				v.add(f.key, "is set but kafka.tls.enabled is false; set enabled: true or remove it")
			}
		}
		if t.InsecureSkipVerify {
			v.add("kafka.tls.insecure_skip_verify", "is set but kafka.tls.enabled is false; set enabled: true or remove it")
		}
	}
	v.file("kafka.tls.ca_file", t.CAFile)
	v.file("kafka.tls.cert_file", t.CertFile)
	v.file("kafka.tls.key_file", t.KeyFile)
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add("kafka.tls.cert_file", "cert_file and key_file go together (mutual TLS): give both or neither")
	}

	s := k.SASL
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" || s.AWSRegion != "" {
			v.add("kafka.sasl.mechanism", "is required when other kafka.sasl keys are set: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.Username == "" {
			v.add("kafka.sasl.username", fmt.Sprintf("is required with %s", s.Mechanism))
		}
		if s.Password == "" {
			v.add("kafka.sasl.password", fmt.Sprintf("is required with %s; set it in the file or, better, with %s", s.Mechanism, EnvName("kafka.sasl.password")))
		}
	case SASLAWSMSKIAM:
		if s.AWSRegion == "" {
			v.add("kafka.sasl.aws_region", "is required with AWS_MSK_IAM (the region of the MSK cluster, such as eu-west-1)")
		}
		if s.Username != "" || s.Password != "" {
			v.add("kafka.sasl.username", "AWS_MSK_IAM takes credentials from the AWS credential chain; remove username and password")
		}
		if !t.Enabled {
			v.add("kafka.tls.enabled", "must be true with AWS_MSK_IAM (MSK serves IAM authentication over TLS only, port 9098)")
		}
	default:
		v.add("kafka.sasl.mechanism", fmt.Sprintf("%q is not supported; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM", s.Mechanism))
	}
}

func (a *Auth) validate(v *validator) {
	names := map[string]int{}
	for i, t := range a.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		switch {
		case t.Name == "":
			v.add(key+".name", "is required (it identifies the token in logs)")
		case strings.Trim(strings.ToLower(t.Name), "abcdefghijklmnopqrstuvwxyz0123456789_-") != "":
			v.add(key+".name", fmt.Sprintf("may hold only letters, digits, '-' and '_', got %q", t.Name))
		default:
			env := TokenEnvName(t.Name)
			if j, dup := names[env]; dup {
				v.add(key+".name", fmt.Sprintf("%q is already used by auth.tokens[%d] (names are compared as %s)", t.Name, j, env))
			} else {
				names[env] = i
			}
		}
		switch t.Role {
		case RoleViewer, RoleReviewer, RoleApplier:
		default:
			v.add(key+".role", fmt.Sprintf("must be viewer, reviewer or applier, got %q", t.Role))
		}
		switch {
		case t.SHA256 == "" && t.Token == "":
			v.add(key, fmt.Sprintf("needs sha256 (hex SHA-256 of the token, e.g. from: printf %%s TOKEN | sha256sum) or token; or set it in the environment: %s=%s:$(openssl rand -hex 32)", TokenEnvName(t.Name), cmp.Or(t.Role, RoleViewer)))
		case t.SHA256 != "" && t.Token != "":
			v.add(key, "give either sha256 or token, not both")
		case t.SHA256 != "":
			if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
				v.add(key+".sha256", fmt.Sprintf("must be 64 hexadecimal digits (a SHA-256), got %d characters", len(t.SHA256)))
			}
		}
	}
	for i, o := range a.AllowedOrigins {
		key := fmt.Sprintf("auth.allowed_origins[%d]", i)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			v.add(key, fmt.Sprintf("must be an origin such as https://cinch.example.com or http://localhost:3000, got %q", o))
		}
	}
}

// DemoToken is the token that configs/demo.yaml publishes (role reviewer).
// Validate refuses it on a listener that is not loopback.
const DemoToken = "demo-token"

// demoTokenSHA256 is the hex SHA-256 of DemoToken.
const demoTokenSHA256 = "7c43ef5ae21d43ce2743f770c68e24def1a43ee2f416d2438410c8af7af2ff2c"

// IsLoopbackListen reports whether a listen address (host:port) binds a
// loopback interface only: localhost, 127.0.0.0/8 or ::1. An empty host
// (":8080") binds every interface.
func IsLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return IsLoopbackHost(host)
}

// IsLoopbackHost reports whether host (without port or brackets) names the
// loopback interface: localhost, 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// validator collects problems.
type validator struct{ errs []error }

func (v *validator) add(key, msg string) {
	v.errs = append(v.errs, &Error{Key: key, Msg: msg})
}

func (v *validator) hostPort(key, s string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.add(key, fmt.Sprintf("must be host:port, such as 127.0.0.1:8080 or [::1]:8080, got %q", s))
		return
	}
	if strings.ContainsAny(host, " /") {
		v.add(key, fmt.Sprintf("host %q is not a host name or address", host))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.add(key, fmt.Sprintf("port must be a number from 0 to 65535, got %q", port))
	} else if n == 0 && strings.HasPrefix(key, "kafka.") {
		v.add(key, "port must not be 0")
	}
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.add(key, fmt.Sprintf("must be a positive duration such as 30s, 15m, 720h or 30d, got %s", d))
	}
}

func (v *validator) paths(key string, list []string) {
	for i, p := range list {
		if strings.TrimSpace(p) == "" {
			v.add(fmt.Sprintf("%s[%d]", key, i), "must not be empty (a file path)")
		}
	}
}

// file checks that the file named by key exists and is not a directory.
func (v *validator) file(key, path string) {
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.add(key, fmt.Sprintf("file %q does not exist", path))
	case err != nil:
		v.add(key, fmt.Sprintf("cannot read %q: %v", path, err))
	case st.IsDir():
		v.add(key, fmt.Sprintf("%q is a directory; expected a PEM file", path))
	}
}

// format checks that a flow-log format is a space-separated list of field
// names, each optionally written ${name}. The real parsing happens in the
// stream package.
func (v *validator) format(key, f string, emptyOK bool) {
	fields := strings.Fields(f)
	if len(fields) == 0 {
		if !emptyOK || f != "" {
			v.add(key, "must list flow-log fields such as \"${version} ${account-id} ${interface-id} ...\"")
		}
		return
	}
	for _, field := range fields {
		name := field
		if strings.HasPrefix(name, "${") && strings.HasSuffix(name, "}") {
			name = name[2 : len(name)-1]
		}
		if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			v.add(key, fmt.Sprintf("%q is not a flow-log field; fields are lower-case names such as ${srcaddr} or ${tcp-flags}", field))
			return
		}
	}
}

// topicName returns why t is not a valid Kafka topic name, "" if it is.
func topicName(t string) string {
	if t == "" {
		return "topic names must not be empty"
	}
	if len(t) > 249 || t == "." || t == ".." ||
		strings.Trim(strings.ToLower(t), "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
		return fmt.Sprintf("%q is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", t)
	}
	return ""
}
