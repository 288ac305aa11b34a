package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// envMap returns a getenv function over m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// mustContain fails unless err's text contains every part.
func mustContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q, got nil", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not contain %q:\n%v", p, err)
		}
	}
}

// configErrors returns the *Error values joined in err.
func configErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else if err != nil {
		list = []error{err}
	}
	var out []*Error
	for _, e := range list {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %v is not a *config.Error", e)
		}
		out = append(out, ce)
	}
	return out
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.Listen != "127.0.0.1:8080" || c.StateDir != "./cinch-state" || c.Kafka != nil || c.Demo {
		t.Fatalf("unexpected top-level defaults: %+v", c)
	}
	want := Analysis{
		Window: Duration(720 * time.Hour), Bucket: Duration(time.Hour),
		StoppedMatchingAfter: Duration(24 * time.Hour), WildcardThreshold: 100,
		MaxCIDRs: 4, MaxPortRanges: 4, NodeBudget: 128,
		EvaluateInterval: Duration(time.Second), DedupeWindow: Duration(24 * time.Hour), DedupeMaxBatches: 1_000_000,
		MinHistory: Duration(14 * 24 * time.Hour),
	}
	if c.Analysis != want {
		t.Errorf("analysis defaults = %+v, want %+v", c.Analysis, want)
	}
	if c.Inventory.ReloadInterval != Duration(30*time.Second) || c.Checkpoint.Interval != Duration(10*time.Second) {
		t.Errorf("reload/checkpoint defaults = %v/%v", c.Inventory.ReloadInterval, c.Checkpoint.Interval)
	}
	if c.Log != (Log{Level: "info", Format: "text"}) {
		t.Errorf("log defaults = %+v", c.Log)
	}
	// Defaults have no input: valid only in demo mode.
	mustContain(t, c.Validate(), "no input")
	c.Demo = true
	if err := c.Validate(); err != nil {
		t.Errorf("demo defaults should be valid: %v", err)
	}
	// Each call returns a fresh value.
	d := Default()
	d.Files = append(d.Files, "x")
	if len(Default().Files) != 0 {
		t.Error("Default shares state between calls")
	}
}

func TestExampleFilesLoad(t *testing.T) {
	dir := filepath.Join("..", "..", "configs")
	env := envMap(map[string]string{"CINCH_KAFKA_SASL_PASSWORD": "from-env"})

	t.Run("kafka", func(t *testing.T) {
		c, err := Load(filepath.Join(dir, "kafka.yaml"), env)
		if err != nil {
			t.Fatal(err)
		}
		k := c.Kafka
		if k == nil || len(k.Brokers) != 2 || k.Topics[0] != "vpc-flow-logs" || k.DeadLetterTopic != "vpc-flow-logs-dlq" {
			t.Fatalf("kafka = %+v", k)
		}
		if !k.TLS.Enabled || k.SASL.Mechanism != SASLScramSHA512 || k.SASL.Username != "cinch" || k.SASL.Password != "from-env" {
			t.Errorf("tls/sasl = %+v %+v", k.TLS, k.SASL)
		}
		if f := c.Formats.LogGroups["/vpc/flow-logs/prod"]; !strings.Contains(f, "${flow-direction}") {
			t.Errorf("log group format = %q", f)
		}
		if len(c.Auth.Tokens) != 3 || c.Auth.Tokens[2].Role != RoleApplier || len(c.Auth.Tokens[2].SHA256) != 64 || c.Auth.Tokens[2].Token != "" {
			t.Errorf("tokens = %+v", c.Auth.Tokens)
		}
		if c.Analysis.Window != Duration(720*time.Hour) || c.Log.Format != "json" {
			t.Errorf("analysis window %v, log %+v", c.Analysis.Window, c.Log)
		}
	})
	t.Run("kafka without password", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "kafka.yaml"), nil)
		mustContain(t, err, "kafka.yaml", "kafka.sasl.password", "CINCH_KAFKA_SASL_PASSWORD")
		if n := len(configErrors(t, err)); n != 1 {
			t.Errorf("want exactly one problem, got %d: %v", n, err)
		}
	})
	t.Run("msk-iam", func(t *testing.T) {
		c, err := Load(filepath.Join(dir, "msk-iam.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Kafka == nil || c.Kafka.SASL.Mechanism != SASLAWSMSKIAM || c.Kafka.SASL.AWSRegion != "us-east-1" || !c.Kafka.TLS.Enabled {
			t.Fatalf("kafka = %+v", c.Kafka)
		}
		if c.Kafka.Group != "cinch" || c.Kafka.ClientID != "cinch-msk" || !c.Kafka.StartAtEnd {
			t.Errorf("kafka group/client/start = %+v", c.Kafka)
		}
		if c.Analysis.Window != Duration(14*24*time.Hour) || c.Inventory.ReloadInterval != Duration(time.Minute) {
			t.Errorf("window %v reload %v", c.Analysis.Window, c.Inventory.ReloadInterval)
		}
		// Unset keys keep their defaults.
		if c.Analysis.NodeBudget != 128 || c.Checkpoint.Interval != Duration(10*time.Second) {
			t.Errorf("defaults lost: %+v %+v", c.Analysis, c.Checkpoint)
		}
	})
	t.Run("files", func(t *testing.T) {
		// Its viewer token comes from the environment; without it the
		// error says which variable to set (issue 7, finding 14).
		if _, err := Load(filepath.Join(dir, "files.yaml"), nil); err == nil || !strings.Contains(err.Error(), "CINCH_AUTH_TOKEN_VIEWER=viewer:") {
			t.Errorf("files.yaml without its token: %v", err)
		}
		c, err := Load(filepath.Join(dir, "files.yaml"), envMap(map[string]string{"CINCH_AUTH_TOKEN_VIEWER": "viewer:s3cret"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Auth.Tokens) != 1 || c.Auth.Tokens[0].Role != RoleViewer || c.Auth.Tokens[0].Token != "s3cret" {
			t.Errorf("files.yaml tokens: %+v", c.Auth.Tokens)
		}
		if c.Kafka != nil || len(c.Files) != 2 || !strings.HasSuffix(c.Files[0], ".log.gz") {
			t.Fatalf("kafka %+v files %v", c.Kafka, c.Files)
		}
		if len(c.Inventory.SecurityGroups) != 1 || len(c.Inventory.NetworkInterfaces) != 1 {
			t.Errorf("inventory = %+v", c.Inventory)
		}
	})
	t.Run("demo", func(t *testing.T) {
		c, err := Load(filepath.Join(dir, "demo.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Demo || c.Listen != "127.0.0.1:8080" || c.Kafka != nil || len(c.Files) != 0 {
			t.Fatalf("demo = %+v", c)
		}
		if c.Analysis.Bucket != Duration(5*time.Minute) {
			t.Errorf("bucket = %v", c.Analysis.Bucket)
		}
	})
	t.Run("headers document env overrides", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(files) < 4 {
			t.Fatalf("example files: %v %v", files, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			header, _, _ := strings.Cut(string(data), "\n\n")
			for _, want := range []string{"Environment overrides", "CINCH_", "CINCH_AUTH_TOKEN_"} {
				if !strings.Contains(header, want) {
					t.Errorf("%s: header does not mention %q", f, want)
				}
			}
		}
	})
}

func TestUnknownKey(t *testing.T) {
	data := "listen: 127.0.0.1:1\nfiles: [a.log]\nkafka:\n  brokers: [k:9092]\n  topics: [t]\n  tls:\n    ca_fle: ca.pem\nlistn: x\n"
	_, err := Parse([]byte(data), "cinch.yaml", nil)
	mustContain(t, err,
		"config: cinch.yaml:7: kafka.tls.ca_fle: unknown key (did you mean ca_file?)",
		"valid keys under kafka.tls are ca_file, cert_file, enabled, insecure_skip_verify, key_file, server_name",
		"config: cinch.yaml:8: listn: unknown key (did you mean listen?)",
	)
	errs := configErrors(t, err)
	if len(errs) != 2 || errs[0].Line != 7 || errs[0].Key != "kafka.tls.ca_fle" || errs[1].Line != 8 {
		t.Errorf("errors = %+v", errs)
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string
	}{
		{"int", "analysis:\n  max_cidrs: four\n", []string{"x.yaml:2: analysis.max_cidrs: expected a whole number, got \"four\""}},
		{"uint negative", "analysis:\n  wildcard_threshold: -1\n", []string{"x.yaml:2: analysis.wildcard_threshold: expected a whole number ≥ 0"}},
		{"duration without unit", "analysis:\n  window: 30\n", []string{"x.yaml:2: analysis.window: expected a duration such as 30s, 15m, 720h or 30d, got \"30\""}},
		{"bool", "kafka:\n  start_at_end: maybe\n", []string{"x.yaml:2: kafka.start_at_end: expected true or false, got \"maybe\""}},
		{"list as scalar", "files: a.log\n", []string{"x.yaml:1: files: expected a list"}},
		{"section as scalar", "kafka: yes\n", []string{"x.yaml:1: kafka: section kafka must be a mapping of keys"}},
		{"string as mapping", "listen:\n  host: x\n", []string{"x.yaml:2: listen: expected a string, got a mapping"}},
		{"token field", "auth:\n  tokens:\n    - name: a\n      role: [viewer]\n", []string{"x.yaml:4: auth.tokens[0].role: expected a string, got a list"}},
		{"duplicate key", "listen: a:1\nlisten: b:2\n", []string{"x.yaml:2: listen: key given twice (first at line 1)"}},
		{"top level list", "- a\n- b\n", []string{"x.yaml:1: the configuration must be a mapping of keys"}},
		{"bad yaml", "listen: [\n", []string{"config: x.yaml", "invalid YAML"}},
		{"two documents", "demo: true\n---\ndemo: false\n", []string{"x.yaml:2: more than one YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data), "x.yaml", nil)
			mustContain(t, err, tt.want...)
		})
	}
}

func TestFileProblemsReportedTogether(t *testing.T) {
	data := "analysis:\n  window: soon\n  max_cidrs: many\nbogus: 1\n"
	_, err := Parse([]byte(data), "x.yaml", nil)
	if n := len(configErrors(t, err)); n != 3 {
		t.Errorf("want 3 problems, got %d: %v", n, err)
	}
}

func TestNullAndEmpty(t *testing.T) {
	// An empty value keeps the default.
	c, err := Parse([]byte("demo: true\nlisten:\nanalysis:\n  window:\n"), "x.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Analysis.Window != Duration(720*time.Hour) {
		t.Errorf("null values changed defaults: %q %v", c.Listen, c.Analysis.Window)
	}
	// An empty file is the defaults, which need demo mode or an input.
	_, err = Parse([]byte("# nothing\n"), "empty.yaml", nil)
	mustContain(t, err, "config: empty.yaml: no input")
	c, err = Parse(nil, "empty.yaml", envMap(map[string]string{"CINCH_DEMO": "true"}))
	if err != nil || !c.Demo {
		t.Errorf("empty file with CINCH_DEMO: %v %+v", err, c)
	}
}

func TestEnvOverrides(t *testing.T) {
	file := "files: [a.log]\nlisten: 127.0.0.1:1\nanalysis:\n  max_cidrs: 2\n"
	env := map[string]string{
		"CINCH_LISTEN":                      "0.0.0.0:9090",
		"CINCH_STATE_DIR":                   "/var/lib/cinch",
		"CINCH_FILES":                       " b.log, c.log ,,",
		"CINCH_ANALYSIS_WINDOW":             "48h",
		"CINCH_ANALYSIS_DEDUPE_WINDOW":      "2d",
		"CINCH_ANALYSIS_MAX_CIDRS":          "7",
		"CINCH_ANALYSIS_WILDCARD_THRESHOLD": "12",
		"CINCH_KAFKA_BROKERS":               "a:9092,b:9092",
		"CINCH_KAFKA_TOPICS":                "flows",
		"CINCH_KAFKA_TLS_ENABLED":           "true",
		"CINCH_KAFKA_SASL_MECHANISM":        "scram-sha-256",
		"CINCH_KAFKA_SASL_USERNAME":         "u",
		"CINCH_KAFKA_SASL_PASSWORD":         "p",
		"CINCH_LOG_LEVEL":                   "DEBUG",
		"CINCH_SOMETHING_ELSE":              "ignored",
	}
	c, err := Parse([]byte(file), "x.yaml", envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9090" || c.StateDir != "/var/lib/cinch" {
		t.Errorf("strings: %q %q", c.Listen, c.StateDir)
	}
	if !reflect.DeepEqual(c.Files, []string{"b.log", "c.log"}) {
		t.Errorf("files = %q", c.Files)
	}
	if c.Analysis.Window != Duration(48*time.Hour) || c.Analysis.DedupeWindow != Duration(48*time.Hour) {
		t.Errorf("durations: %v %v", c.Analysis.Window, c.Analysis.DedupeWindow)
	}
	if c.Analysis.MaxCIDRs != 7 || c.Analysis.WildcardThreshold != 12 {
		t.Errorf("numbers: %d %d", c.Analysis.MaxCIDRs, c.Analysis.WildcardThreshold)
	}
	k := c.Kafka
	if k == nil {
		t.Fatal("kafka section not created from CINCH_KAFKA_*")
	}
	if !reflect.DeepEqual(k.Brokers, []string{"a:9092", "b:9092"}) || !reflect.DeepEqual(k.Topics, []string{"flows"}) {
		t.Errorf("kafka lists: %q %q", k.Brokers, k.Topics)
	}
	if !k.TLS.Enabled || k.SASL.Mechanism != SASLScramSHA256 || k.Group != "cinch" || k.ClientID != "cinch" {
		t.Errorf("kafka = %+v", k)
	}
	if c.Log.Level != "debug" {
		t.Errorf("log level = %q", c.Log.Level)
	}
	ignored := c.IgnoredEnv([]string{"PATH=/bin", "CINCH_LISTEN=x", "CINCH_SOMETHING_ELSE=ignored", "CINCH_KAFKA_BROKER=typo"})
	if !reflect.DeepEqual(ignored, []string{"CINCH_SOMETHING_ELSE", "CINCH_KAFKA_BROKER"}) {
		t.Errorf("IgnoredEnv = %q", ignored)
	}
}

func TestEnvNoKafkaSectionWhenUnset(t *testing.T) {
	c, err := Parse([]byte("files: [a]\n"), "x.yaml", envMap(map[string]string{"CINCH_LISTEN": "127.0.0.1:2"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka != nil {
		t.Errorf("kafka created without any CINCH_KAFKA_ variable: %+v", c.Kafka)
	}
}

func TestEnvErrors(t *testing.T) {
	env := map[string]string{
		"CINCH_ANALYSIS_WINDOW":    "a while",
		"CINCH_KAFKA_TLS_ENABLED":  "sure",
		"CINCH_ANALYSIS_MAX_CIDRS": "x",
	}
	_, err := Parse([]byte("files: [a]\n"), "x.yaml", envMap(env))
	mustContain(t, err,
		`config: CINCH_ANALYSIS_WINDOW (analysis.window): expected a duration such as 30s, 15m, 720h or 30d, got "a while"`,
		`config: CINCH_KAFKA_TLS_ENABLED (kafka.tls.enabled): expected true or false, got "sure"`,
		`config: CINCH_ANALYSIS_MAX_CIDRS (analysis.max_cidrs): expected a whole number`,
	)
	// A valid but out-of-range value from the environment names the variable.
	_, err = Parse([]byte("files: [a]\nanalysis:\n  max_cidrs: 3\n"), "x.yaml", envMap(map[string]string{"CINCH_ANALYSIS_MAX_CIDRS": "99"}))
	mustContain(t, err, "config: CINCH_ANALYSIS_MAX_CIDRS (analysis.max_cidrs): must be between 1 and 50, got 99")
	// The same problem from the file names the file and line.
	_, err = Parse([]byte("files: [a]\nanalysis:\n  max_cidrs: 99\n"), "x.yaml", nil)
	mustContain(t, err, "config: x.yaml:3: analysis.max_cidrs: must be between 1 and 50, got 99")
}

func TestEnvTokens(t *testing.T) {
	file := "files: [a]\nauth:\n  tokens:\n    - name: ci-bot\n      role: viewer\n      sha256: " + strings.Repeat("ab", 32) + "\n"
	env := map[string]string{
		"CINCH_AUTH_TOKEN_CI_BOT": "applier:s3cret",
		"CINCH_AUTH_TOKEN_NAMES":  "alice, bob",
		"CINCH_AUTH_TOKEN_ALICE":  "reviewer:alice-token",
		"CINCH_AUTH_TOKEN_CAROL":  "viewer:not-listed",
	}
	c, err := Parse([]byte(file), "x.yaml", envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{
		{Name: "ci-bot", Role: RoleApplier, Token: "s3cret"},
		{Name: "alice", Role: RoleReviewer, Token: "alice-token"},
	}
	if !reflect.DeepEqual(c.Auth.Tokens, want) {
		t.Errorf("tokens = %+v, want %+v", c.Auth.Tokens, want)
	}
	if got := c.IgnoredEnv([]string{"CINCH_AUTH_TOKEN_ALICE=x", "CINCH_AUTH_TOKEN_NAMES=x", "CINCH_AUTH_TOKEN_CAROL=x"}); !reflect.DeepEqual(got, []string{"CINCH_AUTH_TOKEN_CAROL"}) {
		t.Errorf("IgnoredEnv = %q", got)
	}

	_, err = Parse([]byte(file), "x.yaml", envMap(map[string]string{"CINCH_AUTH_TOKEN_CI_BOT": "no-colon"}))
	mustContain(t, err, "config: CINCH_AUTH_TOKEN_CI_BOT: expected <role>:<token>")
	_, err = Parse([]byte(file), "x.yaml", envMap(map[string]string{"CINCH_AUTH_TOKEN_CI_BOT": "admin:x"}))
	mustContain(t, err, `config: CINCH_AUTH_TOKEN_CI_BOT (auth.tokens[0].role): must be viewer, reviewer or applier, got "admin"`)
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := Default()
	c.Listen = "localhost"
	c.Kafka = &Kafka{Group: "cinch", ClientID: "cinch"}
	c.Kafka.SASL.Mechanism = "SCRAM-SHA-512"
	c.Kafka.TLS = TLS{Enabled: true, CAFile: filepath.Join(t.TempDir(), "missing.pem")}
	c.Formats.Default = "${version} ${Bad!}"
	c.Analysis.Bucket = Duration(1000 * time.Hour)
	c.Analysis.NodeBudget = 4
	c.Analysis.MaxCIDRs = 0
	c.Analysis.EvaluateInterval = 0
	c.Auth.Tokens = []Token{{Name: "x", Role: "admin", SHA256: "abc"}}
	c.Log.Format = "xml"
	err := c.Validate()
	want := []string{
		`config: listen: must be host:port, such as 127.0.0.1:8080 or [::1]:8080, got "localhost"`,
		"config: kafka.brokers: at least one broker is required",
		"config: kafka.topics: at least one topic is required",
		"config: kafka.tls.ca_file: file",
		"does not exist",
		"config: kafka.sasl.username: is required with SCRAM-SHA-512",
		"config: kafka.sasl.password: is required with SCRAM-SHA-512",
		`config: formats.default: "${Bad!}" is not a flow-log field`,
		"config: analysis.bucket: must not be longer than analysis.window (720h), got 1000h",
		"config: analysis.node_budget: must be at least 8, got 4",
		"config: analysis.max_cidrs: must be between 1 and 50, got 0",
		"config: analysis.evaluate_interval: must be a positive duration",
		`config: auth.tokens[0].role: must be viewer, reviewer or applier, got "admin"`,
		"config: auth.tokens[0].sha256: must be 64 hexadecimal digits",
		`config: log.format: must be text or json, got "xml"`,
	}
	mustContain(t, err, want...)
	if n := len(configErrors(t, err)); n != len(want)-1 {
		t.Errorf("want %d problems, got %d:\n%v", len(want)-1, n, err)
	}
}

func TestValidateCases(t *testing.T) {
	pem := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(pem, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func() Config {
		c := Default()
		c.Kafka = &Kafka{Brokers: []string{"k:9092"}, Topics: []string{"t"}, Group: "cinch", ClientID: "cinch"}
		return c
	}
	tests := []struct {
		name   string
		edit   func(*Config)
		wantOK bool
		want   string
	}{
		{"valid kafka", func(*Config) {}, true, ""},
		{"files only", func(c *Config) { c.Kafka = nil; c.Files = []string{"-"} }, true, ""},
		{"no input", func(c *Config) { c.Kafka = nil }, false, "config: no input: set kafka"},
		{"demo needs no input", func(c *Config) { c.Kafka = nil; c.Demo = true }, true, ""},
		{"stdin twice", func(c *Config) { c.Files = []string{"-", "-"} }, false, `config: files: "-" (standard input) may appear only once`},
		{"existing ca file", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CAFile: pem} }, true, ""},
		{"ca file directory", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CAFile: filepath.Dir(pem)} }, false, "is a directory"},
		{"tls file without tls", func(c *Config) { c.Kafka.TLS.CAFile = pem }, false, "config: kafka.tls.ca_file: is set but kafka.tls.enabled is false"},
		{"cert without key", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CertFile: pem} }, false, "give both or neither"},
		{"unknown mechanism", func(c *Config) { c.Kafka.SASL.Mechanism = "GSSAPI" }, false, `config: kafka.sasl.mechanism: "GSSAPI" is not supported`},
		{"user without mechanism", func(c *Config) { c.Kafka.SASL.Username = "u" }, false, "config: kafka.sasl.mechanism: is required"},
		{"plain ok", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: SASLPlain, Username: "u", Password: "p"} }, true, ""},
		{"iam needs region", func(c *Config) {
			c.Kafka.TLS.Enabled = true
			c.Kafka.SASL = SASL{Mechanism: SASLAWSMSKIAM}
		}, false, "config: kafka.sasl.aws_region: is required with AWS_MSK_IAM"},
		{"iam needs tls", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: SASLAWSMSKIAM, AWSRegion: "eu-west-1"} }, false, "config: kafka.tls.enabled: must be true with AWS_MSK_IAM"},
		{"bad broker", func(c *Config) { c.Kafka.Brokers = []string{"k"} }, false, `config: kafka.brokers[0]: must be host:port`},
		{"bad port", func(c *Config) { c.Listen = "127.0.0.1:http" }, false, `config: listen: port must be a number from 0 to 65535, got "http"`},
		{"dlq is input", func(c *Config) { c.Kafka.DeadLetterTopic = "t" }, false, "config: kafka.dead_letter_topic: must differ from the input topics"},
		{"bad topic", func(c *Config) { c.Kafka.Topics = []string{"a b"} }, false, `config: kafka.topics[0]: "a b" is not a Kafka topic name`},
		{"empty group", func(c *Config) { c.Kafka.Group = "" }, false, "config: kafka.group: must not be empty"},
		{"too many buckets", func(c *Config) { c.Analysis.Bucket = Duration(time.Minute) }, false, "config: analysis.bucket: analysis.window (720h) holds 43200 buckets of 1m; at most 10000"},
		{"exactly 10000 buckets", func(c *Config) {
			c.Analysis.Window = Duration(10000 * time.Minute)
			c.Analysis.Bucket = Duration(time.Minute)
		}, true, ""},
		{"negative duration", func(c *Config) { c.Checkpoint.Interval = Duration(-time.Second) }, false, "config: checkpoint.interval: must be a positive duration such as 30s, 15m, 720h or 30d, got -1s"},
		{"dedupe max batches -1", func(c *Config) { c.Analysis.DedupeMaxBatches = -1 }, false, "config: analysis.dedupe_max_batches: must be 0 (no bound) or more, got -1"},
		{"dedupe max batches 0", func(c *Config) { c.Analysis.DedupeMaxBatches = 0 }, true, ""},
		{"suspect drop above 1", func(c *Config) { c.Inventory.SuspectDrop = 1.5 }, false, "config: inventory.suspect_drop: must be between 0 and 1, got 1.5"},
		{"suspect check off", func(c *Config) { c.Inventory.SuspectDrop = 1 }, true, ""},
		{"suspect reloads 0", func(c *Config) { c.Inventory.SuspectReloads = 0 }, false, "config: inventory.suspect_reloads: must be at least 1, got 0"},
		{"max cidrs 50", func(c *Config) { c.Analysis.MaxCIDRs = 50 }, true, ""},
		{"max cidrs 51", func(c *Config) { c.Analysis.MaxCIDRs = 51 }, false, "config: analysis.max_cidrs: must be between 1 and 50, got 51"},
		{"node budget 8", func(c *Config) { c.Analysis.NodeBudget = 8 }, true, ""},
		{"wildcard 0", func(c *Config) { c.Analysis.WildcardThreshold = 0 }, false, "config: analysis.wildcard_threshold: must be at least 1"},
		{"format with and without ${}", func(c *Config) {
			c.Formats.Default = "version account-id ${interface-id} ${srcaddr}"
			c.Formats.LogGroups = map[string]string{"/vpc/a": "${version} ${tcp_flags}"}
		}, true, ""},
		{"empty log group format", func(c *Config) { c.Formats.LogGroups = map[string]string{"/vpc/a": " "} }, false, "config: formats.log_groups./vpc/a: must list flow-log fields"},
		{"token both", func(c *Config) {
			c.Auth.Tokens = []Token{{Name: "a", Role: RoleViewer, SHA256: strings.Repeat("0", 64), Token: "x"}}
		}, false, "config: auth.tokens[0]: give either sha256 or token, not both"},
		{"token none", func(c *Config) { c.Auth.Tokens = []Token{{Name: "a", Role: RoleViewer}} }, false, "config: auth.tokens[0]: needs sha256"},
		{"token duplicate name", func(c *Config) {
			c.Auth.Tokens = []Token{{Name: "a-b", Role: RoleViewer, Token: "x"}, {Name: "A_B", Role: RoleViewer, Token: "y"}}
		}, false, `config: auth.tokens[1].name: "A_B" is already used by auth.tokens[0]`},
		{"token sha256 not hex", func(c *Config) {
			c.Auth.Tokens = []Token{{Name: "a", Role: RoleViewer, SHA256: strings.Repeat("g", 64)}}
		}, false, "config: auth.tokens[0].sha256: must be 64 hexadecimal digits"},
		{"origin ok", func(c *Config) { c.Auth.AllowedOrigins = []string{"https://a.example", "http://localhost:3000"} }, true, ""},
		{"origin with path", func(c *Config) { c.Auth.AllowedOrigins = []string{"https://a.example/x"} }, false, "config: auth.allowed_origins[0]: must be an origin"},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, false, `config: log.level: must be debug, info, warn or error, got "trace"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantOK {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			mustContain(t, err, tt.want)
		})
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Kafka = &Kafka{Brokers: []string{"k:1"}, SASL: SASL{Mechanism: SASLPlain, Username: "u", Password: "hunter2"}}
	c.Auth.Tokens = []Token{
		{Name: "a", Role: RoleApplier, Token: "plain-secret"},
		{Name: "b", Role: RoleViewer, SHA256: strings.Repeat("ab", 32)},
	}
	r := c.Redacted()
	if r.Kafka.SASL.Password != "REDACTED" || r.Auth.Tokens[0].Token != "REDACTED" {
		t.Errorf("secrets not redacted: %+v %+v", r.Kafka.SASL, r.Auth.Tokens)
	}
	if r.Kafka.SASL.Username != "u" || r.Auth.Tokens[1].SHA256 != strings.Repeat("ab", 32) || r.Auth.Tokens[1].Token != "" {
		t.Errorf("non-secrets changed: %+v %+v", r.Kafka.SASL, r.Auth.Tokens)
	}
	if c.Kafka.SASL.Password != "hunter2" || c.Auth.Tokens[0].Token != "plain-secret" {
		t.Error("Redacted modified the original")
	}
	r.Kafka.Brokers[0] = "changed"
	if c.Kafka.Brokers[0] != "k:1" {
		t.Error("Redacted shares slices with the original")
	}
	out, err := yaml.Marshal(c.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "hunter2") || strings.Contains(s, "plain-secret") || !strings.Contains(s, "window: 720h") {
		t.Errorf("marshalled redacted config:\n%s", s)
	}
	if Default().Redacted().Kafka != nil {
		t.Error("Redacted created a kafka section")
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30s":    30 * time.Second,
		"15m":    15 * time.Minute,
		"720h":   720 * time.Hour,
		"1h30m":  90 * time.Minute,
		"30d":    30 * 24 * time.Hour,
		"1d":     24 * time.Hour,
		"1.5d":   36 * time.Hour,
		"2d12h":  60 * time.Hour,
		"0d":     0,
		"0":      0,
		" 7d ":   7 * 24 * time.Hour,
		"-1d":    -24 * time.Hour,
		"500ms":  500 * time.Millisecond,
		"1d1m1s": 24*time.Hour + time.Minute + time.Second,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got != Duration(want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "30", "d", "xd", "1e3d", "1d-2h", "1dd", "3 days", "1d2d", "Infd", "10000000000000d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded, want an error", in)
		}
	}
	for in, want := range map[time.Duration]string{
		720 * time.Hour: "720h", 90 * time.Minute: "1h30m", 10 * time.Second: "10s",
		time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s", 0: "0s", 5 * time.Minute: "5m",
	} {
		if got := Duration(in).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", in, got, want)
		} else if back, err := ParseDuration(got); err != nil || back != Duration(in) {
			t.Errorf("round trip of %q: %v %v", got, back, err)
		}
	}
	var d struct {
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 3d"), &d); err != nil || d.D != Duration(72*time.Hour) {
		t.Errorf("yaml 3d = %v, %v", d.D, err)
	}
	if d.D.Std() != 72*time.Hour {
		t.Errorf("Std = %v", d.D.Std())
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(p, nil)
	mustContain(t, err, "config: cannot read the configuration file", "nope.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error should wrap os.ErrNotExist: %v", err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("kafka.sasl.password"); got != "CINCH_KAFKA_SASL_PASSWORD" {
		t.Errorf("EnvName = %q", got)
	}
	if got := TokenEnvName("ci-bot.1"); got != "CINCH_AUTH_TOKEN_CI_BOT_1" {
		t.Errorf("TokenEnvName = %q", got)
	}
	// Every overridable key has a distinct variable.
	seen := map[string]string{}
	for _, f := range envFields() {
		if other, dup := seen[f.name]; dup {
			t.Errorf("%s and %s share %s", other, f.key, f.name)
		}
		seen[f.name] = f.key
	}
	for _, want := range []string{"CINCH_LISTEN", "CINCH_STATE_DIR", "CINCH_DEMO", "CINCH_KAFKA_TLS_CA_FILE", "CINCH_INVENTORY_RELOAD_INTERVAL", "CINCH_AUTH_ALLOWED_ORIGINS", "CINCH_FORMATS_DEFAULT"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("%s is not overridable", want)
		}
	}
	if _, ok := seen["CINCH_FORMATS_LOG_GROUPS"]; ok {
		t.Error("maps should not be overridable")
	}
}

func TestAlertsWebhooks(t *testing.T) {
	yml := []byte(`
demo: true
alerts:
  webhooks:
    - name: ops
      url_env: OPS_HOOK
      format: slack
      types: [rule-stopped-matching]
      timeout: 3s
    - name: am
      url: http://127.0.0.1:9093/api/v2/alerts?token=abc
`)
	env := map[string]string{"OPS_HOOK": "https://hooks.slack.example/services/T1/B2/secret"}
	cfg, err := Parse(yml, "alerts.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Alerts.Webhooks
	if len(w) != 2 || w[0].URL != env["OPS_HOOK"] || w[0].Format != "slack" || w[0].Timeout.Std() != 3*time.Second {
		t.Fatalf("webhooks = %+v", w)
	}
	r := cfg.Redacted().Alerts.Webhooks
	if r[0].URL != "https://hooks.slack.example/REDACTED" || r[1].URL != "http://127.0.0.1:9093/REDACTED" {
		t.Errorf("redacted = %+v", r)
	}
	if cfg.Alerts.Webhooks[0].URL != env["OPS_HOOK"] {
		t.Error("Redacted changed the original")
	}

	for _, bad := range []string{
		"alerts: {webhooks: [{url: http://x/}]}",
		"alerts: {webhooks: [{name: a, url: 'ftp://x/'}]}",
		"alerts: {webhooks: [{name: a, url_env: UNSET_HOOK}]}",
		"alerts: {webhooks: [{name: a, url: 'http://x/', format: teams}]}",
		"alerts: {webhooks: [{name: a, url: 'http://x/', types: [verdict-changed]}]}",
		"alerts: {webhooks: [{name: a, url: 'http://x/'}, {name: a, url: 'http://y/'}]}",
	} {
		_, err := Parse([]byte("demo: true\n"+bad+"\n"), "bad.yaml", func(string) string { return "" })
		if err == nil {
			t.Errorf("%s: accepted", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error leaks the URL: %v", bad, err)
		}
	}
}

func TestCoverageKeys(t *testing.T) {
	file := "files: [a.log]\ninventory:\n  flow_logs: [fl.json]\nanalysis:\n  min_history: 7d\n"
	c, err := Parse([]byte(file), "x.yaml", envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Inventory.FlowLogs, []string{"fl.json"}) || c.Analysis.MinHistory != Duration(7*24*time.Hour) {
		t.Errorf("file: %v %s", c.Inventory.FlowLogs, c.Analysis.MinHistory)
	}
	c, err = Parse([]byte(file), "x.yaml", envMap(map[string]string{"CINCH_INVENTORY_FLOW_LOGS": "a.json,b.json", "CINCH_ANALYSIS_MIN_HISTORY": "36h"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Inventory.FlowLogs, []string{"a.json", "b.json"}) || c.Analysis.MinHistory != Duration(36*time.Hour) {
		t.Errorf("env: %v %s", c.Inventory.FlowLogs, c.Analysis.MinHistory)
	}
}

// api.max_websocket_clients has a default, an environment override and a range.
func TestAPIMaxWebsocketClients(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := Parse([]byte("demo: true\n"), "t.yaml", env(nil))
	if err != nil || cfg.API.MaxWebsocketClients != 256 {
		t.Fatalf("default: %d, %v", cfg.API.MaxWebsocketClients, err)
	}
	cfg, err = Parse([]byte("demo: true\napi:\n  max_websocket_clients: 10\n"), "t.yaml", env(map[string]string{"CINCH_API_MAX_WEBSOCKET_CLIENTS": "20"}))
	if err != nil || cfg.API.MaxWebsocketClients != 20 {
		t.Fatalf("override: %d, %v", cfg.API.MaxWebsocketClients, err)
	}
	if _, err := Parse([]byte("demo: true\napi:\n  max_websocket_clients: 0\n"), "t.yaml", env(nil)); err == nil || !strings.Contains(err.Error(), "api.max_websocket_clients") {
		t.Errorf("0 clients: %v", err)
	}
}

// The demo runs on loopback only and brings its own inputs; the published
// demo token is refused on a listener that is not loopback (issue 7,
// finding 11).
func TestValidateDemoAndPublishedToken(t *testing.T) {
	cases := []struct {
		yaml, want string
	}{
		{"demo: true\nlisten: 0.0.0.0:8080\n", "loopback"},
		{"demo: true\nlisten: \":8080\"\n", "loopback"},
		{"demo: true\nfiles: [a.log]\n", "simulated inputs"},
		{"files: [a.log]\nlisten: 0.0.0.0:8080\nauth:\n  tokens:\n    - {name: d, role: viewer, token: demo-token}\n", "published demo token"},
		{"files: [a.log]\nlisten: 10.0.0.1:8080\nauth:\n  tokens:\n    - {name: d, role: viewer, sha256: 7C43EF5AE21D43CE2743F770C68E24DEF1A43EE2F416D2438410C8AF7AF2FF2C}\n", "published demo token"},
		{"files: [a.log]\nlisten: 127.0.0.1:8080\nauth:\n  tokens:\n    - {name: d, role: viewer, token: demo-token}\n", ""},
		{"demo: true\nlisten: \"[::1]:8080\"\n", ""},
		{"demo: true\nlisten: localhost:8080\n", ""},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml), "t.yaml", nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.yaml, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want an error with %q", c.yaml, err, c.want)
		}
	}
}

func TestClickHouseFromEnv(t *testing.T) {
	env := map[string]string{"CINCH_CLICKHOUSE_ADDR": "127.0.0.1:9000", "CINCH_CLICKHOUSE_PASSWORD": "s3cret", "CINCH_DEMO": "true"}
	cfg, err := Parse(nil, "(defaults)", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClickHouse == nil || cfg.ClickHouse.Addr != "127.0.0.1:9000" || cfg.ClickHouse.Password != "s3cret" {
		t.Fatalf("clickhouse section from the environment: %+v", cfg.ClickHouse)
	}
	if r := cfg.Redacted(); r.ClickHouse.Password != RedactedValue || cfg.ClickHouse.Password != "s3cret" {
		t.Fatalf("redacted password %q (original %q)", r.ClickHouse.Password, cfg.ClickHouse.Password)
	}
	env["CINCH_CLICKHOUSE_ADDR"] = "no-port"
	if _, err := Parse(nil, "(defaults)", func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "clickhouse.addr") {
		t.Fatalf("bad addr: %v", err)
	}
}
