package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Roles, in increasing order of rights: each includes the rights of those
// before it.
const (
	RoleViewer   = "viewer"
	RoleReviewer = "reviewer"
	RoleApplier  = "applier"
)

// role is a role's rank; 0 is no role.
type role int

const (
	roleNone role = iota
	roleViewer
	roleReviewer
	roleApplier
)

// parseRole returns the rank of a role name.
func parseRole(name string) (role, error) {
	switch name {
	case RoleViewer:
		return roleViewer, nil
	case RoleReviewer:
		return roleReviewer, nil
	case RoleApplier:
		return roleApplier, nil
	}
	return roleNone, fmt.Errorf("unknown role %q (want %s, %s or %s)", name, RoleViewer, RoleReviewer, RoleApplier)
}

// Token is an API token as configured: only its SHA-256 is kept.
type Token struct {
	// Name identifies the token's holder in reviews and logs.
	Name string `json:"name" yaml:"name"`
	// Role is RoleViewer, RoleReviewer or RoleApplier.
	Role string `json:"role" yaml:"role"`
	// SHA256 is the hex SHA-256 of the token (see HashToken).
	SHA256 string `json:"sha256" yaml:"sha256"`
}

// HashToken returns the hex SHA-256 of a token, the form Token.SHA256 takes.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// credential is a validated token.
type credential struct {
	name string
	role role
	hash [sha256.Size]byte
}

// parseTokens validates configured tokens.
func parseTokens(tokens []Token) ([]credential, error) {
	creds := make([]credential, 0, len(tokens))
	var errs []error
	for i, t := range tokens {
		r, err := parseRole(t.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("token %d (%q): %w", i, t.Name, err))
			continue
		}
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("token %d: empty name", i))
			continue
		}
		b, err := hex.DecodeString(strings.TrimSpace(t.SHA256))
		if err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("token %d (%q): sha256 must be 64 hex digits", i, t.Name))
			continue
		}
		c := credential{name: t.Name, role: r}
		copy(c.hash[:], b)
		creds = append(creds, c)
	}
	return creds, errors.Join(errs...)
}

// principal is who made a request.
type principal struct {
	name string
	role role
}

var errBadToken = errors.New("invalid token")

// authenticate returns the principal of a request: the zero principal when
// it carries no token, errBadToken when the token is unknown. The query
// parameter access_token is accepted only when allowQuery is set (for the
// websocket, as browsers cannot set its headers).
func (s *Server) authenticate(r *http.Request, allowQuery bool) (principal, error) {
	tok, present := bearer(r)
	if !present && allowQuery {
		if q := r.URL.Query(); q.Has("access_token") {
			tok, present = q.Get("access_token"), true
		}
	}
	if !present {
		return principal{}, nil
	}
	if tok == "" {
		return principal{}, errBadToken
	}
	sum := sha256.Sum256([]byte(tok))
	var found principal
	for _, c := range s.creds {
		// Compare every hash so timing does not tell which token matched.
		if subtle.ConstantTimeCompare(sum[:], c.hash[:]) == 1 {
			found = principal{name: c.name, role: c.role}
		}
	}
	if found.role == roleNone {
		return principal{}, errBadToken
	}
	return found, nil
}

// bearer returns the token of an Authorization: Bearer header and whether
// an Authorization header was present.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

// authorize checks that the request may proceed with role need and returns
// its principal; otherwise it writes 401 or 403 and returns false. Reads
// (need == roleViewer) pass without a token when cfg.OpenReads is set; a
// token that is present must still be valid.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, need role, allowQuery bool) (principal, bool) {
	p, err := s.authenticate(r, allowQuery)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid token")
		return p, false
	}
	if p.role == roleNone {
		if need == roleViewer && s.cfg.OpenReads {
			return principal{name: "anonymous"}, true
		}
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, "missing bearer token")
		return p, false
	}
	if p.role < need {
		writeError(w, http.StatusForbidden, "insufficient role")
		return p, false
	}
	return p, true
}
