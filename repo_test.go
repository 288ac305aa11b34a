package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/test.sh removes the work folder it made under /tmp at exit
// (unless CINCH_KEEP_WORK=1), and never a folder the caller gave it.
func TestTestScriptCleansItsWorkFolder(t *testing.T) {
	sh := func(env []string, script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", ". scripts/workdir.sh\n"+script)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	const use = `work_init; touch "$CINCH_WORK/kafka.log"; echo "$CINCH_WORK"; work_cleanup 2>/dev/null`
	dir := sh([]string{"CINCH_WORK="}, use)
	if !strings.HasPrefix(dir, "/tmp/cinch-test.") {
		t.Fatalf("work folder %q", dir)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("work folder %s left behind (%v)", dir, err)
	}
	kept := sh([]string{"CINCH_WORK=", "CINCH_KEEP_WORK=1"}, use)
	if _, err := os.Stat(filepath.Join(kept, "kafka.log")); err != nil {
		t.Errorf("CINCH_KEEP_WORK=1: %v", err)
	}
	os.RemoveAll(kept)
	mine := t.TempDir()
	if got := sh([]string{"CINCH_WORK=" + mine}, use); got != mine {
		t.Errorf("CINCH_WORK=%s: used %s", mine, got)
	}
	if _, err := os.Stat(filepath.Join(mine, "kafka.log")); err != nil {
		t.Errorf("the caller's folder was removed: %v", err)
	}
}

// The demo's state folder (configs/demo.yaml) is not offered for commit.
func TestDemoStateIsIgnored(t *testing.T) {
	for _, p := range []string{"cinch-demo-state/checkpoints/x", "cinch-state/x"} {
		out, err := exec.Command("git", "check-ignore", "--no-index", p).CombinedOutput()
		if err != nil {
			t.Errorf("%s is not git-ignored (git check-ignore: %v %s)", p, err, out)
		}
	}
}
