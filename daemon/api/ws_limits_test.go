package api

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Events websockets are capped: beyond MaxClients a client is refused with
// 503 and Retry-After, and a place frees when a client leaves (issue 7,
// finding 8).
func TestEventsClientCap(t *testing.T) {
	f := newFixture(t, func(c *ServerConfig) { c.MaxClients = 3 })
	var conns []*websocket.Conn
	for range 3 {
		c, _, err := f.dial("", bearerHeader(viewerTok))
		if err != nil {
			t.Fatal(err)
		}
		readEvent(t, c)
		conns = append(conns, c)
	}
	_, resp, err := f.dial("", bearerHeader(viewerTok))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth client: %v, %+v; want 503 with Retry-After", err, resp)
	}
	conns[0].Close()
	waitFor(t, func() bool { return f.hub.Subscribers() == 2 })
	waitFor(t, func() bool {
		c, _, err := f.dial("", bearerHeader(viewerTok))
		if err != nil {
			return false
		}
		conns = append(conns, c)
		return true
	})
	for _, c := range conns {
		c.Close()
	}
}

// A client that never reads but sends pongs of its own is dropped: only a
// pong that echoes the server's ping keeps a client (issue 7, finding 8).
func TestEventsUnsolicitedPongsDoNotKeepClient(t *testing.T) {
	f := newFixture(t, func(c *ServerConfig) { c.PingInterval = 50 * time.Millisecond })
	c, _, err := f.dial("", bearerHeader(viewerTok))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if c.WriteControl(websocket.PongMessage, []byte("alive"), time.Now().Add(time.Second)) != nil {
					return
				}
			}
		}
	}()
	waitFor(t, func() bool { return f.hub.Subscribers() == 0 })
}

// An idle subscriber holds no event buffer: 200 of them on a hub that keeps
// 4,096 events take little memory (each took a 4,096-event channel before;
// issue 7, finding 8).
func TestHubSubscriberBuffersGrowOnDemand(t *testing.T) {
	h := NewHub(4096)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var cancels []func()
	for range 200 {
		_, _, _, cancel := h.Subscribe(0)
		cancels = append(cancels, cancel)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	for _, c := range cancels {
		c()
	}
	if grown > 4<<20 {
		t.Errorf("200 idle subscribers take %d bytes of heap, want under 4 MiB", grown)
	}
}

// With reads open (the demo), only loopback host names are served: a DNS
// name rebound to 127.0.0.1 gets no data and no websocket (issue 7,
// finding 11).
func TestOpenReadsLoopbackHostOnly(t *testing.T) {
	f := newFixture(t, func(c *ServerConfig) { c.OpenReads = true })
	for host, ok := range map[string]bool{
		"evil.example": false, "evil.example:8080": false, "localhost.evil.example": false, "10.0.0.1:80": false,
		"localhost": true, "LOCALHOST:8080": true, "127.0.0.1": true, "127.0.0.1:8080": true, "[::1]:8080": true, "[::1]": true,
	} {
		req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/suggestions", nil)
		req.Host = host
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusOK; got != ok {
			t.Errorf("Host %q: status %d", host, resp.StatusCode)
		}
	}
	h := http.Header{"Host": {"evil.example"}}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if c, resp, err := d.Dial(f.wsURL(""), h); err == nil {
		c.Close()
		t.Error("websocket opened with Host evil.example")
	} else if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		t.Errorf("websocket with Host evil.example: %v", err)
	}
}
