package daemon

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Local files go through the same pipeline: a gzip S3-style file with a
// header line gives the same suggestions as `cinch analyze`, and a restart
// does not count it twice.
func TestFilesInput(t *testing.T) {
	sc := newScenario(t, 5000, 31)
	path := filepath.Join(sc.dir, "flows.log.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(strings.Join(richFormat.Names(), " ") + "\n"))
	for _, l := range sc.lines {
		zw.Write(append(l, '\n'))
	}
	zw.Write([]byte("this line is not a flow log\n"))
	zw.Close()
	f.Close()

	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Formats.LogGroups = nil // the header line gives the format
	cfg.Files = []string{path}
	want := sc.expected(t, cfg)
	r := start(t, cfg)
	waitReport(t, r.d.Addr().String(), want, 60*time.Second)
	if got := readCounter(r.d.met.RecordsParsed); int(got) != sc.records {
		t.Errorf("parsed %v records, want %d", got, sc.records)
	}
	r.stop(t)

	r2 := start(t, cfg)
	waitReport(t, r2.d.Addr().String(), want, 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	if got := readCounter(r2.d.met.RecordsParsed); got != 0 {
		t.Errorf("a file already read was read again after a restart: %v records", got)
	}
}

// Standard input that stays open does not hold the shard: the records read
// so far are judged, checkpoints go on, and cancelling stops the daemon at
// once, without waiting for EOF (issue 7, finding 6).
func TestFilesStdinDoesNotBlock(t *testing.T) {
	sc := newScenario(t, 3000, 37)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	old := os.Stdin
	os.Stdin = pr
	defer func() { os.Stdin = old }()
	go func() {
		pw.Write([]byte(strings.Join(richFormat.Names(), " ") + "\n"))
		for _, l := range sc.lines {
			pw.Write(append(l, '\n'))
		}
		// No EOF: the writer stays open, as a quiet pipe does.
	}()

	cfg := sc.config(nil, t.TempDir(), "")
	cfg.Kafka = nil
	cfg.Formats.LogGroups = nil
	cfg.Files = []string{"-"}
	r := start(t, cfg)
	waitReport(t, r.d.Addr().String(), sc.expected(t, cfg), 20*time.Second)

	ckpt := make(chan error, 1)
	go func() { ckpt <- r.d.checkpointAll(t.Context()) }()
	select {
	case err := <-ckpt:
		if err != nil {
			t.Errorf("checkpoint: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a checkpoint waited for standard input")
	}

	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("daemon.Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon did not stop within 5 s while standard input stayed open")
	}
}
