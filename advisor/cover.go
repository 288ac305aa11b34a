package advisor

import (
	"math"
	"net/netip"
	"sort"
)

// Cover returns at most k prefixes that together contain every prefix of items,
// using as little address space as possible (ties go to fewer prefixes). items
// must be of one address family; they need not be sorted or disjoint. With k = 1
// the answer is the single smallest prefix covering all items. Every returned
// prefix lies inside the smallest prefix that covers items, so it lies inside
// any prefix that contains them all (such as the rule being narrowed).
//
// The search is a dynamic programme over the implicit binary trie of items:
// a subtree is covered either by its own branch prefix (one prefix) or by
// splitting the budget between its two children. It runs in O(n·k²).
func Cover(items []netip.Prefix, k int) []netip.Prefix {
	if len(items) == 0 || k < 1 {
		return nil
	}
	ps := normalize(items)
	root := build(ps, k)
	out := root.collect(len(root.cost)-1, nil)
	sort.Slice(out, func(i, j int) bool { return prefixLess(out[i], out[j]) })
	return out
}

// normalize masks, sorts and removes prefixes contained in others.
func normalize(items []netip.Prefix) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(items))
	for _, p := range items {
		ps = append(ps, p.Masked())
	}
	sort.Slice(ps, func(i, j int) bool { return prefixLess(ps[i], ps[j]) })
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].Overlaps(p) {
			// Sorted by address then length: the earlier one is the wider.
			if out[n-1].Bits() <= p.Bits() {
				continue
			}
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	return out
}

func prefixLess(a, b netip.Prefix) bool {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c < 0
	}
	return a.Bits() < b.Bits()
}

// node is a branch of the implicit trie: cost[j] is the least address space
// that covers the node's items with at most j+1 prefixes.
type node struct {
	prefix      netip.Prefix
	leaf        bool
	left, right *node
	cost        []float64
	split       []int // for cost[j]: prefixes given to the left child minus one, or -1 for "use prefix"
}

func size(p netip.Prefix) float64 {
	return math.Ldexp(1, p.Addr().BitLen()-p.Bits())
}

func build(ps []netip.Prefix, k int) *node {
	if len(ps) == 1 {
		n := &node{prefix: ps[0], leaf: true, cost: []float64{size(ps[0])}, split: []int{-1}}
		return n
	}
	lcp := commonPrefix(ps[0], ps[len(ps)-1])
	// Items are sorted and disjoint: the first with the branch bit set starts the right side.
	bit := lcp.Bits()
	cut := sort.Search(len(ps), func(i int) bool { return bitAt(ps[i].Addr(), bit) == 1 })
	l, r := build(ps[:cut], k), build(ps[cut:], k)
	maxK := min(k, len(l.cost)+len(r.cost))
	n := &node{prefix: lcp, left: l, right: r, cost: make([]float64, maxK), split: make([]int, maxK)}
	whole := size(lcp)
	for j := range maxK {
		n.cost[j], n.split[j] = whole, -1
		// j+1 prefixes in all: i+1 on the left, j-i on the right (both ≥ 1).
		for i := 0; i < j; i++ {
			li, ri := min(i, len(l.cost)-1), min(j-1-i, len(r.cost)-1)
			if c := l.cost[li] + r.cost[ri]; c < n.cost[j] {
				n.cost[j], n.split[j] = c, i
			}
		}
		if j > 0 && n.cost[j-1] <= n.cost[j] {
			// More prefixes only when they save space.
			n.cost[j], n.split[j] = n.cost[j-1], -2
		}
	}
	return n
}

func (n *node) collect(j int, out []netip.Prefix) []netip.Prefix {
	for n.split[j] == -2 {
		j--
	}
	if n.leaf || n.split[j] == -1 {
		return append(out, n.prefix)
	}
	i := n.split[j]
	out = n.left.collect(min(i, len(n.left.cost)-1), out)
	return n.right.collect(min(j-1-i, len(n.right.cost)-1), out)
}

// commonPrefix is the longest prefix containing both a and b.
func commonPrefix(a, b netip.Prefix) netip.Prefix {
	x, y := a.Addr().As16(), b.Addr().As16()
	limit := min(a.Bits(), b.Bits())
	off := 0
	if a.Addr().Is4() {
		off = 96
	}
	n := 0
	for n < limit && bitAt16(x, off+n) == bitAt16(y, off+n) {
		n++
	}
	p, _ := a.Addr().Prefix(n)
	return p
}

func bitAt(a netip.Addr, i int) int {
	off := 0
	if a.Is4() {
		off = 96
	}
	return bitAt16(a.As16(), off+i)
}

func bitAt16(b [16]byte, i int) int {
	return int(b[i/8]>>(7-uint(i%8))) & 1
}
