package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runEnv is run with a given Env (terminal flags set by the test).
func runEnv(env *Env, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env.Stdout, env.Stderr = &out, &errb
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	code = Run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

// cutGzip writes gzip(content) cut to two thirds.
func cutGzip(t *testing.T, dir, name, content string) string {
	t.Helper()
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(content))
	zw.Close()
	return write(t, dir, name, string(zb.Bytes()[:zb.Len()*2/3]))
}

// A truncated .gz makes analyze fail without a report (the old analyze
// printed verdicts from the part it read and exited 0); parse prints what it
// read and exits non-zero.
func TestAnalyzeFailsOnInputNotReadWhole(t *testing.T) {
	dir, args := account(t)
	flows := filepath.Join(dir, "flows.log")
	raw, err := os.ReadFile(flows)
	if err != nil {
		t.Fatal(err)
	}
	cut := cutGzip(t, dir, "cut.log.gz", strings.Repeat(string(raw), 200))
	for _, jobs := range []string{"1", "2"} {
		code, out, errs := run(t, "", append(args, "--jobs", jobs, flows, cut)...)
		if code != 1 || out != "" {
			t.Errorf("--jobs %s: exit %d, report %d bytes", jobs, code, len(out))
		}
		if !strings.Contains(errs, "cinch analyze: input: "+cut+": ") || !strings.Contains(errs, "ends early") ||
			!strings.Contains(errs, "cinch analyze: 1 input could not be read whole") {
			t.Errorf("--jobs %s: stderr %q", jobs, errs)
		}
	}
	code, out, errs := run(t, "", "parse", flows, cut)
	if code != 1 || strings.Count(out, "\n") <= strings.Count(string(raw), "\n") ||
		!strings.Contains(errs, "cinch parse: 1 input could not be read whole") {
		t.Errorf("parse: exit %d, %d records, stderr %q", code, strings.Count(out, "\n"), errs)
	}
	// A line over the limit is one malformed line; the rest of the file is read.
	long := write(t, dir, "long.log", "2 1 eni-0aaa x"+strings.Repeat("x", 5<<20)+"\n"+string(raw))
	code, out, errs = run(t, "", "parse", long)
	if code != 0 || strings.Count(out, "\n") != strings.Count(string(raw), "\n") ||
		!strings.Contains(errs, "long.log:1: ") || !strings.Contains(errs, "1 malformed line skipped (line-too-long: 1)") {
		t.Errorf("long line: exit %d, %d records, stderr %q", code, strings.Count(out, "\n"), errs)
	}
}

// A flood of malformed lines prints the first few with file:line, then one
// count (the old CLI printed one line per malformed line).
func TestMalformedFloodIsSummarized(t *testing.T) {
	dir, args := account(t)
	bad := write(t, dir, "bad.log", strings.Repeat("2 111122223333 eni-0aaa too few\n", 5000)+
		"2 111122223333 eni-0aaa 10.0.0.1 10.9.0.5 41000 5432 6 5 500 1793000100 1793000160 MAYBE OK\n"+
		"2 111122223333 eni-0aaa 10.0.0.1 10.9.0.5 41000 5432 6 5 500 1793000100 1793000160 ACCEPT OK\n")
	for _, cmd := range [][]string{{"parse", bad}, append(args, bad, filepath.Join(dir, "flows.log"))} {
		code, _, errs := run(t, "", cmd...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", cmd[0], code, errs)
		}
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		shown := 0
		for _, l := range lines {
			if strings.HasPrefix(l, bad+":") {
				shown++
			}
		}
		if shown != maxShown || len(lines) > maxShown+5 || !strings.Contains(errs, bad+":1: ") ||
			!strings.Contains(errs, "cinch "+cmd[0]+": further messages about bad input are not shown") ||
			!strings.Contains(errs, "cinch "+cmd[0]+": 5001 malformed lines skipped (field-count: 5000, bad-value: 1)") {
			t.Errorf("%s: %d lines shown, stderr:\n%s", cmd[0], shown, errs)
		}
	}
}

// Newcomer friction: --version, the note about a terminal's stdin, --help
// placeholders, the command in every message, and an empty log file.
func TestCommandLineFriction(t *testing.T) {
	for _, a := range []string{"--version", "version"} {
		code, out, _ := run(t, "", a)
		if code != 0 || !strings.HasPrefix(out, "cinch ") || !strings.Contains(out, "go1.") {
			t.Errorf("%s: exit %d %q", a, code, out)
		}
	}

	dir, args := account(t)
	_, _, errs := runEnv(&Env{Stdin: strings.NewReader(""), StdinIsTerminal: true}, args...)
	if !strings.Contains(errs, "cinch analyze: no flow-log files given: reading standard input") {
		t.Errorf("terminal stdin: %q", errs)
	}
	_, _, errs = runEnv(&Env{Stdin: strings.NewReader("")}, args...)
	if strings.Contains(errs, "reading standard input") {
		t.Errorf("stdin not a terminal: %q", errs)
	}

	_, _, help := run(t, "", "analyze", "--help")
	for _, want := range []string{"-security-groups FILE\n", "-network-interfaces FILE\n", "-security-group-rules FILE\n"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "-security-groups aws") {
		t.Errorf("--help shows the AWS command as placeholder:\n%s", help)
	}

	empty := write(t, dir, "empty.log", "")
	code, _, errs := run(t, "", append(args, empty)...)
	if code != 1 || !strings.Contains(errs, empty+": empty: no flow-log lines") ||
		!strings.Contains(errs, "cinch analyze: no flow-log record could be read: the input is empty") {
		t.Errorf("empty: exit %d %q", code, errs)
	}
	for _, l := range strings.Split(errs, "\n") {
		if strings.HasPrefix(l, "cinch: ") {
			t.Errorf("message without the command: %q", l)
		}
	}
	code, _, errs = run(t, "", append(args, filepath.Join(dir, "flows.log"), write(t, dir, "one.log", "2 1 eni-1 x\n"))...)
	if code != 0 || !strings.Contains(errs, "cinch analyze: 1 malformed line skipped (field-count: 1)\n") {
		t.Errorf("one malformed line: exit %d %q", code, errs)
	}
}

// A group given by two exports keeps the rules of both, with a warning that
// names the file and the group (the later export used to replace the earlier,
// and its rules silently dropped out of the report).
func TestAnalyzeDuplicateGroupAcrossFiles(t *testing.T) {
	dir, args := account(t)
	again := write(t, dir, "sg-again.json", `{"SecurityGroups":[{"GroupId":"sg-0a1b2c3d","GroupName":"app","VpcId":"vpc-1","OwnerId":"111122223333",
 "IpPermissions":[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]}]}`)
	count := func(out string) int { return strings.Count(out, `"group_id"`) }
	code, base, errs := run(t, "", append(args, filepath.Join(dir, "flows.log"))...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, out, errs := run(t, "", append(args, "--security-groups", again, filepath.Join(dir, "flows.log"))...)
	if code != 0 || count(out) != count(base)+1 {
		t.Errorf("exit %d: %d suggestions, want %d + 1", code, count(out), count(base))
	}
	if !strings.Contains(errs, "cinch analyze: inventory: inventory file "+again+": 1 security group is also in an input loaded before (sg-0a1b2c3d)") {
		t.Errorf("stderr %q", errs)
	}
}
