package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/daemon/demo"
	"github.com/cinch-sg/cinch/stream/kafka"
)

// runProduce writes the demo account's inventory and sends its live traffic
// to a Kafka topic, as a CloudWatch Logs subscription would: the demo
// producer of the compose stack, and a way to feed a daemon under test.
func runProduce(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "produce", "--brokers HOST:PORT [flags]")
	opts := demo.DefaultOptions()
	var (
		brokers    string
		topic      string
		invOut     string
		partitions int
		duration   time.Duration
	)
	fs.StringVar(&brokers, "brokers", "", "Kafka brokers, comma-separated `host:port` list")
	fs.StringVar(&topic, "topic", demo.Topic, "topic to send the CloudWatch Logs payloads to")
	fs.StringVar(&invOut, "inventory-out", "", "folder to write the simulated account's security-groups.json and network-interfaces.json into")
	fs.IntVar(&opts.Rate, "rate", 500, "flow-log records per second")
	fs.Uint64Var(&opts.Seed, "seed", opts.Seed, "random seed of the simulated account")
	fs.DurationVar(&opts.AdminsFor, "admins-for", 10*time.Minute, "how long simulated administrators use SSH before they stop (0: forever)")
	fs.IntVar(&partitions, "partitions", 4, "partitions of the topic when it is created")
	fs.DurationVar(&duration, "duration", 0, "stop after this long (0: until interrupted)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if brokers == "" {
		return fmt.Errorf("--brokers is required: %w", errUsage)
	}
	if opts.Rate < 1 {
		return fmt.Errorf("--rate must be at least 1")
	}
	acct := demo.NewAccount(opts.Seed)
	if invOut != "" {
		if err := writeInventory(invOut, acct); err != nil {
			return err
		}
	}
	kcfg := kafka.Config{Brokers: splitList(brokers), ClientID: "cinch-produce"}
	if err := kafka.EnsureTopics(ctx, kcfg, int32(partitions), topic); err != nil {
		return err
	}
	logger := newLogger(env, config.Log{Level: "info", Format: "text"})
	prod, err := kafka.NewProducer(kcfg, logger)
	if err != nil {
		return err
	}
	defer prod.Close()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	fmt.Fprintf(env.Stderr, "cinch produce: %d records/s to %s on %s (interrupt to stop)\n", opts.Rate, topic, brokers)
	demo.Produce(ctx, prod, topic, acct, opts, logger)
	return nil
}
