package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cinch-sg/cinch/stream/forward"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// forwardEnv names the environment variables `cinch forward` reads (the
// Lambda function's configuration; flags win over them).
const (
	envBrokers   = "CINCH_KAFKA_BROKERS"
	envTopic     = "CINCH_FORWARD_TOPIC"
	envAccessKey = "CINCH_FORWARD_ACCESS_KEY"
	envTLS       = "CINCH_KAFKA_TLS_ENABLED"
	envCA        = "CINCH_KAFKA_TLS_CA_FILE"
	envMechanism = "CINCH_KAFKA_SASL_MECHANISM"
	envUser      = "CINCH_KAFKA_SASL_USERNAME"
	envPassword  = "CINCH_KAFKA_SASL_PASSWORD"
	envRegion    = "CINCH_KAFKA_SASL_AWS_REGION"
)

func runForward(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "forward", "(--listen ADDR | --lambda) [--brokers B] [--topic T] [flags]")
	var (
		brokers, topic, listen, mechanism, user, ca, region string
		asLambda, tlsOn                                     bool
		maxBytes                                            int
	)
	fs.StringVar(&brokers, "brokers", env.Getenv(envBrokers), "Kafka brokers, comma-separated (env "+envBrokers+")")
	fs.StringVar(&topic, "topic", orDefault(env.Getenv(envTopic), "vpc-flow-logs"), "Kafka topic (env "+envTopic+")")
	fs.StringVar(&listen, "listen", "", "serve the Firehose HTTP endpoint on ADDR (access key from env "+envAccessKey+")")
	fs.BoolVar(&asLambda, "lambda", false, "run as the AWS Lambda handler of a CloudWatch Logs subscription")
	fs.BoolVar(&tlsOn, "tls", env.Getenv(envTLS) == "true", "TLS to the brokers (env "+envTLS+")")
	fs.StringVar(&ca, "tls-ca", env.Getenv(envCA), "PEM CA bundle for the brokers (env "+envCA+")")
	fs.StringVar(&mechanism, "sasl-mechanism", env.Getenv(envMechanism), "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM (env "+envMechanism+"; password from env "+envPassword+")")
	fs.StringVar(&user, "sasl-username", env.Getenv(envUser), "SASL user name (env "+envUser+")")
	fs.StringVar(&region, "sasl-aws-region", env.Getenv(envRegion), "region for AWS_MSK_IAM (env "+envRegion+")")
	fs.IntVar(&maxBytes, "max-record-bytes", forward.DefaultMaxRecordBytes, "largest Kafka record; larger payloads are split by log events")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || asLambda == (listen != "") {
		fs.Usage()
		return fmt.Errorf("%w: give exactly one of --listen and --lambda", errUsage)
	}
	if brokers == "" {
		return errors.New("no brokers: --brokers or " + envBrokers)
	}
	kc := kafka.Config{Brokers: splitList(brokers),
		TLS:  kafka.TLSConfig{Enabled: tlsOn || ca != "", CAFile: ca},
		SASL: kafka.SASLConfig{Mechanism: mechanism, Username: user, Password: env.Getenv(envPassword), AWSRegion: region}}
	log := slog.New(slog.NewJSONHandler(env.Stderr, nil))
	p, err := kafka.NewProducer(kc, log)
	if err != nil {
		return err
	}
	defer p.Close()
	f, err := forward.New(p, forward.Config{Topic: topic, MaxRecordBytes: maxBytes})
	if err != nil {
		return err
	}
	if asLambda {
		lambda.StartWithOptions(f.HandleCloudWatchLogs, lambda.WithContext(ctx))
		return nil
	}
	key := env.Getenv(envAccessKey)
	if key == "" {
		return errors.New("the Firehose endpoint needs an access key: set " + envAccessKey)
	}
	h, err := forward.NewFirehoseHandler(f, key, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /", h)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("cinch forward: Firehose endpoint", "listen", ln.Addr().String(), "topic", topic, "kafka", kc)
	fmt.Fprintf(env.Stderr, "cinch forward: listening on %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	st := f.Stats()
	log.Info("cinch forward: stopped", "payloads", st.Payloads, "records", st.Records, "bad", st.Bad, "failed", st.Failed)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
