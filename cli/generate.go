package cli

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

func runGenerate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "generate", "--out DIR [flags]")
	cfg := simulate.DefaultConfig()
	var (
		out     string
		records int
		rich    bool
		days    int
	)
	fs.StringVar(&out, "out", "", "folder to write security-groups.json, network-interfaces.json, flow-logs.json and flows.log.gz into")
	fs.IntVar(&records, "records", 200000, "flow-log records to write")
	fs.BoolVar(&rich, "rich", false, "write the records in the v5 custom format (with an S3-style header line) instead of the default format")
	fs.IntVar(&days, "days", 7, "days of simulated time the records span")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	fs.IntVar(&cfg.Apps, "apps", cfg.Apps, "three-tier applications in the account")
	fs.IntVar(&cfg.ENIsPerTier, "enis-per-tier", cfg.ENIsPerTier, "interfaces per tier")
	fs.IntVar(&cfg.InternetClients, "internet-clients", cfg.InternetClients, "distinct internet clients per web tier")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if out == "" {
		return fmt.Errorf("--out is required")
	}
	acct := simulate.NewAccount(cfg)
	if err := writeInventory(out, acct); err != nil {
		return err
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// Every subnet's flow log was created a month before the records start.
	if err := writeFile(filepath.Join(out, "flow-logs.json"), func(w io.Writer) error { return acct.WriteFlowLogs(w, start.AddDate(0, -1, 0)) }); err != nil {
		return err
	}
	fm := flowlog.DefaultFormat()
	if rich {
		fm = flowlog.MustParseFormat(simulate.RichFormat)
	}
	tr := acct.Traffic(cfg.Seed, start)
	tr.PerSecond = max(1, records/(days*86400))
	if records < days*86400 {
		tr.PerSecond = 1
	}
	err := writeFile(filepath.Join(out, "flows.log.gz"), func(w io.Writer) error {
		zw := gzip.NewWriter(w)
		if rich {
			for i, n := range fm.Names() {
				if i > 0 {
					zw.Write([]byte{' '})
				}
				zw.Write([]byte(n))
			}
			zw.Write([]byte{'\n'})
		}
		var line []byte
		for i := range records {
			if i&0xfff == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			f := tr.Next()
			line = simulate.AppendLine(line[:0], &f, fm)
			line = append(line, '\n')
			if _, err := zw.Write(line); err != nil {
				return err
			}
		}
		return zw.Close()
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s/{security-groups.json,network-interfaces.json,flow-logs.json,flows.log.gz} (%d records)\n", out, records)
	return nil
}

// writeFile creates path and fills it through a buffered writer.
func writeFile(path string, fill func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := fill(w); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// writeInventory writes an account's security-groups.json and
// network-interfaces.json (as the AWS CLI prints them) into dir.
func writeInventory(dir string, acct interface {
	WriteSecurityGroups(io.Writer) error
	WriteNetworkInterfaces(io.Writer) error
}) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "security-groups.json"), acct.WriteSecurityGroups); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "network-interfaces.json"), acct.WriteNetworkInterfaces)
}
