package api

import (
	"context"
	"net/http"
)

// EventApply is the event published after an apply run; its Apply field
// summarises the run.
const EventApply = "apply"

// ApplyRun summarises an apply run for the event feed (the whole result is
// the response to POST /api/v1/apply, in the audit log and, with ClickHouse,
// in the applies table).
type ApplyRun struct {
	RunID  string `json:"run_id"`
	Who    string `json:"who"`
	DryRun bool   `json:"dry_run"`
	// Done counts the steps carried out (allowed, in a dry run); NotDone the
	// steps failed or not attempted; Skipped the proposals left out.
	Done    int    `json:"done"`
	NotDone int    `json:"not_done"`
	Skipped int    `json:"skipped"`
	Error   string `json:"error,omitempty"`
}

// ApplyRequest is the body of POST /api/v1/apply.
type ApplyRequest struct {
	// Rules restricts the run to these rule keys or ids; empty means every
	// accepted proposal.
	Rules []string `json:"rules"`
	// DryRun only checks: every call is made with DryRun.
	DryRun bool `json:"dry_run"`
	// Force also applies proposals of incomplete evidence or low confidence
	// (when the daemon allows it).
	Force bool `json:"force"`
}

// ApplyFunc carries an apply request out for who and returns the result to
// serve and its HTTP status.
type ApplyFunc func(ctx context.Context, who string, req ApplyRequest) (result any, status int)

// handleApply serves POST /api/v1/apply for the applier role.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authorize(w, r, roleApplier, false)
	if !ok {
		return
	}
	if s.cfg.Apply == nil {
		writeError(w, http.StatusNotFound, "apply is disabled (set apply.enabled and apply.role_arn)")
		return
	}
	var req ApplyRequest // an empty body applies every accepted proposal
	if !decodeBody(w, r, &req, 1<<20, true) {
		return
	}
	s.log.Info("api: apply", "by", p.name, "dry_run", req.DryRun, "force", req.Force, "rules", len(req.Rules))
	res, status := s.cfg.Apply(r.Context(), p.name, req)
	writeJSON(w, status, res)
}
