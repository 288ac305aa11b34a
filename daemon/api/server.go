package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/daemon/metrics"
)

// Defaults of the ServerConfig durations.
const (
	DefaultPingInterval    = 30 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// DefaultMaxClients is the default bound on open events websockets.
const DefaultMaxClients = 256

// Limits on request input.
const (
	maxBodyBytes    = 64 << 10
	maxCommentBytes = 4096
	maxClientFrame  = 4096
)

// VersionHeader carries the hub version of the state a response shows.
const VersionHeader = "X-Cinch-Version"

// ServerConfig configures a Server.
type ServerConfig struct {
	// Tokens are the accepted API tokens.
	Tokens []Token
	// OpenReads lets reads through without a token (the demo on loopback).
	// Requests that change state always need a token of the right role.
	// With OpenReads, requests whose Host header is not a loopback name
	// are refused (421), against DNS rebinding.
	OpenReads bool
	// AllowedOrigins are browser origins (scheme://host[:port]) allowed to
	// open the events websocket besides the request's own host.
	AllowedOrigins []string
	// Version is the daemon's build version, shown on the placeholder page.
	Version string
	// Inspector, when set, gives rule usage details and group information.
	Inspector Inspector
	// Assets, when set, is the dashboard served at GET / (index.html) and
	// under /assets/ (see package dashboards/web).
	Assets fs.FS
	// Metrics, when set, receives the websocket client count.
	Metrics *metrics.Metrics
	// PingInterval is the websocket keepalive period (DefaultPingInterval
	// when zero); a client that does not answer within two periods is
	// dropped.
	PingInterval time.Duration
	// WriteTimeout bounds each websocket write (DefaultWriteTimeout when zero).
	WriteTimeout time.Duration
	// ShutdownTimeout bounds graceful shutdown (DefaultShutdownTimeout when
	// zero).
	ShutdownTimeout time.Duration
	// MaxClients bounds the open events websockets (DefaultMaxClients when
	// zero); beyond it a new one is refused with 503 and Retry-After.
	MaxClients int
	// Apply serves POST /api/v1/apply; nil answers that apply is disabled.
	Apply ApplyFunc
}

// Validate reports configuration errors: unknown roles, empty names and
// malformed token hashes. NewServer skips invalid tokens.
func (c ServerConfig) Validate() error {
	_, err := parseTokens(c.Tokens)
	return err
}

// Server serves the HTTP API. Create it with NewServer; serve it with Run, or
// mount Handler elsewhere and end its websockets with Close.
type Server struct {
	cfg      ServerConfig
	hub      *Hub
	ready    func() error
	log      *slog.Logger
	creds    []credential
	origins  map[string]struct{}
	upgrader websocket.Upgrader
	index    *template.Template
	assets   *assets
	handler  http.Handler

	mu       sync.Mutex
	clients  int // open events websockets
	closing  bool
	done     chan struct{} // closed by Close: ends websocket sessions
	sessions sync.WaitGroup
}

// NewServer returns a server of hub's state. reg, when not nil, is served on
// /metrics; ready, when not nil, decides /readyz; logger may be nil.
// Invalid tokens are logged and skipped (see ServerConfig.Validate).
func NewServer(cfg ServerConfig, hub *Hub, reg *prometheus.Registry, ready func() error, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	creds, err := parseTokens(cfg.Tokens)
	if err != nil {
		logger.Error("api: skipping invalid tokens", "err", err)
	}
	s := &Server{
		cfg:     cfg,
		hub:     hub,
		ready:   ready,
		log:     logger,
		creds:   creds,
		origins: map[string]struct{}{},
		done:    make(chan struct{}),
		index:   template.Must(template.New("index").Parse(indexHTML)),
	}
	if cfg.Assets != nil {
		if s.assets, err = newAssets(cfg.Assets); err != nil {
			logger.Error("api: dashboard assets unusable; serving the placeholder page", "err", err)
		}
	}
	for _, o := range cfg.AllowedOrigins {
		s.origins[normalizeOrigin(o)] = struct{}{}
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WriteTimeout,
		CheckOrigin:      s.originAllowed,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, status, reason.Error())
		},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/suggestions", s.read(s.handleSuggestions))
	mux.HandleFunc("GET /api/v1/groups/{id}", s.read(s.handleGroup))
	mux.HandleFunc("GET /api/v1/rules/{key...}", s.read(s.handleRule))
	mux.HandleFunc("GET /api/v1/unattributed", s.read(s.handleUnattributed))
	mux.HandleFunc("GET /api/v1/groups", s.read(s.handleGroups))
	mux.HandleFunc("GET /api/v1/whoami", s.handleWhoami)
	mux.HandleFunc("GET /api/v1/reviews", s.read(s.handleReviews))
	mux.HandleFunc("GET /api/v1/export", s.read(s.handleExport))
	mux.HandleFunc("GET /api/v1/events", s.handleEvents)
	mux.HandleFunc("POST /api/v1/reviews", s.handleReview)
	mux.HandleFunc("POST /api/v1/apply", s.handleApply)
	if reg != nil {
		prom := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		})
		mux.HandleFunc("GET /metrics", s.read(prom.ServeHTTP))
	}
	mux.HandleFunc("GET /healthz", handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /{$}", s.handleIndex)
	if s.assets != nil {
		mux.HandleFunc("GET /assets/{hash}/{path...}", s.assets.serveFile)
	}
	var h http.Handler = jsonMuxErrors(mux)
	if cfg.OpenReads {
		h = loopbackHostOnly(h)
	}
	s.handler = s.logRequests(h)
	return s
}

// loopbackHostOnly refuses requests whose Host header is not a loopback name
// (localhost, 127.0.0.0/8, [::1], with or without a port): with reads open
// to anyone on loopback, a web page whose DNS name is rebound to 127.0.0.1
// must not read the API from a browser.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "host not allowed: the demo answers on localhost, 127.0.0.1 or [::1] only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopbackHost reports whether a Host header names the loopback interface.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return config.IsLoopbackHost(host)
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves on ln until ctx is done, then shuts down gracefully: open
// websockets get a going-away close frame and in-flight requests finish,
// within cfg.ShutdownTimeout. It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("api: serving", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		_ = s.Close()
		return fmt.Errorf("api: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	closeErr := make(chan error, 1)
	go func() { closeErr <- s.closeWithin(sctx) }()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("api: shutdown: %w", err)
	}
	if cerr := <-closeErr; cerr != nil && err == nil {
		err = cerr
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("api: serve: %w", serr)
	}
	s.log.Info("api: stopped")
	return err
}

// Close ends the websocket sessions with a going-away close frame and waits
// for them, at most cfg.ShutdownTimeout; new websockets are refused. It
// does not stop a listener: Run does that.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return s.closeWithin(ctx)
}

func (s *Server) closeWithin(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	s.mu.Unlock()
	waited := make(chan struct{})
	go func() { s.sessions.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("api: closing websockets: %w", ctx.Err())
	}
}

// read wraps a read handler: it needs the viewer role unless OpenReads.
func (s *Server) read(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.authorize(w, r, roleViewer, false); ok {
			h(w, r)
		}
	}
}

func (s *Server) handleSuggestions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	group, verdict, direction := q.Get("group"), q.Get("verdict"), q.Get("direction")
	switch verdict {
	case "", advisor.VerdictKeep, advisor.VerdictRemove, advisor.VerdictNarrow:
	default:
		writeError(w, http.StatusBadRequest, "verdict must be keep, remove or narrow")
		return
	}
	switch direction {
	case "", "ingress", "egress":
	default:
		writeError(w, http.StatusBadRequest, "direction must be ingress or egress")
		return
	}
	rep, version := s.hub.Report()
	if group != "" || verdict != "" || direction != "" {
		out := rep.Suggestions[:0] // rep is a copy: filter in place
		for _, sg := range rep.Suggestions {
			if (group == "" || sg.GroupID == group) && (verdict == "" || sg.Verdict == verdict) &&
				(direction == "" || sg.Direction == direction) {
				out = append(out, sg)
			}
		}
		rep.Suggestions = out
	}
	setVersion(w, version)
	if s.cfg.Inspector == nil {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	// The contract's shape plus what the inventory knows of the groups.
	writeJSON(w, http.StatusOK, suggestionsResponse{Report: rep, Groups: s.groups()})
}

// suggestionsResponse is the suggestions JSON with the groups' inventory
// facts (name, VPC, account) as an extra field.
type suggestionsResponse struct {
	advisor.Report
	Groups []GroupInfo `json:"groups"`
}

// groupResponse is the body of GET /api/v1/groups/{id}.
type groupResponse struct {
	GroupID     string               `json:"group_id"`
	Suggestions []advisor.Suggestion `json:"suggestions"`
}

func (s *Server) handleGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rep, version := s.hub.Report()
	out := groupResponse{GroupID: id, Suggestions: []advisor.Suggestion{}}
	for _, sg := range rep.Suggestions {
		if sg.GroupID == id {
			out.Suggestions = append(out.Suggestions, sg)
		}
	}
	if len(out.Suggestions) == 0 {
		writeError(w, http.StatusNotFound, "unknown security group")
		return
	}
	setVersion(w, version)
	writeJSON(w, http.StatusOK, out)
}

// unattributedResponse is the body of GET /api/v1/unattributed.
type unattributedResponse struct {
	Unattributed []advisor.Unattributed `json:"unattributed_enis"`
}

func (s *Server) handleUnattributed(w http.ResponseWriter, _ *http.Request) {
	rep, version := s.hub.Report()
	out := unattributedResponse{Unattributed: rep.Unattributed}
	if out.Unattributed == nil {
		out.Unattributed = []advisor.Unattributed{}
	}
	setVersion(w, version)
	writeJSON(w, http.StatusOK, out)
}

// reviewRequest is the body of POST /api/v1/reviews.
type reviewRequest struct {
	RuleKey  string `json:"rule_key"`
	Decision string `json:"decision"`
	Comment  string `json:"comment"`
}

func (s *Server) handleReview(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authorize(w, r, roleReviewer, false)
	if !ok {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "content type must be application/json")
		return
	}
	var in reviewRequest
	if !decodeBody(w, r, &in, maxBodyBytes, false) {
		return
	}
	switch {
	case in.RuleKey == "":
		writeError(w, http.StatusBadRequest, "rule_key is required")
		return
	case in.Decision != DecisionAccepted && in.Decision != DecisionRejected && in.Decision != DecisionDeferred:
		writeError(w, http.StatusBadRequest, "decision must be accepted, rejected or deferred")
		return
	case len(in.Comment) > maxCommentBytes || !utf8.ValidString(in.Comment):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("comment must be valid UTF-8 of at most %d bytes", maxCommentBytes))
		return
	}
	key, _, ok := s.hub.Lookup(in.RuleKey)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown rule")
		return
	}
	ev, err := s.hub.Review(Review{RuleKey: key, Decision: in.Decision, Comment: in.Comment, By: p.name, Time: time.Now().UTC()})
	if err != nil {
		s.log.Error("api: review not recorded", "rule_key", key, "err", err)
		writeError(w, http.StatusInternalServerError, "the review could not be recorded")
		return
	}
	s.log.Info("api: review", "rule_key", key, "decision", in.Decision, "by", p.name, "version", ev.Version)
	setVersion(w, ev.Version)
	writeJSON(w, http.StatusCreated, ev)
}

// reviewsResponse is the body of GET /api/v1/reviews.
type reviewsResponse struct {
	Reviews []Review `json:"reviews"`
}

func (s *Server) handleReviews(w http.ResponseWriter, _ *http.Request) {
	version := s.hub.Version()
	setVersion(w, version)
	writeJSON(w, http.StatusOK, reviewsResponse{Reviews: s.hub.Reviews()})
}

func handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	writeText(w, http.StatusOK, "ok")
}

// indexHTML is the placeholder page until the dashboard exists.
const indexHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cinch</title></head>
<body><h1>cinch {{.}}</h1>
<p>The dashboard comes later. Meanwhile, the API:</p>
<ul>
<li><a href="api/v1/suggestions">api/v1/suggestions</a></li>
<li><a href="api/v1/unattributed">api/v1/unattributed</a></li>
<li>api/v1/events (websocket)</li>
<li><a href="metrics">metrics</a>, <a href="healthz">healthz</a>, <a href="readyz">readyz</a></li>
</ul></body></html>
`

func (s *Server) handleIndex(w http.ResponseWriter, _ *http.Request) {
	if s.assets != nil {
		if err := s.assets.serveIndex(w, s.cfg.Version); err != nil {
			s.log.Warn("api: index page", "err", err)
		}
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	if err := s.index.Execute(w, s.cfg.Version); err != nil {
		s.log.Warn("api: index page", "err", err)
	}
}

// originAllowed reports whether a websocket's Origin may connect: no Origin
// (a non-browser client), the request's own host, or an allowed origin.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if _, ok := s.origins[normalizeOrigin(origin)]; ok {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func normalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}

func setVersion(w http.ResponseWriter, v uint64) {
	w.Header().Set(VersionHeader, strconv.FormatUint(v, 10))
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding response")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errorResponse is the body of every error.
type errorResponse struct {
	Error string `json:"error"`
}

// writeError writes a JSON error response.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: msg})
}

func writeText(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// jsonMuxErrors makes the mux's own 404 and 405 responses JSON errors.
func jsonMuxErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			w = &errorRewriter{ResponseWriter: w}
		}
		mux.ServeHTTP(w, r)
	})
}

// errorRewriter replaces a 404 or 405 plain-text body with a JSON error,
// keeping the headers (such as Allow) already set.
type errorRewriter struct {
	http.ResponseWriter
	rewritten bool
}

func (e *errorRewriter) WriteHeader(code int) {
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		e.ResponseWriter.WriteHeader(code)
		return
	}
	e.rewritten = true
	e.Header().Del("Content-Length")
	writeError(e.ResponseWriter, code, strings.ToLower(http.StatusText(code)))
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if e.rewritten {
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

// logRequests logs each request's method, path, status and duration; never
// its query (which may hold an access_token) nor its headers.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "api: request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start))
	})
}

// statusRecorder records a response's status; it keeps Hijack and Flush
// working for websockets and streaming.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.status, r.wrote = http.StatusSwitchingProtocols, true
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// decodeBody reads r's JSON body into v: at most limit bytes, no unknown
// field, no trailing data; an empty body leaves v as it is when allowEmpty.
// Otherwise it answers 400 and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, limit int64, allowEmpty bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !(allowEmpty && err == io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid JSON body: trailing data")
		return false
	}
	return true
}
