package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"flows"}, Group: "cinch"}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"host without port", func(c *Config) { c.Brokers = []string{"kafka"} }, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "no brokers"},
		{"empty broker", func(c *Config) { c.Brokers = []string{" "} }, "broker"},
		{"bad port", func(c *Config) { c.Brokers = []string{"kafka:x"} }, "broker"},
		{"no topics", func(c *Config) { c.Topics = nil }, "no topics"},
		{"bad topic", func(c *Config) { c.Topics = []string{"a b"} }, "invalid topic"},
		{"duplicate topic", func(c *Config) { c.Topics = []string{"a", "a"} }, "twice"},
		{"no group", func(c *Config) { c.Group = "" }, "no consumer group"},
		{"dlq consumed", func(c *Config) { c.DeadLetterTopic = "flows" }, "also consumed"},
		{"dlq invalid", func(c *Config) { c.DeadLetterTopic = ".." }, "dead-letter"},
		{"dlq ok", func(c *Config) { c.DeadLetterTopic = "flows-dlq" }, ""},
		{"negative fetch bytes", func(c *Config) { c.FetchMaxBytes = -1 }, "fetch max bytes"},
		{"huge fetch bytes", func(c *Config) { c.FetchMaxBytes = 200 << 20 }, "fetch max bytes"},
		{"negative poll records", func(c *Config) { c.MaxPollRecords = -1 }, "max poll records"},
		{"heartbeat above session", func(c *Config) { c.SessionTimeout, c.HeartbeatInterval = time.Second, 2*time.Second }, "heartbeat"},
		{"bad sasl mechanism", func(c *Config) { c.SASL = SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"} }, "unknown mechanism"},
		{"plain without password", func(c *Config) { c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u"} }, "username and password"},
		{"scram ok lower case", func(c *Config) { c.SASL = SASLConfig{Mechanism: "scram-sha-512", Username: "u", Password: "p"} }, ""},
		{"credentials without mechanism", func(c *Config) { c.SASL = SASLConfig{Username: "u", Password: "p"} }, "no mechanism"},
		{"msk iam ok", func(c *Config) { c.SASL = SASLConfig{Mechanism: "AWS_MSK_IAM", AWSRegion: "eu-west-1"} }, ""},
		{"msk iam with password", func(c *Config) { c.SASL = SASLConfig{Mechanism: "AWS_MSK_IAM", Password: "p"} }, "AWS chain"},
		{"tls ca missing", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CAFile: missing} }, "ca file"},
		{"tls cert missing", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CertFile: missing, KeyFile: ca} }, "cert file"},
		{"tls key missing", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CertFile: ca, KeyFile: missing} }, "key file"},
		{"tls cert without key", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CertFile: ca} }, "set together"},
		{"tls files but disabled", func(c *Config) { c.TLS = TLSConfig{CAFile: ca} }, "not enabled"},
		{"tls ok", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CAFile: ca} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("Validate() = nil, want error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	err := Config{SASL: SASLConfig{Mechanism: "NOPE"}}.Validate()
	if err == nil {
		t.Fatal("empty config validated")
	}
	for _, want := range []string{"no brokers", "no topics", "no consumer group", "unknown mechanism"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestSASLPasswordNeverShown(t *testing.T) {
	const secret = "s3cr3t-pa55"
	s := SASLConfig{Mechanism: "PLAIN", Username: "alice", Password: secret}
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	l.Info("cfg", "sasl", s)
	cfg := validConfig()
	cfg.SASL = s
	l.Info("cfg", "config", cfg)
	out := buf.String() + s.String() + fmt.Sprint(s) + fmt.Sprintf("%v %+v", cfg, cfg)
	if strings.Contains(out, secret) {
		t.Fatalf("password leaked: %s", out)
	}
	if !strings.Contains(buf.String(), "alice") || !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("log lacks username or redaction marker: %s", buf.String())
	}
}

func TestMSKIAMMechanismUsesDefaultCredentialChain(t *testing.T) {
	// Isolate the AWS default chain: static environment credentials only.
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTESTCINCH")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-key-never-sent")
	t.Setenv("AWS_SESSION_TOKEN", "session-token-cinch")

	m, err := SASLConfig{Mechanism: "aws_msk_iam", AWSRegion: "eu-west-1"}.mechanism()
	if err != nil {
		t.Fatalf("mechanism: %v", err)
	}
	if m.Name() != MechanismAWSMSKIAM {
		t.Fatalf("mechanism name %q", m.Name())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, first, err := m.Authenticate(ctx, "b-1.cinch.abc123.c2.kafka.eu-west-1.amazonaws.com:9098")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	msg := string(first)
	for _, want := range []string{"AKIDTESTCINCH", "session-token-cinch", "eu-west-1", "kafka-cluster:Connect"} {
		if !strings.Contains(msg, want) {
			t.Errorf("MSK IAM payload lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "secret-key-never-sent") {
		t.Error("MSK IAM payload contains the secret key")
	}
}

func TestTLSBuildRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (TLSConfig{Enabled: true, CAFile: notPEM}).build(); err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("build with non-PEM CA = %v", err)
	}
	if _, err := (TLSConfig{Enabled: true, CertFile: notPEM, KeyFile: notPEM}).build(); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("build with bad key pair = %v", err)
	}
	cfg := validConfig()
	cfg.TLS = TLSConfig{Enabled: true, CAFile: notPEM}
	if _, err := New(cfg, newTestHandler(newLedger()), nil); err == nil {
		t.Error("New with unusable CA file succeeded")
	}
}

func TestSASLJSONRedactsPasswordOnly(t *testing.T) {
	b, err := json.Marshal(SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	var back SASLConfig
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Password != "REDACTED" || back.Username != "u" || back.Mechanism != "PLAIN" {
		t.Errorf("round trip %+v from %s", back, b)
	}
}
