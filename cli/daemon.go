package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

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
	)
	fs.StringVar(&cfgPath, "config", "", "YAML configuration file (see configs/)")
	fs.BoolVar(&demoMode, "demo", false, "run on a built-in simulated account and live traffic (no AWS, Kafka or ClickHouse needed)")
	fs.StringVar(&listen, "listen", "", "address of the HTTP API (overrides the config's listen)")
	fs.IntVar(&rate, "demo-rate", demo.DefaultOptions().Rate, "records per second of simulated traffic in --demo")
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
	var cfg config.Config
	var err error
	if cfgPath != "" {
		cfg, err = config.Load(cfgPath, getenv)
	} else {
		cfg, err = config.Parse(nil, "(defaults)", getenv)
	}
	if err != nil {
		return err
	}
	if listen != "" {
		cfg.Listen = listen
	}
	logger := newLogger(env, cfg.Log)
	tuneGC(ctx, env)
	if demoMode {
		host, _, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return fmt.Errorf("--listen %q: %w", cfg.Listen, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--demo serves reads without a token, so it listens on loopback only, not %s", cfg.Listen)
		}
		opts := demo.DefaultOptions()
		opts.Rate = rate
		return demo.Run(ctx, cfg, opts, logger, Version)
	}
	red := cfg.Redacted()
	kafkaText := "none"
	if red.Kafka != nil {
		kafkaText = fmt.Sprintf("%+v", *red.Kafka)
	}
	logger.Info("configuration", "config", fmt.Sprintf("%+v", red), "kafka", kafkaText)
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
