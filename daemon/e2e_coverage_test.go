//go:build e2e

package daemon

import "testing"

// TestE2ECoverage runs the coverage scenario through the real broker.
func TestE2ECoverage(t *testing.T) { scenarioCoverage(t, realBrokers(t)) }
