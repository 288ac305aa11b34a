// Package awsjson loads inventory data from the JSON that AWS tools print: the
// AWS CLI's (or an SDK's) output of describe-security-groups,
// describe-security-group-rules, describe-network-interfaces,
// describe-instances, describe-managed-prefix-lists / describe-prefix-lists and
// get-managed-prefix-list-entries, and AWS Config data in both dialects
// (snapshot and history files, SNS/EventBridge notifications, Config rule
// events, GetResourceConfigHistory, BatchGetResourceConfig and
// SelectResourceConfig results).
//
// Input may be gzip-compressed (detected by its magic bytes), a bare array
// (as `--query SecurityGroups` prints), or a recorded response in the
// {"status_code": ..., "data": {...}} wrapper that placebo and similar tools
// write. LoadFile detects what a file holds; the Load* functions insist on one
// kind and say what they found instead. A failed load adds nothing.
package awsjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	gzip "github.com/klauspost/compress/gzip"

	"github.com/cinch-sg/cinch/inventory"
)

// Kind says what an input holds.
type Kind uint8

// The kinds of input LoadFile recognises.
const (
	KindUnknown            Kind = iota
	KindSecurityGroups          // describe-security-groups
	KindSecurityGroupRules      // describe-security-group-rules
	KindNetworkInterfaces       // describe-network-interfaces
	KindInstances               // describe-instances (ENIs of instances)
	KindPrefixLists             // describe-managed-prefix-lists or describe-prefix-lists
	KindPrefixListEntries       // get-managed-prefix-list-entries
	KindConfig                  // AWS Config items, in any container
)

var kindNames = [...]string{
	KindUnknown:            "unknown",
	KindSecurityGroups:     "describe-security-groups output",
	KindSecurityGroupRules: "describe-security-group-rules output",
	KindNetworkInterfaces:  "describe-network-interfaces output",
	KindInstances:          "describe-instances output",
	KindPrefixLists:        "describe-managed-prefix-lists output",
	KindPrefixListEntries:  "get-managed-prefix-list-entries output",
	KindConfig:             "AWS Config data",
}

var kindShapes = [...]string{
	KindSecurityGroups:     `{"SecurityGroups": [...]}`,
	KindSecurityGroupRules: `{"SecurityGroupRules": [...]}`,
	KindNetworkInterfaces:  `{"NetworkInterfaces": [...]}`,
	KindInstances:          `{"Reservations": [...]}`,
	KindPrefixLists:        `{"PrefixLists": [...]}`,
	KindPrefixListEntries:  `{"Entries": [...]}`,
	KindConfig:             `{"configurationItems": [...]}, a notification or query results`,
}

// String names the kind, e.g. "describe-security-groups output".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ErrUnrecognized is wrapped by errors for input that is valid JSON but not
// one of the shapes this package loads.
var ErrUnrecognized = errors.New("unrecognized inventory data")

// Stats says what one load read and added.
type Stats struct {
	Kind        Kind
	Groups      int            // group versions added
	Rules       int            // rules in them (or in a rule set)
	ENIs        int            // ENI versions added
	PrefixLists int            // prefix lists added or completed
	Items       int            // AWS Config items read
	Deleted     int            // AWS Config deletions applied
	Skipped     map[string]int // AWS Config items not used, by resource type or reason
}

func (s *Stats) skip(reason string) {
	if s.Skipped == nil {
		s.Skipped = map[string]int{}
	}
	s.Skipped[reason]++
}

// LoadFile loads the file at path into inv, detecting what it holds, and
// returns the kind. A get-managed-prefix-list-entries file must be named after
// its list (e.g. pl-0123abcd.json, pl-0123abcd.entries.json.gz).
func LoadFile(inv *inventory.Inventory, path string) (Kind, error) {
	st, err := LoadFileStats(inv, path)
	return st.Kind, err
}

// LoadFileStats is LoadFile returning what was read and added.
func LoadFileStats(inv *inventory.Inventory, path string) (Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, fmt.Errorf("inventory file: %w", err)
	}
	defer f.Close()
	plID := plIDRe.FindString(filepath.Base(path))
	st, err := loadNamed(inv, f, KindUnknown, plID, "inventory file "+path+": ")
	if err != nil {
		return st, fmt.Errorf("inventory file %s: %w", path, err)
	}
	return st, nil
}

var plIDRe = regexp.MustCompile(`pl-[0-9a-zA-Z]+`)

// Load loads r into inv, detecting what it holds, like LoadFile. Prefix-list
// entries are refused: use LoadPrefixListEntries.
func Load(inv *inventory.Inventory, r io.Reader) (Stats, error) {
	return load(inv, r, KindUnknown, "")
}

// LoadSecurityGroups loads describe-security-groups output.
func LoadSecurityGroups(inv *inventory.Inventory, r io.Reader) error {
	_, err := load(inv, r, KindSecurityGroups, "")
	return err
}

// LoadSecurityGroupRules loads describe-security-group-rules output. The rules
// give their ids to the same rules (by Key) of the groups' versions, and rules
// that no version has are added to the group's latest version (see
// inventory.Inventory.AddRuleSet); load order does not matter.
func LoadSecurityGroupRules(inv *inventory.Inventory, r io.Reader) error {
	_, err := load(inv, r, KindSecurityGroupRules, "")
	return err
}

// LoadNetworkInterfaces loads describe-network-interfaces output.
func LoadNetworkInterfaces(inv *inventory.Inventory, r io.Reader) error {
	_, err := load(inv, r, KindNetworkInterfaces, "")
	return err
}

// LoadInstances loads the ENIs of describe-instances output; they are used
// only for ENIs that no describe-network-interfaces or Config NetworkInterface
// data describes (inventory.FromInstance).
func LoadInstances(inv *inventory.Inventory, r io.Reader) error {
	_, err := load(inv, r, KindInstances, "")
	return err
}

// LoadPrefixLists loads describe-managed-prefix-lists output (names, max
// entries) or describe-prefix-lists output (AWS service lists with Cidrs).
func LoadPrefixLists(inv *inventory.Inventory, r io.Reader) error {
	_, err := load(inv, r, KindPrefixLists, "")
	return err
}

// LoadPrefixListEntries loads get-managed-prefix-list-entries output as the
// entries of prefix list id (the output itself does not name the list).
func LoadPrefixListEntries(inv *inventory.Inventory, r io.Reader, id string) error {
	if !strings.HasPrefix(id, "pl-") {
		return fmt.Errorf("prefix-list entries: %q is not a prefix-list id (pl-...)", id)
	}
	_, err := load(inv, r, KindPrefixListEntries, id)
	return err
}

// LoadConfig loads AWS Config items (see the package documentation for the
// containers it accepts). Items of AWS::EC2::NetworkInterface and
// AWS::EC2::SecurityGroup become versions valid from their capture time until
// the next item of the resource; ResourceDeleted ends the version; the ENIs of
// AWS::EC2::Instance items are used for ENIs that have no item of their own.
// Other resource types are counted in Stats.Skipped.
func LoadConfig(inv *inventory.Inventory, r io.Reader) (Stats, error) {
	return load(inv, r, KindConfig, "")
}

// MaxJSON bounds the JSON of one input, whitespace outside strings aside
// (runs of it are squeezed to one space while reading, so indentation and
// whitespace padding cost nothing). Parsing needs a few times this much
// memory at most; a bigger input is refused with an error that says so.
const MaxJSON = 512 << 20

func load(inv *inventory.Inventory, r io.Reader, want Kind, plID string) (Stats, error) {
	return loadNamed(inv, r, want, plID, "")
}

// loadNamed is load with warnings that start with where (naming the file).
func loadNamed(inv *inventory.Inventory, r io.Reader, want Kind, plID, where string) (Stats, error) {
	data, err := readInput(r)
	if err != nil {
		return Stats{}, err
	}
	d, err := decodeDoc(data)
	if err != nil {
		return Stats{}, err
	}
	if want != KindUnknown && d.kind != want {
		return Stats{Kind: d.kind}, fmt.Errorf("expected %s (%s), found %s", want, kindShapes[want], d.describe())
	}
	if d.kind == KindUnknown {
		return Stats{}, fmt.Errorf("%w: %s", ErrUnrecognized, d.describe())
	}
	// Parse into a scratch inventory so that a failed load adds nothing.
	tmp := inventory.New()
	st := Stats{Kind: d.kind}
	switch d.kind {
	case KindSecurityGroups:
		err = loadGroups(tmp, d, &st, where)
	case KindSecurityGroupRules:
		err = loadRules(tmp, d, &st)
	case KindNetworkInterfaces:
		err = loadENIs(tmp, d, &st)
	case KindInstances:
		err = loadInstances(tmp, d, &st)
	case KindPrefixLists:
		err = loadPrefixLists(tmp, d, &st)
	case KindPrefixListEntries:
		if plID == "" {
			return st, errors.New("get-managed-prefix-list-entries output does not name its prefix list: name the file after the list (pl-....json) or use LoadPrefixListEntries")
		}
		err = loadEntries(tmp, d, plID, &st)
	case KindConfig:
		err = loadConfig(tmp, d, &st)
	}
	if err != nil {
		return st, err
	}
	if d.kind == KindSecurityGroups {
		keepEarlierRules(inv, tmp, where)
	}
	inv.Merge(tmp)
	return st, nil
}

// keepEarlierRules handles groups of a describe-security-groups input that
// an earlier one already gave (both valid since ever, so the new one would
// replace the old): the new version gets the rules of both, so that no rule
// silently drops out of the analysis, and a warning names the groups.
func keepEarlierRules(inv, tmp *inventory.Inventory, where string) {
	var dups []string
	extra := 0
	for _, id := range tmp.Groups() {
		if !inv.HasRecordedVersion(id, time.Time{}) {
			continue
		}
		dups = append(dups, id)
		prev, ok1 := inv.GroupAt(id, time.Time{})
		cur, ok2 := tmp.GroupAt(id, time.Time{})
		if !ok1 || !ok2 {
			continue
		}
		if g, n := unionRules(*cur, prev.Rules); n > 0 {
			extra += n
			tmp.AddGroup(g)
		}
	}
	if len(dups) > 0 {
		inv.AddWarning(fmt.Errorf("%s%s also in an input loaded before (%s): the rules of both are kept (%d only in the earlier input)",
			where, countNoun(len(dups), "security group is", "security groups are"), listIDs(dups), extra))
	}
}

// unionRules returns g with the rules of more it lacks (by Key) appended,
// and how many it appended.
func unionRules(g inventory.Group, more []inventory.Rule) (inventory.Group, int) {
	have := map[string]bool{}
	for _, r := range g.Rules {
		have[r.Key()] = true
	}
	g.Rules = slices.Clone(g.Rules)
	n := 0
	for _, r := range more {
		if k := r.Key(); !have[k] {
			have[k] = true
			g.Rules = append(g.Rules, r)
			n++
		}
	}
	return g, n
}

func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// listIDs lists up to 5 ids, then "...".
func listIDs(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], ", ") + ", ..."
	}
	return strings.Join(ids, ", ")
}

func readInput(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("unreadable gzip data: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	data, err := squeeze(src, MaxJSON)
	if err != nil {
		what := "reading"
		if src != io.Reader(br) {
			what = "unreadable gzip data"
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: the input ends early (truncated file?): %w", what, err)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return data, nil
}

// squeeze reads r whole, replacing each run of whitespace outside JSON
// strings by one space, and fails once more than max bytes remain. What it
// returns parses to the same JSON values as the input.
func squeeze(r io.Reader, max int) ([]byte, error) {
	var (
		out        []byte
		inStr, esc bool
		space      bool // a whitespace run is pending
		buf        = make([]byte, 64<<10)
	)
	for {
		n, err := r.Read(buf)
		chunk := buf[:n]
		for i := 0; i < len(chunk); {
			c := chunk[i]
			switch {
			case esc:
				esc = false
				out = append(out, c)
				i++
			case inStr:
				// Copy up to the next quote or backslash.
				span := chunk[i:]
				if q := bytes.IndexByte(span, '"'); q >= 0 {
					span = span[:q]
				}
				if b := bytes.IndexByte(span, '\\'); b >= 0 {
					span = span[:b]
				}
				out = append(out, span...)
				if i += len(span); i < len(chunk) {
					c = chunk[i]
					out = append(out, c)
					i++
					esc, inStr = c == '\\', c == '\\'
				}
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
				space = true
				i++
			default:
				if space && len(out) > 0 {
					out = append(out, ' ')
				}
				space = false
				out = append(out, c)
				inStr = c == '"'
				i++
			}
		}
		if len(out) > max {
			return nil, fmt.Errorf("more than %d MiB of JSON (whitespace aside): split the input", max>>20)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// doc is a decoded input: its unwrapped top-level object or array and kind.
type doc struct {
	kind Kind
	obj  map[string]json.RawMessage
	arr  []json.RawMessage
}

func (d *doc) describe() string {
	if d.kind != KindUnknown {
		return d.kind.String()
	}
	if d.obj != nil {
		keys := slices.Sorted(maps.Keys(d.obj))
		if len(keys) > 6 {
			keys = append(keys[:6], "...")
		}
		return fmt.Sprintf("a JSON object with keys %s", strings.Join(keys, ", "))
	}
	if len(d.arr) == 0 {
		return "an empty JSON array"
	}
	return "a JSON array of unrecognized elements"
}

func decodeDoc(data []byte) (*doc, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty input: expected JSON")
	}
	switch data[0] {
	case '{', '[':
	default:
		return nil, errors.New("not JSON: expected an object or an array")
	}
	var v any
	if data[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		v = obj
	} else {
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		v = arr
	}
	for depth := 0; depth < 8; depth++ {
		obj, ok := v.(map[string]json.RawMessage)
		if !ok {
			break
		}
		inner, err := unwrap(obj)
		if err != nil {
			return nil, err
		}
		if inner == nil {
			break
		}
		v = inner
	}
	d := &doc{}
	switch x := v.(type) {
	case map[string]json.RawMessage:
		d.obj = x
		d.kind = classifyObject(x)
	case []json.RawMessage:
		d.arr = x
		d.kind = classifyArray(x)
	}
	return d, nil
}

// unwrap returns the payload of a wrapper object (recorded response, SNS
// message, Config rule event, EventBridge event), or nil if obj is no wrapper.
func unwrap(obj map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	if data, ok := obj["data"]; ok && obj["status_code"] != nil {
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(data, &inner); err != nil {
			return nil, fmt.Errorf("recorded response: \"data\" is not an object: %w", err)
		}
		if e, ok := inner["Error"]; ok {
			var apiErr struct{ Code, Message string }
			_ = json.Unmarshal(e, &apiErr)
			return nil, fmt.Errorf("recorded error response %s: %s", apiErr.Code, apiErr.Message)
		}
		return inner, nil
	}
	if msg, ok := obj["Message"]; ok && jsonString(obj["Type"]) == "Notification" {
		inner, err := objectOrString(msg)
		if err != nil {
			return nil, fmt.Errorf("SNS notification: Message: %w", err)
		}
		return inner, nil
	}
	if ev, ok := obj["invokingEvent"]; ok {
		inner, err := objectOrString(ev)
		if err != nil {
			return nil, fmt.Errorf("config rule event: invokingEvent: %w", err)
		}
		return inner, nil
	}
	if det, ok := obj["detail"]; ok && obj["detail-type"] != nil {
		inner, err := objectOrString(det)
		if err != nil {
			return nil, fmt.Errorf("EventBridge event: detail: %w", err)
		}
		return inner, nil
	}
	return nil, nil
}

// objectOrString decodes a JSON object given either inline or as a JSON string.
func objectOrString(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = []byte(s)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if obj == nil {
		return nil, errors.New("not a JSON object: null")
	}
	return obj, nil
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func classifyObject(obj map[string]json.RawMessage) Kind {
	has := func(k string) bool { _, ok := obj[k]; return ok }
	switch {
	case has("SecurityGroups"):
		return KindSecurityGroups
	case has("SecurityGroupRules"):
		return KindSecurityGroupRules
	case has("NetworkInterfaces"):
		return KindNetworkInterfaces
	case has("Reservations"):
		return KindInstances
	case has("PrefixLists"):
		return KindPrefixLists
	case has("Entries"):
		return KindPrefixListEntries
	case has("configurationItems"), has("configurationItem"), has("configurationItemSummary"),
		has("baseConfigurationItems"), isConfigMessageType(jsonString(obj["messageType"])):
		return KindConfig
	case has("Results") && isStringArray(obj["Results"]):
		return KindConfig
	case has("resourceType") && (has("configuration") || has("configurationItemStatus")):
		return KindConfig
	}
	return KindUnknown
}

// isConfigMessageType recognises AWS Config notification types
// (ConfigurationItemChangeNotification, ScheduledNotification, ...), not
// CloudWatch Logs' DATA_MESSAGE.
func isConfigMessageType(t string) bool {
	return strings.HasPrefix(t, "Configuration") || strings.HasPrefix(t, "Oversized") ||
		strings.HasSuffix(t, "Notification")
}

func isStringArray(raw json.RawMessage) bool {
	var ss []string
	return json.Unmarshal(raw, &ss) == nil
}

// classifyArray classifies a bare array by its first element.
func classifyArray(arr []json.RawMessage) Kind {
	if len(arr) == 0 {
		return KindUnknown
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(arr[0], &obj) != nil || obj == nil {
		return KindUnknown
	}
	has := func(k string) bool { _, ok := obj[k]; return ok }
	switch {
	case has("SecurityGroupRuleId"):
		return KindSecurityGroupRules
	case has("NetworkInterfaceId"):
		return KindNetworkInterfaces
	case has("GroupId") && (has("IpPermissions") || has("IpPermissionsEgress") || has("GroupName")):
		return KindSecurityGroups
	case has("Instances"), has("InstanceId") && has("NetworkInterfaces"):
		return KindInstances
	case has("PrefixListId"):
		return KindPrefixLists
	case has("Cidr"):
		return KindPrefixListEntries
	case has("resourceType") && (has("configuration") || has("configurationItemStatus")):
		return KindConfig
	}
	return KindUnknown
}

// list returns the array under key of an object document, or the document's
// own array.
func (d *doc) list(key string) ([]json.RawMessage, error) {
	if d.obj == nil {
		return d.arr, nil
	}
	raw, ok := d.obj[key]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil {
		return nil, fmt.Errorf("%q is not an array: %w", key, err)
	}
	return arr, nil
}
