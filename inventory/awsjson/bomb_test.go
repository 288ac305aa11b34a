package awsjson

import (
	"encoding/json"
	"github.com/cinch-sg/cinch/internal/bomb"
	"reflect"
	"strings"
	"testing"

	"github.com/cinch-sg/cinch/inventory"
)

// An inventory file padded with whitespace (a gzip bomb: 256 MiB of spaces
// in about 256 KiB) costs memory for its JSON only; the old loader held the
// whole decompressed input (3.8 GB for 1 GiB).
func TestWhitespaceBombBoundedMemory(t *testing.T) {
	const spaces = 256 << 20
	group := `{"GroupId":"sg-1","GroupName":"a","IpPermissions":[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]}`
	for _, c := range []struct{ prefix, suffix, err string }{
		{"{", "", "not valid JSON"},
		{`{"SecurityGroups": [` + group + ",", "\n\t" + strings.Replace(group, "sg-1", "sg-2", 1) + `]}`, ""},
	} {
		inv := inventory.New()
		var err error
		var st Stats
		total := bomb.Allocated(func() { st, err = Load(inv, bomb.GzipPadded(c.prefix, spaces, c.suffix)) })
		if total > 32<<20 {
			t.Errorf("%.20q: %d MiB allocated for %d MiB of input", c.prefix, total>>20, spaces>>20)
		}
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%.20q: err %v", c.prefix, err)
			}
			continue
		}
		if err != nil || st.Groups != 2 || len(inv.Rules()) != 2 {
			t.Errorf("%.20q: err %v, stats %+v", c.prefix, err, st)
		}
	}
}

// Squeezing keeps strings (with escaped quotes and inner spaces) intact and
// refuses input over the limit.
func TestSqueeze(t *testing.T) {
	in := " {\n  \"a b\" :  [ 1 ,\t2 ] , \"q\\\" x  \" : \"\\\\\"  ,\"n\": 1  2 }  \n"
	got, err := squeeze(strings.NewReader(in), 1<<20)
	if err != nil || string(got) != `{ "a b" : [ 1 , 2 ] , "q\" x  " : "\\" ,"n": 1 2 }` {
		t.Errorf("got %q %v", got, err)
	}
	if _, err := squeeze(strings.NewReader(`["`+strings.Repeat("x", 1<<20)+`"]`), 1<<10); err == nil || !strings.Contains(err.Error(), "whitespace aside") {
		t.Errorf("over the limit: %v", err)
	}
}

// FuzzSqueeze: squeezing never changes what valid JSON means, and keeps
// invalid JSON invalid.
func FuzzSqueeze(f *testing.F) {
	for _, s := range []string{`{"a" : [1, 2, "x  y"]}`, ` [ "\"", "\\" , 1e3 ] `, "{\n\t\"k\":\r\n null }", `[1 2]`, `"unterminated`, `{"a":"\u00e9 b"}`, "1E700"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := squeeze(strings.NewReader(in), 1<<20)
		if err != nil {
			return
		}
		if json.Valid([]byte(in)) != json.Valid(out) {
			t.Fatalf("validity changed: %q -> %q", in, out)
		}
		if !json.Valid(out) {
			return
		}
		var a, b any
		errA, errB := json.Unmarshal([]byte(in), &a), json.Unmarshal(out, &b)
		if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
			t.Fatalf("value changed: %q -> %q (%v, %v)", in, out, errA, errB)
		}
	})
}
