package config

import (
	"log/slog"
	"strconv"
	"strings"
)

// LogSummary returns the configuration as log attributes a person reads at
// a glance: listen address, inputs, inventory file counts, window, state
// directory, token names and roles. It never holds a secret (no password,
// token or hash).
func LogSummary(c Config) []any {
	inputs := []string{}
	if c.Demo {
		inputs = append(inputs, "demo (simulated account and traffic)")
	}
	if k := c.Kafka; k != nil {
		in := "kafka brokers=" + strings.Join(k.Brokers, ",") + " topics=" + strings.Join(k.Topics, ",") + " group=" + k.Group
		if k.DeadLetterTopic != "" {
			in += " dead_letter=" + k.DeadLetterTopic
		}
		if k.TLS.Enabled {
			in += " tls"
		}
		if k.SASL.Mechanism != "" {
			in += " sasl=" + k.SASL.Mechanism
		}
		inputs = append(inputs, in)
	}
	if len(c.Files) > 0 {
		inputs = append(inputs, strconv.Itoa(len(c.Files))+" files ("+strings.Join(c.Files, ",")+")")
	}
	inv := c.Inventory
	tokens := make([]string, 0, len(c.Auth.Tokens))
	for _, t := range c.Auth.Tokens {
		tokens = append(tokens, t.Name+":"+t.Role)
	}
	return []any{
		"listen", c.Listen,
		"inputs", strings.Join(inputs, "; "),
		"inventory", slog.GroupValue(
			slog.Int("security_groups", len(inv.SecurityGroups)),
			slog.Int("security_group_rules", len(inv.SecurityGroupRules)),
			slog.Int("network_interfaces", len(inv.NetworkInterfaces)),
			slog.Int("config_snapshots", len(inv.ConfigSnapshots)),
			slog.Int("prefix_lists", len(inv.PrefixLists)),
		),
		"window", c.Analysis.Window.String(),
		"bucket", c.Analysis.Bucket.String(),
		"state_dir", c.StateDir,
		"tokens", strings.Join(tokens, ","),
	}
}
