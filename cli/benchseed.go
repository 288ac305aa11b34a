package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/cinch-sg/cinch/bench/seed"
)

// runBenchSeed is `cinch bench seed`: cinch against the seed's approach
// (enriched flows in ClickHouse, one query per rule) on the same records.
func runBenchSeed(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "bench seed", "--clickhouse HOST:PORT [--records N] [--apps N]")
	o := seed.Options{Records: 1_000_000, Apps: 77, Seed: 1, Database: "cinch_bench_seed"}
	addr := env.Getenv("CINCH_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	fs.StringVar(&o.Addr, "clickhouse", addr, "ClickHouse native-protocol address (default $CINCH_CLICKHOUSE_ADDR or 127.0.0.1:9000)")
	fs.StringVar(&o.Database, "database", o.Database, "database created for the run and dropped after it")
	fs.IntVar(&o.Records, "records", o.Records, "flow-log records to generate")
	fs.IntVar(&o.Apps, "apps", o.Apps, "three-tier applications in the simulated account (13 rules each: 77 ≈ 1k rules, 770 ≈ 10k)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed")
	fs.IntVar(&o.SampleRules, "sample-rules", 0, "query only about this many rules (all rules of groups spread evenly) and extrapolate the seed's query time (0: all)")
	if rest, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %v", rest)
	}
	o.Log = func(f string, a ...any) {
		fmt.Fprintf(env.Stderr, "%s "+f+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	res, err := seed.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, res.String())
	return nil
}
