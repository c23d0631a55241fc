package bench

import (
	"encoding/binary"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// putTuple writes the 4-tuple of a TCP frame into the reference program's
// map of its family: addresses in network order, ports as the wire has them.
func (r *perPacketRig) putTuple(frame []byte) error {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		return fmt.Errorf("frame holds no TCP segment")
	}
	be := func(p layers.TCPPort) uint16 {
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], uint16(p))
		return binary.NativeEndian.Uint16(b[:])
	}
	var err error
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		t := referenceTuple4{
			Saddr: binary.NativeEndian.Uint32(ip.SrcIP.To4()), Daddr: binary.NativeEndian.Uint32(ip.DstIP.To4()),
			Sport: be(tcp.SrcPort), Dport: be(tcp.DstPort),
		}
		err = r.ref.Tuples4.Put(t, uint8(1))
	case *layers.IPv6:
		t := referenceTuple6{Sport: be(tcp.SrcPort), Dport: be(tcp.DstPort)}
		for i := range 4 {
			t.Saddr[i] = binary.NativeEndian.Uint32(ip.SrcIP[4*i:])
			t.Daddr[i] = binary.NativeEndian.Uint32(ip.DstIP[4*i:])
		}
		err = r.ref.Tuples6.Put(t, uint8(1))
	default:
		return fmt.Errorf("frame holds no IP packet")
	}
	if err != nil {
		return fmt.Errorf("put reference tuple: %w", err)
	}
	return nil
}
