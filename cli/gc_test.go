package cli

import "testing"

// GOGC stays 400 for a small live heap and shrinks toward 100 as it grows,
// keeping the headroom (live × GOGC/100) within gcHeadroom while above 100.
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{{0, 400}, {15 << 20, 400}, {64 << 20, 400}, {128 << 20, 200}, {256 << 20, 100}, {1 << 30, 100}} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live>>20, got, c.want)
		}
	}
	for live := uint64(65 << 20); live < 256<<20; live += 7 << 20 {
		if p := gcPercentFor(live); live*uint64(p)/100 > gcHeadroom {
			t.Errorf("live %d MiB: GOGC %d allows %d MiB of garbage", live>>20, p, live*uint64(p)/100>>20)
		}
	}
}
