// Package web holds the live dashboard's assets (plain ES modules, styles
// and vendored libraries, no build step), embedded in the binary. The API
// server serves index.html at GET / and the rest under /assets/.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html css js vendor
var files embed.FS

// Assets returns the dashboard's files, index.html at the root.
func Assets() fs.FS { return files }
