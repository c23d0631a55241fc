package replay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Packet is one captured frame, as the capture file holds it.
type Packet struct {
	// Number counts packets from 1 in capture order, as Wireshark and
	// tcpdump -# number them.
	Number int
	Time   time.Time
	// LinkType is the link layer of Data (Ethernet, Linux cooked, raw IP).
	LinkType LinkType
	// Data is valid until the next call to Capture.Next.
	Data []byte
	// Truncated is set when the capture kept less than the wire carried
	// (its snap length was too small).
	Truncated bool
}

// Capture reads the packets of a pcap or pcapng file in order, without
// libpcap.
type Capture struct {
	read     func() ([]byte, gopacket.CaptureInfo, error)
	linkType func(gopacket.CaptureInfo) LinkType
	n        int
}

// pcapng files start with a section header block, 0x0A0D0D0A in either
// byte order.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// OpenCapture reads a pcap (also gzip-compressed) or pcapng stream.
func OpenCapture(r io.Reader) (*Capture, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("read capture header: %w", err)
	}
	if bytes.Equal(head, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("read pcapng header: %w", err)
		}
		return &Capture{
			read: ng.ZeroCopyReadPacketData,
			linkType: func(ci gopacket.CaptureInfo) LinkType {
				if len(ci.AncillaryData) > 0 {
					if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
						return fromGopacket(lt)
					}
				}
				return fromGopacket(ng.LinkType())
			},
		}, nil
	}
	lt, known := pcapLinkType(br)
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng capture: %w", err)
	}
	if !known {
		lt = fromGopacket(pr.LinkType())
	}
	return &Capture{
		read:     pr.ZeroCopyReadPacketData,
		linkType: func(gopacket.CaptureInfo) LinkType { return lt },
	}, nil
}

// pcapLinkType reads the full 32-bit link type of an uncompressed pcap
// file header.
func pcapLinkType(br *bufio.Reader) (LinkType, bool) {
	h, err := br.Peek(24)
	if err != nil {
		return 0, false
	}
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4, 0xa1b23c4d: // microseconds, nanoseconds
		return LinkType(binary.LittleEndian.Uint32(h[20:]) & 0x0fffffff), true // upper bits: FCS
	case 0xd4c3b2a1, 0x4d3cb2a1:
		return LinkType(binary.BigEndian.Uint32(h[20:]) & 0x0fffffff), true
	}
	return 0, false
}

// Next returns the next packet, or io.EOF after the last one.
func (c *Capture) Next() (Packet, error) {
	data, ci, err := c.read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Packet{}, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Packet{}, fmt.Errorf("packet %d: capture ends mid-packet (was it still being written?): %w", c.n+1, err)
		}
		return Packet{}, fmt.Errorf("packet %d: %w", c.n+1, err)
	}
	c.n++
	return Packet{
		Number:    c.n,
		Time:      ci.Timestamp,
		LinkType:  c.linkType(ci),
		Data:      data,
		Truncated: ci.CaptureLength < ci.Length,
	}, nil
}
