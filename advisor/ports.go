package advisor

import "sort"

// PortRange is an inclusive range of ports (or, for ICMP, of type numbers).
type PortRange struct {
	From, To uint16
}

// NarrowPorts returns at most max ranges inside [from, to] that contain every
// used range, merging the closest neighbours first when there are too many.
// Used ranges are clipped to [from, to]. The result is sorted.
func NarrowPorts(used []PortRange, from, to uint16, max int) []PortRange {
	rs := make([]PortRange, 0, len(used))
	for _, r := range used {
		if r.From > r.To {
			r.From, r.To = r.To, r.From
		}
		if r.To < from || r.From > to {
			continue
		}
		rs = append(rs, PortRange{From: maxU16(r.From, from), To: minU16(r.To, to)})
	}
	if len(rs) == 0 {
		return nil
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].From < rs[j].From })
	merged := rs[:1]
	for _, r := range rs[1:] {
		last := &merged[len(merged)-1]
		if uint32(r.From) <= uint32(last.To)+1 {
			last.To = maxU16(last.To, r.To)
			continue
		}
		merged = append(merged, r)
	}
	if max < 1 {
		max = 1
	}
	for len(merged) > max {
		// Close the smallest gap (first one on ties, so the result is deterministic).
		best, gap := 0, uint32(1<<17)
		for i := 0; i+1 < len(merged); i++ {
			if g := uint32(merged[i+1].From) - uint32(merged[i].To); g < gap {
				best, gap = i, g
			}
		}
		merged[best].To = merged[best+1].To
		merged = append(merged[:best+1], merged[best+2:]...)
	}
	return merged
}

func minU16(a, b uint16) uint16 {
	if a < b {
		return a
	}
	return b
}

func maxU16(a, b uint16) uint16 {
	if a > b {
		return a
	}
	return b
}
