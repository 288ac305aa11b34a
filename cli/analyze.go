package cli

import (
	"bufio"
	"bytes"
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
	"github.com/cinch-sg/cinch/daemon/config"
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
	flowLogs                                      stringList
	aws                                           awsFlags
}

func (f *inventoryFlags) register(fs *flag.FlagSet) {
	// A backquoted word is the value's placeholder in --help (flag.UnquoteUsage).
	fs.Var(&f.groups, "security-groups", "output of aws ec2 describe-security-groups saved as JSON in `FILE` (repeatable)")
	fs.Var(&f.rules, "security-group-rules", "output of aws ec2 describe-security-group-rules saved as JSON in `FILE` (repeatable)")
	fs.Var(&f.enis, "network-interfaces", "output of aws ec2 describe-network-interfaces saved as JSON in `FILE` (repeatable)")
	fs.Var(&f.config, "config-snapshot", "AWS Config snapshot, history or API `FILE`, plain or gzip (repeatable)")
	fs.Var(&f.prefixLists, "prefix-lists", "JSON `FILE` of describe-managed-prefix-lists, or get-managed-prefix-list-entries saved as pl-ID.json (repeatable)")
	fs.Var(&f.any, "inventory", "any of the files above (`FILE`), kind detected from the content (repeatable)")
	fs.Var(&f.flowLogs, "flow-logs", "output of aws ec2 describe-flow-logs saved as JSON in `FILE`: interfaces under a flow log of type ALL or ACCEPT count as observed from its creation (repeatable)")
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
		// The account's flow-log configuration (DescribeFlowLogs) is
		// coverage evidence, as --flow-logs is.
		fl, err := snap.FlowLogsJSON()
		if err != nil {
			return nil, err
		}
		if _, err := awsjson.LoadFlowLogs(inv, bytes.NewReader(fl)); err != nil {
			return nil, fmt.Errorf("--aws: DescribeFlowLogs: %w", err)
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("no inventory: give --security-groups and --network-interfaces (or --inventory / --config-snapshot, or --aws)")
	}
	for _, path := range f.flowLogs {
		if _, err := awsjson.LoadFlowLogsFile(inv, path); err != nil {
			return nil, fmt.Errorf("--flow-logs %w", err)
		}
	}
	return inv, nil
}

func runAnalyze(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "analyze", "--security-groups FILE [--security-group-rules FILE] --network-interfaces FILE [--config-snapshot FILE...] [flags] [FLOWFILE...]")
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
	minHistory := config.Duration(acfg.MinHistory)
	fs.TextVar(&minHistory, "min-history", minHistory, "observation shorter than this gives low confidence (short-history), e.g. 14d, 36h")
	var includeLow bool
	fs.BoolVar(&includeLow, "include-low-confidence", false, "cli and terraform outputs: include low-confidence proposals (short history, partial logging)")
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
	acfg.MinHistory = minHistory.Std()
	inv, err := invf.load(ctx, env)
	if err != nil {
		return err
	}
	if !ff.quiet {
		for _, w := range inv.Validate() {
			fmt.Fprintf(env.Stderr, "%s: inventory: %v\n", ff.prefix, w)
		}
	}
	failed := 0 // inputs that could not be read whole
	analyze := func(eng *analysis.Engine) (*analysis.Accumulator, input.Stats, error) {
		if len(files) == 0 && len(s3f.urls) > 0 {
			acc := analysis.NewAccumulator(eng, scfg)
			st, err := s3f.read(ctx, env, &ff, &invf.aws, acc)
			return acc, st, err
		}
		acc, st, nfailed, err := analyzeFiles(ctx, env, &ff, eng, scfg, files, jobs)
		failed = nfailed
		if err != nil {
			return nil, st, err
		}
		st3, err := s3f.read(ctx, env, &ff, &invf.aws, acc)
		st.Add(st3)
		return acc, st, err
	}
	acc, st, err := analyze(analysis.NewEngine(inv))
	if err != nil {
		return err
	}
	if failed > 0 {
		// Verdicts from part of the input could call a rule unused that the
		// unread part shows in use: no report.
		return fmt.Errorf("%s could not be read whole (see above): no report, since the part that was read "+
			"could show a used rule as unused; fix the input or leave it out", plural(failed, "input", "inputs"))
	}
	if err := checkRead(env, ff.prefix, st, ff.quiet); err != nil {
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
		fmt.Fprintln(env.Stderr, summary(ff.prefix, st))
		if n := acc.Engine().UnresolvedCount(); n > 0 {
			fmt.Fprintf(env.Stderr, "%s: %d rules reference a security group or prefix list the inventory cannot resolve (another account, a peered VPC, missing exports): kept, not judged (reason unresolved-reference)\n", ff.prefix, n)
		}
		if st.Unattributed > 0 {
			fmt.Fprintf(env.Stderr, "%s: %d accepted records from %d interfaces not in the inventory were not attributed\n",
				ff.prefix, st.Unattributed, len(acc.Unattributed()))
		}
	}
	rep := acc.Report(acfg)
	if output == "cli" || output == "terraform" {
		var left int
		rep, left = export.Proposals(&rep, includeLow)
		if left > 0 && !ff.quiet {
			fmt.Fprintf(env.Stderr, "%s: %d low-confidence proposals left out (short history or partial logging; --include-low-confidence to include them)\n", ff.prefix, left)
		}
	}
	if !ff.quiet {
		cov := acc.Coverage()
		if cov.Unobserved > 0 {
			fmt.Fprintf(env.Stderr, "%s: %d of %d interfaces were not observed all the window (no flow-log records, no --flow-logs configuration): their groups are kept\n", ff.prefix,
				cov.Unobserved, cov.Observed+cov.Unobserved)
		}
	}
	out := bufio.NewWriter(env.Stdout)
	if err := export.Write(out, output, &rep); err != nil {
		return err
	}
	return out.Flush()
}

// summary says in one line what the analysis did with the records.
func summary(prefix string, st analysis.Stats) string {
	return fmt.Sprintf("%s: %d records: %d inbound and %d outbound requests, %d replies (%d records without a decisive TCP flag, split here as their ports suggest, "+
		"credited to the rules that allow them until the port evidence judges them), "+
		"%d rejected, %d no-data/skip-data, %d of unknown direction, %d of unknown interfaces, %d of interfaces without security groups, %d requests no rule allows",
		prefix, st.Records, st.Inbound, st.Outbound, st.Responses, st.Ambiguous, st.Rejected, st.NoData+st.SkipData,
		st.Undetermined, st.Unattributed, st.NoGroups, st.Unmatched)
}

// analyzeFiles reads files (stdin for none or "-") with up to jobs workers,
// each with its own reader and accumulator over the shared engine, and
// merges them. Sketches merge exactly, so the result is the same for any
// jobs; only the order of the messages on stderr may differ. failed counts
// the inputs that could not be read whole.
func analyzeFiles(ctx context.Context, env *Env, ff *flowFlags, eng *analysis.Engine, scfg sketch.Config,
	files []string, jobs int) (_ *analysis.Accumulator, _ input.Stats, failed int, _ error) {
	stdinNote(env, ff.prefix, files)
	if len(files) == 0 {
		files = []string{"-"}
	}
	jobs = max(1, min(jobs, len(files)))
	if slices.Contains(files, "-") {
		jobs = 1 // stdin is read by the one worker, in order
	}
	wenv := *env
	wenv.Stderr = &lockedWriter{w: env.Stderr}
	ff.rep = &reporter{w: wenv.Stderr, prefix: ff.prefix, quiet: ff.quiet}
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
			return nil, input.Stats{}, 0, err
		}
		ws[i] = worker{rd, analysis.NewAccumulator(eng, scfg)}
	}
	var next, nfailed atomic.Int64
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
				if err := readInput(ctx, env, ff, w.rd, files[k], h); err != nil && ctx.Err() == nil {
					nfailed.Add(1)
					fmt.Fprintf(wenv.Stderr, "%s: %v\n", ff.prefix, err)
				}
				prog.fileDone()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, input.Stats{}, 0, err
	}
	acc, st := ws[0].acc, ws[0].rd.Stats()
	for _, w := range ws[1:] {
		if err := acc.Merge(w.acc); err != nil {
			return nil, input.Stats{}, 0, err
		}
		st.Add(w.rd.Stats())
	}
	return acc, st, int(nfailed.Load()), nil
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
