// Package chtest coordinates the end-to-end tests that share the one
// ClickHouse server scripts/test.sh starts: packages' tests run in parallel
// processes, and some stop and restart the server. Those take the server
// exclusively; the others share it. The lock is an flock(2) on the file
// $CINCH_TEST_CLICKHOUSE_LOCK, released when the test ends.
package chtest

import (
	"os"
	"syscall"
	"testing"
)

// Shared holds the server for t against tests that stop it.
func Shared(t testing.TB) { lock(t, syscall.LOCK_SH) }

// Exclusive holds the server for t alone (it stops and restarts it).
func Exclusive(t testing.TB) { lock(t, syscall.LOCK_EX) }

func lock(t testing.TB, how int) {
	t.Helper()
	path := os.Getenv("CINCH_TEST_CLICKHOUSE_LOCK")
	if path == "" {
		t.Fatal("CINCH_TEST_CLICKHOUSE_LOCK is not set: run scripts/test.sh, which starts ClickHouse")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}

// Env returns the environment variable that scripts/test.sh sets for the
// ClickHouse end-to-end tests (the server's address, chdb's folder, the
// binary under test), failing t when it is missing.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run scripts/test.sh, which builds cinch, starts ClickHouse and installs chdb", name)
	}
	return v
}
