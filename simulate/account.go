// Package simulate generates synthetic AWS accounts (security groups,
// rules, network interfaces, as the AWS CLI prints them) and realistic VPC
// flow-log traffic for them. Tests, benchmarks, the load command and the
// daemon's demo share it, so they all exercise the same traffic mix:
// internet clients on public services, a few administrators on SSH, tiers
// talking through group references and wide private CIDRs, monitoring over
// UDP and ICMP, return traffic, outbound calls, rejected scans, NODATA
// records and interfaces missing from the inventory.
package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsjson"
)

// Config sizes an account.
type Config struct {
	// Seed makes the account and its traffic reproducible.
	Seed uint64
	// Apps is the number of three-tier applications (web, app, db).
	Apps int
	// ENIsPerTier is the number of interfaces in each tier of each app.
	ENIsPerTier int
	// InternetClients is the pool of distinct public clients per web tier.
	InternetClients int
	// AccountID is the owner account.
	AccountID string
}

// DefaultConfig is a small account that shows every verdict.
func DefaultConfig() Config {
	return Config{Seed: 1, Apps: 3, ENIsPerTier: 2, InternetClients: 400, AccountID: "123456789012"}
}

// Account is a generated account.
type Account struct {
	cfg    Config
	Groups []SecurityGroup
	ENIs   []NetworkInterface
	apps   []app
}

// SecurityGroup is one group as `aws ec2 describe-security-groups` prints it.
type SecurityGroup struct {
	GroupID             string       `json:"GroupId"`
	GroupName           string       `json:"GroupName"`
	Description         string       `json:"Description"`
	VpcID               string       `json:"VpcId"`
	OwnerID             string       `json:"OwnerId"`
	IPPermissions       []Permission `json:"IpPermissions"`
	IPPermissionsEgress []Permission `json:"IpPermissionsEgress"`
}

// Permission is an IpPermission of the EC2 API.
type Permission struct {
	IPProtocol       string      `json:"IpProtocol"`
	FromPort         *int32      `json:"FromPort,omitempty"`
	ToPort           *int32      `json:"ToPort,omitempty"`
	IPRanges         []IPRange   `json:"IpRanges"`
	IPv6Ranges       []IPv6Range `json:"Ipv6Ranges"`
	PrefixListIDs    []struct{}  `json:"PrefixListIds"`
	UserIDGroupPairs []GroupPair `json:"UserIdGroupPairs"`
}

// IPRange is an IPv4 source.
type IPRange struct {
	CidrIP      string `json:"CidrIp"`
	Description string `json:"Description,omitempty"`
}

// IPv6Range is an IPv6 source.
type IPv6Range struct {
	CidrIPv6 string `json:"CidrIpv6"`
}

// GroupPair references a security group.
type GroupPair struct {
	GroupID string `json:"GroupId"`
	UserID  string `json:"UserId"`
}

// NetworkInterface is one ENI as `aws ec2 describe-network-interfaces` prints it.
type NetworkInterface struct {
	NetworkInterfaceID string      `json:"NetworkInterfaceId"`
	OwnerID            string      `json:"OwnerId"`
	VpcID              string      `json:"VpcId"`
	SubnetID           string      `json:"SubnetId"`
	InterfaceType      string      `json:"InterfaceType"`
	Status             string      `json:"Status"`
	Groups             []GroupRef  `json:"Groups"`
	PrivateIPAddress   string      `json:"PrivateIpAddress"`
	PrivateIPAddresses []PrivateIP `json:"PrivateIpAddresses"`
	IPv6Addresses      []IPv6Addr  `json:"Ipv6Addresses"`
}

// IPv6Addr is an interface IPv6 address.
type IPv6Addr struct {
	IPv6Address string `json:"Ipv6Address"`
}

// GroupRef names a group attached to an interface.
type GroupRef struct {
	GroupID   string `json:"GroupId"`
	GroupName string `json:"GroupName"`
}

// PrivateIP is an interface address.
type PrivateIP struct {
	PrivateIPAddress string `json:"PrivateIpAddress"`
	Primary          bool   `json:"Primary"`
}

// tier is one tier of an app: its group and its interfaces' addresses.
type tier struct {
	group string
	enis  []string
	addrs []netip.Addr
	v6    []netip.Addr
}

type app struct {
	web, app, db tier
	admins       []netip.Addr
	monitors     []netip.Addr // inside 10.<n>.250.0/28
	internet     []netip.Addr
	internet6    []netip.Addr
	apis         []netip.Addr // outbound destinations of the web tier
	partners     []netip.Addr // the few callers of the app tier's wide port range
}

func port(p int32) *int32 { return &p }

func cidrs(cs ...string) []IPRange {
	out := make([]IPRange, len(cs))
	for i, c := range cs {
		out[i] = IPRange{CidrIP: c}
	}
	return out
}

// NewAccount generates an account.
func NewAccount(cfg Config) *Account {
	if cfg.Apps <= 0 {
		cfg.Apps = 1
	}
	if cfg.ENIsPerTier <= 0 {
		cfg.ENIsPerTier = 1
	}
	if cfg.InternetClients <= 0 {
		cfg.InternetClients = 1
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "123456789012"
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	a := &Account{cfg: cfg}
	vpc := "vpc-0c1a55e5"
	for n := range cfg.Apps {
		id := func(kind string) string { return fmt.Sprintf("sg-%s%04x%08x", kind, n, cfg.Seed&0xffffffff) }
		ap := app{
			web: tier{group: id("0eb")},
			app: tier{group: id("0a9")},
			db:  tier{group: id("0db")},
		}
		a.Groups = append(a.Groups,
			SecurityGroup{GroupID: ap.web.group, GroupName: fmt.Sprintf("web-%d", n), Description: "public web tier", VpcID: vpc, OwnerID: cfg.AccountID,
				IPPermissions: []Permission{
					{IPProtocol: "tcp", FromPort: port(443), ToPort: port(443), IPRanges: cidrs("0.0.0.0/0"), IPv6Ranges: []IPv6Range{{CidrIPv6: "::/0"}}},
					{IPProtocol: "tcp", FromPort: port(80), ToPort: port(80), IPRanges: cidrs("0.0.0.0/0")},
					{IPProtocol: "tcp", FromPort: port(22), ToPort: port(22), IPRanges: cidrs("0.0.0.0/0")},
				},
				IPPermissionsEgress: []Permission{{IPProtocol: "-1", IPRanges: cidrs("0.0.0.0/0")}},
			},
			SecurityGroup{GroupID: ap.app.group, GroupName: fmt.Sprintf("app-%d", n), Description: "application tier", VpcID: vpc, OwnerID: cfg.AccountID,
				IPPermissions: []Permission{
					{IPProtocol: "tcp", FromPort: port(8080), ToPort: port(8080), UserIDGroupPairs: []GroupPair{{GroupID: ap.web.group, UserID: cfg.AccountID}}},
					{IPProtocol: "tcp", FromPort: port(8000), ToPort: port(8999), IPRanges: cidrs("10.0.0.0/8")},
					{IPProtocol: "-1", IPRanges: cidrs("10.0.0.0/8")},
				},
				IPPermissionsEgress: []Permission{{IPProtocol: "-1", IPRanges: cidrs("0.0.0.0/0")}},
			},
			SecurityGroup{GroupID: ap.db.group, GroupName: fmt.Sprintf("db-%d", n), Description: "database tier", VpcID: vpc, OwnerID: cfg.AccountID,
				IPPermissions: []Permission{
					{IPProtocol: "tcp", FromPort: port(5432), ToPort: port(5432), UserIDGroupPairs: []GroupPair{{GroupID: ap.app.group, UserID: cfg.AccountID}}},
					{IPProtocol: "tcp", FromPort: port(5432), ToPort: port(5432), IPRanges: cidrs(fmt.Sprintf("10.%d.0.0/16", n%250))},
					{IPProtocol: "tcp", FromPort: port(3306), ToPort: port(3306), IPRanges: cidrs("10.0.0.0/8")},
				},
				IPPermissionsEgress: []Permission{{IPProtocol: "-1", IPRanges: cidrs("0.0.0.0/0")}},
			},
		)
		for ti, t := range []*tier{&ap.web, &ap.app, &ap.db} {
			name := []string{"web", "app", "db"}[ti]
			for k := range cfg.ENIsPerTier {
				eni := fmt.Sprintf("eni-%02x%04x%04x%07x", ti, n, k, cfg.Seed&0xfffffff)
				addr := netip.AddrFrom4([4]byte{10, byte(n % 250), byte(ti + 1), byte(10 + k%240)})
				t.enis = append(t.enis, eni)
				t.addrs = append(t.addrs, addr)
				var v6 []IPv6Addr
				if ti == 0 {
					a6 := netip.AddrFrom16([16]byte{0x26, 0x00, 0x1f, 0x18, 0, byte(n), 0, 1, 14: byte(k >> 8), 15: byte(k)})
					t.v6 = append(t.v6, a6)
					v6 = []IPv6Addr{{IPv6Address: a6.String()}}
				}
				a.ENIs = append(a.ENIs, NetworkInterface{
					NetworkInterfaceID: eni, OwnerID: cfg.AccountID, VpcID: vpc,
					SubnetID: fmt.Sprintf("subnet-%s%04x", name, n), InterfaceType: "interface", Status: "in-use",
					Groups:           []GroupRef{{GroupID: t.group, GroupName: fmt.Sprintf("%s-%d", name, n)}},
					PrivateIPAddress: addr.String(), PrivateIPAddresses: []PrivateIP{{PrivateIPAddress: addr.String(), Primary: true}},
					IPv6Addresses: v6,
				})
			}
		}
		for range 2 {
			ap.admins = append(ap.admins, publicAddr(r))
		}
		for k := range 3 {
			ap.monitors = append(ap.monitors, netip.AddrFrom4([4]byte{10, byte(n % 250), 250, byte(1 + k)}))
		}
		for range cfg.InternetClients {
			ap.internet = append(ap.internet, publicAddr(r))
		}
		for range max(cfg.InternetClients/10, 1) {
			ap.internet6 = append(ap.internet6, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.Uint32()), byte(r.Uint32()), 8: byte(r.Uint32()), 15: byte(r.Uint32())}))
		}
		for range 4 {
			ap.apis = append(ap.apis, publicAddr(r))
		}
		for k := range 2 {
			ap.partners = append(ap.partners, netip.AddrFrom4([4]byte{10, byte(n % 250), 77, byte(5 + k)}))
		}
		a.apps = append(a.apps, ap)
	}
	return a
}

// publicAddr draws a unicast address outside private and reserved ranges.
func publicAddr(r *rand.Rand) netip.Addr {
	for {
		v := r.Uint32()
		b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		switch {
		case b[0] == 0, b[0] == 10, b[0] == 127, b[0] >= 224,
			b[0] == 172 && b[1]&0xf0 == 16, b[0] == 192 && b[1] == 168,
			b[0] == 100 && b[1]&0xc0 == 64, b[0] == 169 && b[1] == 254:
			continue
		}
		return netip.AddrFrom4(b)
	}
}

// WriteSecurityGroups writes the describe-security-groups JSON.
func (a *Account) WriteSecurityGroups(w io.Writer) error {
	return writeJSON(w, map[string]any{"SecurityGroups": a.Groups})
}

// WriteNetworkInterfaces writes the describe-network-interfaces JSON.
func (a *Account) WriteNetworkInterfaces(w io.Writer) error {
	return writeJSON(w, map[string]any{"NetworkInterfaces": a.ENIs})
}

// FlowLogs returns the account's flow-log configuration, as
// describe-flow-logs prints it: one flow log of type ALL per subnet, to
// CloudWatch Logs in the default format, created at created.
func (a *Account) FlowLogs(created time.Time) []map[string]any {
	var out []map[string]any
	seen := map[string]bool{}
	for _, e := range a.ENIs {
		if seen[e.SubnetID] {
			continue
		}
		seen[e.SubnetID] = true
		out = append(out, map[string]any{
			"FlowLogId": fmt.Sprintf("fl-%017x", len(out)+1), "ResourceId": e.SubnetID, "TrafficType": "ALL",
			"CreationTime": created.UTC().Format(time.RFC3339), "LogDestinationType": "cloud-watch-logs",
			"LogGroupName": "/vpc/flow-logs", "DeliverLogsStatus": "SUCCESS", "FlowLogStatus": "ACTIVE", "MaxAggregationInterval": 60,
			"LogFormat": "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
		})
	}
	return out
}

// WriteFlowLogs writes the describe-flow-logs JSON of FlowLogs(created).
func (a *Account) WriteFlowLogs(w io.Writer, created time.Time) error {
	return writeJSON(w, map[string]any{"FlowLogs": a.FlowLogs(created)})
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("simulate: write json: %w", err)
	}
	return nil
}

// Inventory loads the account through the same AWS CLI JSON loaders that
// `cinch analyze` uses on real exports.
func (a *Account) Inventory() (*inventory.Inventory, error) {
	inv := inventory.New()
	var sg, eni bytes.Buffer
	if err := a.WriteSecurityGroups(&sg); err != nil {
		return nil, err
	}
	if err := a.WriteNetworkInterfaces(&eni); err != nil {
		return nil, err
	}
	if err := awsjson.LoadSecurityGroups(inv, &sg); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	if err := awsjson.LoadNetworkInterfaces(inv, &eni); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	return inv, nil
}

// InventoryWithFlowLogs is Inventory with the account's flow-log
// configuration (FlowLogs(created)) loaded as `--flow-logs` loads it.
func (a *Account) InventoryWithFlowLogs(created time.Time) (*inventory.Inventory, error) {
	inv, err := a.Inventory()
	if err != nil {
		return nil, err
	}
	var fl bytes.Buffer
	if err := a.WriteFlowLogs(&fl, created); err != nil {
		return nil, err
	}
	if _, err := awsjson.LoadFlowLogs(inv, &fl); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	return inv, nil
}
