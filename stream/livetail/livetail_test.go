package livetail

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// frame encodes one message of the AWS event-stream wire format: a prelude
// (total length, headers length, CRC32 of those 8 bytes), headers (name
// length, name, type 7 = string, value length, value), the payload and a
// CRC32 of everything before it; big-endian throughout.
func frame(headers [][2]string, payload []byte) []byte {
	var hb bytes.Buffer
	for _, h := range headers {
		hb.WriteByte(byte(len(h[0])))
		hb.WriteString(h[0])
		hb.WriteByte(7)
		binary.Write(&hb, binary.BigEndian, uint16(len(h[1])))
		hb.WriteString(h[1])
	}
	total := 12 + hb.Len() + len(payload) + 4
	var m bytes.Buffer
	binary.Write(&m, binary.BigEndian, uint32(total))
	binary.Write(&m, binary.BigEndian, uint32(hb.Len()))
	binary.Write(&m, binary.BigEndian, crc32.ChecksumIEEE(m.Bytes()[:8]))
	m.Write(hb.Bytes())
	m.Write(payload)
	binary.Write(&m, binary.BigEndian, crc32.ChecksumIEEE(m.Bytes()))
	return m.Bytes()
}

func event(typ string, v any) []byte {
	b, _ := json.Marshal(v)
	return frame([][2]string{{":message-type", "event"}, {":event-type", typ}, {":content-type", "application/json"}}, b)
}

func exception(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return frame([][2]string{{":message-type", "exception"}, {":exception-type", typ}, {":content-type", "application/json"}}, b)
}

const group = "arn:aws:logs:eu-west-1:123456789012:log-group:vpc-flows"

func update(sampled bool, from, n int) []byte {
	var res []map[string]any
	for i := from; i < from+n; i++ {
		res = append(res, map[string]any{"logStreamName": "eni-1-all", "logGroupIdentifier": group,
			"message":   fmt.Sprintf("2 123456789012 eni-1 10.0.0.%d 10.0.1.1 4000 443 6 1 60 1700000000 1700000060 ACCEPT OK", i),
			"timestamp": 1700000000000, "ingestionTime": 1700000001000})
	}
	return event("sessionUpdate", map[string]any{"sessionMetadata": map[string]any{"sampled": sampled}, "sessionResults": res})
}

// server is a local HTTP/2 (TLS) Live Tail endpoint: the first session
// sends two updates (the second sampled) and ends with the three-hour
// limit's exception; later sessions send one update and stay open.
type server struct {
	srv      *httptest.Server
	sessions atomic.Int32
	mu       sync.Mutex
	requests []map[string]any
	protos   []int
}

func newServer(t *testing.T) *server {
	s := &server{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req map[string]any
		json.Unmarshal(body, &req)
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.protos = append(s.protos, r.ProtoMajor)
		s.mu.Unlock()
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".StartLiveTail") {
			http.Error(w, "unexpected "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		send := func(b []byte) { w.Write(b); fl.Flush() }
		n := s.sessions.Add(1)
		// awsJson event streams open with the operation's initial response.
		send(event("initial-response", map[string]any{}))
		send(event("sessionStart", map[string]any{"requestId": "r", "sessionId": fmt.Sprint("s", n), "logGroupIdentifiers": []string{group}}))
		if n == 1 {
			send(update(false, 0, 3))
			send(update(true, 3, 500))
			send(exception("SessionTimeoutException", "Session timed out after 3 hours"))
			return
		}
		send(update(false, 1000, 2))
		<-r.Context().Done()
	}))
	s.srv.EnableHTTP2 = true
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func TestLiveTailOverHTTP2(t *testing.T) {
	s := newServer(t)
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(s.srv.URL), HTTPClient: s.srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	src, err := New(cfg, Config{LogGroups: []string{group}, Restart: true, RestartDelay: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []string
	err = src.Run(ctx, func(g, stream string, msg []byte) error {
		if g != "vpc-flows" || stream != "eni-1-all" {
			t.Errorf("group %q stream %q", g, stream)
		}
		got = append(got, string(msg))
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
	st := src.Stats()
	want := Stats{Sessions: 2, Timeouts: 1, Updates: 3, SampledUpdates: 1, Events: 505, SampledEvents: 500}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.protos {
		if p != 2 {
			t.Errorf("request %d over HTTP/%d", i, p)
		}
	}
	if ids, _ := s.requests[0]["logGroupIdentifiers"].([]any); len(ids) != 1 || ids[0] != group {
		t.Errorf("request %v", s.requests[0])
	}
}

// A handler error stops the source; a session that cannot start is an
// error without Restart.
func TestLiveTailErrors(t *testing.T) {
	s := newServer(t)
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(s.srv.URL), HTTPClient: s.srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	src, _ := New(cfg, Config{LogGroups: []string{group}}, nil)
	stop := fmt.Errorf("enough")
	if err := src.Run(context.Background(), func(string, string, []byte) error { return stop }); err != stop {
		t.Errorf("handler error: %v", err)
	}
	bad := cfg.Copy()
	bad.BaseEndpoint = aws.String("https://127.0.0.1:1")
	src, _ = New(bad, Config{LogGroups: []string{group}}, nil)
	if err := src.Run(context.Background(), func(string, string, []byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "StartLiveTail") {
		t.Errorf("unreachable endpoint: %v", err)
	}
	if _, err := New(cfg, Config{LogGroups: []string{"vpc-flows"}}, nil); err == nil {
		t.Error("a group name instead of an ARN must be refused")
	}
	if GroupName(group+":*") != "vpc-flows" || GroupName("plain") != "plain" {
		t.Error("GroupName")
	}
}
