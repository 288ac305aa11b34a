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
