package daemon

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/internal/livetailtest"
)

// The daemon reads Live Tail (a local HTTP/2 server speaking the event-stream
// wire format) through its pipeline; a sampled update is counted.
func TestLiveTailInput(t *testing.T) {
	const group = "arn:aws:logs:eu-west-1:123456789012:log-group:vpc-flows"
	srv := livetailtest.Start(t, func(n int, send func([]byte), r *http.Request) {
		if n == 1 {
			send(livetailtest.Update(group, "eni-0a-all", false,
				"2 123456789012 eni-0a 203.0.113.7 10.0.0.5 40000 22 6 3 180 1764000000 1764000050 ACCEPT OK",
				"2 123456789012 eni-0a 203.0.113.8 10.0.0.5 40001 22 6 3 180 1764000060 1764000110 ACCEPT OK"))
			send(livetailtest.Update(group, "eni-0a-all", true,
				"2 123456789012 eni-0a 203.0.113.9 10.0.0.5 40002 22 6 3 180 1764000120 1764000170 ACCEPT OK"))
		}
		<-r.Context().Done()
	})
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_CA_BUNDLE", srv.CAFile)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	dir := t.TempDir()
	sg := filepath.Join(dir, "sg.json")
	eni := filepath.Join(dir, "eni.json")
	os.WriteFile(sg, []byte(`{"SecurityGroups":[{"GroupId":"sg-0a","GroupName":"ssh","OwnerId":"123456789012","VpcId":"vpc-1",
"IpPermissions":[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]}],"IpPermissionsEgress":[]}]}`), 0o644)
	os.WriteFile(eni, []byte(`{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-0a","OwnerId":"123456789012","VpcId":"vpc-1",
"AvailabilityZone":"eu-west-1a","PrivateIpAddress":"10.0.0.5","PrivateIpAddresses":[{"PrivateIpAddress":"10.0.0.5","Primary":true}],
"Groups":[{"GroupId":"sg-0a","GroupName":"ssh"}]}]}`), 0o644)
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Inventory.SecurityGroups = []string{sg}
	cfg.Inventory.NetworkInterfaces = []string{eni}
	cfg.LiveTail = &config.LiveTail{LogGroups: []string{group}}
	cfg.Analysis.EvaluateInterval = config.Duration(100 * time.Millisecond)
	cfg.Auth.Tokens = []config.Token{{Name: "viewer", Role: config.RoleViewer, Token: testToken}}
	r := start(t, cfg)
	deadline := time.Now().Add(20 * time.Second)
	var flows uint64
	var sug advisor.Suggestion
	for time.Now().Before(deadline) && flows != 3 {
		if rep, err := getReport(t, r.d.Addr().String()); err == nil {
			for _, s := range rep.Suggestions {
				if s.GroupID == "sg-0a" {
					flows, sug = s.Evidence.Flows, s
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if flows != 3 {
		t.Fatalf("flows credited %d, want 3", flows)
	}
	// The third record came sampled: records around it are missing, so the
	// proposal (narrow 0.0.0.0/0 to the three sources) has low confidence.
	if sug.Verdict != advisor.VerdictNarrow || sug.Confidence != advisor.ConfidenceLow || !slices.Contains(sug.Reasons, advisor.ReasonPartialLogging) {
		t.Errorf("suggestion after sampled input: %+v", sug)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.d.Addr().String()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), "\ncinch_livetail_sampled_events_total 1\n") {
		t.Errorf("no sampled event counted in /metrics")
	}
	if srv.HTTP2.Load() < 1 {
		t.Error("Live Tail did not use HTTP/2")
	}
}
