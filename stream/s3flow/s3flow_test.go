package s3flow

import "testing"

func TestParse(t *testing.T) {
	for _, c := range []struct{ in, bucket, prefix string }{
		{"s3://b", "b", ""}, {"s3://b/", "b", ""}, {"s3://b/logs/x", "b", "logs/x"},
	} {
		b, p, err := ParseURL(c.in)
		if err != nil || b != c.bucket || p != c.prefix {
			t.Errorf("%s: %q %q %v", c.in, b, p, err)
		}
	}
	for _, bad := range []string{"b/x", "s3://", "s3:///x", "https://b"} {
		if _, _, err := ParseURL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := ParseDay("2026-11-31"); err == nil {
		t.Error("2026-11-31 parsed")
	}
	if d, err := ParseDay("2026-02-03"); err != nil || d.Day() != 3 {
		t.Errorf("%v %v", d, err)
	}
}
