package pinhole

import (
	"net/netip"
	"testing"
)

// The kernel keeps a pinhole map per address family, each of Capacity:
// a full IPv4 map does not refuse an IPv6 pinhole, nor the reverse.
func TestCapacityPerFamily(t *testing.T) {
	tb := NewTable(Config{Capacity: 1})
	hole := func(src, dst string) Pinhole {
		return Pinhole{Source: netip.MustParseAddr(src), Dest: netip.MustParseAddrPort(dst)}
	}
	for _, c := range []struct {
		p    Pinhole
		want bool
	}{
		{hole("192.0.2.1", "10.0.0.1:2000"), true},
		{hole("192.0.2.1", "10.0.0.1:2001"), false}, // IPv4 map full
		{hole("2001:db8::1", "[2001:db8:1::1]:2000"), true},
		{hole("2001:db8::1", "[2001:db8:1::1]:2001"), false}, // IPv6 map full
		{hole("192.0.2.1", "10.0.0.1:2000"), true},           // replacing always works
	} {
		if got := tb.put(c.p); got != c.want {
			t.Errorf("put %v -> %v: %v, want %v", c.p.Source, c.p.Dest, got, c.want)
		}
	}
}
