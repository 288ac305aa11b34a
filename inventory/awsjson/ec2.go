package awsjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cinch-sg/cinch/inventory"
)

// The JSON shapes below serve both the EC2 API's PascalCase and AWS Config's
// camelCase: encoding/json matches keys case-insensitively.

type jGroup struct {
	GroupID             string  `json:"GroupId"`
	GroupName           string  `json:"GroupName"`
	Description         string  `json:"Description"`
	VpcID               string  `json:"VpcId"`
	OwnerID             string  `json:"OwnerId"`
	IPPermissions       []jPerm `json:"IpPermissions"`
	IPPermissionsEgress []jPerm `json:"IpPermissionsEgress"`
}

type jPerm struct {
	IPProtocol flexString `json:"IpProtocol"`
	FromPort   jPort      `json:"FromPort"`
	ToPort     jPort      `json:"ToPort"`
	IPRanges   []jRange   `json:"IpRanges"`   // EC2: objects; Config: strings or objects
	IPv4Ranges []jRange   `json:"Ipv4Ranges"` // Config
	IPv6Ranges []struct {
		CidrIpv6    string `json:"CidrIpv6"`
		Description string `json:"Description"`
	} `json:"Ipv6Ranges"`
	PrefixListIDs []struct {
		PrefixListID string `json:"PrefixListId"`
		Description  string `json:"Description"`
	} `json:"PrefixListIds"`
	UserIDGroupPairs []struct {
		GroupID     string `json:"GroupId"`
		UserID      string `json:"UserId"`
		Description string `json:"Description"`
	} `json:"UserIdGroupPairs"`
}

// jRange is an IpRanges element: {"CidrIp", "Description"} or a bare string.
type jRange struct {
	CidrIP      string `json:"CidrIp"`
	Description string `json:"Description"`
}

func (r *jRange) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &r.CidrIP)
	}
	type plain jRange
	return json.Unmarshal(b, (*plain)(r))
}

// flexString accepts a JSON string or number (IpProtocol 6 as well as "6").
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expected a string or number, got %s", short(b))
	}
	*s = flexString(n.String())
	return nil
}

// jPort is a FromPort/ToPort: absent or null means -1; Config writes 22.0.
type jPort struct {
	set bool
	v   int32
}

func (p *jPort) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return fmt.Errorf("port %s is not a number", short(b))
		}
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return fmt.Errorf("port %q is not a number", s)
		}
	}
	if f != math.Trunc(f) || f < -1 || f > 65535 {
		return fmt.Errorf("port %s out of range", short(b))
	}
	p.set, p.v = true, int32(f)
	return nil
}

func (p jPort) value() int32 {
	if !p.set {
		return -1
	}
	return p.v
}

func short(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func loadGroups(inv *inventory.Inventory, d *doc, st *Stats, where string) error {
	items, err := d.list("SecurityGroups")
	if err != nil {
		return fmt.Errorf("describe-security-groups: %w", err)
	}
	// A group listed twice keeps the rules of both listings (the later one
	// would otherwise replace the earlier), with a warning.
	var (
		groups []inventory.Group
		index  = map[string]int{}
		dups   []string
		extra  int
	)
	for i, raw := range items {
		var jg jGroup
		if err := json.Unmarshal(raw, &jg); err != nil {
			return fmt.Errorf("describe-security-groups: SecurityGroups[%d]: %w", i, err)
		}
		g, err := jg.group()
		if err != nil {
			return fmt.Errorf("describe-security-groups: SecurityGroups[%d]: %w", i, err)
		}
		if j, ok := index[g.ID]; ok {
			var n int
			groups[j], n = unionRules(g, groups[j].Rules)
			extra += n
			dups = append(dups, fmt.Sprintf("%s (SecurityGroups[%d])", g.ID, i))
			continue
		}
		index[g.ID] = len(groups)
		groups = append(groups, g)
	}
	for _, g := range groups {
		inv.AddGroup(g)
		st.Groups++
		st.Rules += len(g.Rules)
	}
	if len(dups) > 0 {
		inv.AddWarning(fmt.Errorf("%sdescribe-security-groups: %s listed twice: %s: the rules of both listings are kept (%d only in the earlier one)",
			where, countNoun(len(dups), "group is", "groups are"), listIDs(dups), extra))
	}
	return nil
}

// group converts a group (either dialect) into one version valid since ever.
func (jg *jGroup) group() (inventory.Group, error) {
	if jg.GroupID == "" {
		return inventory.Group{}, fmt.Errorf("security group without GroupId")
	}
	g := inventory.Group{
		ID: jg.GroupID, Name: jg.GroupName, Description: jg.Description,
		VPCID: jg.VpcID, OwnerID: jg.OwnerID,
	}
	for _, dir := range []struct {
		perms  []jPerm
		egress bool
	}{{jg.IPPermissions, false}, {jg.IPPermissionsEgress, true}} {
		for j, p := range dir.perms {
			rs, err := p.rules(jg.GroupID, dir.egress)
			if err != nil {
				name := "IpPermissions"
				if dir.egress {
					name = "IpPermissionsEgress"
				}
				return inventory.Group{}, fmt.Errorf("group %s: %s[%d]: %w", jg.GroupID, name, j, err)
			}
			g.Rules = append(g.Rules, rs...)
		}
	}
	// Config lists IPv4 ranges twice (ipv4Ranges and legacy ipRanges): keep
	// each rule once, with the description of its first mention.
	seen := map[string]int{}
	out := g.Rules[:0]
	for _, r := range g.Rules {
		r = r.Normalize()
		k := r.Key()
		if i, ok := seen[k]; ok {
			if out[i].Description == "" {
				out[i].Description = r.Description
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, r)
	}
	g.Rules = out
	return g, nil
}

// rules explodes one IpPermission into one rule per peer.
func (p *jPerm) rules(groupID string, egress bool) ([]inventory.Rule, error) {
	proto, err := inventory.ParseProtocol(string(p.IPProtocol))
	if err != nil {
		return nil, err
	}
	base := inventory.Rule{
		GroupID: groupID, Egress: egress, Protocol: proto,
		FromPort: p.FromPort.value(), ToPort: p.ToPort.value(),
	}
	if err := base.CheckPorts(); err != nil {
		return nil, err
	}
	var out []inventory.Rule
	addCIDR := func(s, desc string) error {
		src, err := inventory.ParseCIDRSource(s)
		if err != nil {
			return err
		}
		r := base
		r.Source, r.Description = src, desc
		out = append(out, r)
		return nil
	}
	for _, rg := range append(append([]jRange(nil), p.IPv4Ranges...), p.IPRanges...) {
		if err := addCIDR(rg.CidrIP, rg.Description); err != nil {
			return nil, err
		}
	}
	for _, rg := range p.IPv6Ranges {
		if err := addCIDR(rg.CidrIpv6, rg.Description); err != nil {
			return nil, err
		}
	}
	for _, pl := range p.PrefixListIDs {
		if pl.PrefixListID == "" {
			return nil, fmt.Errorf("prefix list entry without PrefixListId")
		}
		r := base
		r.Source = inventory.Source{Kind: inventory.SourcePrefixList, ID: pl.PrefixListID}
		r.Description = pl.Description
		out = append(out, r)
	}
	for _, u := range p.UserIDGroupPairs {
		if u.GroupID == "" {
			return nil, fmt.Errorf("group pair without GroupId")
		}
		r := base
		r.Source = inventory.Source{Kind: inventory.SourceGroup, ID: u.GroupID, UserID: u.UserID}
		r.Description = u.Description
		out = append(out, r)
	}
	return out, nil
}

type jRule struct {
	SecurityGroupRuleID string     `json:"SecurityGroupRuleId"`
	GroupID             string     `json:"GroupId"`
	GroupOwnerID        string     `json:"GroupOwnerId"`
	IsEgress            bool       `json:"IsEgress"`
	IPProtocol          flexString `json:"IpProtocol"`
	FromPort            jPort      `json:"FromPort"`
	ToPort              jPort      `json:"ToPort"`
	CidrIpv4            string     `json:"CidrIpv4"`
	CidrIpv6            string     `json:"CidrIpv6"`
	PrefixListID        string     `json:"PrefixListId"`
	ReferencedGroupInfo *struct {
		GroupID string `json:"GroupId"`
		UserID  string `json:"UserId"`
	} `json:"ReferencedGroupInfo"`
	Description string `json:"Description"`
}

func loadRules(inv *inventory.Inventory, d *doc, st *Stats) error {
	items, err := d.list("SecurityGroupRules")
	if err != nil {
		return fmt.Errorf("describe-security-group-rules: %w", err)
	}
	sets := map[string]*inventory.Group{}
	var order []string
	for i, raw := range items {
		var jr jRule
		if err := json.Unmarshal(raw, &jr); err != nil {
			return fmt.Errorf("describe-security-group-rules: SecurityGroupRules[%d]: %w", i, err)
		}
		r, err := jr.rule()
		if err != nil {
			return fmt.Errorf("describe-security-group-rules: SecurityGroupRules[%d] (%s): %w", i, jr.SecurityGroupRuleID, err)
		}
		g := sets[r.GroupID]
		if g == nil {
			g = &inventory.Group{ID: r.GroupID}
			sets[r.GroupID] = g
			order = append(order, r.GroupID)
		}
		if jr.GroupOwnerID != "" {
			g.OwnerID = jr.GroupOwnerID
		}
		g.Rules = append(g.Rules, r)
	}
	for _, id := range order {
		inv.AddRuleSet(*sets[id])
		st.Rules += len(sets[id].Rules)
	}
	return nil
}

func (jr *jRule) rule() (inventory.Rule, error) {
	if jr.GroupID == "" {
		return inventory.Rule{}, fmt.Errorf("rule without GroupId")
	}
	proto, err := inventory.ParseProtocol(string(jr.IPProtocol))
	if err != nil {
		return inventory.Rule{}, err
	}
	r := inventory.Rule{
		ID: jr.SecurityGroupRuleID, GroupID: jr.GroupID, Egress: jr.IsEgress,
		Protocol: proto, FromPort: jr.FromPort.value(), ToPort: jr.ToPort.value(),
		Description: jr.Description,
	}
	if err := r.CheckPorts(); err != nil {
		return r, err
	}
	n := 0
	if jr.CidrIpv4 != "" {
		n++
		if r.Source, err = inventory.ParseCIDRSource(jr.CidrIpv4); err != nil {
			return r, err
		}
	}
	if jr.CidrIpv6 != "" {
		n++
		if r.Source, err = inventory.ParseCIDRSource(jr.CidrIpv6); err != nil {
			return r, err
		}
	}
	if jr.PrefixListID != "" {
		n++
		r.Source = inventory.Source{Kind: inventory.SourcePrefixList, ID: jr.PrefixListID}
	}
	if g := jr.ReferencedGroupInfo; g != nil && g.GroupID != "" {
		n++
		r.Source = inventory.Source{Kind: inventory.SourceGroup, ID: g.GroupID, UserID: g.UserID}
	}
	if n != 1 {
		return r, fmt.Errorf("rule has %d peers (CidrIpv4, CidrIpv6, PrefixListId, ReferencedGroupInfo), want exactly 1", n)
	}
	return r, nil
}

type jAssoc struct {
	PublicIP string `json:"PublicIp"`
}

type jENI struct {
	NetworkInterfaceID string `json:"NetworkInterfaceId"`
	OwnerID            string `json:"OwnerId"`
	VpcID              string `json:"VpcId"`
	SubnetID           string `json:"SubnetId"`
	AvailabilityZone   string `json:"AvailabilityZone"`
	InterfaceType      string `json:"InterfaceType"`
	Status             string `json:"Status"`
	Description        string `json:"Description"`
	RequesterManaged   bool   `json:"RequesterManaged"`
	Attachment         *struct {
		InstanceID string `json:"InstanceId"`
	} `json:"Attachment"`
	Groups []struct {
		GroupID string `json:"GroupId"`
	} `json:"Groups"`
	PrivateIPAddress   string `json:"PrivateIpAddress"`
	PrivateIPAddresses []struct {
		PrivateIPAddress string  `json:"PrivateIpAddress"`
		Primary          bool    `json:"Primary"`
		Association      *jAssoc `json:"Association"`
	} `json:"PrivateIpAddresses"`
	IPv6Addresses []jIPv6 `json:"Ipv6Addresses"`
	Association   *jAssoc `json:"Association"`
	// Delegated prefixes (EKS prefix mode): [{"Ipv4Prefix": "10.0.1.16/28"}],
	// [{"Ipv6Prefix": "2600:1f14::/80"}]; AWS Config spells them in camelCase.
	IPv4Prefixes []struct {
		IPv4Prefix string `json:"Ipv4Prefix"`
	} `json:"Ipv4Prefixes"`
	IPv6Prefixes []struct {
		IPv6Prefix string `json:"Ipv6Prefix"`
	} `json:"Ipv6Prefixes"`
}

// jIPv6 is an Ipv6Addresses element: {"Ipv6Address"} or a bare string.
type jIPv6 struct {
	IPv6Address string `json:"Ipv6Address"`
}

func (a *jIPv6) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &a.IPv6Address)
	}
	type plain jIPv6
	return json.Unmarshal(b, (*plain)(a))
}

// eni converts an interface (either dialect); addresses that do not parse are
// skipped with a warning.
func (j *jENI) eni(inv *inventory.Inventory, where string) inventory.ENI {
	e := inventory.ENI{
		ID: j.NetworkInterfaceID, AccountID: j.OwnerID, Region: regionOfAZ(j.AvailabilityZone),
		VPCID: j.VpcID, SubnetID: j.SubnetID, InterfaceType: j.InterfaceType,
		Status: j.Status, Description: j.Description, RequesterManaged: j.RequesterManaged,
	}
	if j.Attachment != nil {
		e.InstanceID = j.Attachment.InstanceID
	}
	for _, g := range j.Groups {
		e.Groups = append(e.Groups, g.GroupID)
	}
	parse := func(s string) (netip.Addr, bool) {
		s = strings.TrimSpace(s)
		if s == "" {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			inv.AddWarning(fmt.Errorf("%s: ENI %s: ignoring address %q: %w", where, e.ID, s, err))
			return netip.Addr{}, false
		}
		return a, true
	}
	var priv, pub []netip.Addr
	primary := j.PrivateIPAddress
	if primary == "" {
		for _, p := range j.PrivateIPAddresses {
			if p.Primary {
				primary = p.PrivateIPAddress
				break
			}
		}
	}
	if a, ok := parse(primary); ok {
		priv = append(priv, a)
	}
	for _, p := range j.PrivateIPAddresses {
		if p.PrivateIPAddress != primary {
			if a, ok := parse(p.PrivateIPAddress); ok {
				priv = append(priv, a)
			}
		}
	}
	for _, v6 := range j.IPv6Addresses {
		if a, ok := parse(v6.IPv6Address); ok {
			priv = append(priv, a)
		}
	}
	if j.Association != nil {
		if a, ok := parse(j.Association.PublicIP); ok {
			pub = append(pub, a)
		}
	}
	for _, p := range j.PrivateIPAddresses {
		if p.Association != nil {
			if a, ok := parse(p.Association.PublicIP); ok {
				pub = append(pub, a)
			}
		}
	}
	e.Addrs = append(priv, pub...)
	e.NumPublic = len(pub)
	addPrefix := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			inv.AddWarning(fmt.Errorf("%s: ENI %s: ignoring delegated prefix %q: %w", where, e.ID, s, err))
			return
		}
		e.Prefixes = append(e.Prefixes, p.Masked())
	}
	for _, p := range j.IPv4Prefixes {
		addPrefix(p.IPv4Prefix)
	}
	for _, p := range j.IPv6Prefixes {
		addPrefix(p.IPv6Prefix)
	}
	return e
}

// regionOfAZ derives "us-east-1" from "us-east-1d"; other names give "".
func regionOfAZ(az string) string {
	n := len(az)
	if n < 3 || az[n-1] < 'a' || az[n-1] > 'z' || az[n-2] < '0' || az[n-2] > '9' || strings.Count(az, "-") != 2 {
		return ""
	}
	return az[:n-1]
}

func loadENIs(inv *inventory.Inventory, d *doc, st *Stats) error {
	items, err := d.list("NetworkInterfaces")
	if err != nil {
		return fmt.Errorf("describe-network-interfaces: %w", err)
	}
	for i, raw := range items {
		var j jENI
		if err := json.Unmarshal(raw, &j); err != nil {
			return fmt.Errorf("describe-network-interfaces: NetworkInterfaces[%d]: %w", i, err)
		}
		if j.NetworkInterfaceID == "" {
			return fmt.Errorf("describe-network-interfaces: NetworkInterfaces[%d]: no NetworkInterfaceId", i)
		}
		inv.AddENI(j.eni(inv, "describe-network-interfaces"))
		st.ENIs++
	}
	return nil
}

type jInstance struct {
	InstanceID        string `json:"InstanceId"`
	NetworkInterfaces []jENI `json:"NetworkInterfaces"`
}

func loadInstances(inv *inventory.Inventory, d *doc, st *Stats) error {
	var instances []jInstance
	if d.obj != nil || classifyArrayIsReservations(d.arr) {
		res, err := d.list("Reservations")
		if err != nil {
			return fmt.Errorf("describe-instances: %w", err)
		}
		for i, raw := range res {
			var r struct{ Instances []jInstance }
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("describe-instances: Reservations[%d]: %w", i, err)
			}
			instances = append(instances, r.Instances...)
		}
	} else {
		for i, raw := range d.arr {
			var in jInstance
			if err := json.Unmarshal(raw, &in); err != nil {
				return fmt.Errorf("describe-instances: [%d]: %w", i, err)
			}
			instances = append(instances, in)
		}
	}
	for _, in := range instances {
		for _, j := range in.NetworkInterfaces {
			if j.NetworkInterfaceID == "" {
				continue
			}
			e := j.eni(inv, "describe-instances")
			e.InstanceID = in.InstanceID
			inv.AddENIVersion(e, inventory.FromInstance)
			st.ENIs++
		}
	}
	return nil
}

func classifyArrayIsReservations(arr []json.RawMessage) bool {
	for _, el := range arr {
		var obj map[string]json.RawMessage
		if json.Unmarshal(el, &obj) == nil {
			_, ok := obj["Instances"]
			return ok
		}
	}
	return false
}

func loadPrefixLists(inv *inventory.Inventory, d *doc, st *Stats) error {
	items, err := d.list("PrefixLists")
	if err != nil {
		return fmt.Errorf("describe-managed-prefix-lists: %w", err)
	}
	for i, raw := range items {
		var j struct {
			PrefixListID   string   `json:"PrefixListId"`
			PrefixListName string   `json:"PrefixListName"`
			AddressFamily  string   `json:"AddressFamily"`
			OwnerID        string   `json:"OwnerId"`
			MaxEntries     int      `json:"MaxEntries"`
			Cidrs          []string `json:"Cidrs"` // describe-prefix-lists
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return fmt.Errorf("describe-managed-prefix-lists: PrefixLists[%d]: %w", i, err)
		}
		if j.PrefixListID == "" {
			return fmt.Errorf("describe-managed-prefix-lists: PrefixLists[%d]: no PrefixListId", i)
		}
		p := inventory.PrefixList{
			ID: j.PrefixListID, Name: j.PrefixListName, AddressFamily: j.AddressFamily,
			OwnerID: j.OwnerID, MaxEntries: j.MaxEntries,
		}
		for _, c := range j.Cidrs {
			pfx, err := netip.ParsePrefix(strings.TrimSpace(c))
			if err != nil {
				return fmt.Errorf("describe-prefix-lists: %s: bad CIDR %q: %w", j.PrefixListID, c, err)
			}
			p.Entries = append(p.Entries, pfx)
		}
		inv.AddPrefixList(p)
		st.PrefixLists++
	}
	return nil
}

func loadEntries(inv *inventory.Inventory, d *doc, id string, st *Stats) error {
	items, err := d.list("Entries")
	if err != nil {
		return fmt.Errorf("get-managed-prefix-list-entries: %w", err)
	}
	p := inventory.PrefixList{ID: id}
	for i, raw := range items {
		var j struct {
			Cidr string `json:"Cidr"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return fmt.Errorf("get-managed-prefix-list-entries: Entries[%d]: %w", i, err)
		}
		pfx, err := netip.ParsePrefix(strings.TrimSpace(j.Cidr))
		if err != nil {
			return fmt.Errorf("get-managed-prefix-list-entries: Entries[%d]: bad CIDR %q: %w", i, j.Cidr, err)
		}
		p.Entries = append(p.Entries, pfx)
	}
	inv.AddPrefixList(p)
	st.PrefixLists++
	return nil
}
