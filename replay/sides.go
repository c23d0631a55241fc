package replay

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultInsideNets are the private ranges (RFC 1918 and RFC 4193 unique
// local): a packet from one of them is taken to come from the inside.
var DefaultInsideNets = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
}

// ParseInsideNets reads CIDR prefixes (a bare address is a host prefix).
func ParseInsideNets(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("inside net %q: want a CIDR prefix such as 10.0.0.0/8", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("inside net %q: want a CIDR prefix such as 10.0.0.0/8", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// sides decides which program instance a packet goes through.
type sides []netip.Prefix

func (s sides) inside(src netip.Addr) bool {
	src = src.Unmap()
	for _, p := range s {
		if p.Contains(src) {
			return true
		}
	}
	return false
}
