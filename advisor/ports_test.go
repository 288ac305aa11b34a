package advisor

import (
	"slices"
	"testing"
)

func TestNarrowPorts(t *testing.T) {
	cases := []struct {
		name     string
		used     []PortRange
		from, to uint16
		max      int
		want     []PortRange
	}{
		{"single", []PortRange{{443, 443}}, 0, 65535, 4, []PortRange{{443, 443}}},
		{"adjacent merge", []PortRange{{80, 80}, {81, 81}, {443, 443}}, 0, 65535, 4, []PortRange{{80, 81}, {443, 443}}},
		{"closest first", []PortRange{{22, 22}, {80, 80}, {443, 443}, {8080, 8080}}, 0, 65535, 2, []PortRange{{22, 443}, {8080, 8080}}},
		{"clip", []PortRange{{960, 1087}}, 1000, 2000, 4, []PortRange{{1000, 1087}}},
		{"outside", []PortRange{{5, 9}}, 1000, 2000, 4, nil},
		{"one range", []PortRange{{1000, 1000}, {1999, 1999}}, 1000, 2000, 1, []PortRange{{1000, 1999}}},
	}
	for _, c := range cases {
		if got := NarrowPorts(c.used, c.from, c.to, c.max); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v want %v", c.name, got, c.want)
		}
	}
}
