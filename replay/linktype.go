package replay

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/gopacket/layers"
)

// LinkType is a capture's link layer, a LINKTYPE_ value of
// tcpdump.org/linktypes.html (gopacket's type is only 8 bits wide).
type LinkType uint32

// The link types replay reads.
const (
	LinkTypeNull     LinkType = 0   // BSD loopback
	LinkTypeEthernet LinkType = 1   // Ethernet
	LinkTypeRaw      LinkType = 101 // raw IPv4 or IPv6
	LinkTypeLoop     LinkType = 108 // OpenBSD loopback
	LinkTypeSLL      LinkType = 113 // Linux cooked, tcpdump -i any
	LinkTypeIPv4     LinkType = 228
	LinkTypeIPv6     LinkType = 229
	LinkTypeSLL2     LinkType = 276 // Linux cooked v2, tcpdump -i any since 4.99
)

// fromGopacket widens gopacket's 8-bit link type, which keeps only the low
// byte of LINKTYPE_LINUX_SLL2 (276): LINKTYPE 20 is unassigned.
func fromGopacket(lt layers.LinkType) LinkType {
	if lt == layers.LinkType(LinkTypeSLL2&0xff) {
		return LinkTypeSLL2
	}
	return LinkType(lt)
}

const ethHeaderLen = 14

// Ethernet types the frames are given.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

// ErrLinkType is returned for a capture whose link layer replay cannot turn
// into Ethernet frames.
var ErrLinkType = errors.New("unsupported link type")

// toEthernet returns the packet as the Ethernet frame the program would see
// on an interface, or nil when it is too short to hold one.
// Linux cooked captures (tcpdump -i any: SLL, SLL2) and raw IP get an
// Ethernet header with the right EtherType and zero addresses, which the
// program does not read.
func toEthernet(lt LinkType, data []byte) ([]byte, error) {
	switch lt {
	case LinkTypeEthernet:
		return data, nil
	case LinkTypeSLL:
		// type(2) arphrd(2) addrlen(2) addr(8) protocol(2)
		if len(data) < 16 {
			return nil, nil
		}
		return withEtherType(binary.BigEndian.Uint16(data[14:16]), data[16:]), nil
	case LinkTypeSLL2:
		// protocol(2) reserved(2) ifindex(4) arphrd(2) type(1) addrlen(1) addr(8)
		if len(data) < 20 {
			return nil, nil
		}
		return withEtherType(binary.BigEndian.Uint16(data[0:2]), data[20:]), nil
	case LinkTypeRaw, LinkTypeIPv4, LinkTypeIPv6:
		return rawIP(data), nil
	case LinkTypeNull, LinkTypeLoop:
		// a 4-byte address family in either byte order: the IP version
		// nibble says the same, portably.
		if len(data) < 4 {
			return nil, nil
		}
		return rawIP(data[4:]), nil
	}
	return nil, fmt.Errorf("%w %d: replay reads Ethernet, Linux cooked (tcpdump -i any), raw IP and loopback captures",
		ErrLinkType, lt)
}

func rawIP(ip []byte) []byte {
	if len(ip) == 0 {
		return nil
	}
	switch ip[0] >> 4 {
	case 4:
		return withEtherType(etherTypeIPv4, ip)
	case 6:
		return withEtherType(etherTypeIPv6, ip)
	}
	return nil
}

// withEtherType prepends an Ethernet header with zero addresses.
func withEtherType(etherType uint16, payload []byte) []byte {
	frame := make([]byte, 0, ethHeaderLen+len(payload))
	frame = append(frame, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(etherType>>8), byte(etherType))
	return append(frame, payload...)
}
