package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cinch-sg/cinch/internal/syncbuf"
)

func TestProducerSyncAsyncAndConsume(t *testing.T) {
	const topic = "flows"
	brokers := newCluster(t, 3, topic)
	p, err := NewProducer(Config{Brokers: brokers}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Produce(ctx, topic, []byte("k"), []byte("sync")); err != nil {
		t.Fatalf("Produce: %v", err)
	}
	for i := range 99 {
		p.ProduceAsync(ctx, topic, fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "async-%d", i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	led := newLedger()
	start(t, testConfig(brokers, "g-prod", topic), newTestHandler(led))
	waitFor(t, 20*time.Second, "100 records", func() bool { return led.total() >= 100 })
	seen := make(map[string]int)
	led.mu.Lock()
	for _, vs := range led.values {
		for _, v := range vs {
			seen[v]++
		}
	}
	led.mu.Unlock()
	if len(seen) != 100 || seen["sync"] != 1 || seen["async-98"] != 1 {
		t.Errorf("consumed %d distinct values (sync %d, async-98 %d), want 100 once each", len(seen), seen["sync"], seen["async-98"])
	}
}

func TestProducerFlushReportsAsyncFailures(t *testing.T) {
	brokers := newCluster(t, 1, "flows")
	p, err := NewProducer(Config{Brokers: brokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.ProduceAsync(ctx, "flows", nil, []byte("ok"))
	p.ProduceAsync(ctx, "no-such-topic", nil, []byte("lost"))
	err = p.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Fatalf("Flush = %v, want failure naming no-such-topic", err)
	}
	// The failure is reported once; the next flush is clean.
	p.ProduceAsync(ctx, "flows", nil, []byte("ok2"))
	if err := p.Flush(ctx); err != nil {
		t.Errorf("second Flush = %v, want nil", err)
	}
}

func TestEnsureTopics(t *testing.T) {
	brokers := newCluster(t, 2, "existing")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := Config{Brokers: brokers}
	if err := EnsureTopics(ctx, cfg, 3, "existing", "fresh"); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	if err := EnsureTopics(ctx, cfg, 3, "fresh"); err != nil {
		t.Fatalf("EnsureTopics again: %v", err)
	}
	details, err := newAdmin(t, brokers).ListTopics(ctx, "existing", "fresh")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details["fresh"].Partitions); n != 3 {
		t.Errorf("fresh has %d partitions, want 3", n)
	}
	if n := len(details["existing"].Partitions); n != 2 {
		t.Errorf("existing has %d partitions, want 2 (left as is)", n)
	}
	if err := EnsureTopics(ctx, cfg, 0, "x"); err == nil {
		t.Error("EnsureTopics with 0 partitions succeeded")
	}
	if err := EnsureTopics(ctx, cfg, 1, "bad name"); err == nil {
		t.Error("EnsureTopics with invalid topic succeeded")
	}
	if err := EnsureTopics(ctx, Config{}, 1, "x"); err == nil {
		t.Error("EnsureTopics without brokers succeeded")
	}
}

func TestSASLEndToEnd(t *testing.T) {
	const user, pass = "cinch", "pa55-w0rd-xyz"
	for _, mech := range []string{MechanismPLAIN, MechanismSCRAMSHA256, MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, user, pass))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			brokers := c.ListenAddrs()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			// Capture everything, franz-go debug logs included.
			var logs syncbuf.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

			cfg := testConfig(brokers, "g-sasl", "flows")
			cfg.SASL = SASLConfig{Mechanism: mech, Username: user, Password: pass}
			if err := EnsureTopics(ctx, cfg, 2, "flows"); err != nil {
				t.Fatalf("EnsureTopics: %v", err)
			}
			p, err := NewProducer(cfg, logger)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Produce(ctx, "flows", nil, []byte("hello")); err != nil {
				t.Fatalf("Produce: %v", err)
			}
			p.Close()

			led := newLedger()
			cons, err := New(cfg, newTestHandler(led), logger)
			if err != nil {
				t.Fatal(err)
			}
			rctx, rcancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- cons.Run(rctx) }()
			waitFor(t, 15*time.Second, "record over SASL", func() bool { return led.total() == 1 })
			rcancel()
			<-done
			cons.Close()

			if strings.Contains(logs.String(), pass) {
				t.Error("logs contain the SASL password")
			}

			bad := cfg
			bad.SASL.Password = "wrong"
			bp, err := NewProducer(bad, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer bp.Close()
			bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
			defer bcancel()
			// Real brokers answer SASL_AUTHENTICATION_FAILED; kfake closes
			// the connection. Either way Ping fails at once, not by timeout.
			err = bp.Ping(bctx)
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Ping with a wrong password = %v, want an immediate failure", err)
			} else if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Logf("Ping with a wrong password: %v", err)
			}
		})
	}
}

func TestTLSEndToEnd(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCert := writeTestPKI(t, dir)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "flows"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // registered before start: runs after the consumer's cleanup
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	cfg := testConfig(c.ListenAddrs(), "g-tls", "flows")
	cfg.TLS = TLSConfig{Enabled: true, CAFile: caFile}
	p, err := NewProducer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	if err := p.Produce(ctx, "flows", nil, []byte("over tls")); err != nil {
		t.Fatalf("Produce over TLS: %v", err)
	}
	led := newLedger()
	start(t, cfg, newTestHandler(led))
	waitFor(t, 15*time.Second, "record over TLS", func() bool { return led.total() == 1 })

	// Without the CA the broker's certificate is not trusted.
	untrusted := cfg
	untrusted.TLS.CAFile = ""
	up, err := NewProducer(untrusted, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	uctx, ucancel := context.WithTimeout(ctx, 5*time.Second)
	defer ucancel()
	var verr *tls.CertificateVerificationError
	if err := up.Ping(uctx); !errors.As(err, &verr) {
		t.Errorf("Ping trusting only system roots = %v, want a certificate verification error", err)
	}
}

// writeTestPKI writes a CA certificate to dir and returns its path and a
// server certificate for 127.0.0.1 signed by it.
func writeTestPKI(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "cinch test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
}
