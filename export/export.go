// Package export renders a suggestions report for people and for tools: a
// table grouped by security group (widest exposure first), AWS CLI commands
// (authorize the narrow rules before revoking the wide one) and Terraform
// aws_vpc_security_group_{ingress,egress}_rule resources.
package export

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cinch-sg/cinch/advisor"
)

// Formats lists the output formats by name.
var Formats = []string{"json", "table", "cli", "terraform"}

// Write renders rep in the named format.
func Write(w io.Writer, format string, rep *advisor.Report) error {
	switch format {
	case "json":
		return JSON(w, rep)
	case "table":
		return Table(w, rep)
	case "cli":
		return CLI(w, rep)
	case "terraform":
		return Terraform(w, rep)
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// JSON writes the contract shape, indented.
func JSON(w io.Writer, rep *advisor.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("export: json: %w", err)
	}
	return nil
}

// exposure scores how much a rule lets in: address space times ports.
func exposure(r advisor.RuleSpec) float64 {
	space := 1.0
	if p, err := netip.ParsePrefix(r.Source); err == nil {
		bits := p.Addr().BitLen() - p.Bits()
		if p.Addr().Is6() {
			bits = max(0, bits-96) // compare IPv6 on an IPv4-like scale
		}
		space = math.Ldexp(1, bits)
	}
	ports := 65536.0
	if r.Protocol != "all" && r.FromPort >= 0 && r.ToPort >= r.FromPort {
		ports = float64(r.ToPort-r.FromPort) + 1
	}
	return space * ports
}

// byGroup groups suggestions, widest exposure first.
func byGroup(rep *advisor.Report) [][]advisor.Suggestion {
	idx := map[string]int{}
	var groups [][]advisor.Suggestion
	for _, s := range rep.Suggestions {
		i, ok := idx[s.GroupID]
		if !ok {
			i = len(groups)
			idx[s.GroupID] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], s)
	}
	worst := func(g []advisor.Suggestion) float64 {
		m := 0.0
		for _, s := range g {
			if s.Direction == "ingress" {
				m = max(m, exposure(s.Rule))
			}
		}
		return m
	}
	for _, g := range groups {
		sort.SliceStable(g, func(i, j int) bool {
			if g[i].Direction != g[j].Direction {
				return g[i].Direction == "ingress"
			}
			return exposure(g[i].Rule) > exposure(g[j].Rule)
		})
	}
	sort.SliceStable(groups, func(i, j int) bool {
		wi, wj := worst(groups[i]), worst(groups[j])
		if wi != wj {
			return wi > wj
		}
		return groups[i][0].GroupID < groups[j][0].GroupID
	})
	return groups
}

// ruleText renders a rule for people: "tcp 22 from 203.0.113.7/32" for an
// ingress rule, "tcp 5432 to 10.0.3.0/24" for an egress one.
func ruleText(direction string, r advisor.RuleSpec) string {
	peer := "from"
	if direction == "egress" {
		peer = "to"
	}
	return fmt.Sprintf("%s %s %s %s", r.Protocol, portText(r), peer, r.Source)
}

func portText(r advisor.RuleSpec) string {
	switch {
	case r.Protocol == "all" || r.FromPort < 0:
		return "*"
	case r.FromPort == r.ToPort:
		return fmt.Sprint(r.FromPort)
	}
	return fmt.Sprintf("%d-%d", r.FromPort, r.ToPort)
}

// Table writes a human-readable table.
func Table(w io.Writer, rep *advisor.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	counts := map[string]int{}
	for _, s := range rep.Suggestions {
		counts[s.Verdict]++
	}
	fmt.Fprintf(tw, "window %s .. %s: %d rules: %d keep, %d narrow, %d remove\n",
		fmtTime(rep.Window.From), fmtTime(rep.Window.To), len(rep.Suggestions), counts["keep"], counts["narrow"], counts["remove"])
	for _, g := range byGroup(rep) {
		fmt.Fprintf(tw, "\n%s\n", g[0].GroupID)
		fmt.Fprintln(tw, "  DIR\tRULE\tVERDICT\tCONFIDENCE\tPROPOSED\tREASONS\tFLOWS\tSOURCES\tLAST SEEN")
		for _, s := range g {
			var prop []string
			for _, p := range s.Proposed {
				prop = append(prop, ruleText(s.Direction, p))
			}
			proposed := strings.Join(prop, "; ")
			switch s.Verdict {
			case advisor.VerdictRemove:
				proposed = "(remove)"
			case advisor.VerdictKeep:
				proposed = "(unchanged)"
			}
			srcs := fmt.Sprint(s.Evidence.DistinctSources)
			if s.Evidence.DistinctSourcesEstimated {
				srcs = "~" + srcs
			}
			reasons := strings.Join(s.Reasons, ",")
			if c := s.Evidence.Coverage; c != nil && len(c.Unobserved) > 0 {
				reasons += " (" + strings.Join(c.Unobserved, ",")
				if c.UnobservedMore > 0 {
					reasons += fmt.Sprintf(" and %d more", c.UnobservedMore)
				}
				reasons += ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Direction, ruleText(s.Direction, s.Rule), s.Verdict, orDash(s.Confidence), proposed,
				reasons, s.Evidence.Flows, srcs, orDash(s.Evidence.LastSeen))
		}
	}
	if len(rep.Unattributed) > 0 {
		fmt.Fprintf(tw, "\ninterfaces not in the inventory (records not attributed)\n")
		for _, u := range rep.Unattributed {
			fmt.Fprintf(tw, "  %s\t%d records\n", u.InterfaceID, u.Records)
		}
	}
	return tw.Flush()
}

// Proposals returns rep with only the changes an export should carry: remove
// and narrow verdicts of high confidence, and of low confidence too when
// includeLow is set; it also returns how many changes it left out. Keeps
// (not-observed and no-interfaces included) are never exported.
func Proposals(rep *advisor.Report, includeLow bool) (advisor.Report, int) {
	out := *rep
	out.Suggestions = make([]advisor.Suggestion, 0, len(rep.Suggestions))
	left := 0
	for _, s := range rep.Suggestions {
		if !s.Proposes() {
			continue
		}
		if s.Confidence == advisor.ConfidenceLow && !includeLow {
			left++
			continue
		}
		out.Suggestions = append(out.Suggestions, s)
	}
	return out, left
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
