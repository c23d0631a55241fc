package bench

import (
	"encoding/binary"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// tupleOf reads the reference program's key from a TCP frame: addresses in
// network order (IPv4 in the first word), ports as the wire has them.
func tupleOf(frame []byte) (referenceTuple, error) {
	var t referenceTuple
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		return t, fmt.Errorf("frame holds no TCP segment")
	}
	words := func(b []byte, w *[4]uint32) {
		var a [16]byte
		copy(a[:], b)
		for i := range w {
			w[i] = binary.NativeEndian.Uint32(a[4*i:])
		}
	}
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		words(ip.SrcIP.To4(), &t.Saddr)
		words(ip.DstIP.To4(), &t.Daddr)
	case *layers.IPv6:
		words(ip.SrcIP, &t.Saddr)
		words(ip.DstIP, &t.Daddr)
	default:
		return t, fmt.Errorf("frame holds no IP packet")
	}
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], uint16(tcp.SrcPort))
	t.Sport = binary.NativeEndian.Uint16(p[:])
	binary.BigEndian.PutUint16(p[:], uint16(tcp.DstPort))
	t.Dport = binary.NativeEndian.Uint16(p[:])
	return t, nil
}
