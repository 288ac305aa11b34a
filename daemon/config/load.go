package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one configuration problem. Load, Parse and Validate return one
// Error per problem, joined with errors.Join; use errors.As to inspect them.
type Error struct {
	// File is the configuration file, "" when not known.
	File string
	// Line is the line in File, 0 when not known.
	Line int
	// Key is the key path, such as "kafka.sasl.password" or
	// "auth.tokens[0].role"; "" for problems with the whole file.
	Key string
	// Env is the environment variable the value came from, if any.
	Env string
	// Msg says what is wrong and what is expected.
	Msg string
}

// Error formats e as "config: FILE:LINE: KEY: MSG", leaving out what is not
// known, and naming the environment variable when the value came from one.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Env != "" {
		b.WriteString(e.Env)
		if e.Key != "" {
			b.WriteString(" (" + e.Key + ")")
		}
		b.WriteString(": ")
	} else {
		if e.File != "" {
			b.WriteString(e.File)
			if e.Line > 0 {
				b.WriteString(":" + strconv.Itoa(e.Line))
			}
			b.WriteString(": ")
		}
		if e.Key != "" {
			b.WriteString(e.Key + ": ")
		}
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads the YAML file at path and returns the configuration made of
// the defaults, the file and the environment overrides read with getenv
// (nil for none; usually os.Getenv), validated by [Config.Validate].
func Load(path string, getenv func(string) string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: cannot read the configuration file: %w", err)
	}
	return Parse(data, path, getenv)
}

// Parse is [Load] on the YAML in data; name is the file name used in
// error messages.
func Parse(data []byte, name string, getenv func(string) string) (Config, error) {
	cfg := Default()
	src := sources{file: name, lines: map[string]int{}, env: map[string]string{}}

	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&root)
	switch {
	case errors.Is(err, io.EOF):
		// Empty file (or only comments): defaults.
	case err != nil:
		return Config{}, &Error{File: name, Line: yamlErrorLine(err), Msg: "invalid YAML: " + yamlErrorText(err)}
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return Config{}, &Error{File: name, Line: extra.Line, Msg: "more than one YAML document (a second \"---\"); put the whole configuration in one document"}
		}
		doc := &root
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			doc = doc.Content[0]
		}
		var errs []error
		check(doc, reflect.TypeFor[Config](), "", &src, &errs)
		if len(errs) > 0 {
			return Config{}, errors.Join(errs...)
		}
		strict := yaml.NewDecoder(bytes.NewReader(data))
		strict.KnownFields(true)
		if err := strict.Decode(&cfg); err != nil {
			return Config{}, &Error{File: name, Line: yamlErrorLine(err), Msg: yamlErrorText(err)}
		}
	}
	setKafkaDefaults(cfg.Kafka)

	if getenv != nil {
		if errs := applyEnv(&cfg, getenv, src.env); len(errs) > 0 {
			return Config{}, errors.Join(errs...)
		}
	}
	cfg.Alerts.resolveEnv(getenv)
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return Config{}, src.locate(err)
	}
	return cfg, nil
}

// sources remembers where each key came from, to locate validation errors.
type sources struct {
	file  string
	lines map[string]int    // key path -> line in file
	env   map[string]string // key path -> environment variable
}

// locate adds the file, line or environment variable to each *Error in err.
func (s *sources) locate(err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var ce *Error
		if !errors.As(e, &ce) {
			out = append(out, e)
			continue
		}
		c := *ce
		if env, ok := s.env[c.Key]; ok {
			c.Env = env
		} else {
			c.File = s.file
			c.Line = s.lineOf(c.Key)
		}
		out = append(out, &c)
	}
	return errors.Join(out...)
}

// lineOf returns the line of key, or of its nearest parent in the file.
func (s *sources) lineOf(key string) int {
	for key != "" {
		if l, ok := s.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// yamlField returns the YAML key of a struct field, "" when it has none.
func yamlField(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// isDuration reports whether t is Duration.
func isDuration(t reflect.Type) bool { return t == reflect.TypeFor[Duration]() }

// check walks the YAML node n against type t, recording key lines in src and
// appending a clear *Error for every unknown key, duplicate key and value of
// the wrong type.
func check(n *yaml.Node, t reflect.Type, path string, src *sources, errs *[]error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	fail := func(line int, format string, args ...any) {
		*errs = append(*errs, &Error{File: src.file, Line: line, Key: path, Msg: fmt.Sprintf(format, args...)})
	}
	if isNull(n) {
		return
	}
	if isDuration(t) {
		var d Duration
		if err := d.UnmarshalYAML(n); err != nil {
			fail(n.Line, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		check(n, t.Elem(), path, src, errs)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			what := "the configuration"
			if path != "" {
				what = "section " + path
			}
			fail(n.Line, "%s must be a mapping of keys (key: value), got %s", what, kindName(n))
			return
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			if name := yamlField(f); name != "" {
				fields[name] = f
				names = append(names, name)
			}
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := joinKey(path, k.Value)
			if k.Kind != yaml.ScalarNode {
				*errs = append(*errs, &Error{File: src.file, Line: k.Line, Key: path, Msg: "keys must be plain names, got " + kindName(k)})
				continue
			}
			if first, dup := seen[k.Value]; dup {
				*errs = append(*errs, &Error{File: src.file, Line: k.Line, Key: key, Msg: fmt.Sprintf("key given twice (first at line %d); keep one", first)})
				continue
			}
			seen[k.Value] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &Error{File: src.file, Line: k.Line, Key: key, Msg: unknownKeyMsg(k.Value, path, names)})
				continue
			}
			src.lines[key] = k.Line
			check(v, f.Type, key, src, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fail(n.Line, "expected a list (one \"- item\" per line, or [a, b]), got %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", path, i)
			src.lines[key] = item.Line
			check(item, t.Elem(), key, src, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			fail(n.Line, "expected a mapping (name: value), got %s", kindName(n))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := joinKey(path, k.Value)
			if k.Kind != yaml.ScalarNode {
				fail(k.Line, "keys must be plain names, got %s", kindName(k))
				continue
			}
			if first, dup := seen[k.Value]; dup {
				*errs = append(*errs, &Error{File: src.file, Line: k.Line, Key: key, Msg: fmt.Sprintf("key given twice (first at line %d); keep one", first)})
				continue
			}
			seen[k.Value] = k.Line
			src.lines[key] = k.Line
			check(v, t.Elem(), key, src, errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			fail(n.Line, "expected %s, got %s", typeName(t), kindName(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			fail(n.Line, "expected %s, got %q", typeName(t), n.Value)
		}
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// unknownKeyMsg explains an unknown key, suggesting the closest valid one.
func unknownKeyMsg(key, section string, valid []string) string {
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	where := "at the top level"
	if section != "" {
		where = "under " + section
	}
	msg := fmt.Sprintf("unknown key; valid keys %s are %s", where, strings.Join(sorted, ", "))
	best, bestDist := "", 3
	for _, v := range valid {
		if d := editDistance(strings.ToLower(key), v); d < bestDist {
			best, bestDist = v, d
		}
	}
	if best != "" {
		msg = fmt.Sprintf("unknown key (did you mean %s?); valid keys %s are %s", best, where, strings.Join(sorted, ", "))
	}
	return msg
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number ≥ 0"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

// yamlErrorLine extracts the line number of a yaml.v3 error, 0 if none.
func yamlErrorLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		rest := s[i+5:]
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		if n, err := strconv.Atoi(rest[:end]); err == nil {
			return n
		}
	}
	return 0
}

// yamlErrorText strips yaml.v3's "yaml: line N: " prefix.
func yamlErrorText(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(s, "line ") {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			return rest
		}
	}
	return s
}
