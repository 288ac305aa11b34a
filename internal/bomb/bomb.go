// Package bomb makes hostile inputs for tests of bounded memory: gzip
// streams that decompress to far more than they weigh, generated on the
// fly, and a measure of what a function allocates.
package bomb

import (
	"bytes"
	"compress/gzip"
	"io"
	"runtime"
)

// GzipPadded streams gzip(prefix + n spaces + suffix) without holding it.
func GzipPadded(prefix string, n int64, suffix string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		zw.Write([]byte(prefix))
		chunk := bytes.Repeat([]byte{' '}, 1<<20)
		for n > 0 {
			k := min(n, int64(len(chunk)))
			zw.Write(chunk[:k])
			n -= k
		}
		zw.Write([]byte(suffix))
		zw.Close()
		pw.Close()
	}()
	return pr
}

// Allocated returns the bytes allocated (in total, not live) while f runs.
func Allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}
