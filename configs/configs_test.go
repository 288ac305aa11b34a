// Package configs holds the example configurations of cinch and of the
// compose stack; its test checks that they load and fit together.
package configs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/simulate"
)

// Every example daemon configuration loads and validates (with the tokens
// their comments say to set in the environment).
func TestDaemonConfigsLoad(t *testing.T) {
	env := map[string]string{
		"CINCH_AUTH_TOKEN_NAMES":  "viewer",
		"CINCH_AUTH_TOKEN_VIEWER": "viewer:0123456789abcdef0123456789abcdef",
		"CINCH_CLICKHOUSE_ADDR":   "127.0.0.1:9000",
	}
	for _, name := range []string{"compose.yaml", "demo.yaml", "files.yaml", "kafka.yaml", "msk-iam.yaml"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			// Paths in the examples name files of the deployment, not of the
			// repository: validate the structure, not their existence.
			getenv := func(k string) string {
				if name == "kafka.yaml" && k == "CINCH_KAFKA_SASL_PASSWORD" {
					return "example-password" // the file says to set it here
				}
				return env[k]
			}
			if _, err := config.Parse(data, name, getenv); err != nil &&
				!onlyMissingFiles(err) {
				t.Fatalf("%s does not load: %v", name, err)
			}
		})
	}
}

func onlyMissingFiles(err error) bool {
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.Contains(line, "no such file") && !strings.Contains(line, "does not exist") {
			return false
		}
	}
	return true
}

// The compose daemon reads the producer's log group in the producer's format.
func TestComposeFormatIsTheProducers(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Formats struct {
			LogGroups map[string]string `yaml:"log_groups"`
		} `yaml:"formats"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if got := c.Formats.LogGroups[simulate.LogGroup]; got != simulate.RichFormat {
		t.Errorf("compose.yaml format of %s = %q, want the producer's %q", simulate.LogGroup, got, simulate.RichFormat)
	}
}

// The compose file mounts files that exist, and Prometheus loads the rules
// the compose file mounts.
func TestComposeStackFits(t *testing.T) {
	var dc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Volumes     []string          `yaml:"volumes"`
			Ports       []string          `yaml:"ports"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	readYAML(t, "../docker-compose.yml", &dc)
	for _, want := range []string{"kafka", "clickhouse", "producer", "cinch", "prometheus", "grafana"} {
		if _, ok := dc.Services[want]; !ok {
			t.Errorf("docker-compose.yml lacks service %s", want)
		}
	}
	for name, s := range dc.Services {
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %s beyond the host's loopback", name, p)
			}
		}
	}
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	for _, f := range prom.RuleFiles {
		local := filepath.Join("../dashboards/prometheus", filepath.Base(f))
		if !strings.HasPrefix(f, "/etc/prometheus/cinch/") {
			t.Errorf("rule file %s is not under the mounted /etc/prometheus/cinch", f)
		} else if _, err := os.Stat(local); err != nil {
			t.Errorf("rule file %s: %v", f, err)
		}
	}
}

// Every panel of every Grafana dashboard uses a provisioned data source.
func TestGrafanaDashboardsUseProvisionedDatasources(t *testing.T) {
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/cinch.yaml", &ds)
	types := map[string]string{}
	for _, d := range ds.Datasources {
		types[d.UID] = d.Type
	}
	files, _ := filepath.Glob("../dashboards/grafana/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboard in dashboards/grafana")
	}
	var uids []string
	for _, f := range files {
		var d struct {
			UID    string `json:"uid"`
			Panels []struct {
				Title      string `json:"title"`
				Type       string `json:"type"`
				Datasource *struct {
					Type string `json:"type"`
					UID  string `json:"uid"`
				} `json:"datasource"`
			} `json:"panels"`
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || slices.Contains(uids, d.UID) {
			t.Errorf("%s: uid %q missing or not unique", f, d.UID)
		}
		uids = append(uids, d.UID)
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || types[p.Datasource.UID] != p.Datasource.Type {
				t.Errorf("%s: panel %q uses a data source that is not provisioned: %+v", f, p.Title, p.Datasource)
			}
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The Terraform module's flow-log format is the one cinch documents: the
// simulator's rich format, field for field.
func TestTerraformFlowLogFormat(t *testing.T) {
	b, err := os.ReadFile("terraform/flowlogs.tf")
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, m := range regexp.MustCompile(`"\$\$\{([a-z0-9-]+)\}"`).FindAllStringSubmatch(string(b), -1) {
		fields = append(fields, "${"+m[1]+"}")
	}
	if got := strings.Join(fields, " "); got != simulate.RichFormat {
		t.Errorf("terraform format\n %s\nwant\n %s", got, simulate.RichFormat)
	}
}
