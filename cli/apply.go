package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cinch-sg/cinch/apply"
	"github.com/cinch-sg/cinch/inventory/awsapi"
	"github.com/cinch-sg/cinch/sinks/clickhouse"
)

func runApply(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "apply", "--suggestions F --reviews F [--dry-run] [--force] [--audit-log F] [--clickhouse ADDR] [--region R...]")
	var (
		sugFile, revFile, auditFile, who string
		dryRun, force                    bool
		af                               awsFlags
		ch                               clickhouse.Config
	)
	fs.StringVar(&sugFile, "suggestions", "", "suggestions JSON (cinch analyze --output json, or the daemon's /api/v1/suggestions)")
	fs.StringVar(&revFile, "reviews", "", "review decisions: JSON array or lines of {\"rule_key\" or \"rule_id\", \"decision\"}; only accepted proposals are applied")
	fs.StringVar(&auditFile, "audit-log", "cinch-audit.jsonl", "audit log, appended: one JSON line per API call and per run")
	fs.StringVar(&who, "who", "", "who applies, for the audit log (default $USER)")
	fs.BoolVar(&dryRun, "dry-run", false, "only check: every call is made with DryRun and nothing changes")
	fs.BoolVar(&force, "force", false, "also apply proposals whose evidence is incomplete (not-observed) or of low confidence")
	fs.StringVar(&ch.Addr, "clickhouse", env.Getenv("CINCH_CLICKHOUSE_ADDR"), "also record the run in ClickHouse's applies table at this native-protocol address (default $CINCH_CLICKHOUSE_ADDR; password from $CINCH_CLICKHOUSE_PASSWORD)")
	fs.StringVar(&ch.Database, "clickhouse-database", clickhouse.DefaultDatabase, "the ClickHouse database (the daemon's)")
	fs.StringVar(&ch.Username, "clickhouse-user", "default", "the ClickHouse user")
	af.enabled = true
	fs.Var(&af.regions, "region", "a region where the groups may live (repeatable; default AWS_REGION or the shared config's)")
	fs.Var(&af.roles, "assume-role", "a role ARN to assume per account (repeatable; default: the credentials' own account)")
	fs.StringVar(&af.externalID, "external-id", "", "the external id the assumed roles require")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || sugFile == "" || revFile == "" {
		fs.Usage()
		return errUsage
	}
	if who == "" {
		who = env.Getenv("USER")
	}
	if who == "" {
		return errors.New("--who is required when $USER is not set (the audit log names who applied)")
	}
	sb, err := os.ReadFile(sugFile)
	if err != nil {
		return err
	}
	props, err := apply.ParseReport(sb)
	if err != nil {
		return fmt.Errorf("%s: %w", sugFile, err)
	}
	rb, err := os.ReadFile(revFile)
	if err != nil {
		return err
	}
	revs, err := apply.ParseReviews(rb)
	if err != nil {
		return fmt.Errorf("%s: %w", revFile, err)
	}
	steps, skips := apply.Plan(props, apply.NewReviews(revs).Accepted, force)
	for _, s := range skips {
		fmt.Fprintf(env.Stderr, "cinch apply: skipping %s: %s\n", s.RuleKey, s.Reason)
	}
	if len(steps) == 0 {
		fmt.Fprintln(env.Stderr, "cinch apply: nothing to apply")
		return nil
	}
	c, err := af.config()
	if err != nil {
		return err
	}
	cl, err := awsapi.New(ctx, c)
	if err != nil {
		return err
	}
	var targets []apply.Target
	for i, cfg := range cl.AWSConfigs() {
		targets = append(targets, apply.Target{Name: cl.Targets()[i], Client: ec2.NewFromConfig(cfg)})
	}
	audit, err := os.OpenFile(auditFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	res := apply.New(targets, audit).Apply(ctx, who, steps, skips, dryRun)
	if err := audit.Close(); err != nil && res.Error == "" {
		res.Error = "audit log: " + err.Error()
	}
	var chErr error
	if ch.Addr != "" {
		ch.Password = env.Getenv("CINCH_CLICKHOUSE_PASSWORD")
		if chErr = recordApply(ctx, ch, res); chErr != nil {
			fmt.Fprintf(env.Stderr, "cinch apply: the run is in the audit log %s but not in ClickHouse: %v\n", auditFile, chErr)
		}
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	done, notDone := res.Counts()
	verb := "done"
	if dryRun {
		verb = "allowed (dry run)"
	}
	fmt.Fprintf(env.Stderr, "cinch apply: %d of %d steps %s, %d not done, %d proposals skipped; audit log %s\n",
		done, len(res.Steps), verb, notDone, len(skips), auditFile)
	if err := res.Err(); err != nil {
		return err
	}
	return chErr
}

// recordApply writes a run's rows to ClickHouse's applies table (creating
// or migrating the schema as the daemon does).
func recordApply(ctx context.Context, cfg clickhouse.Config, res *apply.Result) error {
	s, err := clickhouse.New(cfg, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	host, _ := os.Hostname()
	s.PutApplies(clickhouse.ApplyRows(res, "cinch apply@"+host)...)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.Flush(ctx)
}
