package cli

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestTerraformForwarderEnvironment: the forwarder Lambda that
// configs/terraform deploys is configured through variables `cinch forward`
// reads (a misspelt name would leave the function without brokers).
func TestTerraformForwarderEnvironment(t *testing.T) {
	b, err := os.ReadFile("../configs/terraform/forwarder.tf")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)variables\s*=\s*\{(.*?)\}`).FindSubmatch(b)
	if block == nil {
		t.Fatal("no environment variables block in forwarder.tf")
	}
	read := []string{envBrokers, envTopic, envAccessKey, envTLS, envCA, envMechanism, envUser, envPassword, envRegion}
	names := regexp.MustCompile(`(?m)^\s*([A-Z][A-Z0-9_]*)\s*=`).FindAllSubmatch(block[1], -1)
	var got []string
	for _, m := range names {
		got = append(got, string(m[1]))
		if !slices.Contains(read, string(m[1])) {
			t.Errorf("forwarder.tf sets %s, which cinch forward does not read (it reads %v)", m[1], read)
		}
	}
	if !slices.Contains(got, envBrokers) {
		t.Errorf("forwarder.tf does not set %s: %v", envBrokers, got)
	}
}
