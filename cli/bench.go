package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/cinch-sg/cinch/daemon/loadtest"
)

func runBench(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "seed" {
		return runBenchSeed(ctx, env, args[1:])
	}
	fs := newFlagSet(env, "bench", "--brokers HOST:PORT [flags]")
	var (
		brokers string
		o       = loadtest.Options{Records: 2_000_000, Partitions: 4, Apps: 200, Samples: 10}
		asJSON  bool
	)
	fs.StringVar(&brokers, "brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	fs.IntVar(&o.Records, "records", o.Records, "records to pre-fill the topic with")
	var parts int
	fs.IntVar(&parts, "partitions", int(o.Partitions), "partitions of the benchmark topic")
	fs.IntVar(&o.Apps, "apps", o.Apps, "three-tier applications in the simulated account (12 rules each)")
	fs.IntVar(&o.Samples, "samples", o.Samples, "verdict-change latencies to measure")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	var profile string
	fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the consuming phase (not the topic fill) to this file")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	o.Partitions = int32(parts)
	tuneGC(ctx, env)
	o.Brokers = strings.Split(brokers, ",")
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Profile = f
	}
	res, err := loadtest.Run(ctx, o)
	if err != nil {
		return err
	}
	if asJSON {
		fmt.Fprintln(env.Stdout, res.JSON())
	} else {
		fmt.Fprint(env.Stdout, res.String())
	}
	return nil
}
