// Package cli is cinch's command line: one binary with subcommands, flags in
// the Go/Unix style and --help everywhere.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

// Env is what a command sees of the process: arguments, streams, environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StderrIsTerminal enables progress lines.
	StderrIsTerminal bool
	// StdinIsTerminal makes parse and analyze say that they read stdin when
	// no file is given.
	StdinIsTerminal bool
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"parse":       {"decode flow-log input to one JSON object per record", runParse},
		"analyze":     {"judge every security-group rule from exports and flow logs", runAnalyze},
		"generate":    {"write a simulated account and its traffic (example inputs)", runGenerate},
		"daemon":      {"the streaming daemon (--demo: on a simulated account)", runDaemon},
		"bench":       {"measure the daemon end to end through a Kafka broker", runBench},
		"produce":     {"send a simulated account's live flow logs to Kafka (demo producer)", runProduce},
		"healthcheck": {"exit 0 when a daemon's /healthz answers 200 (container health checks)", runHealthcheck},
		"apply":       {"carry accepted proposals out through the EC2 API (dry run first, audit log)", runApply},
		"forward":     {"CloudWatch Logs subscription payloads to Kafka (Lambda handler or Firehose HTTP endpoint)", runForward},
	}
}

// exitError carries an exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Run runs the command line args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, env *Env, args []string) int {
	cmds := commands()
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(env.Stdout, version())
		return 0
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "cinch: unknown command %q\n\n", args[0])
		usage(env.Stderr, cmds)
		return 2
	}
	err := c.run(ctx, env, args[1:])
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(env.Stderr, "cinch %s: %v\n", args[0], err)
	return 1
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "cinch makes AWS security groups as strict as the traffic that really uses them.")
	fmt.Fprintln(w, "\nUsage: cinch COMMAND [flags] [args]\n\nCommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "  version    print the version (also --version)")
	fmt.Fprintln(w, "\nRun 'cinch COMMAND --help' for a command's flags.")
}

// errUsage marks a flag error already reported by the flag set.
var errUsage = errors.New("usage")

// parseInterleaved parses flags that may come before, between or after
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet makes a flag set that reports errors on env.Stderr.
func newFlagSet(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("cinch "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: cinch %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

// Set adds one value.
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Main runs cinch as a process.
func Main() {
	env := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		env.StderrIsTerminal = true
	}
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		env.StdinIsTerminal = true
	}
	ctx, stop := signalContext()
	args := os.Args[1:]
	// As an AWS Lambda custom runtime the binary is started as "bootstrap"
	// without arguments: it is the forwarder's Lambda handler.
	if filepath.Base(os.Args[0]) == "bootstrap" && len(args) == 0 && os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		args = []string{"forward", "--lambda"}
	}
	code := Run(ctx, env, args)
	stop()
	os.Exit(code)
}

// version describes the build: the module version ("(devel)" for a build
// from a checkout), the commit and its time when the build recorded them
// ("+dirty" for uncommitted changes), and the Go version and platform.
func version() string {
	v := "(unknown)"
	var rev, at, dirty string
	goVersion := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	out := "cinch " + v
	if rev != "" {
		out += " commit " + rev[:min(12, len(rev))] + dirty
		if at != "" {
			out += " (" + at + ")"
		}
	}
	return out + ", " + goVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
}
