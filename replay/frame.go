package replay

import (
	"encoding/binary"
	"net/netip"
)

// frame is what replay needs to know of an Ethernet frame before running
// it: the addresses to pick the side, the TCP header to describe events
// and split oversized segments. The kernel program parses the frame on its
// own; this is only a description.
type frame struct {
	ip       bool // IPv4 or IPv6 parsed
	v6       bool
	src, dst netip.Addr
	l3off    int   // IP header
	l3end    int   // end of the IP packet in the frame (Ethernet padding excluded)
	fragment bool  // not the first fragment: no TCP header
	moreFrag bool  // the first fragment of several
	proto    uint8 // the IP payload's protocol
	tcp      bool
	l4off    int // TCP header
	dataOff  int // TCP payload
	sport    uint16
	dport    uint16
	seq      uint32
	flags    uint8
}

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// IPv6 extension headers the kernel program skips.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6DstOpts  = 60
	protoTCP    = 6
)

// parseFrame describes an Ethernet frame with up to two VLAN tags.
func parseFrame(b []byte) frame {
	var f frame
	if len(b) < ethHeaderLen {
		return f
	}
	off := 12
	etherType := binary.BigEndian.Uint16(b[off:])
	off += 2
	for i := 0; i < 2 && (etherType == 0x8100 || etherType == 0x88a8); i++ {
		if len(b) < off+4 {
			return f
		}
		etherType = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	var proto uint8
	var l4 int
	switch etherType {
	case etherTypeIPv4:
		if len(b) < off+20 {
			return f
		}
		hlen := int(b[off]&0x0f) * 4
		if hlen < 20 || len(b) < off+hlen {
			return f
		}
		f.src = netip.AddrFrom4([4]byte(b[off+12 : off+16]))
		f.dst = netip.AddrFrom4([4]byte(b[off+16 : off+20]))
		f.l3end = off + int(binary.BigEndian.Uint16(b[off+2:]))
		frag := binary.BigEndian.Uint16(b[off+6:])
		f.fragment, f.moreFrag = frag&0x1fff != 0, frag&0x2000 != 0
		proto, l4 = b[off+9], off+hlen
	case etherTypeIPv6:
		if len(b) < off+40 {
			return f
		}
		f.v6 = true
		f.src = netip.AddrFrom16([16]byte(b[off+8 : off+24]))
		f.dst = netip.AddrFrom16([16]byte(b[off+24 : off+40]))
		f.l3end = off + 40 + int(binary.BigEndian.Uint16(b[off+4:]))
		proto, l4 = b[off+6], off+40
	ext:
		for i := 0; i < 4; i++ {
			switch proto {
			case ip6HopByHop, ip6Routing, ip6DstOpts:
				if len(b) < l4+2 {
					return f
				}
				proto, l4 = b[l4], l4+(int(b[l4+1])+1)*8
			case ip6Fragment:
				if len(b) < l4+4 {
					return f
				}
				frag := binary.BigEndian.Uint16(b[l4+2:])
				f.fragment, f.moreFrag = frag&0xfff8 != 0, frag&1 != 0
				proto, l4 = b[l4], l4+8
			case ip6AH:
				if len(b) < l4+2 {
					return f
				}
				proto, l4 = b[l4], l4+(int(b[l4+1])+2)*4
			default:
				break ext
			}
		}
	default:
		return f
	}
	f.ip, f.l3off, f.proto = true, off, proto
	f.l3end = min(f.l3end, len(b))
	if proto != protoTCP || f.fragment || len(b) < l4+20 {
		return f
	}
	hlen := int(b[l4+12]>>4) * 4
	if hlen < 20 || len(b) < l4+hlen {
		return f
	}
	f.tcp, f.l4off, f.dataOff = true, l4, l4+hlen
	f.sport = binary.BigEndian.Uint16(b[l4:])
	f.dport = binary.BigEndian.Uint16(b[l4+2:])
	f.seq = binary.BigEndian.Uint32(b[l4+4:])
	f.flags = b[l4+13]
	return f
}

// payload returns the TCP payload of the frame b that f describes.
func (f frame) payload(b []byte) []byte {
	if !f.tcp || f.dataOff >= f.l3end {
		return nil
	}
	return b[f.dataOff:f.l3end]
}

// endpoints returns the packet's source and destination, with ports when
// it is TCP.
func (f frame) endpoints() (src, dst netip.AddrPort) {
	if !f.ip {
		return
	}
	return netip.AddrPortFrom(f.src, f.sport), netip.AddrPortFrom(f.dst, f.dport)
}
