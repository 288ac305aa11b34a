package livetail

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cinch-sg/cinch/internal/livetailtest"
)

const group = "arn:aws:logs:eu-west-1:123456789012:log-group:vpc-flows"

func msgs(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("2 123456789012 eni-1 10.0.0.%d 10.0.1.1 4000 443 6 1 60 1700000000 1700000060 ACCEPT OK", i))
	}
	return out
}

// newServer: the first session sends two updates (the second sampled) and
// ends with the three-hour limit's exception; later sessions send one update
// and stay open.
func newServer(t *testing.T) *livetailtest.Server {
	return livetailtest.Start(t, func(n int, send func([]byte), r *http.Request) {
		if n == 1 {
			send(livetailtest.Update(group, "eni-1-all", false, msgs(0, 3)...))
			send(livetailtest.Update(group, "eni-1-all", true, msgs(3, 500)...))
			send(livetailtest.Exception("SessionTimeoutException", "Session timed out after 3 hours"))
			return
		}
		send(livetailtest.Update(group, "eni-1-all", false, msgs(1000, 2)...))
		<-r.Context().Done()
	})
}

func TestLiveTailOverHTTP2(t *testing.T) {
	s := newServer(t)
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(s.URL), HTTPClient: s.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	src, err := New(cfg, Config{LogGroups: []string{group}, Restart: true, RestartDelay: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []string
	var sampled, resumed []int
	err = src.Run(ctx, func(ev *Event) error {
		if ev.Group != "vpc-flows" || ev.Stream != "eni-1-all" {
			t.Errorf("group %q stream %q", ev.Group, ev.Stream)
		}
		if ev.Sampled {
			sampled = append(sampled, len(got))
		}
		if ev.Resumed {
			resumed = append(resumed, len(got))
		}
		got = append(got, string(ev.Message))
		if len(got) == 505 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 505 || !strings.Contains(got[0], "10.0.0.0 ") || !strings.Contains(got[504], "10.0.0.1001 ") {
		t.Fatalf("%d events: first %q last %q", len(got), got[0], got[len(got)-1])
	}
	// The second update's 500 events are sampled; the first event of the
	// second session follows a gap.
	if len(sampled) != 500 || sampled[0] != 3 || sampled[499] != 502 || len(resumed) != 1 || resumed[0] != 503 {
		t.Errorf("sampled events %d (from %v), resumed at %v", len(sampled), sampled[:min(1, len(sampled))], resumed)
	}
	st := src.Stats()
	want := Stats{Sessions: 2, Timeouts: 1, Updates: 3, SampledUpdates: 1, Events: 505, SampledEvents: 500}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if s.Sessions.Load() != 2 || s.HTTP2.Load() != 2 {
		t.Errorf("sessions %d, over HTTP/2 %d", s.Sessions.Load(), s.HTTP2.Load())
	}
}

// A handler error stops the source; a session that cannot start is an
// error without Restart.
func TestLiveTailErrors(t *testing.T) {
	s := newServer(t)
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(s.URL), HTTPClient: s.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	src, _ := New(cfg, Config{LogGroups: []string{group}}, nil)
	stop := fmt.Errorf("enough")
	if err := src.Run(context.Background(), func(*Event) error { return stop }); err != stop {
		t.Errorf("handler error: %v", err)
	}
	bad := cfg.Copy()
	bad.BaseEndpoint = aws.String("https://127.0.0.1:1")
	src, _ = New(bad, Config{LogGroups: []string{group}}, nil)
	if err := src.Run(context.Background(), func(*Event) error { return nil }); err == nil || !strings.Contains(err.Error(), "StartLiveTail") {
		t.Errorf("unreachable endpoint: %v", err)
	}
	if _, err := New(cfg, Config{LogGroups: []string{"vpc-flows"}}, nil); err == nil {
		t.Error("a group name instead of an ARN must be refused")
	}
	if GroupName(group+":*") != "vpc-flows" || GroupName("plain") != "plain" {
		t.Error("GroupName")
	}
}
