package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/daemon/config"
)

// The demo serves live proposals within seconds, and they change: the
// administrators stop using SSH and the daemon says the SSH rules stopped
// matching.
func TestDemoServesLiveProposals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := config.Default()
	cfg.Listen = addr
	opts := DefaultOptions()
	opts.AdminsFor, opts.StoppedAfter = 2*time.Second, 3*time.Second
	adminsStop := time.Now().Add(opts.AdminsFor)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, opts, slog.New(slog.NewTextHandler(io.Discard, nil)), "test") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()

	// Suggestions with every verdict, without a token (demo on loopback).
	deadline := time.Now().Add(15 * time.Second)
	var rep advisor.Report
	verdicts := map[string]int{}
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/api/v1/suggestions")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&rep)
			resp.Body.Close()
			verdicts = map[string]int{}
			for _, s := range rep.Suggestions {
				verdicts[s.Verdict]++
			}
			if verdicts["keep"] > 0 && verdicts["narrow"] > 0 && verdicts["remove"] > 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if verdicts["keep"] == 0 || verdicts["narrow"] == 0 || verdicts["remove"] == 0 {
		t.Fatalf("demo suggestions after 15 s: %v", verdicts)
	}

	// Writes still need a token in demo mode.
	resp, err := http.Post("http://"+addr+"/api/v1/reviews", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /api/v1/reviews without a token: %d, want 401", resp.StatusCode)
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var first api.Event
	if err := conn.ReadJSON(&first); err != nil || first.Type != api.EventSnapshot || first.Snapshot == nil {
		t.Fatalf("first message: %+v %v", first, err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	last := first.Version
	for {
		var ev api.Event
		if err := conn.ReadJSON(&ev); err != nil {
			t.Fatalf("no rule-stopped-matching event: %v", err)
		}
		if ev.Version <= last {
			t.Fatalf("versions must increase: %d after %d", ev.Version, last)
		}
		last = ev.Version
		if ev.Type == api.EventRuleStoppedMatching {
			if ev.Suggestion == nil || ev.Suggestion.Rule.FromPort != 22 {
				t.Fatalf("stopped rule: %+v", ev.Suggestion)
			}
			if time.Now().Before(adminsStop.Truncate(time.Second).Add(opts.StoppedAfter)) { // the simulation clock counts whole seconds
				t.Fatalf("the SSH rule was called stopped at %v, before its traffic stopped (%v) plus %v", time.Now(), adminsStop, opts.StoppedAfter)
			}
			return
		}
	}
}

// configs/demo.yaml and the built-in demo configuration of --demo are the
// same settings (issue 7, finding 11).
func TestConfigFileMatchesBuiltIn(t *testing.T) {
	file, err := config.Load("../../configs/demo.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	builtIn, err := config.Parse([]byte(ConfigYAML), "built-in", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(file, builtIn) {
		t.Errorf("configs/demo.yaml:\n%+v\nbuilt-in:\n%+v", file, builtIn)
	}
	if len(builtIn.Auth.Tokens) != 1 || builtIn.Auth.Tokens[0].Token != config.DemoToken || builtIn.Auth.Tokens[0].Role != config.RoleReviewer {
		t.Errorf("demo tokens: %+v", builtIn.Auth.Tokens)
	}
}
