package config

import (
	"fmt"
	"slices"
	"strings"
)

// LiveTail reads flow logs from CloudWatch Logs Live Tail (StartLiveTail), a
// quick start without Kafka. Above 500 events per second CloudWatch sends a
// sample, and sessions end after three hours (a new one is started): both are
// logged, and such input can miss flows.
type LiveTail struct {
	// LogGroups are the flow-log groups' ARNs (1 to 10).
	LogGroups []string `yaml:"log_groups"`
	// FilterPattern is an optional CloudWatch Logs filter pattern.
	FilterPattern string `yaml:"filter_pattern"`
}

func (l *LiveTail) validate(v *validator) {
	if len(l.LogGroups) == 0 || len(l.LogGroups) > 10 {
		v.add("livetail.log_groups", "must list 1 to 10 log group ARNs")
	}
	for i, g := range l.LogGroups {
		if !strings.HasPrefix(g, "arn:") || !strings.Contains(g, ":log-group:") {
			v.add(fmt.Sprintf("livetail.log_groups[%d]", i), fmt.Sprintf("%q is not a log group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME)", g))
		}
	}
}

func (l *LiveTail) clone() *LiveTail {
	c := *l
	c.LogGroups = slices.Clone(l.LogGroups)
	return &c
}
