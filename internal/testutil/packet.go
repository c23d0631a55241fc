// Package testutil holds what the tests share: packet builders, the
// kernel-feature gate, and network-namespace helpers.
package testutil

import (
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TCP describes one TCP segment to build as an Ethernet frame.
type TCP struct {
	Src, Dst netip.AddrPort
	SYN      bool
	ACK      bool
	FIN      bool
	RST      bool
	PSH      bool
	Seq, Ack uint32
	Payload  []byte
	// VLANs are 802.1Q tags, outermost first; with two, the outer one is
	// sent as 802.1ad.
	VLANs []uint16
	// IPv4Options are raw option bytes (padded to 4 by the builder).
	IPv4Options []byte
	// IPv6HopByHop adds a hop-by-hop extension header.
	IPv6HopByHop bool
}

var (
	srcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	dstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

// Frame serialises the segment with correct lengths and checksums.
func (p TCP) Frame() []byte {
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(p.Src.Port()),
		DstPort: layers.TCPPort(p.Dst.Port()),
		SYN:     p.SYN, ACK: p.ACK, FIN: p.FIN, RST: p.RST, PSH: p.PSH,
		Seq: p.Seq, Ack: p.Ack, Window: 64240,
	}
	var net gopacket.NetworkLayer
	var l3 []gopacket.SerializableLayer
	ethType := layers.EthernetTypeIPv4
	if p.Src.Addr().Is4() {
		ip := &layers.IPv4{
			Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice(),
		}
		if len(p.IPv4Options) > 0 {
			opt := append([]byte(nil), p.IPv4Options...)
			for len(opt)%4 != 0 {
				opt = append(opt, 0)
			}
			ip.Options = []layers.IPv4Option{{OptionType: opt[0], OptionLength: uint8(len(opt)), OptionData: opt[2:]}}
		}
		net, l3 = ip, []gopacket.SerializableLayer{ip}
	} else {
		ethType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{
			Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice(),
		}
		net, l3 = ip, []gopacket.SerializableLayer{ip}
		if p.IPv6HopByHop {
			ip.NextHeader = layers.IPProtocolIPv6HopByHop
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = layers.IPProtocolTCP
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			ip.HopByHop = hbh
		}
	}
	_ = tcp.SetNetworkLayerForChecksum(net)

	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: ethType}
	ls = append(ls, eth)
	if len(p.VLANs) > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		if len(p.VLANs) > 1 {
			eth.EthernetType = layers.EthernetTypeQinQ
		}
		for i, id := range p.VLANs {
			next := layers.EthernetTypeDot1Q
			if i == len(p.VLANs)-1 {
				next = ethType
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
		}
	}
	ls = append(ls, l3...)
	ls = append(ls, tcp, gopacket.Payload(p.Payload))
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// UDP builds a UDP datagram frame (traffic the program must pass untouched).
func UDP(src, dst netip.AddrPort, payload []byte) []byte {
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		_ = udp.SetNetworkLayerForChecksum(ip)
		ls = []gopacket.SerializableLayer{eth, ip}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		_ = udp.SetNetworkLayerForChecksum(ip)
		ls = []gopacket.SerializableLayer{eth, ip}
	}
	ls = append(ls, udp, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
