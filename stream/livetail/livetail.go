// Package livetail reads flow-log events from CloudWatch Logs Live Tail
// (StartLiveTail), a source for a quick start without Kafka: the events of
// up to ten log groups, pushed once a second over an HTTP/2 event stream.
//
// Live Tail has two limits that matter for the analysis, and both are
// reported: above 500 matching events per second CloudWatch sends a sample
// (the update says so), and a session ends after three hours (a new one is
// started; events in between are lost). Sampled or interrupted input misses
// flows, so a rule may look unused when it is not: each event says whether
// it was sampled or follows such a gap (the daemon marks the time it covers
// as partially logged, so proposals resting on it have low confidence), and
// the counters say how much was sampled.
package livetail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Config says what to tail.
type Config struct {
	// LogGroups are log group ARNs (StartLiveTail's logGroupIdentifiers,
	// at most 10).
	LogGroups []string
	// FilterPattern is an optional CloudWatch Logs filter pattern.
	FilterPattern string
	// Restart starts a new session when one ends (the three-hour limit, or
	// a streaming error), after RestartDelay (default 1 s). Default true
	// through New.
	Restart      bool
	RestartDelay time.Duration
}

// Stats counts what the source saw.
type Stats struct {
	// Sessions started, and those that ended by the three-hour limit.
	Sessions, Timeouts uint64
	// Updates received, and those CloudWatch marked as sampled.
	Updates, SampledUpdates uint64
	// Events delivered, and events in sampled updates.
	Events, SampledEvents uint64
	// Errors: sessions that failed to start or ended with an error.
	Errors uint64
}

// Event is one log event as Live Tail delivered it.
type Event struct {
	// Group is the log group's name, Stream the log stream.
	Group, Stream string
	Message       []byte
	// Sampled: the event came in an update CloudWatch sampled (other events
	// of the same time were left out).
	Sampled bool
	// Resumed: the first event of a session that follows one that ended
	// (events between the two sessions were lost).
	Resumed bool
}

// Handler receives one log event. The event and its message are valid only
// during the call.
type Handler func(ev *Event) error

// Source is a Live Tail reader.
type Source struct {
	client *cloudwatchlogs.Client
	cfg    Config
	log    *slog.Logger
	st     struct {
		sessions, timeouts, updates, sampled, events, sampledEvents, errors atomic.Uint64
	}
	warned atomic.Int64 // unix second of the last sampling warning
}

// New returns a source reading through awsCfg (its credentials need
// logs:StartLiveTail on the groups).
func New(awsCfg aws.Config, cfg Config, log *slog.Logger) (*Source, error) {
	if len(cfg.LogGroups) == 0 || len(cfg.LogGroups) > 10 {
		return nil, fmt.Errorf("livetail: %d log groups (want 1 to 10 ARNs)", len(cfg.LogGroups))
	}
	for _, g := range cfg.LogGroups {
		if !strings.HasPrefix(g, "arn:") {
			return nil, fmt.Errorf("livetail: %q: Live Tail needs log group ARNs (arn:aws:logs:REGION:ACCOUNT:log-group:NAME)", g)
		}
	}
	if cfg.RestartDelay <= 0 {
		cfg.RestartDelay = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	custom := awsCfg.BaseEndpoint != nil && *awsCfg.BaseEndpoint != ""
	client := cloudwatchlogs.NewFromConfig(awsCfg, func(o *cloudwatchlogs.Options) {
		if custom {
			// A custom endpoint (a proxy, a local server) has no
			// "stream-logs." host to prefix.
			o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
				return st.Initialize.Add(middleware.InitializeMiddlewareFunc("cinchNoHostPrefix",
					func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
						return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
					}), middleware.Before)
			})
		}
	})
	return &Source{client: client, cfg: cfg, log: log}, nil
}

// Stats returns the counters.
func (s *Source) Stats() Stats {
	return Stats{Sessions: s.st.sessions.Load(), Timeouts: s.st.timeouts.Load(), Updates: s.st.updates.Load(),
		SampledUpdates: s.st.sampled.Load(), Events: s.st.events.Load(), SampledEvents: s.st.sampledEvents.Load(),
		Errors: s.st.errors.Load()}
}

// GroupName returns the log group name of an identifier (an ARN or a name).
func GroupName(id string) string {
	if i := strings.Index(id, ":log-group:"); i >= 0 {
		return strings.TrimSuffix(id[i+len(":log-group:"):], ":*")
	}
	return id
}

// Run tails until ctx ends (nil), a handler fails (that error), or, without
// Restart, the session ends (nil after the three-hour limit, its error
// otherwise).
func (s *Source) Run(ctx context.Context, fn Handler) error {
	for {
		err := s.session(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		var hf *handlerError
		if errors.As(err, &hf) {
			return hf.err
		}
		var to *types.SessionTimeoutException
		if errors.As(err, &to) {
			s.st.timeouts.Add(1)
			s.log.Info("live tail: the session reached its three-hour limit; events until the next session are lost")
			err = nil
		} else if err != nil {
			s.st.errors.Add(1)
			s.log.Error("live tail: session ended", "err", err)
		}
		if !s.cfg.Restart {
			return err
		}
		t := time.NewTimer(s.cfg.RestartDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }

func (s *Source) session(ctx context.Context, fn Handler) error {
	in := &cloudwatchlogs.StartLiveTailInput{LogGroupIdentifiers: s.cfg.LogGroups}
	if s.cfg.FilterPattern != "" {
		in.LogEventFilterPattern = aws.String(s.cfg.FilterPattern)
	}
	out, err := s.client.StartLiveTail(ctx, in)
	if err != nil {
		return fmt.Errorf("StartLiveTail: %w", err)
	}
	stream := out.GetStream()
	defer stream.Close()
	resumed := s.st.sessions.Add(1) > 1
	var le Event
	for ev := range stream.Events() {
		switch e := ev.(type) {
		case *types.StartLiveTailResponseStreamMemberSessionStart:
			s.log.Info("live tail: session started", "session", aws.ToString(e.Value.SessionId), "groups", e.Value.LogGroupIdentifiers)
		case *types.StartLiveTailResponseStreamMemberSessionUpdate:
			s.st.updates.Add(1)
			n := uint64(len(e.Value.SessionResults))
			sampled := e.Value.SessionMetadata != nil && e.Value.SessionMetadata.Sampled
			if sampled {
				s.st.sampled.Add(1)
				s.st.sampledEvents.Add(n)
				if now := time.Now().Unix(); s.warned.Load() < now-60 {
					s.warned.Store(now)
					s.log.Warn("live tail: CloudWatch is sampling (more than 500 events per second): flows are missing, rules may look less used than they are",
						"sampled_updates", s.st.sampled.Load(), "updates", s.st.updates.Load())
				}
			}
			for _, r := range e.Value.SessionResults {
				s.st.events.Add(1)
				le = Event{Group: GroupName(aws.ToString(r.LogGroupIdentifier)), Stream: aws.ToString(r.LogStreamName),
					Message: []byte(aws.ToString(r.Message)), Sampled: sampled, Resumed: resumed}
				resumed = false
				if err := fn(&le); err != nil {
					return &handlerError{err}
				}
			}
		}
	}
	return stream.Err()
}
