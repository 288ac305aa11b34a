package daemon

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cinch-sg/cinch/apply"
	"github.com/cinch-sg/cinch/daemon/api"
	"github.com/cinch-sg/cinch/inventory/awsapi"
	"github.com/cinch-sg/cinch/sinks/clickhouse"
)

// applier serves POST /api/v1/apply: it applies the proposals whose current
// review decision (the hub's, persisted in the state directory) is accepted,
// through the apply role.
type applier struct {
	targets    []apply.Target
	auditPath  string
	allowForce bool
}

// openApply prepares apply when the configuration enables it: the role's
// clients.
func (d *Daemon) openApply() error {
	c := d.cfg.Apply
	if !c.Enabled {
		return nil
	}
	if c.RoleARN == "" {
		return fmt.Errorf("apply: apply.enabled needs apply.role_arn")
	}
	regions := c.Regions
	if len(regions) == 0 && d.cfg.Inventory.AWS != nil {
		regions = d.cfg.Inventory.AWS.Regions
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := awsapi.New(ctx, awsapi.Config{Regions: regions,
		Accounts: []awsapi.Account{{Name: "apply", RoleARN: c.RoleARN, ExternalID: c.ExternalID}}})
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	a := &applier{allowForce: c.AllowForce,
		auditPath: cmp.Or(c.AuditLog, filepath.Join(d.cfg.StateDir, "apply-audit.jsonl"))}
	for i, cfg := range cl.AWSConfigs() {
		a.targets = append(a.targets, apply.Target{Name: cl.Targets()[i], Client: ec2.NewFromConfig(cfg)})
	}
	d.apply = a
	d.log.Info("apply enabled", "role", c.RoleARN, "targets", cl.Targets(), "audit_log", a.auditPath)
	return nil
}

// applyFunc is the API's apply handler; nil when apply is disabled.
func (d *Daemon) applyFunc() api.ApplyFunc {
	if d.apply == nil {
		return nil
	}
	return d.runApply
}

// runApply applies the accepted proposals of the current suggestions.
func (d *Daemon) runApply(ctx context.Context, who string, req api.ApplyRequest) (any, int) {
	a := d.apply
	if req.Force && !a.allowForce {
		return map[string]string{"error": "force is not allowed (apply.allow_force)"}, http.StatusForbidden
	}
	rep, _ := d.hub.Report()
	props := apply.Proposals(rep)
	if len(req.Rules) > 0 {
		props = slices.DeleteFunc(props, func(p apply.Proposal) bool {
			return !slices.Contains(req.Rules, p.Key()) && (p.RuleID == "" || !slices.Contains(req.Rules, p.RuleID))
		})
	}
	var reviews []apply.Review
	for _, r := range d.hub.Reviews() {
		ar := apply.Review{RuleKey: r.RuleKey, Decision: r.Decision, By: r.By}
		if _, s, ok := d.hub.Lookup(r.RuleKey); ok {
			ar.RuleID = s.RuleID
		}
		reviews = append(reviews, ar)
	}
	revs := apply.NewReviews(reviews)
	steps, skips := apply.Plan(props, revs.Accepted, req.Force)
	f, err := os.OpenFile(a.auditPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return map[string]string{"error": "audit log: " + err.Error()}, http.StatusInternalServerError
	}
	res := apply.New(a.targets, f).Apply(ctx, who, steps, skips, req.DryRun)
	if err := f.Close(); err != nil && res.Error == "" {
		res.Error = "audit log: " + err.Error()
	}
	done, notDone := res.Counts()
	d.log.Info("apply run", "by", who, "dry_run", req.DryRun, "steps", len(steps), "done", done, "not_done", notDone,
		"skipped", len(skips), "error", res.Error)
	if d.ch != nil {
		d.ch.s.PutApplies(clickhouse.ApplyRows(res, d.ch.instance)...)
	}
	d.hub.Publish(api.Event{Type: api.EventApply, Time: time.Now().UTC(), Apply: &api.ApplyRun{RunID: res.RunID, Who: who,
		DryRun: req.DryRun, Done: done, NotDone: notDone, Skipped: len(skips), Error: res.Error}})
	if res.Error != "" {
		return res, http.StatusBadGateway
	}
	return res, http.StatusOK
}
