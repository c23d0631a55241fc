package bench

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// Kinds of packet class, which say which target a class counts for.
const (
	kindData    = "data"
	kindSYN     = "syn"
	kindOther   = "other"
	kindControl = "control"
)

// packetClass is one kind of packet the per-packet benchmark runs through
// every program.
type packetClass struct {
	Name string
	Kind string
	// Frame is the Ethernet frame sent on every repeat.
	Frame []byte
	// Verdict is what ftpxdp must do with it.
	Verdict loader.Verdict
	// Path names the counters ftpxdp must count once per repeat: the proof
	// that the benchmark measures the path it claims.
	Path []string
	// Pinhole, when set, is (re)written before every ftpxdp run, so that
	// every run starts from a fresh pinhole.
	Pinhole *pinhole.Pinhole
	// Tuple, when set, is in the reference program's map.
	Tuple bool
}

// The hosts of the per-packet classes: a server-side gateway (the FTP
// server inside, its clients outside) for the commands, a client-side one
// (the server outside) for the replies. All of them arrive on the outside.
var (
	outsideClient = netip.MustParseAddr("192.0.2.10")
	insideServer  = netip.MustParseAddr("10.0.0.2")
	outsideServer = netip.MustParseAddr("198.51.100.20")
	insideClient  = netip.MustParseAddr("10.0.0.5")
	outsideV6     = netip.MustParseAddr("2001:db8::10")
	insideV6      = netip.MustParseAddr("fd00::2")
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// multiLineReply is a long login banner: many lines, more than the 512
// bytes the kernel program scans.
func multiLineReply() []byte {
	var b strings.Builder
	b.WriteString("230-Welcome to the ftpxdp benchmark archive.\r\n")
	for i := 1; i <= 24; i++ {
		fmt.Fprintf(&b, "230-  Mirror %02d: pub/linux/kernel/v6.x and pub/debian, synced hourly.\r\n", i)
	}
	b.WriteString("230 Login successful.\r\n")
	return []byte(b.String())
}

// perPacketClasses are the classes of the per-packet benchmark.
func perPacketClasses(now uint64) []packetClass {
	data := func(n int) []byte { return make([]byte, n) }
	cmd := func(cport uint16, line string) []byte {
		return testutil.TCP{Src: ap(outsideClient, cport), Dst: ap(insideServer, 21),
			ACK: true, PSH: true, Seq: 1000, Ack: 2000, Payload: []byte(line)}.Frame()
	}
	reply := func(cport uint16, text []byte) []byte {
		return testutil.TCP{Src: ap(outsideServer, 21), Dst: ap(insideClient, cport),
			ACK: true, PSH: true, Seq: 3000, Ack: 4000, Payload: text}.Frame()
	}
	hole := pinhole.Pinhole{
		Source: outsideClient, Dest: ap(insideServer, 50000), Mode: pinhole.Passive,
		Control:   pinhole.Control{Client: ap(outsideClient, 40000), Server: ap(insideServer, 21)},
		CreatedNs: now, ExpiresNs: now + uint64(loader.DefaultConfig().PinholeTimeout),
	}
	return []packetClass{
		{Name: "data-1448", Kind: kindData, Path: []string{"packet_pass"},
			Frame: testutil.TCP{Src: ap(outsideClient, 40001), Dst: ap(insideServer, 50000), ACK: true, Seq: 1, Ack: 1, Payload: data(1448)}.Frame()},
		{Name: "data-64", Kind: kindData, Path: []string{"packet_pass"},
			Frame: testutil.TCP{Src: ap(outsideClient, 40001), Dst: ap(insideServer, 50000), ACK: true, Seq: 1, Ack: 1, Payload: data(64)}.Frame()},
		{Name: "data-ipv6-1428", Kind: kindData, Path: []string{"packet_pass"},
			Frame: testutil.TCP{Src: ap(outsideV6, 40001), Dst: ap(insideV6, 50000), ACK: true, Seq: 1, Ack: 1, Payload: data(1428)}.Frame()},
		{Name: "syn-pinhole", Kind: kindSYN, Path: []string{"syn_retransmit_grace"}, Pinhole: &hole, Tuple: true,
			Frame: testutil.TCP{Src: ap(outsideClient, 40002), Dst: hole.Dest, SYN: true, Seq: 1}.Frame()},
		{Name: "syn-none", Kind: kindSYN, Verdict: loader.Drop, Path: []string{"syn_no_pinhole", "packet_drop"},
			Frame: testutil.TCP{Src: ap(outsideClient, 40003), Dst: ap(insideServer, 50001), SYN: true, Seq: 1}.Frame()},
		{Name: "udp", Kind: kindOther, Path: []string{"packet_pass"},
			Frame: testutil.UDP(ap(outsideClient, 5353), ap(insideServer, 53), data(64))},
		{Name: "ctl-PORT", Kind: kindControl, Path: []string{"line_port", "pinhole_refreshed"},
			Frame: cmd(40010, "PORT 192,0,2,10,195,80\r\n")},
		{Name: "ctl-EPRT", Kind: kindControl, Path: []string{"line_eprt", "pinhole_refreshed"},
			Frame: cmd(40011, "EPRT |1|192.0.2.10|50001|\r\n")},
		{Name: "ctl-227", Kind: kindControl, Path: []string{"line_227", "pinhole_refreshed"},
			Frame: reply(40012, []byte("227 Entering Passive Mode (198,51,100,20,195,82).\r\n"))},
		{Name: "ctl-229", Kind: kindControl, Path: []string{"line_229", "pinhole_refreshed"},
			Frame: reply(40013, []byte("229 Entering Extended Passive Mode (|||50003|)\r\n"))},
		{Name: "ctl-USER", Kind: kindControl, Path: []string{"line_other"},
			Frame: cmd(40014, "USER anonymous\r\n")},
		{Name: "ctl-RETR", Kind: kindControl, Path: []string{"line_other"},
			Frame: cmd(40015, "RETR pub/linux/kernel/v6.x/linux-6.18.tar.xz\r\n")},
		{Name: "ctl-150", Kind: kindControl, Path: []string{"line_other"},
			Frame: reply(40016, []byte("150 Opening BINARY mode data connection for linux-6.18.tar.xz (148193044 bytes).\r\n"))},
		{Name: "ctl-multiline", Kind: kindControl, Path: []string{"line_other", "control_truncated"},
			Frame: reply(40017, multiLineReply())},
	}
}
