package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/export"
)

// Inspector gives the API what the hub does not hold: a rule's usage in
// detail and what the inventory knows of each group. The daemon implements
// it.
type Inspector interface {
	// RuleUsage returns the usage of the rule with the given key (as the
	// hub's rule keys), false when no such rule exists.
	RuleUsage(key string) (RuleUsage, bool)
	// Groups returns the inventory's security groups.
	Groups() []GroupInfo
}

// RuleUsage is a rule's usage over the window: its sketch's source items,
// the ports seen, counters and one point per time bucket.
type RuleUsage struct {
	// Description is the rule's description in the inventory.
	Description string `json:"description,omitempty"`
	// Sources are the sketch's leaves: exact addresses and aggregates with
	// an estimated count of distinct addresses, IPv4 first, in address order.
	Sources []SourceItem `json:"sources"`
	// Ports are the ports seen per protocol.
	Ports     []PortUsage `json:"ports"`
	Flows     uint64      `json:"flows"`
	Packets   uint64      `json:"packets"`
	Bytes     uint64      `json:"bytes"`
	FirstSeen *time.Time  `json:"first_seen,omitempty"`
	LastSeen  *time.Time  `json:"last_seen,omitempty"`
	// BucketSeconds is the length of each point of Series.
	BucketSeconds int64 `json:"bucket_seconds"`
	// Series holds one point per time bucket with traffic, oldest first.
	Series []UsagePoint `json:"series"`
}

// SourceItem is one leaf of a sketch's address tree.
type SourceItem struct {
	Prefix string `json:"prefix"`
	Exact  bool   `json:"exact"`
	// Count is 1 when exact, else the estimated distinct addresses.
	Count uint64 `json:"count"`
}

// PortUsage is the ports a protocol was seen on, as ranges "from-to".
type PortUsage struct {
	Protocol string   `json:"protocol"`
	Ranges   []string `json:"ranges"`
	// Exact is false when the port set was coarsened to buckets.
	Exact bool `json:"exact"`
}

// UsagePoint is a rule's usage in one time bucket.
type UsagePoint struct {
	Time    time.Time `json:"time"`
	Flows   uint64    `json:"flows"`
	Packets uint64    `json:"packets"`
	Bytes   uint64    `json:"bytes"`
	// Sources is the distinct sources in the bucket, across partitions
	// (estimated when the sketch aggregated some of them).
	Sources uint64 `json:"sources"`
}

// GroupInfo is what the inventory knows of a security group.
type GroupInfo struct {
	ID          string `json:"group_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	VPCID       string `json:"vpc_id,omitempty"`
	AccountID   string `json:"account_id,omitempty"`
}

// ruleResponse is the body of GET /api/v1/rules/{key}: the suggestion's
// fields, its rule key, its latest review and its usage in detail.
type ruleResponse struct {
	advisor.Suggestion
	RuleKey string     `json:"rule_key"`
	Review  *Review    `json:"review,omitempty"`
	Usage   *RuleUsage `json:"usage,omitempty"`
}

func (s *Server) handleRule(w http.ResponseWriter, r *http.Request) {
	version := s.hub.Version()
	key, sg, ok := s.hub.Lookup(r.PathValue("key"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown rule")
		return
	}
	out := ruleResponse{Suggestion: sg, RuleKey: key}
	if rv, ok := s.hub.ReviewOf(key); ok {
		out.Review = &rv
	}
	if s.cfg.Inspector != nil {
		if u, ok := s.cfg.Inspector.RuleUsage(key); ok {
			out.Usage = &u
		}
	}
	setVersion(w, version)
	writeJSON(w, http.StatusOK, out)
}

// whoamiResponse is the body of GET /api/v1/whoami.
type whoamiResponse struct {
	Name string `json:"name"`
	// Role is viewer, reviewer or applier; empty for an anonymous reader.
	Role string `json:"role"`
	// Apply is true when the daemon has apply enabled (POST /api/v1/apply
	// then serves appliers).
	Apply bool `json:"apply"`
}

// handleWhoami says who the request's token belongs to, so that the
// dashboard shows review buttons only to reviewers, and apply to appliers
// when apply is enabled.
func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authorize(w, r, roleViewer, false)
	if !ok {
		return
	}
	out := whoamiResponse{Name: p.name, Apply: s.cfg.Apply != nil}
	switch p.role {
	case roleViewer:
		out.Role = RoleViewer
	case roleReviewer:
		out.Role = RoleReviewer
	case roleApplier:
		out.Role = RoleApplier
	}
	writeJSON(w, http.StatusOK, out)
}

// groupsResponse is the body of GET /api/v1/groups.
type groupsResponse struct {
	Groups []GroupInfo `json:"groups"`
}

func (s *Server) handleGroups(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, groupsResponse{Groups: s.groups()})
}

// groups returns the inspector's groups by id, never nil.
func (s *Server) groups() []GroupInfo {
	out := []GroupInfo{}
	if s.cfg.Inspector != nil {
		out = append(out, s.cfg.Inspector.Groups()...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// handleExport renders the current suggestions as AWS CLI commands or
// Terraform with the export package, exactly as `cinch analyze --output`
// does: ?format=cli|terraform|json|table, ?status=accepted (default: the
// suggestions whose latest review accepted them) or all, and for cli and
// terraform ?include_low=1 to include low-confidence proposals (as
// --include-low-confidence; the header X-Cinch-Left-Out counts those left out).
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := q.Get("format")
	switch format {
	case "cli", "terraform", "json", "table":
	default:
		writeError(w, http.StatusBadRequest, "format must be cli, terraform, json or table")
		return
	}
	status := q.Get("status")
	if status == "" {
		status = DecisionAccepted
	}
	if status != DecisionAccepted && status != "all" {
		writeError(w, http.StatusBadRequest, "status must be accepted or all")
		return
	}
	rep, keys, reviews, version := s.hub.State()
	if status == DecisionAccepted {
		out := rep.Suggestions[:0]
		for i, sg := range rep.Suggestions {
			if rv, ok := reviews[keys[i]]; ok && rv.Decision == DecisionAccepted {
				out = append(out, sg)
			}
		}
		rep.Suggestions = out
	}
	if format == "cli" || format == "terraform" {
		// As `cinch analyze --output cli|terraform`: only the proposals, and
		// low-confidence ones only when asked (include_low=1).
		var left int
		rep, left = export.Proposals(&rep, q.Get("include_low") == "1")
		w.Header().Set("X-Cinch-Left-Out", strconv.Itoa(left))
	}
	var b bytes.Buffer
	if err := export.Write(&b, format, &rep); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ctype, ext := "text/plain; charset=utf-8", map[string]string{"cli": "sh", "terraform": "tf", "json": "json", "table": "txt"}[format]
	if format == "json" {
		ctype = "application/json"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if q.Get("download") != "" {
		h.Set("Content-Disposition", `attachment; filename="cinch-`+status+`.`+ext+`"`)
	}
	setVersion(w, version)
	_, _ = w.Write(b.Bytes())
}

// contentSecurityPolicy allows the page's own scripts, styles and
// connections only: no inline script, no eval, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// assets serves the dashboard: the index page (never cached) and the files
// under /assets/<hash>/, where hash changes with the content, so that they
// can be cached for good.
type assets struct {
	fsys  fs.FS
	hash  string
	index *template.Template
}

func newAssets(fsys fs.FS) (*assets, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	page, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		return nil, err
	}
	t, err := template.New("index").Parse(string(page))
	if err != nil {
		return nil, err
	}
	return &assets{fsys: fsys, hash: hex.EncodeToString(h.Sum(nil))[:16], index: t}, nil
}

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (a *assets) serveIndex(w http.ResponseWriter, version string) error {
	var b bytes.Buffer
	if err := a.index.Execute(&b, map[string]string{"Assets": "assets/" + a.hash, "Version": version}); err != nil {
		return err
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, err := w.Write(b.Bytes())
	return err
}

// contentTypes fixes the types of the files the dashboard ships, whatever
// the system's MIME tables say.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/plain; charset=utf-8",
}

func (a *assets) serveFile(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("hash") != a.hash {
		writeError(w, http.StatusNotFound, "not found (the dashboard was updated: reload the page)")
		return
	}
	name := path.Clean(r.PathValue("path"))
	if name == "." || strings.HasPrefix(name, "..") || name == "index.html" {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	b, err := fs.ReadFile(a.fsys, name)
	if err != nil {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	ext := path.Ext(name)
	ctype, ok := contentTypes[ext]
	if !ok {
		if ctype = mime.TypeByExtension(ext); ctype == "" {
			ctype = "application/octet-stream"
		}
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(b)
}
