package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/internal/peers"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = Run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseContract(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "flows.log", strings.Join([]string{
		"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
		"2 123456789010 eni-1235b8ca123456789 bogus",
		"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
	}, "\n")+"\n")
	code, out, errs := run(t, "", "parse", f)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	if !strings.Contains(errs, "flows.log:2:") {
		t.Errorf("stderr should name file and line of the bad record: %q", errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 records, got %d: %q", len(lines), out)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["srcaddr"] != "172.31.16.139" || rec["dstport"] != float64(22) || rec["log-status"] != "OK" || rec["interface-id"] != "eni-1235b8ca123456789" {
		t.Errorf("record 1 = %v", rec)
	}
	var nodata map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &nodata); err != nil {
		t.Fatal(err)
	}
	if _, ok := nodata["srcaddr"]; ok || nodata["log-status"] != "NODATA" {
		t.Errorf("'-' must be absent: %v", nodata)
	}
}

func TestParseCustomFormatAndStdin(t *testing.T) {
	code, out, _ := run(t, "5 eni-1 10.0.0.1 443 ingress\n", "parse", "--format", "${version} ${interface-id} ${srcaddr} ${dstport} ${flow-direction}")
	if code != 0 || !strings.Contains(out, `"flow-direction":"ingress"`) || !strings.Contains(out, `"dstport":443`) {
		t.Fatalf("exit %d out %q", code, out)
	}
}

func TestParseNothingReadable(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "bad.log", "garbage\nmore garbage\n")
	if code, _, errs := run(t, "", "parse", f); code == 0 || !strings.Contains(errs, "bad.log:1:") {
		t.Fatalf("exit %d stderr %q", code, errs)
	}
	if code, _, errs := run(t, "", "parse", filepath.Join(dir, "missing.log")); code == 0 || !strings.Contains(errs, "missing.log") {
		t.Fatalf("missing file: exit %d stderr %q", code, errs)
	}
}

// A small account of our own: one group, the seed's example.
const sgJSON = `{"SecurityGroups":[{"GroupId":"sg-0a1b2c3d","GroupName":"app","VpcId":"vpc-1","OwnerId":"111122223333",
 "IpPermissions":[
  {"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]},
  {"IpProtocol":"tcp","FromPort":5432,"ToPort":5432,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]},
  {"IpProtocol":"tcp","FromPort":80,"ToPort":80,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]}],
 "IpPermissionsEgress":[]}]}`

const rulesJSON = `{"SecurityGroupRules":[{"SecurityGroupRuleId":"sgr-0123456789abcdef0","GroupId":"sg-0a1b2c3d","IsEgress":false,
 "IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIpv4":"0.0.0.0/0"}]}`

const eniJSON = `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-0aaa","OwnerId":"111122223333","VpcId":"vpc-1","SubnetId":"subnet-1",
 "InterfaceType":"interface","Status":"in-use","Groups":[{"GroupId":"sg-0a1b2c3d"}],"PrivateIpAddress":"10.9.0.5",
 "PrivateIpAddresses":[{"PrivateIpAddress":"10.9.0.5","Primary":true}]}]}`

func account(t *testing.T) (dir string, args []string) {
	dir = t.TempDir()
	var flows []string
	flows = append(flows, "2 111122223333 eni-0aaa 203.0.113.7 10.9.0.5 50000 22 6 12 3400 1793000000 1793000060 ACCEPT OK")
	for i := range 40 {
		// sources within 10.0.0.0–10.0.0.255 under 10.0.0.0/8
		flows = append(flows, "2 111122223333 eni-0aaa 10.0.0."+itoa(i*6)+" 10.9.0.5 4"+itoa(1000+i)+" 5432 6 5 500 1793000100 1793000160 ACCEPT OK")
	}
	flows = append(flows, "2 111122223333 eni-0aaa 10.9.0.5 10.0.0.1 5432 41001 6 5 500 1793000100 1793000160 ACCEPT OK")   // reply
	flows = append(flows, "2 111122223333 eni-0bbb 198.51.100.1 10.9.9.9 50000 443 6 1 60 1793000100 1793000160 ACCEPT OK") // unknown ENI
	write(t, dir, "flows.log", strings.Join(flows, "\n")+"\n")
	return dir, []string{"analyze",
		"--security-groups", write(t, dir, "sg.json", sgJSON),
		"--security-group-rules", write(t, dir, "rules.json", rulesJSON),
		"--network-interfaces", write(t, dir, "eni.json", eniJSON)}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestAnalyzeContract(t *testing.T) {
	dir, args := account(t)
	code, out, errs := run(t, "", append(args, "--max-cidrs", "1", "--min-history", "2m", "--quiet", filepath.Join(dir, "flows.log"))...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"window", "suggestions"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("missing key %q", k)
		}
	}
	var rep advisor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	by := map[string]advisor.Suggestion{}
	for _, s := range rep.Suggestions {
		by[s.Rule.Protocol+"/"+itoa(int(s.Rule.FromPort))+"/"+s.Rule.Source] = s
	}
	ssh := by["tcp/22/0.0.0.0/0"]
	// One record of the default format (no tcp-flags) is thin evidence of
	// who initiated it: the narrowing counts it as a request, with low confidence.
	if ssh.Verdict != "narrow" || ssh.RuleID != "sgr-0123456789abcdef0" || !slices.Equal(ssh.Reasons, []string{"few-sources", "uncertain-initiator"}) ||
		ssh.Confidence != "low" ||
		len(ssh.Proposed) != 1 || ssh.Proposed[0] != (advisor.RuleSpec{Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "203.0.113.7/32"}) {
		t.Errorf("ssh rule: %+v", ssh)
	}
	// eni-0aaa's records show its logging on over the whole window (160 s,
	// longer than --min-history 2m): coverage adds no reason (the low
	// confidence above is the attribution's).
	if c := ssh.Evidence.Coverage; slices.Contains(ssh.Reasons, "short-history") || c == nil || c.Interfaces != 1 || len(c.Unobserved) != 0 ||
		c.ObservedFrom != "2026-10-26T07:33:20Z" || c.ObservedTo != "2026-10-26T07:36:00Z" {
		t.Errorf("ssh confidence %q coverage %+v", ssh.Confidence, ssh.Evidence.Coverage)
	}
	if !strings.Contains(out, `"confidence": "high"`) || !strings.Contains(out, `"unobserved": []`) || !strings.Contains(out, `"observed_from": "2026-10-26T07:33:20Z"`) {
		t.Errorf("JSON lacks the coverage contract:\n%s", out)
	}
	// With the default minimum history (14 days) the same verdicts have low confidence.
	_, out14, _ := run(t, "", append(args, "--max-cidrs", "1", "--quiet", filepath.Join(dir, "flows.log"))...)
	var rep14 advisor.Report
	if err := json.Unmarshal([]byte(out14), &rep14); err != nil {
		t.Fatal(err)
	}
	for _, s := range rep14.Suggestions {
		if s.Confidence != "low" || !slices.Contains(s.Reasons, "short-history") {
			t.Errorf("160 s of history with --min-history 14d: %s %v", s.Confidence, s.Reasons)
		}
	}
	if ssh.Evidence.Flows != 1 || ssh.Evidence.Packets != 12 || ssh.Evidence.Bytes != 3400 || ssh.Evidence.DistinctSources != 1 || ssh.Evidence.DistinctSourcesEstimated {
		t.Errorf("ssh evidence: %+v", ssh.Evidence)
	}
	pg := by["tcp/5432/10.0.0.0/8"]
	if pg.Verdict != "narrow" || len(pg.Proposed) != 1 || pg.Proposed[0].Source != "10.0.0.0/24" || pg.Evidence.Flows != 40 || pg.Confidence != "high" {
		t.Errorf("10.0.0.0/8 rule with K=1 must narrow to 10.0.0.0/24: %+v", pg)
	}
	web := by["tcp/80/0.0.0.0/0"]
	if web.Verdict != "remove" || !slices.Equal(web.Reasons, []string{"no-traffic"}) || web.Proposed == nil || len(web.Proposed) != 0 {
		t.Errorf("unused rule: %+v", web)
	}
	if len(rep.Unattributed) != 1 || rep.Unattributed[0].InterfaceID != "eni-0bbb" || rep.Unattributed[0].Records != 1 {
		t.Errorf("unattributed: %+v", rep.Unattributed)
	}
	if !strings.Contains(out, `"proposed": []`) {
		t.Errorf("remove must print proposed as []")
	}
}

func TestAnalyzeOutputs(t *testing.T) {
	dir, args := account(t)
	flows := filepath.Join(dir, "flows.log")
	_, table, _ := run(t, "", append(args, "--output", "table", "--quiet", flows)...)
	if !strings.Contains(table, "sg-0a1b2c3d") || !strings.Contains(table, "203.0.113.7/32") || !strings.Contains(table, "eni-0bbb") {
		t.Errorf("table:\n%s", table)
	}
	// Low-confidence proposals (160 s of history) are left out of exports
	// unless asked for, and stderr says how many.
	_, cli, errs := run(t, "", append(args, "--output", "cli", flows)...)
	if strings.Contains(cli, "revoke-security-group-ingress") || !strings.Contains(errs, "3 low-confidence proposals left out") {
		t.Errorf("low-confidence proposals exported by default:\n%s\nstderr %s", cli, errs)
	}
	_, cli, _ = run(t, "", append(args, "--output", "cli", "--include-low-confidence", "--quiet", flows)...)
	auth := strings.Index(cli, "authorize-security-group-ingress --group-id sg-0a1b2c3d")
	revoke := strings.Index(cli, "revoke-security-group-ingress --group-id sg-0a1b2c3d --security-group-rule-ids sgr-0123456789abcdef0")
	if auth < 0 || revoke < 0 || auth > revoke {
		t.Errorf("cli must authorize the narrow rule before revoking the wide one:\n%s", cli)
	}
	// The SSH narrowing rests on one record without tcp-flags (confidence low).
	_, tf, _ := run(t, "", append(args, "--output", "terraform", "--min-history", "1m", "--include-low-confidence", "--quiet", flows)...)
	if !strings.Contains(tf, `resource "aws_vpc_security_group_ingress_rule"`) || !strings.Contains(tf, `cidr_ipv4         = "203.0.113.7/32"`) {
		t.Errorf("terraform:\n%s", tf)
	}
}

func TestAnalyzeBadInputs(t *testing.T) {
	dir, args := account(t)
	flows := filepath.Join(dir, "flows.log")
	// an ENI file given as security groups
	code, _, errs := run(t, "", "analyze", "--security-groups", filepath.Join(dir, "eni.json"), "--network-interfaces", filepath.Join(dir, "eni.json"), flows)
	if code == 0 || !strings.Contains(errs, "eni.json") {
		t.Errorf("wrong shape: exit %d %q", code, errs)
	}
	code, _, errs = run(t, "", "analyze", "--security-groups", filepath.Join(dir, "nope.json"), flows)
	if code == 0 || !strings.Contains(errs, "nope.json") {
		t.Errorf("missing: exit %d %q", code, errs)
	}
	gz := write(t, dir, "broken.gz", "\x1f\x8b\x08\x00garbage")
	code, _, errs = run(t, "", append(args, gz)...)
	if code == 0 || !strings.Contains(errs, "broken.gz") {
		t.Errorf("broken gzip: exit %d %q", code, errs)
	}
	if code, _, _ := run(t, "", append(args, "--output", "yaml", flows)...); code == 0 {
		t.Error("unknown output accepted")
	}
}

// The AWS CLI exports and flow logs of other projects run through analyze.
func TestAnalyzePeers(t *testing.T) {
	p := func(elem ...string) string { return peers.Path(t, elem...) }
	code, out, errs := run(t, "", "analyze", "--quiet",
		"--security-groups", p("aws-cli-examples", "describe-security-groups.example1.json"),
		"--security-group-rules", p("aws-cli-examples", "describe-security-group-rules.example1.json"),
		"--network-interfaces", p("aws-cli-examples", "describe-network-interfaces.example1.json"),
		p("otel-collector-contrib-awslogs", "vpc-flow-log", "valid_vpc_flow_log.log"),
		p("otel-collector-contrib-awslogs", "vpc-flow-log", "valid_vpc_flow_cw.json"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep advisor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Suggestions) == 0 || len(rep.Unattributed) == 0 {
		t.Fatalf("want suggestions for the exported group and the peer flows' interfaces listed as unattributed: %s", out)
	}
}

func TestGenerateThenAnalyze(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "", "generate", "--out", dir, "--records", "30000", "--rich"); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	code, out, errs := run(t, "", "analyze", "--quiet", "--security-groups", filepath.Join(dir, "security-groups.json"),
		"--network-interfaces", filepath.Join(dir, "network-interfaces.json"), "--flow-logs", filepath.Join(dir, "flow-logs.json"),
		filepath.Join(dir, "flows.log.gz"))
	if code != 0 {
		t.Fatalf("analyze: %s", errs)
	}
	var rep advisor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]int{}
	for _, s := range rep.Suggestions {
		verdicts[s.Verdict]++
		for _, r := range s.Reasons {
			verdicts[r]++
		}
	}
	for _, want := range []string{"keep", "narrow", "remove", "redundant", "no-traffic", "few-sources", "wide-ports", "wide-protocol", "enough-sources", "short-history"} {
		if verdicts[want] == 0 {
			t.Errorf("the simulated account should show %q: %v", want, verdicts)
		}
	}
}

func TestDaemonFlags(t *testing.T) {
	if code, _, errs := run(t, "", "daemon"); code == 0 || !strings.Contains(errs, "--config") {
		t.Errorf("no config: exit %d %q", code, errs)
	}
	if code, _, errs := run(t, "", "daemon", "--demo", "--listen", "0.0.0.0:8080"); code == 0 || !strings.Contains(errs, "loopback") {
		t.Errorf("demo on a public address must be refused: exit %d %q", code, errs)
	}
	if code, _, errs := run(t, "", "daemon", "--config", filepath.Join(t.TempDir(), "nope.yaml")); code == 0 || !strings.Contains(errs, "nope.yaml") {
		t.Errorf("missing config: exit %d %q", code, errs)
	}
	dir := t.TempDir()
	bad := write(t, dir, "bad.yaml", "listen: 127.0.0.1:1\nfiles: [a.log]\nlistn: x\n")
	if code, _, errs := run(t, "", "daemon", "--config", bad); code == 0 || !strings.Contains(errs, "listn") {
		t.Errorf("unknown key: exit %d %q", code, errs)
	}
}

func TestAnalyzeSummaryLine(t *testing.T) {
	dir, args := account(t)
	flows := filepath.Join(dir, "flows.log")
	raw, err := os.ReadFile(flows)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(strings.TrimSpace(string(raw)), "\n") + 1
	code, _, errs := run(t, "", append(args, flows)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := "cinch analyze: " + strconv.Itoa(n) + " records: "
	if !strings.Contains(errs, want) || !strings.Contains(errs, ", 1 of unknown interfaces,") {
		t.Errorf("stderr lacks the summary %q…: %q", want, errs)
	}
	_, _, quiet := run(t, "", append(args, "--quiet", flows)...)
	if quiet != "" {
		t.Errorf("--quiet printed %q", quiet)
	}
}

// Reading files in parallel gives exactly what one reader gives: the same
// report, the same summary, the same malformed lines reported.
func TestAnalyzeJobsDoNotChangeTheResult(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "", "generate", "--out", dir, "--records", "40000"); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	f, err := os.Open(filepath.Join(dir, "flows.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSpace(string(raw)), "\n")
	var files []string
	for k := range 5 {
		part := slices.Clip(lines[k*len(lines)/5 : (k+1)*len(lines)/5])
		if k == 2 {
			part = append(part, "\n2 123456789012 eni-broken too few fields\n")
		}
		files = append(files, write(t, dir, fmt.Sprintf("part%d.log", k), strings.Join(part, "")))
	}
	args := []string{"analyze", "--security-groups", filepath.Join(dir, "security-groups.json"),
		"--network-interfaces", filepath.Join(dir, "network-interfaces.json")}
	var outs, summaries []string
	for _, jobs := range []string{"1", "3", "8"} {
		code, out, errs := run(t, "", append(append(args, "--jobs", jobs), files...)...)
		if code != 0 {
			t.Fatalf("--jobs %s: exit %d: %s", jobs, code, errs)
		}
		if !strings.Contains(errs, "part2.log:") || !strings.Contains(errs, "1 malformed line skipped (field-count: 1)") {
			t.Errorf("--jobs %s: the malformed line is not reported: %s", jobs, errs)
		}
		outs = append(outs, out)
		for _, l := range strings.Split(errs, "\n") {
			if strings.Contains(l, " records: ") {
				summaries = append(summaries, l)
			}
		}
	}
	if len(summaries) != 3 || summaries[0] != summaries[1] || summaries[0] != summaries[2] {
		t.Errorf("summaries differ: %q", summaries)
	}
	if outs[0] != outs[1] || outs[0] != outs[2] {
		t.Errorf("reports differ between --jobs 1, 3 and 8")
	}
	if !strings.Contains(summaries[0], "cinch analyze: 40000 records: ") {
		t.Errorf("summary %q: want the 40000 generated records", summaries[0])
	}
}

// The new-user reproduction: flow logs on every subnet but the web
// tier's of the first app, so the records of sg-0eb000000000001's two web
// interfaces are missing. Analyze must not remove (or narrow) that group's
// 0.0.0.0/0:443, the production front door, and must name the interfaces.
func TestAnalyzeUnloggedWebTier(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "", "generate", "--out", dir, "--records", "30000"); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	const group = "sg-0eb000000000001"
	var enis struct {
		NetworkInterfaces []struct {
			NetworkInterfaceId, SubnetId string
			Groups                       []struct{ GroupId string }
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "network-interfaces.json"))
	if err != nil || json.Unmarshal(raw, &enis) != nil {
		t.Fatalf("network-interfaces.json: %v", err)
	}
	web, subnets := map[string]bool{}, map[string]bool{}
	for _, e := range enis.NetworkInterfaces {
		for _, g := range e.Groups {
			if g.GroupId == group {
				web[e.NetworkInterfaceId], subnets[e.SubnetId] = true, true
			}
		}
	}
	if len(web) != 2 {
		t.Fatalf("want the two web interfaces of %s, got %v", group, web)
	}
	// flow-logs.json without the web subnet's flow log.
	var fl struct{ FlowLogs []map[string]any }
	raw, err = os.ReadFile(filepath.Join(dir, "flow-logs.json"))
	if err != nil || json.Unmarshal(raw, &fl) != nil {
		t.Fatalf("flow-logs.json: %v", err)
	}
	var others []map[string]any
	for _, f := range fl.FlowLogs {
		if !subnets[f["ResourceId"].(string)] {
			others = append(others, f)
		}
	}
	b, _ := json.Marshal(map[string]any{"FlowLogs": others})
	otherSubnets := write(t, dir, "flow-logs-other-subnets.json", string(b))
	// The records without those of the dropped interfaces.
	filter := func(name string, drop map[string]bool) string {
		f, err := os.Open(filepath.Join(dir, "flows.log.gz"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, l := range strings.Split(strings.TrimSpace(string(all)), "\n") {
			if fields := strings.Fields(l); len(fields) > 2 && drop[fields[2]] {
				continue
			}
			kept = append(kept, l)
		}
		return write(t, dir, name, strings.Join(kept, "\n")+"\n")
	}
	analyze := func(flows string, extra ...string) map[string]advisor.Suggestion {
		args := append([]string{"analyze", "--quiet", "--security-groups", filepath.Join(dir, "security-groups.json"),
			"--network-interfaces", filepath.Join(dir, "network-interfaces.json")}, extra...)
		code, out, errs := run(t, "", append(args, flows)...)
		if code != 0 {
			t.Fatalf("analyze: %s", errs)
		}
		var rep advisor.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		by := map[string]advisor.Suggestion{}
		for _, s := range rep.Suggestions {
			if s.GroupID == group {
				by[s.Rule.Protocol+"/"+itoa(int(s.Rule.FromPort))+"/"+s.Rule.Source] = s
			}
		}
		return by
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range web {
			if !yield(id) {
				return
			}
		}
	})
	noWeb := filter("no-web.log", web)
	for _, extra := range [][]string{nil, {"--flow-logs", otherSubnets}} {
		by := analyze(noWeb, extra...)
		if len(by) == 0 {
			t.Fatalf("no suggestion for %s", group)
		}
		for k, s := range by {
			if s.Verdict != advisor.VerdictKeep || !slices.Equal(s.Reasons, []string{advisor.ReasonNotObserved}) ||
				s.Evidence.Coverage == nil || !slices.Equal(s.Evidence.Coverage.Unobserved, ids) || s.Evidence.Coverage.Interfaces != 2 {
				t.Errorf("%v: %s: %s %v %+v; want keep, not-observed, naming %v", extra, k, s.Verdict, s.Reasons, s.Evidence.Coverage, ids)
			}
		}
		if s := by["tcp/443/0.0.0.0/0"]; s.Verdict != advisor.VerdictKeep {
			t.Errorf("the front door: %+v", s)
		}
	}
	// The table names the unobserved interfaces beside the reason.
	_, table, _ := run(t, "", "analyze", "--quiet", "--output", "table", "--security-groups", filepath.Join(dir, "security-groups.json"),
		"--network-interfaces", filepath.Join(dir, "network-interfaces.json"), noWeb)
	if !strings.Contains(table, "CONFIDENCE") || !strings.Contains(table, "not-observed ("+strings.Join(ids, ",")+")") {
		t.Errorf("table:\n%s", table)
	}
	// One web interface logged, the other not: no narrowing to the logged
	// one's clients.
	one := map[string]bool{ids[1]: true}
	by := analyze(filter("one-web.log", one), "--flow-logs", otherSubnets)
	for k, s := range by {
		if s.Verdict != advisor.VerdictKeep || !slices.Equal(s.Evidence.Coverage.Unobserved, []string{ids[1]}) {
			t.Errorf("one unlogged interface: %s: %s %v %+v", k, s.Verdict, s.Reasons, s.Evidence.Coverage)
		}
	}
}

// Two accounts' exports given together (repeated --security-groups and
// --network-interfaces) resolve each other's group references across a
// peering; with one account alone the reference is kept, not judged.
func TestAnalyzeResolvesReferencesAcrossAccounts(t *testing.T) {
	dir := t.TempDir()
	sgA := write(t, dir, "sg-a.json", `{"SecurityGroups":[{"GroupId":"sg-a","VpcId":"vpc-a","OwnerId":"111111111111",
	 "IpPermissions":[{"IpProtocol":"tcp","FromPort":5432,"ToPort":5432,
	   "UserIdGroupPairs":[{"GroupId":"sg-b","UserId":"222222222222","VpcId":"vpc-b","VpcPeeringConnectionId":"pcx-1"}]}],
	 "IpPermissionsEgress":[]}]}`)
	eniA := write(t, dir, "eni-a.json", `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-a","OwnerId":"111111111111","VpcId":"vpc-a",
	 "Groups":[{"GroupId":"sg-a"}],"PrivateIpAddress":"10.1.0.5"}]}`)
	sgB := write(t, dir, "sg-b.json", `{"SecurityGroups":[{"GroupId":"sg-b","VpcId":"vpc-b","OwnerId":"222222222222","IpPermissions":[],"IpPermissionsEgress":[]}]}`)
	eniB := write(t, dir, "eni-b.json", `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-b","OwnerId":"222222222222","VpcId":"vpc-b",
	 "Groups":[{"GroupId":"sg-b"}],"PrivateIpAddress":"10.2.0.7"}]}`)
	flows := write(t, dir, "flows.log", "2 111111111111 eni-a 10.2.0.7 10.1.0.5 40000 5432 6 5 500 1793000100 1793000160 ACCEPT OK\n")
	verdict := func(args ...string) (advisor.Suggestion, string) {
		t.Helper()
		code, out, errs := run(t, "", append(append([]string{"analyze"}, args...), flows)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var rep advisor.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		for _, s := range rep.Suggestions {
			if s.GroupID == "sg-a" {
				return s, errs
			}
		}
		t.Fatalf("no suggestion for sg-a: %s", out)
		return advisor.Suggestion{}, ""
	}
	alone, errs := verdict("--security-groups", sgA, "--network-interfaces", eniA)
	if alone.Verdict != "keep" || len(alone.Reasons) == 0 || alone.Reasons[0] != "unresolved-reference" || alone.Confidence != "low" {
		t.Errorf("account A alone: %+v", alone)
	}
	if !strings.Contains(errs, "1 rules reference a security group or prefix list the inventory cannot resolve") {
		t.Errorf("stderr does not report the unresolved rule: %q", errs)
	}
	both, errs := verdict("--security-groups", sgA, "--security-groups", sgB, "--network-interfaces", eniA, "--network-interfaces", eniB)
	if both.Verdict != "keep" || slices.Contains(both.Reasons, "unresolved-reference") || both.Evidence.Flows != 1 {
		t.Errorf("accounts A and B: %+v", both)
	}
	if strings.Contains(errs, "cannot resolve") {
		t.Errorf("stderr: %q", errs)
	}
}
