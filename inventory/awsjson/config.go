package awsjson

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cinch-sg/cinch/inventory"
)

// Config resource types the inventory uses.
const (
	typeENI      = "AWS::EC2::NetworkInterface"
	typeGroup    = "AWS::EC2::SecurityGroup"
	typeInstance = "AWS::EC2::Instance"
)

// ciRaw is a configuration item in either dialect (file/notification or API;
// encoding/json's case-insensitive matching covers configurationStateID).
type ciRaw struct {
	CaptureTime   json.RawMessage `json:"configurationItemCaptureTime"`
	Status        string          `json:"configurationItemStatus"`
	StateID       json.RawMessage `json:"configurationStateId"`
	ResourceType  string          `json:"resourceType"`
	ResourceID    string          `json:"resourceId"`
	AwsAccountID  string          `json:"awsAccountId"`
	AccountID     string          `json:"accountId"`
	Region        string          `json:"awsRegion"`
	Configuration json.RawMessage `json:"configuration"`
}

type configItem struct {
	typ, id, status, account, region string
	t                                time.Time
	state                            stateID
	conf                             []byte // the configuration object, nil if absent
	prev                             []byte // previous configuration from a notification's diff
	idx                              int
}

// stateID orders items of one resource captured at the same time; it is a
// number in files and a (numeric) string in the API, a UUID in old samples.
type stateID struct {
	num   float64
	isNum bool
	str   string
}

func (a stateID) compare(b stateID) int {
	if a.isNum && b.isNum {
		return cmp.Compare(a.num, b.num)
	}
	return cmp.Compare(a.str, b.str)
}

func parseStateID(raw json.RawMessage) stateID {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return stateID{}
	}
	s := string(raw)
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &s)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) {
		return stateID{num: f, isNum: true, str: s}
	}
	return stateID{str: s}
}

func loadConfig(inv *inventory.Inventory, d *doc, st *Stats) error {
	items, err := collectItems(d, st)
	if err != nil {
		return err
	}
	slices.SortStableFunc(items, func(a, b configItem) int {
		return cmp.Or(a.t.Compare(b.t), a.state.compare(b.state), cmp.Compare(a.idx, b.idx))
	})
	instENIs := map[string][]string{}
	for _, it := range items {
		st.Items++
		if err := applyItem(inv, &it, instENIs, st); err != nil {
			return fmt.Errorf("AWS Config item %s %s at %s: %w", it.typ, it.id, it.t.Format(time.RFC3339Nano), err)
		}
	}
	return nil
}

// collectItems finds the configuration items of any Config container.
func collectItems(d *doc, st *Stats) ([]configItem, error) {
	var out []configItem
	add := func(raw json.RawMessage, prev []byte, where string) error {
		it, err := parseItem(raw)
		if err != nil {
			return fmt.Errorf("AWS Config: %s: %w", where, err)
		}
		it.prev = prev
		it.idx = len(out)
		out = append(out, it)
		return nil
	}
	addAll := func(key string) error {
		arr, err := d.list(key)
		if err != nil {
			return fmt.Errorf("AWS Config: %w", err)
		}
		for i, raw := range arr {
			if err := add(raw, nil, fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if d.obj == nil {
		return out, addAll("")
	}
	o := d.obj
	switch {
	case o["configurationItems"] != nil:
		return out, addAll("configurationItems")
	case o["baseConfigurationItems"] != nil:
		return out, addAll("baseConfigurationItems")
	case o["Results"] != nil:
		var rs []string
		if err := json.Unmarshal(o["Results"], &rs); err != nil {
			return nil, fmt.Errorf("AWS Config: Results: %w", err)
		}
		for i, s := range rs {
			if err := add(json.RawMessage(s), nil, fmt.Sprintf("Results[%d]", i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case o["configurationItem"] != nil:
		prev, err := diffPrevious(o["configurationItemDiff"])
		if err != nil {
			return nil, err
		}
		raw := bytes.TrimSpace(o["configurationItem"])
		if len(raw) > 0 && raw[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(raw, &arr); err != nil {
				return nil, fmt.Errorf("AWS Config: configurationItem: %w", err)
			}
			for i, el := range arr {
				if err := add(el, prev, fmt.Sprintf("configurationItem[%d]", i)); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
		return out, add(raw, prev, "configurationItem")
	case o["configurationItemSummary"] != nil:
		st.skip("oversized notification (fetch the item through the API)")
		return nil, nil
	case o["resourceType"] != nil:
		return out, add(mustMarshal(o), nil, "item")
	case o["messageType"] != nil:
		st.skip(jsonString(o["messageType"]))
		return nil, nil
	}
	return nil, fmt.Errorf("%w: no configuration items found", ErrUnrecognized)
}

func mustMarshal(o map[string]json.RawMessage) json.RawMessage {
	b, _ := json.Marshal(o) // a map of raw JSON always marshals
	return b
}

// diffPrevious returns the previous configuration recorded in a
// notification's configurationItemDiff (the only copy of a deleted resource's
// last configuration), or nil.
func diffPrevious(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var d struct {
		ChangedProperties map[string]json.RawMessage `json:"changedProperties"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("AWS Config: configurationItemDiff: %w", err)
	}
	c, ok := d.ChangedProperties["Configuration"]
	if !ok {
		return nil, nil
	}
	var ch struct {
		PreviousValue json.RawMessage `json:"previousValue"`
	}
	if err := json.Unmarshal(c, &ch); err != nil {
		return nil, fmt.Errorf("AWS Config: configurationItemDiff.changedProperties.Configuration is not an object but %s", short(c))
	}
	prev, err := configObject(ch.PreviousValue)
	if err != nil {
		return nil, fmt.Errorf("AWS Config: configurationItemDiff.changedProperties.Configuration.previousValue: %w", err)
	}
	return prev, nil
}

func parseItem(raw json.RawMessage) (configItem, error) {
	var r ciRaw
	if err := json.Unmarshal(raw, &r); err != nil {
		return configItem{}, err
	}
	conf, err := configObject(r.Configuration)
	if err != nil {
		return configItem{}, fmt.Errorf("configuration: %w", err)
	}
	t, err := parseTime(r.CaptureTime)
	if err != nil {
		return configItem{}, fmt.Errorf("configurationItemCaptureTime: %w", err)
	}
	it := configItem{
		typ: r.ResourceType, id: r.ResourceID, status: r.Status,
		account: cmp.Or(r.AwsAccountID, r.AccountID), region: r.Region,
		t: t, state: parseStateID(r.StateID), conf: conf,
	}
	if it.typ == "" || it.id == "" {
		// SelectResourceConfig results carry only what the query selected.
		var ids struct {
			NetworkInterfaceID string          `json:"networkInterfaceId"`
			GroupID            string          `json:"groupId"`
			InstanceID         string          `json:"instanceId"`
			IPPermissions      json.RawMessage `json:"ipPermissions"`
			IPPermissionsE     json.RawMessage `json:"ipPermissionsEgress"`
		}
		if conf != nil {
			_ = json.Unmarshal(conf, &ids) // best effort; conversion reports errors
		}
		switch {
		case it.typ == "" && ids.NetworkInterfaceID != "":
			it.typ = typeENI
		case it.typ == "" && ids.GroupID != "" && (ids.IPPermissions != nil || ids.IPPermissionsE != nil):
			it.typ = typeGroup
		case it.typ == "" && ids.InstanceID != "":
			it.typ = typeInstance
		}
		if it.id == "" {
			switch {
			case strings.EqualFold(it.typ, typeENI):
				it.id = ids.NetworkInterfaceID
			case strings.EqualFold(it.typ, typeGroup):
				it.id = ids.GroupID
			case strings.EqualFold(it.typ, typeInstance):
				it.id = ids.InstanceID
			}
		}
	}
	return it, nil
}

// configObject returns the configuration object, given inline (files,
// notifications) or as a JSON string (API); nil when absent or null.
func configObject(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 || string(raw) == "null" {
			return nil, nil
		}
	}
	if raw[0] != '{' || !json.Valid(raw) {
		return nil, fmt.Errorf("not a JSON object: %s", short(raw))
	}
	return raw, nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// parseTime reads an ISO-8601 string, epoch seconds, or a placebo-recorded
// {"__class__": "datetime", "year": ...} object (taken as UTC).
func parseTime(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("unrecognized time %q", s)
	case '{':
		var p struct {
			Class                                          string `json:"__class__"`
			Year, Month, Day, Hour, Minute, Second, Micros int
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return time.Time{}, err
		}
		if err := json.Unmarshal(raw, &p); err != nil || p.Class != "datetime" {
			return time.Time{}, fmt.Errorf("unrecognized time %s", short(raw))
		}
		if us, ok := m["microsecond"]; ok {
			_ = json.Unmarshal(us, &p.Micros)
		}
		if p.Year < 1 || p.Month < 1 || p.Month > 12 || p.Day < 1 || p.Day > 31 {
			return time.Time{}, fmt.Errorf("unrecognized time %s", short(raw))
		}
		return time.Date(p.Year, time.Month(p.Month), p.Day, p.Hour, p.Minute, p.Second, p.Micros*1000, time.UTC), nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("unrecognized time %s", short(raw))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

func applyItem(inv *inventory.Inventory, it *configItem, instENIs map[string][]string, st *Stats) error {
	var typ string
	for _, known := range []string{typeENI, typeGroup, typeInstance} {
		if strings.EqualFold(it.typ, known) {
			typ = known
		}
	}
	if typ == "" {
		st.skip(cmp.Or(it.typ, "unknown resource type"))
		return nil
	}
	if it.id == "" {
		st.skip(typ + " without resourceId")
		return nil
	}
	switch it.status {
	case "ResourceDeleted", "ResourceDeletedNotRecorded":
		if it.t.IsZero() {
			st.skip("deletion without capture time")
			return nil
		}
		st.Deleted++
		return applyDeletion(inv, it, typ, instENIs, st)
	case "ResourceNotRecorded":
		st.skip("ResourceNotRecorded")
		return nil
	}
	if it.conf == nil {
		st.skip(typ + " without configuration")
		return nil
	}
	valid := inventory.Interval{From: it.t}
	switch typ {
	case typeENI:
		e, err := configENI(inv, it, it.conf)
		if err != nil {
			return err
		}
		e.Valid = valid
		inv.AddENI(e)
		st.ENIs++
	case typeGroup:
		g, err := configGroup(it, it.conf)
		if err != nil {
			return err
		}
		g.Valid = valid
		inv.AddGroup(g)
		st.Groups++
		st.Rules += len(g.Rules)
	case typeInstance:
		enis, err := configInstanceENIs(inv, it, it.conf)
		if err != nil {
			return err
		}
		var ids []string
		for _, e := range enis {
			e.Valid = valid
			inv.AddENIVersion(e, inventory.FromInstance)
			ids = append(ids, e.ID)
			st.ENIs++
		}
		for _, old := range instENIs[it.id] {
			if !slices.Contains(ids, old) && !it.t.IsZero() {
				inv.DeleteENI(old, it.t, inventory.FromInstance)
			}
		}
		instENIs[it.id] = ids
	}
	return nil
}

// applyDeletion ends the resource's version at the capture time and, when
// the notification kept the previous configuration, records it as the
// version before the deletion (used if nothing earlier is known).
func applyDeletion(inv *inventory.Inventory, it *configItem, typ string, instENIs map[string][]string, st *Stats) error {
	before := inventory.Interval{To: it.t}
	switch typ {
	case typeENI:
		inv.DeleteENI(it.id, it.t, inventory.Observed)
		if it.prev != nil {
			e, err := configENI(inv, it, it.prev)
			if err != nil {
				return fmt.Errorf("previous configuration: %w", err)
			}
			e.Valid = before
			inv.AddENIVersion(e, inventory.BeforeDeletion)
			st.ENIs++
		}
	case typeGroup:
		inv.DeleteGroup(it.id, it.t)
		if it.prev != nil {
			g, err := configGroup(it, it.prev)
			if err != nil {
				return fmt.Errorf("previous configuration: %w", err)
			}
			g.Valid = before
			inv.AddGroupVersion(g, inventory.BeforeDeletion)
			st.Groups++
			st.Rules += len(g.Rules)
		}
	case typeInstance:
		ids := instENIs[it.id]
		if it.prev != nil {
			enis, err := configInstanceENIs(inv, it, it.prev)
			if err != nil {
				return fmt.Errorf("previous configuration: %w", err)
			}
			for _, e := range enis {
				e.Valid = before
				inv.AddENIVersion(e, inventory.FromInstance|inventory.BeforeDeletion)
				st.ENIs++
				if !slices.Contains(ids, e.ID) {
					ids = append(ids, e.ID)
				}
			}
		}
		for _, id := range ids {
			inv.DeleteENI(id, it.t, inventory.FromInstance)
		}
		delete(instENIs, it.id)
	}
	return nil
}

func configENI(inv *inventory.Inventory, it *configItem, conf []byte) (inventory.ENI, error) {
	var j jENI
	if err := json.Unmarshal(conf, &j); err != nil {
		return inventory.ENI{}, fmt.Errorf("configuration: %w", err)
	}
	e := j.eni(inv, "AWS Config")
	e.ID = it.id // the resource id names the interface, also in deletions
	e.AccountID = cmp.Or(it.account, e.AccountID)
	e.Region = cmp.Or(it.region, e.Region)
	return e, nil
}

func configGroup(it *configItem, conf []byte) (inventory.Group, error) {
	var jg jGroup
	if err := json.Unmarshal(conf, &jg); err != nil {
		return inventory.Group{}, fmt.Errorf("configuration: %w", err)
	}
	jg.GroupID = it.id
	return jg.group()
}

func configInstanceENIs(inv *inventory.Inventory, it *configItem, conf []byte) ([]inventory.ENI, error) {
	var j jInstance
	if err := json.Unmarshal(conf, &j); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var out []inventory.ENI
	for _, n := range j.NetworkInterfaces {
		if n.NetworkInterfaceID == "" {
			return nil, errors.New("configuration: networkInterfaces element without networkInterfaceId")
		}
		e := n.eni(inv, "AWS Config")
		e.InstanceID = it.id
		e.AccountID = cmp.Or(it.account, e.AccountID)
		e.Region = cmp.Or(it.region, e.Region)
		out = append(out, e)
	}
	return out, nil
}
