package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/export"
	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsjson"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/input"
)

// inventoryFlags name the inventory exports.
type inventoryFlags struct {
	groups, rules, enis, config, prefixLists, any stringList
	aws                                           awsFlags
}

func (f *inventoryFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.groups, "security-groups", "JSON of `aws ec2 describe-security-groups` (repeatable)")
	fs.Var(&f.rules, "security-group-rules", "JSON of `aws ec2 describe-security-group-rules` (repeatable)")
	fs.Var(&f.enis, "network-interfaces", "JSON of `aws ec2 describe-network-interfaces` (repeatable)")
	fs.Var(&f.config, "config-snapshot", "AWS Config snapshot, history or API file, plain or gzip (repeatable)")
	fs.Var(&f.prefixLists, "prefix-lists", "JSON of describe-managed-prefix-lists, or get-managed-prefix-list-entries saved as pl-ID.json (repeatable)")
	fs.Var(&f.any, "inventory", "any of the files above, kind detected from the content (repeatable)")
	f.aws.register(fs)
}

// load reads every named file into one inventory; each file must be of the
// kind its flag names.
func (f *inventoryFlags) load(ctx context.Context, env *Env) (*inventory.Inventory, error) {
	inv := inventory.New()
	sets := []struct {
		files stringList
		want  []awsjson.Kind
		flag  string
	}{
		{f.groups, []awsjson.Kind{awsjson.KindSecurityGroups}, "--security-groups"},
		{f.rules, []awsjson.Kind{awsjson.KindSecurityGroupRules}, "--security-group-rules"},
		{f.enis, []awsjson.Kind{awsjson.KindNetworkInterfaces}, "--network-interfaces"},
		{f.config, []awsjson.Kind{awsjson.KindConfig}, "--config-snapshot"},
		{f.prefixLists, []awsjson.Kind{awsjson.KindPrefixLists, awsjson.KindPrefixListEntries}, "--prefix-lists"},
		{f.any, nil, "--inventory"},
	}
	n := 0
	for _, s := range sets {
		for _, path := range s.files {
			n++
			kind, err := awsjson.LoadFile(inv, path)
			if err != nil {
				return nil, err
			}
			if s.want != nil && !slices.Contains(s.want, kind) {
				return nil, fmt.Errorf("%s %s: the file holds %s, not what the flag expects", s.flag, path, kind)
			}
		}
	}
	if !f.aws.enabled {
		if _, err := f.aws.config(); err != nil {
			return nil, err
		}
	} else {
		snap, err := f.aws.fetch(ctx, env)
		if err != nil {
			return nil, err
		}
		inv.Merge(snap.Inventory)
		n++
	}
	if n == 0 {
		return nil, errors.New("no inventory: give --security-groups and --network-interfaces (or --inventory / --config-snapshot, or --aws)")
	}
	return inv, nil
}

func runAnalyze(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "analyze", "--security-groups F [--security-group-rules F] --network-interfaces F [--config-snapshot F...] [flags] FLOWFILE...")
	var (
		ff     flowFlags
		invf   inventoryFlags
		acfg   = advisor.DefaultConfig()
		scfg   = sketch.DefaultConfig()
		output string
	)
	ff.register(fs)
	invf.register(fs)
	var s3f s3Flags
	s3f.register(fs)
	fs.Uint64Var(&acfg.WildcardThreshold, "wildcard-threshold", acfg.WildcardThreshold, "keep a 0.0.0.0/0 or ::/0 rule used by at least this many distinct sources")
	fs.IntVar(&acfg.MaxCIDRs, "max-cidrs", acfg.MaxCIDRs, "at most this many prefixes replace one narrowed source")
	fs.IntVar(&acfg.MaxPortRanges, "max-port-ranges", acfg.MaxPortRanges, "at most this many port ranges replace one")
	fs.IntVar(&scfg.MaxNodes, "node-budget", scfg.MaxNodes, "exact sources kept per rule and address family before aggregation")
	fs.StringVar(&output, "output", "json", "output: json, table, cli or terraform")
	jobs := runtime.GOMAXPROCS(0)
	fs.IntVar(&jobs, "jobs", jobs, "files read in parallel (the result does not depend on it)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if !slices.Contains(export.Formats, output) {
		return fmt.Errorf("--output %q: want one of %v", output, export.Formats)
	}
	if acfg.MaxCIDRs < 1 || acfg.MaxPortRanges < 1 || scfg.MaxNodes < 1 {
		return errors.New("--max-cidrs, --max-port-ranges and --node-budget must be at least 1")
	}
	inv, err := invf.load(ctx, env)
	if err != nil {
		return err
	}
	if !ff.quiet {
		for _, w := range inv.Validate() {
			fmt.Fprintf(env.Stderr, "cinch: inventory: %v\n", w)
		}
	}
	analyze := func(eng *analysis.Engine) (*analysis.Accumulator, input.Stats, error) {
		if len(files) == 0 && len(s3f.urls) > 0 {
			acc := analysis.NewAccumulator(eng, scfg)
			st, err := s3f.read(ctx, env, &ff, &invf.aws, acc)
			return acc, st, err
		}
		acc, st, err := analyzeFiles(ctx, env, &ff, eng, scfg, files, jobs)
		if err != nil {
			return nil, st, err
		}
		acc3 := analysis.NewAccumulator(eng, scfg)
		st3, err := s3f.read(ctx, env, &ff, &invf.aws, acc3)
		if err != nil {
			return nil, st, err
		}
		st.Add(st3)
		return acc, st, acc.Merge(acc3)
	}
	acc, st, err := analyze(analysis.NewEngine(inv))
	if err != nil {
		return err
	}
	if err := checkRead(env, st, ff.quiet); err != nil {
		return err
	}
	if again, err := invf.aws.resolveGone(ctx, env, inv, acc, files, len(s3f.urls) > 0); err != nil {
		return err
	} else if again {
		if acc, _, err = analyze(analysis.NewEngine(inv)); err != nil {
			return err
		}
	}
	if st := acc.Stats(); !ff.quiet {
		fmt.Fprintln(env.Stderr, summary(st))
		if st.Unattributed > 0 {
			fmt.Fprintf(env.Stderr, "cinch: %d accepted records from %d interfaces not in the inventory were not attributed\n",
				st.Unattributed, len(acc.Unattributed()))
		}
	}
	rep := acc.Report(acfg)
	out := bufio.NewWriter(env.Stdout)
	if err := export.Write(out, output, &rep); err != nil {
		return err
	}
	return out.Flush()
}

// summary says in one line what the analysis did with the records.
func summary(st analysis.Stats) string {
	return fmt.Sprintf("cinch: %d records: %d inbound and %d outbound requests (%d of unknown initiator, credited where a rule allows them), "+
		"%d replies, %d rejected, %d no-data/skip-data, %d of unknown direction, %d of unknown interfaces, %d requests no rule allows",
		st.Records, st.Inbound, st.Outbound, st.Ambiguous, st.Responses, st.Rejected, st.NoData+st.SkipData,
		st.Undetermined, st.Unattributed, st.Unmatched)
}

// analyzeFiles reads files (stdin for none or "-") with up to jobs workers,
// each with its own reader and accumulator over the shared engine, and
// merges them. Sketches merge exactly, so the result is the same for any
// jobs; only the order of the messages on stderr may differ.
func analyzeFiles(ctx context.Context, env *Env, ff *flowFlags, eng *analysis.Engine, scfg sketch.Config,
	files []string, jobs int) (*analysis.Accumulator, input.Stats, error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	jobs = max(1, min(jobs, len(files)))
	if slices.Contains(files, "-") {
		jobs = 1 // stdin is read by the one worker, in order
	}
	wenv := *env
	wenv.Stderr = &lockedWriter{w: env.Stderr}
	prog := newProgress(&wenv, ff.quiet, len(files))
	defer prog.done()
	type worker struct {
		rd  *input.Reader
		acc *analysis.Accumulator
	}
	ws := make([]worker, jobs)
	for i := range ws {
		rd, err := ff.reader(&wenv)
		if err != nil {
			return nil, input.Stats{}, err
		}
		ws[i] = worker{rd, analysis.NewAccumulator(eng, scfg)}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			h := func(r *flowlog.Record, _ *envelope.Meta) error {
				prog.tick()
				w.acc.Observe(r)
				return nil
			}
			for {
				k := int(next.Add(1) - 1)
				if k >= len(files) || ctx.Err() != nil {
					return
				}
				if err := readInput(ctx, env, w.rd, files[k], h); err != nil && ctx.Err() == nil {
					fmt.Fprintf(wenv.Stderr, "cinch: %v\n", err)
				}
				prog.fileDone()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, input.Stats{}, err
	}
	acc, st := ws[0].acc, ws[0].rd.Stats()
	for _, w := range ws[1:] {
		if err := acc.Merge(w.acc); err != nil {
			return nil, input.Stats{}, err
		}
		st.Add(w.rd.Stats())
	}
	return acc, st, nil
}

// lockedWriter serializes writes (each message is one Write).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
