package awsjson

import (
	"bytes"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/internal/peers"
	"github.com/cinch-sg/cinch/inventory"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// FuzzLoad feeds arbitrary bytes to content detection and every loader: they
// may fail, but must not panic, and the inventory must stay queryable.
func FuzzLoad(f *testing.F) {
	for _, p := range [][]string{
		{"aws-cli-examples", "describe-security-groups.example1.json"},
		{"aws-cli-examples", "describe-security-group-rules.example1.json"},
		{"aws-cli-examples", "describe-network-interfaces.example1.json"},
		{"aws-cli-examples", "describe-managed-prefix-lists.example1.json"},
		{"asecurityteam-awsconfig-transformerd", "testdata", "eni.1.delete.json"},
		{"asecurityteam-awsconfig-transformerd", "testdata", "ec2.malformed.json"},
		{"cloud-custodian", "config", "placebo", "test_sg_config_diff", "config.GetResourceConfigHistory_1.json"},
		{"cloud-custodian", "config", "placebo", "test_security_group_set_permissions", "config.SelectResourceConfig_1.json"},
	} {
		data, err := os.ReadFile(peers.Path(f, p...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(ownSGs))
	f.Add([]byte(ownRules))
	f.Add([]byte{0x1f, 0x8b, 0x08})
	f.Add([]byte(`{"status_code":200,"data":{"Type":"Notification","Message":"{\"configurationItem\":[null]}"}}`))
	f.Add([]byte(`{"Results":["{\"configuration\":{\"networkInterfaceId\":\"eni-1\"}}"]}`))
	f.Add([]byte(`[{"resourceType":"AWS::EC2::SecurityGroup","configurationItemCaptureTime":{"__class__":"datetime","year":0}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv := inventory.New()
		_, _ = Load(inv, bytes.NewReader(data))
		_ = LoadSecurityGroups(inv, bytes.NewReader(data))
		_ = LoadSecurityGroupRules(inv, bytes.NewReader(data))
		_ = LoadNetworkInterfaces(inv, bytes.NewReader(data))
		_ = LoadInstances(inv, bytes.NewReader(data))
		_ = LoadPrefixLists(inv, bytes.NewReader(data))
		_ = LoadPrefixListEntries(inv, bytes.NewReader(data), "pl-1")
		_, _ = LoadConfig(inv, bytes.NewReader(data))
		_ = inv.Rules()
		_ = inv.Validate()
		for _, id := range inv.ENIs() {
			for _, e := range inv.ENIVersions(id) {
				_ = e.PrivateAddrs()
				_ = e.PublicAddrs()
				_, _ = inv.ENIAt(id, e.Valid.From)
			}
		}
		for _, id := range inv.Groups() {
			_, _ = inv.GroupAt(id, time.Unix(1.7e9, 0))
		}
	})
}
