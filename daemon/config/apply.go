package config

import (
	"slices"
	"strings"
)

// Apply configures POST /api/v1/apply, which carries accepted proposals out
// through the EC2 API. It is off unless enabled, and then needs an explicit
// role to assume: the daemon's own credentials are never used to change
// security groups.
type Apply struct {
	// Enabled turns the endpoint on (default false).
	Enabled bool `yaml:"enabled"`
	// RoleARN is the role assumed for applying (with the applier policy);
	// required when enabled.
	RoleARN string `yaml:"role_arn"`
	// ExternalID is passed to sts:AssumeRole when the role requires one.
	ExternalID string `yaml:"external_id"`
	// Regions where the groups may live (default: inventory.aws.regions,
	// else AWS_REGION).
	Regions []string `yaml:"regions"`
	// AuditLog is the JSON-lines audit log, appended (default
	// <state_dir>/apply-audit.jsonl).
	AuditLog string `yaml:"audit_log"`
	// AllowForce lets a request apply proposals of incomplete evidence or
	// low confidence with "force": true (default false).
	AllowForce bool `yaml:"allow_force"`
}

func (a *Apply) validate(v *validator) {
	if !a.Enabled {
		return
	}
	if !strings.HasPrefix(a.RoleARN, "arn:") || !strings.Contains(a.RoleARN, ":role/") {
		v.add("apply.role_arn", "apply.enabled needs the ARN of the role to assume for applying (arn:aws:iam::ACCOUNT:role/NAME)")
	}
}

func (a Apply) clone() Apply {
	a.Regions = slices.Clone(a.Regions)
	return a
}
