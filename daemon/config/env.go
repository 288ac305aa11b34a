package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// envPrefix starts every environment override.
const envPrefix = "CINCH_"

// tokenNamesVar lists tokens to add from CINCH_AUTH_TOKEN_<NAME>.
const tokenNamesVar = "CINCH_AUTH_TOKEN_NAMES"

// tokenVarPrefix starts the per-token variables.
const tokenVarPrefix = "CINCH_AUTH_TOKEN_"

// EnvName returns the environment variable that overrides the key path
// (such as "kafka.sasl.password").
func EnvName(keyPath string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(keyPath, ".", "_"))
}

// TokenEnvName returns the variable that sets the token called name:
// CINCH_AUTH_TOKEN_ and the name upper-cased, other characters than
// letters and digits becoming "_".
func TokenEnvName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return tokenVarPrefix + string(b)
}

// envField is one overridable key.
type envField struct {
	key  string // key path
	name string // environment variable
	idx  []int  // field index path from Config, through pointers
}

// envFields lists the overridable keys of Config, in declaration order.
func envFields() []envField {
	var out []envField
	var walk func(t reflect.Type, prefix string, idx []int)
	walk = func(t reflect.Type, prefix string, idx []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlField(f)
			if name == "" {
				continue
			}
			key := joinKey(prefix, name)
			fidx := append(append([]int(nil), idx...), i)
			ft := f.Type
			if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
				ft = ft.Elem()
			}
			switch {
			case isDuration(ft):
				out = append(out, envField{key, EnvName(key), fidx})
			case ft.Kind() == reflect.Struct:
				walk(ft, key, fidx)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String,
				ft.Kind() == reflect.String, ft.Kind() == reflect.Bool,
				ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Uint64:
				out = append(out, envField{key, EnvName(key), fidx})
			}
			// Maps and lists of sections are not overridable.
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// applyEnv sets every field whose variable getenv returns non-empty,
// records key path -> variable in used, and returns one *Error per bad value.
func applyEnv(c *Config, getenv func(string) string, used map[string]string) []error {
	var errs []error
	root := reflect.ValueOf(c).Elem()
	for _, f := range envFields() {
		raw := getenv(f.name)
		if raw == "" {
			continue
		}
		v := fieldFor(root, f.idx)
		if err := setFromString(v, raw); err != nil {
			errs = append(errs, &Error{Key: f.key, Env: f.name, Msg: err.Error()})
			continue
		}
		used[f.key] = f.name
	}
	setKafkaDefaults(c.Kafka)
	errs = append(errs, applyTokenEnv(c, getenv, used)...)
	return errs
}

// fieldFor returns the field at idx, allocating nil section pointers.
func fieldFor(v reflect.Value, idx []int) reflect.Value {
	for _, i := range idx {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v
}

// setFromString parses raw into v according to v's type.
func setFromString(v reflect.Value, raw string) error {
	raw = strings.TrimSpace(raw)
	if isDuration(v.Type()) {
		d, err := ParseDuration(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("expected a whole number, got %q", raw)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("expected a whole number ≥ 0, got %q", raw)
		}
		v.SetUint(n)
	case reflect.Slice:
		list := splitList(raw)
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(raw string) []string {
	var out []string
	for item := range strings.SplitSeq(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// applyTokenEnv applies CINCH_AUTH_TOKEN_<NAME>=<role>:<token> to the
// tokens named in the file and in CINCH_AUTH_TOKEN_NAMES.
func applyTokenEnv(c *Config, getenv func(string) string, used map[string]string) []error {
	var errs []error
	names := make([]string, 0, len(c.Auth.Tokens))
	for _, t := range c.Auth.Tokens {
		names = append(names, t.Name)
	}
	names = append(names, splitList(getenv(tokenNamesVar))...)
	done := map[string]bool{}
	for _, name := range names {
		if name == "" {
			continue
		}
		env := TokenEnvName(name)
		if done[env] {
			continue
		}
		done[env] = true
		raw := strings.TrimSpace(getenv(env))
		if raw == "" {
			continue
		}
		role, secret, ok := strings.Cut(raw, ":")
		if !ok || role == "" || secret == "" {
			errs = append(errs, &Error{Env: env, Msg: "expected <role>:<token>, such as applier:s3cr3t, where role is viewer, reviewer or applier"})
			continue
		}
		i := -1
		for j, t := range c.Auth.Tokens {
			if TokenEnvName(t.Name) == env {
				i = j
				break
			}
		}
		if i < 0 {
			c.Auth.Tokens = append(c.Auth.Tokens, Token{Name: name})
			i = len(c.Auth.Tokens) - 1
		}
		t := &c.Auth.Tokens[i]
		t.Role, t.Token, t.SHA256 = role, secret, ""
		base := fmt.Sprintf("auth.tokens[%d]", i)
		used[base+".role"] = env
		used[base+".token"] = env
		used[base+".sha256"] = env
		used[base] = env
	}
	return errs
}

// IgnoredEnv returns the CINCH_ variables of environ (in os.Environ form,
// "NAME=value") that Load did not use for c: typos, or variables meant for
// other tools. The daemon may log them as warnings.
func (c *Config) IgnoredEnv(environ []string) []string {
	known := map[string]bool{tokenNamesVar: true}
	for _, f := range envFields() {
		known[f.name] = true
	}
	for _, t := range c.Auth.Tokens {
		known[TokenEnvName(t.Name)] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && !known[name] {
			out = append(out, name)
		}
	}
	return out
}
