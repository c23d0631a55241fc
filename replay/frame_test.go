package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

func TestToEthernet(t *testing.T) {
	frame := testutil.TCP{Src: netip.MustParseAddrPort("10.0.0.5:40000"), Dst: netip.MustParseAddrPort("198.51.100.10:21"), SYN: true}.Frame()
	ip := frame[14:]
	v6 := testutil.TCP{Src: netip.MustParseAddrPort("[fd00::5]:40000"), Dst: netip.MustParseAddrPort("[2001:db8::10]:21"), SYN: true}.Frame()
	for _, tc := range []struct {
		name string
		lt   LinkType
		data []byte
		want []byte // the IP packet, behind an Ethernet header
		eth  uint16
	}{
		{"ethernet", LinkTypeEthernet, frame, ip, etherTypeIPv4},
		{"sll", LinkTypeSLL, relink(t, frame, LinkTypeSLL), ip, etherTypeIPv4},
		{"sll2", LinkTypeSLL2, relink(t, frame, LinkTypeSLL2), ip, etherTypeIPv4},
		{"raw v4", LinkTypeRaw, ip, ip, etherTypeIPv4},
		{"raw v6", LinkTypeRaw, v6[14:], v6[14:], etherTypeIPv6},
		{"ipv6", LinkTypeIPv6, v6[14:], v6[14:], etherTypeIPv6},
		{"null", LinkTypeNull, append([]byte{2, 0, 0, 0}, ip...), ip, etherTypeIPv4},
		{"loop v6", LinkTypeLoop, append([]byte{0, 0, 0, 24}, v6[14:]...), v6[14:], etherTypeIPv6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := toEthernet(tc.lt, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) < ethHeaderLen || binary.BigEndian.Uint16(got[12:]) != tc.eth || !bytes.Equal(got[ethHeaderLen:], tc.want) {
				t.Fatalf("frame % x", got)
			}
			f := parseFrame(got)
			if !f.tcp || f.dport != 21 || f.flags != tcpSYN {
				t.Errorf("parsed %+v", f)
			}
		})
	}
	if got, err := toEthernet(LinkTypeSLL, frame[:10]); err != nil || got != nil {
		t.Errorf("short SLL packet: %v, %v; want nothing to run", got, err)
	}
	_, err := toEthernet(LinkType(105), ip) // 802.11
	if !errors.Is(err, ErrLinkType) || !strings.Contains(err.Error(), "tcpdump -i any") {
		t.Errorf("802.11: %v", err)
	}
}

func TestParseFrameIPv6Extensions(t *testing.T) {
	b := testutil.TCP{
		Src: netip.MustParseAddrPort("[2001:db8::1]:20"), Dst: netip.MustParseAddrPort("[fd00::5]:40001"),
		SYN: true, VLANs: []uint16{10, 20}, IPv6HopByHop: true,
	}.Frame()
	f := parseFrame(b)
	if !f.tcp || !f.v6 || f.sport != 20 || f.dport != 40001 || f.src != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("parsed %+v", f)
	}
}

func TestSplitSegment(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 400) // 4000 bytes: a GRO super-segment
	for _, src := range []string{"10.0.0.5:40000", "[fd00::5]:40000"} {
		dst := "198.51.100.10:21"
		if strings.HasPrefix(src, "[") {
			dst = "[2001:db8::10]:21"
		}
		b := testutil.TCP{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), ACK: true, PSH: true, FIN: true, Seq: 1000, Payload: payload}.Frame()
		segs := splitSegment(b, parseFrame(b))
		if len(segs) != 3 {
			t.Fatalf("%s: %d segments, want 3", src, len(segs))
		}
		var joined []byte
		seq := uint32(1000)
		for i, s := range segs {
			f := parseFrame(s)
			if !f.tcp || f.l3end != len(s) || f.seq != seq {
				t.Errorf("%s: segment %d: %+v, want seq %d", src, i, f, seq)
			}
			last := i == len(segs)-1
			if (f.flags&tcpFIN != 0) != last || (f.flags&tcpPSH != 0) != last || f.flags&tcpACK == 0 {
				t.Errorf("%s: segment %d: flags %#x", src, i, f.flags)
			}
			if !f.v6 && ipChecksumOK(s[f.l3off:f.l4off]) == false {
				t.Errorf("%s: segment %d: bad IPv4 header checksum", src, i)
			}
			p := f.payload(s)
			seq += uint32(len(p))
			joined = append(joined, p...)
		}
		if !bytes.Equal(joined, payload) {
			t.Errorf("%s: payload not kept", src)
		}
	}
}

func ipChecksumOK(h []byte) bool {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{
		"PORT 1,2,3,4,5,6\r\nNOOP\r\n": "PORT 1,2,3,4,5,6",
		"227 =10,0,0,1,4,1":            "227 =10,0,0,1,4,1",
		"":                             "",
		strings.Repeat("x", 300):       strings.Repeat("x", maxLine),
		"\xff\xfe\r\n":                 "\uFFFD",
	} {
		if got := firstLine([]byte(in)); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenCaptureErrors(t *testing.T) {
	if _, err := OpenCapture(strings.NewReader("220 this is not a capture\r\n")); err == nil || !strings.Contains(err.Error(), "not a pcap or pcapng capture") {
		t.Errorf("text file: %v", err)
	}
	s := activeSession()
	b := s.pcap(t, LinkTypeEthernet)
	c, err := OpenCapture(bytes.NewReader(b[:len(b)-10]))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for {
		_, err = c.Next()
		if err != nil {
			break
		}
		n++
	}
	if n != len(s.pkts)-1 || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "packet 8: capture ends mid-packet") {
		t.Errorf("after %d packets: %v", n, err)
	}
}
