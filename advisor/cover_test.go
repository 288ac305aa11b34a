package advisor

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
			continue
		}
		a := netip.MustParseAddr(s)
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

func TestCoverSingleSmallest(t *testing.T) {
	got := Cover(pfx("10.0.0.3", "10.0.0.250", "10.0.0.17"), 1)
	if want := pfx("10.0.0.0/24"); !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestCoverExactWhenTheyFit(t *testing.T) {
	in := pfx("203.0.113.7", "198.51.100.9", "192.0.2.44")
	got := Cover(in, 3)
	want := pfx("192.0.2.44", "198.51.100.9", "203.0.113.7")
	if !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	// A larger budget does not add prefixes that save nothing.
	if got := Cover(in, 8); !slices.Equal(got, want) {
		t.Fatalf("k=8: got %v want %v", got, want)
	}
}

func TestCoverTwoClusters(t *testing.T) {
	in := pfx("10.1.0.1", "10.1.0.9", "10.1.0.200", "172.16.5.1", "172.16.5.2")
	got := Cover(in, 2)
	want := pfx("10.1.0.0/24", "172.16.5.0/30")
	if !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestCoverIPv6(t *testing.T) {
	got := Cover(pfx("2001:db8::1", "2001:db8::ff"), 1)
	if want := pfx("2001:db8::/120"); !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestCoverAggregates(t *testing.T) {
	got := Cover(pfx("10.0.0.0/16", "10.0.3.4", "10.9.0.0/24"), 2)
	want := pfx("10.0.0.0/16", "10.9.0.0/24")
	if !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

// Property: the cover contains every item, has at most k prefixes, and is no
// larger than the single covering prefix; with k ≥ n it is the items themselves.
func TestCoverProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 500 {
		n := 1 + r.IntN(40)
		base := r.Uint32() &^ 0xffff
		var in []netip.Prefix
		seen := map[uint32]bool{}
		for len(in) < n {
			v := base | uint32(r.IntN(1<<16))
			if iter%3 == 0 {
				v = r.Uint32()
			}
			if seen[v] {
				continue
			}
			seen[v] = true
			a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			in = append(in, netip.PrefixFrom(a, 32))
		}
		k := 1 + r.IntN(6)
		got := Cover(in, k)
		if len(got) == 0 || len(got) > k {
			t.Fatalf("iter %d: %d prefixes for k=%d", iter, len(got), k)
		}
		for _, p := range in {
			ok := false
			for _, c := range got {
				if c.Contains(p.Addr()) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("iter %d: %v not covered by %v", iter, p, got)
			}
		}
		one := Cover(in, 1)[0]
		var total float64
		for _, c := range got {
			total += size(c)
			if !one.Contains(c.Addr()) || c.Bits() < one.Bits() {
				t.Fatalf("iter %d: %v outside %v", iter, c, one)
			}
		}
		if total > size(one) {
			t.Fatalf("iter %d: cover %v larger than %v", iter, got, one)
		}
		if len(in) <= k {
			exact := Cover(in, len(in))
			if len(exact) != len(in) {
				t.Fatalf("iter %d: want exact cover of %d items, got %v", iter, len(in), exact)
			}
		}
	}
}
