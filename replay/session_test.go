package replay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// captured is one synthetic packet: an Ethernet frame and its time.
type captured struct {
	at    time.Duration // from the start of the capture
	frame []byte
}

// session writes the packets of TCP connections with consistent sequence
// numbers, as a capture of a real exchange would hold them.
type session struct {
	pkts []captured
	now  time.Duration
}

// conn is one TCP connection of a session.
type conn struct {
	s              *session
	client, server netip.AddrPort
	cseq, sseq     uint32
}

// at sets the capture time of the packets added next.
func (s *session) at(d time.Duration) *session { s.now = d; return s }

func (s *session) add(p testutil.TCP) {
	s.pkts = append(s.pkts, captured{at: s.now, frame: p.Frame()})
	s.now += time.Millisecond
}

// dial adds a three-way handshake.
func (s *session) dial(client, server string) *conn {
	c := &conn{s: s, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server), cseq: 1000, sseq: 5000}
	s.add(testutil.TCP{Src: c.client, Dst: c.server, SYN: true, Seq: c.cseq})
	c.cseq++
	s.add(testutil.TCP{Src: c.server, Dst: c.client, SYN: true, ACK: true, Seq: c.sseq, Ack: c.cseq})
	c.sseq++
	s.add(testutil.TCP{Src: c.client, Dst: c.server, ACK: true, Seq: c.cseq, Ack: c.sseq})
	return c
}

// send adds a segment from the client.
func (c *conn) send(payload string) {
	c.s.add(testutil.TCP{Src: c.client, Dst: c.server, ACK: true, PSH: true, Seq: c.cseq, Ack: c.sseq, Payload: []byte(payload)})
	c.cseq += uint32(len(payload))
}

// reply adds a segment from the server.
func (c *conn) reply(payload string) {
	c.s.add(testutil.TCP{Src: c.server, Dst: c.client, ACK: true, PSH: true, Seq: c.sseq, Ack: c.cseq, Payload: []byte(payload)})
	c.sseq += uint32(len(payload))
}

// syn adds a lone SYN (a data connection's first packet).
func (s *session) syn(src, dst string) {
	s.add(testutil.TCP{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), SYN: true, Seq: 77})
}

// captureStart is the wall-clock time of the first synthetic packet.
var captureStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// pcap writes the session as a pcap file of link type lt, converting the
// Ethernet frames as a capture on that link would hold them.
func (s *session) pcap(t testing.TB, lt LinkType) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(65535, layers.LinkType(lt&0xff)); err != nil {
		t.Fatal(err)
	}
	// gopacket's link type is 8 bits wide: patch the real one in.
	binary.LittleEndian.PutUint32(b.Bytes()[20:], uint32(lt))
	for _, p := range s.pkts {
		data := relink(t, p.frame, lt)
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(p.at), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// pcapng writes the session as a pcapng file of Ethernet frames.
func (s *session) pcapng(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.pkts {
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(p.at), CaptureLength: len(p.frame), Length: len(p.frame)}
		if err := w.WritePacket(ci, p.frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// relink turns an Ethernet frame into what a capture of link type lt holds.
func relink(t testing.TB, frame []byte, lt LinkType) []byte {
	etherType, ip := frame[12:14], frame[14:]
	switch lt {
	case LinkTypeEthernet:
		return frame
	case LinkTypeSLL:
		h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
		return append(append(h, etherType...), ip...)
	case LinkTypeSLL2:
		h := append([]byte{}, etherType...)
		h = append(h, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0)
		return append(h, ip...)
	case LinkTypeRaw:
		return ip
	}
	t.Fatalf("relink: link type %d", lt)
	return nil
}

// sig is the part of an event a test asserts: what happened, to which
// packet, and the pinhole's shape.
func sig(e Event) string {
	s := fmt.Sprintf("#%d %s", e.Packet, e.Kind)
	if e.Reason != "" {
		s += " " + e.Reason
	}
	s += fmt.Sprintf(" %s %s %s>%s", e.Side, e.Verdict, e.Source, e.Destination)
	if p := e.Pinhole; p != nil {
		s += fmt.Sprintf(" [%s %s>%s:%d]", p.Mode, p.Source, p.DestAddress, p.DestPort)
	}
	return s
}

func sigs(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(sig(e) + "\n")
	}
	return b.String()
}
