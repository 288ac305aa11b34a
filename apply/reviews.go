package apply

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Review is a decision on a proposal, as the daemon's POST /api/v1/reviews
// takes it and its review events carry it.
type Review struct {
	RuleKey  string `json:"rule_key"`
	RuleID   string `json:"rule_id"`
	Decision string `json:"decision"`
	By       string `json:"by"`
}

// Reviews holds the latest decision per rule key and per rule id.
type Reviews struct {
	byKey, byID map[string]string
}

// NewReviews returns the decisions in rs, later ones winning.
func NewReviews(rs []Review) *Reviews {
	r := &Reviews{byKey: map[string]string{}, byID: map[string]string{}}
	for _, v := range rs {
		d := strings.ToLower(strings.TrimSpace(v.Decision))
		if v.RuleKey != "" {
			r.byKey[v.RuleKey] = d
		}
		if v.RuleID != "" {
			r.byID[v.RuleID] = d
		}
	}
	return r
}

// Accepted reports whether the latest decision on the rule (by key, else by
// id) is "accepted".
func (r *Reviews) Accepted(key, id string) bool {
	if d, ok := r.byKey[key]; ok {
		return d == "accepted"
	}
	return id != "" && r.byID[id] == "accepted"
}

// ParseReviews reads review decisions: a JSON array or JSON lines of
// {"rule_key" or "rule_id", "decision"} objects, or of the daemon's review
// events ({"type": "review", "review": {...}}). Blank lines are skipped.
func ParseReviews(b []byte) ([]Review, error) {
	b = bytes.TrimSpace(b)
	type item struct {
		Review
		Inner *Review `json:"review"`
	}
	take := func(it item, where string) (Review, error) {
		if it.Inner != nil {
			it.Review = *it.Inner
		}
		if it.RuleKey == "" && it.RuleID == "" {
			return Review{}, fmt.Errorf("reviews: %s: no rule_key or rule_id", where)
		}
		switch strings.ToLower(it.Decision) {
		case "accepted", "rejected", "deferred":
		default:
			return Review{}, fmt.Errorf("reviews: %s: decision %q (want accepted, rejected or deferred)", where, it.Decision)
		}
		return it.Review, nil
	}
	var out []Review
	if len(b) > 0 && b[0] == '[' {
		var items []item
		if err := json.Unmarshal(b, &items); err != nil {
			return nil, fmt.Errorf("reviews: %w", err)
		}
		for i, it := range items {
			r, err := take(it, fmt.Sprintf("item %d", i))
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var it item
		if err := json.Unmarshal(line, &it); err != nil {
			return nil, fmt.Errorf("reviews: line %d: %w", n, err)
		}
		r, err := take(it, fmt.Sprintf("line %d", n))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reviews: %w", err)
	}
	return out, nil
}
