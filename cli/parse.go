package cli

import (
	"bufio"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/input"
)

// flowFlags are the input flags parse and analyze share.
type flowFlags struct {
	format string
	quiet  bool
	prefix string    // "cinch parse", "cinch analyze": starts every message
	rep    *reporter // shared by the readers of one command
}

func (f *flowFlags) register(fs *flag.FlagSet) {
	f.prefix = fs.Name()
	fs.StringVar(&f.format, "format", "", "flow-log `FORMAT`: '${version} ${vpc-id} ...' or plain field names (default: the v2 default format, or the header line of S3 files)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress line and no per-line error messages on stderr")
}

// maxShown is how many messages about bad input a command prints; the rest
// are only counted, in the summary.
const maxShown = 10

// reporter prints the first maxShown messages about bad input (file:line:
// error), then one line saying that the others are only counted. It is safe
// for concurrent use.
type reporter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	quiet  bool
	shown  int
	hidden int64
}

func (r *reporter) report(file string, line int, err error) {
	if r.quiet {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.shown < maxShown:
		r.shown++
		if line > 0 {
			fmt.Fprintf(r.w, "%s:%d: %v\n", file, line, err)
		} else {
			fmt.Fprintf(r.w, "%s: %v\n", file, err)
		}
	case r.hidden == 0:
		r.hidden++
		fmt.Fprintf(r.w, "%s: further messages about bad input are not shown; the summary counts them all\n", r.prefix)
	default:
		r.hidden++
	}
}

// reader builds an input reader that reports bad lines through f's reporter.
func (f *flowFlags) reader(env *Env) (*input.Reader, error) {
	var opts input.Options
	if f.format != "" {
		fm, err := flowlog.ParseFormat(f.format)
		if err != nil {
			return nil, fmt.Errorf("--format: %w", err)
		}
		opts.Format = fm
	}
	if f.rep == nil {
		f.rep = &reporter{w: env.Stderr, prefix: f.prefix, quiet: f.quiet}
	}
	return input.NewReader(opts, f.rep.report), nil
}

// stdinNote says on a terminal that flow logs are awaited on stdin, where a
// user who forgot the file arguments would otherwise see nothing happen.
func stdinNote(env *Env, prefix string, files []string) {
	if len(files) == 0 && env.StdinIsTerminal {
		fmt.Fprintf(env.Stderr, "%s: no flow-log files given: reading standard input (end it with Ctrl-D)\n", prefix)
	}
}

// readInput reads one file, or stdin for "-", and reports an input without
// any line.
func readInput(ctx context.Context, env *Env, ff *flowFlags, rd *input.Reader, f string, h input.Handler) error {
	seen := func() int64 { st := rd.Stats(); return st.Lines + st.Malformed }
	before := seen()
	var err error
	name := f
	if f == "-" {
		name = "stdin"
		err = rd.ReadStream(ctx, name, env.Stdin, h)
	} else {
		err = rd.ReadFile(ctx, f, h)
	}
	if err == nil && seen() == before {
		ff.rep.report(name, 0, fmt.Errorf("empty: no flow-log lines"))
	}
	return err
}

// readAll reads every file (stdin for none or "-"), with a progress line. It
// returns how many inputs could not be read whole.
func readAll(ctx context.Context, env *Env, ff *flowFlags, rd *input.Reader, files []string,
	fn func(*flowlog.Record, *envelope.Meta) error) (failed int, err error) {
	stdinNote(env, ff.prefix, files)
	if len(files) == 0 {
		files = []string{"-"}
	}
	prog := newProgress(env, ff.quiet, len(files))
	defer prog.done()
	for _, f := range files {
		h := func(r *flowlog.Record, m *envelope.Meta) error {
			prog.tick()
			return fn(r, m)
		}
		if err := readInput(ctx, env, ff, rd, f, h); err != nil {
			if ctx.Err() != nil {
				return failed, ctx.Err()
			}
			fmt.Fprintf(env.Stderr, "%s: %v\n", ff.prefix, err)
			failed++
		}
		prog.fileDone()
	}
	return failed, nil
}

func runParse(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "parse", "[--format FMT] [FILE...]")
	var ff flowFlags
	ff.register(fs)
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	rd, err := ff.reader(env)
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(env.Stdout, 1<<16)
	var buf []byte
	failed, err := readAll(ctx, env, &ff, rd, files, func(r *flowlog.Record, _ *envelope.Meta) error {
		buf = r.AppendJSON(buf[:0])
		buf = append(buf, '\n')
		_, err := out.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := checkRead(env, ff.prefix, rd.Stats(), ff.quiet); err != nil {
		return err
	}
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "%s: %s could not be read whole: the records printed are from the part that could\n",
			ff.prefix, plural(failed, "input", "inputs"))
		return exitError{1}
	}
	return nil
}

// plural formats n with the singular or plural noun.
func plural[N ~int | ~int64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// checkRead prints a summary of bad input and fails only when nothing was read.
func checkRead(env *Env, prefix string, st input.Stats, quiet bool) error {
	if st.Malformed > 0 && !quiet {
		fmt.Fprintf(env.Stderr, "%s: %s skipped (%s)\n", prefix,
			plural(st.Malformed, "malformed line", "malformed lines"), reasons(st.MalformedByReason))
	}
	if st.Records == 0 {
		switch {
		case st.Lines == 0 && st.Malformed == 0:
			fmt.Fprintf(env.Stderr, "%s: no flow-log record could be read: the input is empty\n", prefix)
		case st.Lines > 0:
			fmt.Fprintf(env.Stderr, "%s: no flow-log record could be read: none of the %s is a flow-log record\n",
				prefix, plural(st.Lines, "line", "lines"))
		default:
			fmt.Fprintf(env.Stderr, "%s: no flow-log record could be read (see above)\n", prefix)
		}
		return exitError{1}
	}
	return nil
}

// reasons formats counts by reason, most frequent first: "field-count: 3, bad-value: 1".
func reasons(m map[string]int64) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}
