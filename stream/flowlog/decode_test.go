package flowlog

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// TestAddrColMatchesParseAddr checks the branch-free IPv4 decoder against
// parseAddr on address-like columns at every position of a line.
func TestAddrColMatchesParseAddr(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	alphabet := "0123456789.....:a- \t"
	cases := []string{"1.2.3.4", "10.0.0.1", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3.04", "0.0.0.0",
		"1..2.3", "1.2.3.", ".1.2.3", "1.2.3.4.5", "1234.1.1.1", "1.2.3.4a", "::ffff:1.2.3.4", "2001:db8::1", "1.2.3.4/"}
	for range 20000 {
		b := make([]byte, 1+rng.IntN(16))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
		a := netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}).String()
		j := rng.IntN(len(a))
		cases = append(cases, a, a[:j]+string(alphabet[rng.IntN(len(alphabet))])+a[j+1:])
	}
	for _, c := range cases {
		for pad := range 24 {
			line := []byte(strings.Repeat("x", pad) + " " + c + " y")
			i := pad + 1
			e := colEnd(line, i)
			want, wok := parseAddr(line[i:e])
			got, ok := addrCol(line, i, e)
			if ok != wok || got != want {
				t.Fatalf("%q at %d: addrCol = %v %v, parseAddr = %v %v", c, i, got, ok, want, wok)
			}
		}
	}
}

// TestUintColMatchesParseUint checks the word-at-a-time decoder against parseUint.
func TestUintColMatchesParseUint(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	cases := []string{"0", "00000000000000000000", "18446744073709551615", "18446744073709551616", "99999999999999999999",
		"123456789012345678901", "12345678", "123456789", "1234567890123456", "12345678901234567", "9x", "-1", "+1"}
	for range 20000 {
		n := 1 + rng.IntN(21)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte('0' + rng.IntN(10))
		}
		if rng.IntN(4) == 0 {
			b[rng.IntN(n)] = "/:a.x\xff"[rng.IntN(6)]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		for pad := range 20 {
			line := []byte(strings.Repeat("x", pad) + " " + c + " y")
			i := pad + 1
			e := colEnd(line, i)
			want, wok := parseUint(line[i:e], ^uint64(0))
			got, ok := uintCol(line, i, e)
			if ok != wok || (ok && got != want) {
				t.Fatalf("%q at %d: uintCol = %v %v, parseUint = %v %v", c, i, got, ok, want, wok)
			}
		}
	}
}
