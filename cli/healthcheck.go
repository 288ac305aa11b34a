package cli

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// runHealthcheck asks a daemon's /healthz (or /readyz) and exits non-zero
// unless it answers 200: the container image's HEALTHCHECK, which has no
// shell or curl.
func runHealthcheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "healthcheck", "[flags]")
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "endpoint to ask")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s", *url, resp.Status)
	}
	return nil
}
