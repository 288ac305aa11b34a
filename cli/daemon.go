package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/daemon"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/daemon/demo"
)

// Version is the version the API reports.
const Version = "0.1.0"

func runDaemon(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "daemon", "--config FILE | --demo [--listen ADDR]")
	var (
		cfgPath, listen string
		demoMode        bool
		rate            int
		hostile         bool
		newEvery        time.Duration
		adminsFor       time.Duration
		stoppedAfter    time.Duration
	)
	fs.StringVar(&cfgPath, "config", "", "YAML configuration file (see configs/)")
	fs.BoolVar(&demoMode, "demo", false, "run on a built-in simulated account and live traffic (no AWS, Kafka or ClickHouse needed)")
	fs.StringVar(&listen, "listen", "", "address of the HTTP API (overrides the config's listen)")
	fs.IntVar(&rate, "demo-rate", demo.DefaultOptions().Rate, "records per second of simulated traffic in --demo")
	fs.DurationVar(&newEvery, "demo-new-source-every", demo.DefaultOptions().NewSourceEvery, "in --demo, how often a new client appears (0: never)")
	fs.DurationVar(&adminsFor, "demo-admins-for", demo.DefaultOptions().AdminsFor, "in --demo, how long the simulated administrators use SSH before they stop")
	fs.DurationVar(&stoppedAfter, "demo-stopped-after", demo.DefaultOptions().StoppedAfter, "in --demo, how long a rule must see no traffic to count as stopped matching")
	fs.BoolVar(&hostile, "demo-hostile-names", false, "in --demo, add a group whose name and descriptions are HTML markup (for testing the dashboard)")
	if rest, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %v", rest)
	}
	if cfgPath == "" && !demoMode {
		return errors.New("give --config FILE, or --demo to try cinch on a simulated account")
	}
	getenv := env.Getenv
	if demoMode {
		getenv = func(k string) string {
			if k == "CINCH_DEMO" {
				return "true"
			}
			return env.Getenv(k)
		}
	}
	// --demo without a file loads the demo's own configuration, the one
	// configs/demo.yaml holds: the flag and the file mean one thing.
	var cfg config.Config
	var err error
	if cfgPath != "" {
		cfg, err = config.Load(cfgPath, getenv)
	} else {
		cfg, err = config.Parse([]byte(demo.ConfigYAML), "(built-in demo configuration)", getenv)
	}
	if err != nil {
		return err
	}
	if listen != "" {
		cfg.Listen = listen
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	logger := newLogger(env, cfg.Log)
	tuneGC(ctx, env)
	summary := cfg
	if cfg.Demo {
		summary.StateDir = "(temporary, removed at exit)"
	}
	logger.Info("cinch daemon starting", config.LogSummary(summary)...)
	if cfg.Demo {
		opts := demo.DefaultOptions()
		opts.Rate = rate
		opts.HostileNames = hostile
		opts.AdminsFor, opts.StoppedAfter = adminsFor, stoppedAfter
		opts.NewSourceEvery = newEvery
		return demo.Run(ctx, cfg, opts, logger, Version)
	}
	d, err := daemon.New(daemon.Options{Config: cfg, Logger: logger, Version: Version})
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

func newLogger(env *Env, c config.Log) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	o := &slog.HandlerOptions{Level: level}
	if strings.ToLower(c.Format) == "json" {
		return slog.New(slog.NewJSONHandler(env.Stderr, o))
	}
	return slog.New(slog.NewTextHandler(env.Stderr, o))
}
