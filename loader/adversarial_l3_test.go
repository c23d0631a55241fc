package loader

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// Evasions below TCP: a SYN the filter must not miss because it hides in
// fragments or behind IPv6 extension headers.

const ethLen = 14

// ipv4Fragment turns an IPv4 frame into a fragment: offset in 8-byte units,
// more-fragments set, the IP payload cut to keep bytes.
func ipv4Fragment(frame []byte, offset uint16, keep int) []byte {
	ip := frame[ethLen:]
	ihl := int(ip[0]&0x0f) * 4
	out := append([]byte(nil), frame[:ethLen+ihl+keep]...)
	ip = out[ethLen:]
	binary.BigEndian.PutUint16(ip[2:], uint16(ihl+keep))
	binary.BigEndian.PutUint16(ip[6:], 0x2000|offset)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:ihl]))
	return out
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// withDestOpts puts n 8-byte destination-options headers between the IPv6
// header and TCP; the TCP checksum does not cover them.
func withDestOpts(frame []byte, n int) []byte {
	const ip6Len = 40
	ip := frame[ethLen : ethLen+ip6Len]
	out := append([]byte(nil), frame[:ethLen+ip6Len]...)
	next := ip[6]
	out[ethLen+6] = 60 // IPPROTO_DSTOPTS
	for i := range n {
		nh := byte(60)
		if i == n-1 {
			nh = next
		}
		out = append(out, nh, 0, 1, 4, 0, 0, 0, 0) // PadN over the 6 option bytes
	}
	out = append(out, frame[ethLen+ip6Len:]...)
	binary.BigEndian.PutUint16(out[ethLen+4:], binary.BigEndian.Uint16(ip[4:])+uint16(8*n))
	return out
}

func TestAdversarialFragments(t *testing.T) {
	g := newGW(t, DefaultConfig())
	syn := testutil.TCP{Src: netip.MustParseAddrPort("192.0.2.66:4444"), Dst: netip.MustParseAddrPort("10.1.0.10:3306"), SYN: true}.Frame()
	for _, tc := range []struct {
		name   string
		frame  []byte
		in     *Instance
		want   Verdict
		reason string
	}{
		// RFC 1858 tiny fragment: the flags are in a later fragment.
		{"first fragment shorter than a TCP header", ipv4Fragment(syn, 0, 8), g.out, Drop, "tiny_fragment"},
		// RFC 1858 overlap: offset 1 rewrites the flags of the first.
		{"fragment at offset 1", ipv4Fragment(syn, 1, 16), g.out, Drop, "tiny_fragment"},
		// Inside, nothing is filtered.
		{"tiny fragment from inside", ipv4Fragment(syn, 0, 8), g.in, Pass, "unparsed_l4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := g.counters()
			if v := g.run(tc.in, tc.frame); v != tc.want {
				t.Errorf("verdict %v, want %v", v, tc.want)
			}
			expectDelta(t, before, g.counters(), map[string]uint64{tc.reason: 1})
		})
	}
}

func TestAdversarialIPv6ExtensionChain(t *testing.T) {
	g := newGW(t, DefaultConfig())
	src := netip.MustParseAddrPort("[2001:db8::66]:4444")
	dst := netip.MustParseAddrPort("[fd00::10]:3306")
	syn := testutil.TCP{Src: src, Dst: dst, SYN: true}.Frame()

	// Without a pinhole the SYN is dropped however deep it hides; past
	// the four headers the program walks, it is dropped unread.
	for n := 1; n <= 8; n++ {
		before := g.counters()
		if v := g.run(g.out, withDestOpts(syn, n)); v != Drop {
			t.Errorf("SYN behind %d destination-options headers: %v", n, v)
		}
		if n > 4 {
			expectDelta(t, before, g.counters(), map[string]uint64{"unparsed_l3": 1})
		}
		// From the protected side nothing is filtered.
		if v := g.run(g.in, withDestOpts(syn, n)); v != Pass {
			t.Errorf("SYN from inside behind %d headers: %v", n, v)
		}
	}

	// With a pinhole, a SYN behind a walkable chain is admitted (and its
	// retransmissions), one behind an unwalkable chain is not.
	err := g.dp.PutPinhole(pinhole.Pinhole{Source: src.Addr(), Dest: dst, Mode: pinhole.Passive,
		Control:   pinhole.Control{Client: netip.MustParseAddrPort("[2001:db8::66]:40000"), Server: netip.MustParseAddrPort("[fd00::10]:21")},
		CreatedNs: g.now, ExpiresNs: g.now + uint64(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if v := g.run(g.out, withDestOpts(syn, 5)); v != Drop {
		t.Errorf("SYN with a pinhole behind 5 headers: %v", v)
	}
	for n := 1; n <= 4; n++ {
		if v := g.run(g.out, withDestOpts(syn, n)); v != Pass {
			t.Errorf("SYN with a pinhole behind %d headers: %v", n, v)
		}
	}
}
