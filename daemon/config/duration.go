package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as in Go ("30s", "15m", "720h",
// "1h30m") or with a leading number of days ("30d", "1d12h").
type Duration time.Duration

// ParseDuration parses a duration as accepted by [time.ParseDuration],
// optionally starting with a number of days ("30d", "1.5d", "2d12h").
func ParseDuration(s string) (Duration, error) {
	in := strings.TrimSpace(s)
	rest := in
	neg := false
	if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	var days time.Duration
	hasDays := false
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		num := rest[:i]
		n, err := strconv.ParseFloat(num, 64)
		if err != nil || num == "" || strings.Trim(num, "0123456789.") != "" {
			return 0, durationError(s)
		}
		hasDays = true
		if n > float64(1<<63-1)/float64(24*time.Hour) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		days = time.Duration(n * float64(24*time.Hour))
		rest = rest[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil || strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return 0, durationError(s)
		}
	} else if !hasDays {
		return 0, durationError(s)
	}
	total := days + d
	if total < days {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	if neg {
		total = -total
	}
	return Duration(total), nil
}

func durationError(s string) error {
	return fmt.Errorf("expected a duration such as 30s, 15m, 720h or 30d, got %q", s)
}

// String formats d like time.Duration without trailing zero units
// ("720h", "1h30m", "1.5s").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalText formats d with [Duration.String].
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses text with [ParseDuration].
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalYAML parses a YAML scalar with [ParseDuration]; a bare number
// without a unit is rejected.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as 30s, 15m, 720h or 30d, got %s", kindName(n))
	}
	return d.UnmarshalText([]byte(n.Value))
}
