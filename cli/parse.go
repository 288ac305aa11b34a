package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"

	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/input"
)

// flowFlags are the input flags parse and analyze share.
type flowFlags struct {
	format string
	quiet  bool
}

func (f *flowFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.format, "format", "", "flow-log format: '${version} ${vpc-id} ...' or plain field names (default: the v2 default format, or the header line of S3 files)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress line and no per-line error messages on stderr")
}

// reader builds the input reader, reporting bad lines on stderr.
func (f *flowFlags) reader(env *Env) (*input.Reader, error) {
	var opts input.Options
	if f.format != "" {
		fm, err := flowlog.ParseFormat(f.format)
		if err != nil {
			return nil, fmt.Errorf("--format: %w", err)
		}
		opts.Format = fm
	}
	quiet := f.quiet
	return input.NewReader(opts, func(file string, line int, err error) {
		if quiet {
			return
		}
		if line > 0 {
			fmt.Fprintf(env.Stderr, "%s:%d: %v\n", file, line, err)
		} else {
			fmt.Fprintf(env.Stderr, "%s: %v\n", file, err)
		}
	}), nil
}

// readInput reads one file, or stdin for "-".
func readInput(ctx context.Context, env *Env, rd *input.Reader, f string, h input.Handler) error {
	if f == "-" {
		return rd.ReadStream(ctx, "stdin", env.Stdin, h)
	}
	return rd.ReadFile(ctx, f, h)
}

// readAll reads every file (stdin for none or "-"), with a progress line.
func readAll(ctx context.Context, env *Env, rd *input.Reader, files []string, quiet bool,
	fn func(*flowlog.Record, *envelope.Meta) error) (failed int, err error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	prog := newProgress(env, quiet, len(files))
	defer prog.done()
	for _, f := range files {
		h := func(r *flowlog.Record, m *envelope.Meta) error {
			prog.tick()
			return fn(r, m)
		}
		if err := readInput(ctx, env, rd, f, h); err != nil {
			if ctx.Err() != nil {
				return failed, ctx.Err()
			}
			fmt.Fprintf(env.Stderr, "cinch: %v\n", err)
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
	if _, err := readAll(ctx, env, rd, files, ff.quiet, func(r *flowlog.Record, _ *envelope.Meta) error {
		buf = r.AppendJSON(buf[:0])
		buf = append(buf, '\n')
		_, err := out.Write(buf)
		return err
	}); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return checkRead(env, rd.Stats(), ff.quiet)
}

// checkRead prints a summary of bad input and fails only when nothing was read.
func checkRead(env *Env, st input.Stats, quiet bool) error {
	if st.Malformed > 0 && !quiet {
		fmt.Fprintf(env.Stderr, "cinch: %d malformed lines skipped (%v)\n", st.Malformed, st.MalformedByReason)
	}
	if st.Records == 0 {
		fmt.Fprintln(env.Stderr, "cinch: no flow-log record could be read")
		return exitError{1}
	}
	return nil
}
