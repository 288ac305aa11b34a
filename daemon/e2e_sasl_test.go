//go:build e2e

package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/internal/syncbuf"
)

// saslListener is the broker's second listener that scripts/test.sh starts:
// SASL_SSL with SCRAM-SHA-512, its certificate self-signed.
type saslListener struct {
	brokers        []string
	caFile         string
	user, password string
}

func realSASL(t *testing.T) saslListener {
	l := saslListener{
		caFile:   os.Getenv("CINCH_KAFKA_CA_FILE"),
		user:     os.Getenv("CINCH_KAFKA_SCRAM_USER"),
		password: os.Getenv("CINCH_KAFKA_SCRAM_PASSWORD"),
	}
	b := os.Getenv("CINCH_KAFKA_SASL_BROKERS")
	if b == "" || l.caFile == "" || l.user == "" || l.password == "" {
		t.Fatal("CINCH_KAFKA_SASL_BROKERS, _CA_FILE, _SCRAM_USER and _SCRAM_PASSWORD must be set: run scripts/test.sh, which starts the broker with a SASL_SSL listener")
	}
	l.brokers = strings.Split(b, ",")
	return l
}

func (l saslListener) apply(cfg *config.Config) {
	cfg.Kafka.Brokers = l.brokers
	cfg.Kafka.TLS = config.TLS{Enabled: true, CAFile: l.caFile}
	cfg.Kafka.SASL = config.SASL{Mechanism: config.SASLScramSHA512, Username: l.user, Password: l.password}
}

// TestE2ESCRAMOverTLS: the daemon consumes through the broker's SASL_SSL
// listener (SCRAM-SHA-512, certificate checked against the CA file) and
// serves what `cinch analyze` gives on the same records. Records are
// produced through the plain listener of the same broker.
func TestE2ESCRAMOverTLS(t *testing.T) {
	plain, l := realBrokers(t), realSASL(t)
	sc := newScenario(t, 5000, 31)
	sc.createTopics(t, plain)
	cfg := sc.config(plain, t.TempDir(), "gs-"+sc.topic)
	l.apply(&cfg)
	r := start(t, cfg)
	sc.produce(t, plain, 0, len(sc.payloads))
	waitReport(t, r.d.Addr().String(), sc.expected(t, cfg), 90*time.Second)
	if body := readyz(t, r.d.Addr().String()); body != "ok" {
		t.Errorf("/readyz = %q, want ok", body)
	}
}

// TestE2EKafkaAuthFailures: a wrong SCRAM password and an untrusted broker
// certificate each keep the daemon not ready, with the reason on /readyz,
// and the password never reaches the logs or the reason.
func TestE2EKafkaAuthFailures(t *testing.T) {
	plain, l := realBrokers(t), realSASL(t)
	for _, c := range []struct {
		name   string
		mutate func(*config.Config)
		want   []string // all of these in the /readyz reason (lower case)
	}{
		{"wrong password", func(c *config.Config) { c.Kafka.SASL.Password = "not-the-password-4711" }, []string{"kafka", "sasl", "authentication"}},
		{"untrusted certificate", func(c *config.Config) { c.Kafka.TLS.CAFile = "" }, []string{"kafka", "certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := newScenario(t, 100, 32)
			cfg := sc.config(plain, t.TempDir(), "gf-"+sc.topic)
			l.apply(&cfg)
			c.mutate(&cfg)
			var logs syncbuf.Buffer
			d, err := New(Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), OpenReads: true})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			stop := sync.OnceFunc(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					t.Error("daemon did not stop")
				}
			})
			defer stop()
			var reason string
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if d.Addr() != nil {
					reason = readyz(t, d.Addr().String())
					if strings.Contains(strings.ToLower(reason), c.want[len(c.want)-1]) {
						break
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			low := strings.ToLower(reason)
			for _, w := range c.want {
				if !strings.Contains(low, w) {
					t.Errorf("/readyz reason %q lacks %q", reason, w)
				}
			}
			stop()
			t.Logf("/readyz: %s", reason)
			for _, secret := range []string{cfg.Kafka.SASL.Password, l.password} {
				if strings.Contains(reason, secret) || strings.Contains(logs.String(), secret) {
					t.Errorf("a password reached the reason or the logs:\n%s\n%s", reason, logs.String())
				}
			}
		})
	}
}

// readyz returns the body of GET /readyz.
func readyz(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}
