// Package peers locates the public test data of other projects (flow-log samples,
// CloudWatch payloads, AWS CLI and Config exports) that conformance tests read.
//
// The data is never copied into this repository: its licences are not ours. Tests
// find it through the CINCH_PEERS_DIR environment variable, which .ci/run sets; a
// developer checkout falls back to ../shared/peers beside the repository.
package peers

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvVar names the environment variable that points at the peers folder.
const EnvVar = "CINCH_PEERS_DIR"

// Dir returns the peers folder, failing the test when it cannot be found.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(EnvVar); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Fatalf("%s=%q is not a folder: %v", EnvVar, d, err)
		}
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(dir, "..", "shared", "peers")
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
			break
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Fatalf("peer test data not found: set %s to the shared/peers folder", EnvVar)
	return ""
}

// Path joins elem to the peers folder, failing the test when the file is missing.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{Dir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("peer file missing: %v", err)
	}
	return p
}
