package api

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// handleEvents upgrades GET /api/v1/events to a websocket of events: a
// snapshot (or, with ?since=V still in the history, the events after V),
// then every new event.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	if _, ok := s.authorize(w, r, roleViewer, true); !ok {
		return
	}
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since must be a version number")
			return
		}
		since = n
	}
	if e := r.URL.Query().Get("epoch"); e != "" && e != s.hub.Epoch() {
		since = 0 // versions of another daemon run: start from a snapshot
	}
	switch s.addSession() {
	case sessionClosing:
		writeError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	case sessionFull:
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "too many websocket clients")
		return
	}
	defer s.endSession()
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("api: websocket upgrade", "err", err)
		return // the upgrader wrote the error response
	}
	s.serveEvents(conn, since)
}

// Results of addSession.
const (
	sessionAdded = iota
	sessionClosing
	sessionFull
)

// addSession registers a websocket session unless the server is closing or
// has cfg.MaxClients sessions already.
func (s *Server) addSession() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return sessionClosing
	}
	if s.clients >= s.cfg.MaxClients {
		return sessionFull
	}
	s.clients++
	s.sessions.Add(1)
	return sessionAdded
}

func (s *Server) endSession() {
	s.mu.Lock()
	s.clients--
	s.mu.Unlock()
	s.sessions.Done()
}

// serveEvents streams events to one websocket until the client leaves, the
// client falls too far behind, or the server closes.
func (s *Server) serveEvents(conn *websocket.Conn, since uint64) {
	defer conn.Close()
	events, snapshot, ch, cancel := s.hub.Subscribe(since)
	defer cancel()
	if m := s.cfg.Metrics; m != nil {
		m.WebsocketClients.Inc()
		defer m.WebsocketClients.Dec()
	}
	s.log.Debug("api: websocket open", "remote", conn.RemoteAddr().String(), "since", since, "snapshot", snapshot)

	pongWait := 2 * s.cfg.PingInterval
	// Only a pong that echoes one of our last two pings proves that the
	// client reads: unsolicited pongs from a client that never reads do not
	// keep it connected.
	var pings struct {
		sync.Mutex
		n    uint64
		salt string
	}
	pings.salt = strconv.FormatUint(rand.Uint64(), 36)
	pingPayload := func(n uint64) string { return pings.salt + "." + strconv.FormatUint(n, 10) }
	readerDone := make(chan struct{})
	go func() {
		// Reads keep the deadline and handle pings, pongs and the close
		// handshake; clients have nothing to say, so messages are dropped.
		defer close(readerDone)
		conn.SetReadLimit(maxClientFrame)
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(data string) error {
			pings.Lock()
			n := pings.n
			pings.Unlock()
			if n == 0 || (data != pingPayload(n) && data != pingPayload(n-1)) {
				return nil
			}
			return conn.SetReadDeadline(time.Now().Add(pongWait))
		})
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()

	write := func(ev Event) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if err := conn.WriteJSON(ev); err != nil {
			s.log.Debug("api: websocket write", "err", err)
			return false
		}
		return true
	}
	closeWith := func(code int, text string) {
		msg := websocket.FormatCloseMessage(code, text)
		if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteTimeout)); err != nil {
			return
		}
		// Wait for the client's close frame, briefly.
		select {
		case <-readerDone:
		case <-time.After(s.cfg.WriteTimeout):
		}
	}

	for _, ev := range events {
		if !write(ev) {
			return
		}
	}
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				closeWith(websocket.CloseTryAgainLater, "too slow: reconnect with since")
				return
			}
			if !write(ev) {
				return
			}
		case <-ping.C:
			pings.Lock()
			pings.n++
			payload := pingPayload(pings.n)
			pings.Unlock()
			if err := conn.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				return
			}
		case <-readerDone:
			return
		case <-s.done:
			closeWith(websocket.CloseGoingAway, "server shutting down")
			return
		}
	}
}
