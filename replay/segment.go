package replay

import "encoding/binary"

// maxRunFrame is the largest frame BPF_PROG_TEST_RUN accepts for a program
// without fragment support: a page less the XDP headroom and the shared
// info (4096 - 256 - 320).
const maxRunFrame = 3520

// maxWireFrame is the largest frame a 1500-byte Ethernet MTU carries, with
// two VLAN tags: a larger TCP segment in a capture was assembled by GRO or
// not yet cut by TSO on the capturing host.
const maxWireFrame = 1514 + 8

// wireMSS is the payload of one full-size segment on a 1500-byte Ethernet
// with TCP timestamps: what a GRO/TSO super-segment was on the wire.
const wireMSS = 1448

// splitSegment cuts a TCP segment larger than maxWireFrame, as captured on
// a host with GRO or TSO, back into the wire-sized segments the program
// would have seen on an interface: same headers, consecutive
// sequence numbers, FIN and PSH on the last one. The IPv4 header checksum
// is recomputed; the TCP checksum is left stale, as the program does not
// read it. It returns nil when the frame is not a whole, unfragmented TCP
// segment.
func splitSegment(b []byte, f frame) [][]byte {
	if !f.tcp || f.moreFrag || f.fragment || f.l3end != len(b) {
		return nil
	}
	hdr, data := b[:f.dataOff], b[f.dataOff:f.l3end]
	var out [][]byte
	for off := 0; off < len(data); off += wireMSS {
		chunk := data[off:min(off+wireMSS, len(data))]
		seg := make([]byte, 0, len(hdr)+len(chunk))
		seg = append(append(seg, hdr...), chunk...)
		l3len := len(seg) - f.l3off
		if f.v6 {
			binary.BigEndian.PutUint16(seg[f.l3off+4:], uint16(l3len-40))
		} else {
			binary.BigEndian.PutUint16(seg[f.l3off+2:], uint16(l3len))
			ipv4Checksum(seg[f.l3off : f.l3off+int(seg[f.l3off]&0x0f)*4])
		}
		binary.BigEndian.PutUint32(seg[f.l4off+4:], f.seq+uint32(off))
		if off+len(chunk) < len(data) {
			seg[f.l4off+13] &^= tcpFIN | tcpPSH
		}
		out = append(out, seg)
	}
	return out
}

// ipv4Checksum fills in the header checksum of an IPv4 header.
func ipv4Checksum(h []byte) {
	h[10], h[11] = 0, 0
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
}
