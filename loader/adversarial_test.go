package loader

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// The adversarial suite of docs/SECURITY.md: each case is a known attack on
// FTP helpers, firewalls or IDS parsers. Every case must open no pinhole to
// the hostile port, pass every control packet (ctrl.send fails otherwise),
// and move its reason counter.
//
// Hostile lines announce port 3306 (12,234) so the check "nothing hostile
// opened" is exact; the few legitimate lines announce 1025 (4,1).

const (
	hostilePort = 3306
	legitPort   = 1025
)

// Addresses: an active control connection has an inside client and an
// outside server; a passive one an outside client and an inside server.
const (
	actClient  = "10.1.0.2:40000"
	actServer  = "192.0.2.10:21"
	pasClient  = "198.51.100.7:40000"
	pasServer  = "10.1.0.10:21"
	act6Client = "[fd00::2]:40000"
	act6Server = "[2001:db8::10]:21"
)

type advCase struct {
	name    string
	passive bool // outside client, inside server (else inside client, outside server)
	v6      bool
	tweak   func(*Config)
	run     func(c *ctrl)
	want    map[string]uint64
	// legit is how many pinholes (all to legitPort) the case opens on purpose.
	legit int
}

func advCases() []advCase {
	return []advCase{
		// FTP bounce (RFC 2577, CERT CA-1997-27): PORT naming a third host.
		{name: "bounce/PORT to a third host", run: func(c *ctrl) {
			c.c("PORT 10,1,0,99,12,234\r\n")
		}, want: map[string]uint64{"reject_address_mismatch": 1, "line_port": 1}},
		{name: "bounce/PORT to the server itself", run: func(c *ctrl) {
			c.c("PORT 192,0,2,10,12,234\r\n")
		}, want: map[string]uint64{"reject_address_mismatch": 1}},
		{name: "bounce/EPRT to a third host", run: func(c *ctrl) {
			c.c("EPRT |1|10.1.0.99|3306|\r\n")
		}, want: map[string]uint64{"reject_address_mismatch": 1, "line_eprt": 1}},
		{name: "bounce/EPRT v6 to a third host", v6: true, run: func(c *ctrl) {
			c.c("EPRT |2|fd00::99|3306|\r\n")
		}, want: map[string]uint64{"reject_address_mismatch": 1}},
		{name: "bounce/227 naming another host", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227 Entering Passive Mode (10,1,0,99,12,234)\r\n")
		}, want: map[string]uint64{"reject_address_mismatch": 1, "line_227": 1}},

		// Privileged and zero ports.
		{name: "low port/PORT below the floor", run: func(c *ctrl) {
			c.c("PORT 10,1,0,2,0,25\r\n")
		}, want: map[string]uint64{"reject_low_port": 1}},
		{name: "low port/PORT port 0", run: func(c *ctrl) {
			c.c("PORT 10,1,0,2,0,0\r\n")
		}, want: map[string]uint64{"reject_low_port": 1}},
		{name: "low port/EPRT port 0", run: func(c *ctrl) {
			c.c("EPRT |1|10.1.0.2|0|\r\n")
		}, want: map[string]uint64{"reject_low_port": 1}},
		{name: "low port/229 below the floor", passive: true, run: func(c *ctrl) {
			c.c("EPSV\r\n")
			c.s("229 Entering Extended Passive Mode (|||22|)\r\n")
		}, want: map[string]uint64{"reject_low_port": 1}},
		{name: "low port/227 below the floor", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227 Entering Passive Mode (10,1,0,10,0,22)\r\n")
		}, want: map[string]uint64{"reject_low_port": 1}},

		// Numbers that wrap in a parser without range checks.
		{name: "range/octet 258 wraps to the client's address", run: func(c *ctrl) {
			c.c("PORT 10,1,0,258,12,234\r\n")
		}, want: map[string]uint64{"reject_range": 1}},
		{name: "range/port byte 256 wraps to a low port", run: func(c *ctrl) {
			c.c("PORT 10,1,0,2,256,22\r\n")
		}, want: map[string]uint64{"reject_range": 1}},
		{name: "range/four-digit octet", run: func(c *ctrl) {
			c.c("PORT 10,1,0,0002,12,234\r\n")
		}, want: map[string]uint64{"reject_range": 1}},
		{name: "range/EPRT port 65536+3306", run: func(c *ctrl) {
			c.c("EPRT |1|10.1.0.2|68842|\r\n")
		}, want: map[string]uint64{"reject_range": 1}},
		{name: "range/EPRT port of many digits", run: func(c *ctrl) {
			c.c("EPRT |1|10.1.0.2|0000000003306|\r\n")
		}, want: map[string]uint64{"reject_range": 1}},
		{name: "range/227 octet 266", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227 Entering Passive Mode (10,1,0,266,12,234)\r\n")
		}, want: map[string]uint64{"reject_range": 1}},
		{name: "range/229 port 65536+3306", passive: true, run: func(c *ctrl) {
			c.c("EPSV\r\n")
			c.s("229 Entering Extended Passive Mode (|||68842|)\r\n")
		}, want: map[string]uint64{"reject_range": 1}},

		// EPRT address family against the control connection's family.
		{name: "family/EPRT v6 on a v4 control connection", run: func(c *ctrl) {
			c.c("EPRT |2|::ffff:10.1.0.2|3306|\r\n")
		}, want: map[string]uint64{"reject_family_mismatch": 1}},
		{name: "family/EPRT v4 on a v6 control connection", v6: true, run: func(c *ctrl) {
			c.c("EPRT |1|10.1.0.2|3306|\r\n")
		}, want: map[string]uint64{"reject_family_mismatch": 1}},
		{name: "family/PORT on a v6 control connection", v6: true, run: func(c *ctrl) {
			c.c("PORT 10,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"reject_family_mismatch": 1}},

		// Replies from the wrong side.
		{name: "direction/227 from the client", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.c("227 Entering Passive Mode (10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"reject_wrong_direction": 1}},
		{name: "direction/229 from the client", passive: true, run: func(c *ctrl) {
			c.c("EPSV\r\n")
			c.c("229 Entering Extended Passive Mode (|||3306|)\r\n")
		}, want: map[string]uint64{"reject_wrong_direction": 1}},
		{name: "direction/PORT from the server", run: func(c *ctrl) {
			c.s("PORT 10,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"reject_wrong_direction": 1}},

		// 227/229 injection: a reply nobody asked for.
		{name: "pending/227 with no PASV", passive: true, run: func(c *ctrl) {
			c.s("227 Entering Passive Mode (10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"reject_no_pending": 1}},
		{name: "pending/229 with no EPSV", passive: true, run: func(c *ctrl) {
			c.s("229 Entering Extended Passive Mode (|||3306|)\r\n")
		}, want: map[string]uint64{"reject_no_pending": 1}},
		{name: "pending/229 answering a PASV", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("229 Entering Extended Passive Mode (|||3306|)\r\n")
		}, want: map[string]uint64{"reject_no_pending": 1}},
		{name: "pending/second 227 for one PASV", passive: true, legit: 1, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227 Entering Passive Mode (10,1,0,10,4,1)\r\n227 Entering Passive Mode (10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"reject_no_pending": 1, "pinhole_passive_v4": 1}},
		{name: "pending/PASV refused, then 227", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("500 PASV not allowed\r\n")
			c.s("227 Entering Passive Mode (10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"reject_no_pending": 1}},

		// 227 text echoed where it is not a reply of its own.
		{name: "echo/227 inside a multi-line reply", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("230-Welcome\r\n227 Entering Passive Mode (10,1,0,10,12,234)\r\n230 Logged in\r\n")
		}, want: map[string]uint64{"reject_multiline": 1}},
		{name: "echo/227 opening a multi-line reply", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227-Entering Passive Mode (10,1,0,10,12,234)\r\n227 Done\r\n")
		}, want: map[string]uint64{"reject_multiline": 2}},
		{name: "echo/227 inside an error reply", passive: true, run: func(c *ctrl) {
			c.c("XYZ 227 Entering Passive Mode (10,1,0,10,12,234)\r\nPASV\r\n")
			c.s("500 'XYZ 227 Entering Passive Mode (10,1,0,10,12,234)': command not understood\r\n")
		}, want: map[string]uint64{"line_227": 0, "line_other": 2}},
		{name: "echo/error reply split so a segment starts with 227", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("200 'XYZ ")
			c.s("227 Entering Passive Mode (10,1,0,10,12,234)': ok\r\n")
		}, want: map[string]uint64{"line_227": 0, "line_partial": 2}},
		{name: "echo/227 after a bare LF in a success reply", passive: true, run: func(c *ctrl) {
			// MKD of a name with a bare LF on a server that ends lines
			// only at CRLF: 257 echoes the name, LF and all.
			c.c("MKD x\n227 Entering Passive Mode (10,1,0,10,12,234)\r\nPASV\r\n")
			c.s("257 \"x\n227 Entering Passive Mode (10,1,0,10,12,234)\" created\r\n")
		}, want: map[string]uint64{"line_227": 0}},

		// NAT slipstreaming: the attacker sizes a line so that a later TCP
		// segment begins with PORT although it is inside a line.
		{name: "slipstream/PORT at the start of a mid-line segment", run: func(c *ctrl) {
			c.c("POST /" + strings.Repeat("A", 60))
			c.c("PORT 10,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"line_port": 0, "line_partial": 2}},
		{name: "slipstream/EPRT at the start of a mid-line segment", run: func(c *ctrl) {
			c.c("SITE " + strings.Repeat("A", 60))
			c.c("EPRT |1|10.1.0.2|3306|\r\n")
		}, want: map[string]uint64{"line_eprt": 0, "line_partial": 2}},
		{name: "slipstream/CRLF split across segments is still a line end", legit: 1, run: func(c *ctrl) {
			c.c("NOOP x\r")
			c.c("\nPORT 10,1,0,2,4,1\r\n")
		}, want: map[string]uint64{"line_port": 1, "pinhole_active_v4": 1}},

		// Retransmitted and out-of-window segments.
		{name: "seq/old segment replays a PORT", legit: 1, run: func(c *ctrl) {
			old := c.cseq
			c.c("PORT 10,1,0,2,4,1\r\n")
			if v := c.activeSYN(legitPort); v != Pass {
				c.g.t.Errorf("legitimate data SYN: %v", v)
			}
			c.cAt(old, "PORT 10,1,0,2,4,1\r\n") // re-arming the used pinhole
			c.cAt(old, "PORT 10,1,0,2,12,234\r\n")
			other := netip.AddrPortFrom(c.server.Addr(), 2020)
			if v := c.g.synOutside(other, netip.AddrPortFrom(c.client.Addr(), legitPort)); v != Drop {
				c.g.t.Errorf("second data SYN through a used pinhole: %v", v)
			}
		}, want: map[string]uint64{"segment_out_of_order": 2, "pinhole_refreshed": 0, "pinhole_active_v4": 1}},
		{name: "seq/segment far beyond the window", legit: 1, run: func(c *ctrl) {
			c.cAt(c.cseq+1_000_000, "PORT 10,1,0,2,12,234\r\n")
			c.c("PORT 10,1,0,2,4,1\r\n") // the real stream is still followed
		}, want: map[string]uint64{"segment_out_of_order": 1, "pinhole_active_v4": 1}},
		{name: "seq/a long segment after a gap under 64 KiB resynchronises", legit: 1, run: func(c *ctrl) {
			long := strings.Repeat("NOOP\r\n", 200) // lost data before it, then 1200 bytes
			c.cAt(c.cseq+65000, long)
			c.cseq += 65000 + uint32(len(long))
			c.c("PORT 10,1,0,2,4,1\r\n")
		}, want: map[string]uint64{"segment_out_of_order": 1, "pinhole_active_v4": 1}},
		{name: "seq/227 in a retransmitted reply", passive: true, run: func(c *ctrl) {
			old := c.sseq
			c.s("200 Fine\r\n")
			c.c("PASV\r\n")
			c.sAt(old, "227 Entering Passive Mode (10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"segment_out_of_order": 1, "line_227": 0}},
		{name: "seq/TCP fast open SYN carrying PORT", run: func(c *ctrl) {
			c.send(c.cin, testutil.TCP{Src: c.client, Dst: c.server, SYN: true, Seq: 77,
				Payload: []byte("PORT 10,1,0,2,12,234\r\n")})
		}, want: map[string]uint64{"line_port": 0}},

		// NUL bytes and Telnet IAC sequences.
		{name: "nul/NUL after the PORT argument", run: func(c *ctrl) {
			c.c("PORT 10,1,0,2,12,234\x00\r\n")
		}, want: map[string]uint64{"reject_malformed": 1}},
		{name: "nul/NUL before the PORT argument", run: func(c *ctrl) {
			c.c("PORT \x0010,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"reject_malformed": 1}},
		{name: "nul/NUL in the 227 text", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227 Entering Passive Mode\x00 (10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"reject_malformed": 1}},
		{name: "nul/NUL in the 229 text", passive: true, run: func(c *ctrl) {
			c.c("EPSV\r\n")
			c.s("229 Entering\x00 Extended Passive Mode (|||3306|)\r\n")
		}, want: map[string]uint64{"reject_malformed": 1}},
		{name: "iac/IAC NOP inside the PORT argument", run: func(c *ctrl) {
			c.c("PORT 10,1,0,2,\xff\xf112,234\r\n")
		}, want: map[string]uint64{"reject_malformed": 1}},
		{name: "iac/IAC IP IAC DM before PORT", run: func(c *ctrl) {
			c.c("\xff\xf4\xff\xf2PORT 10,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"line_port": 0, "line_other": 1}},
		{name: "iac/IAC WILL in the 227 text", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227 Entering Passive Mode \xff\xfb\x01(10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"reject_malformed": 1}},
		{name: "iac/IAC in the 229 text", passive: true, run: func(c *ctrl) {
			c.c("EPSV\r\n")
			c.s("229 Entering Extended Passive Mode \xff\xf1(|||3306|)\r\n")
		}, want: map[string]uint64{"reject_malformed": 1}},
		{name: "cr/bare CR inside the 227 text", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227 Entering Passive Mode\r(10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"reject_malformed": 1}},

		// Overlong lines and lines past the scan window.
		{name: "overlong/PORT padded with spaces", run: func(c *ctrl) {
			c.c("PORT " + strings.Repeat(" ", 150) + "10,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"reject_overlong": 1}},
		{name: "overlong/227 with long text", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.s("227 " + strings.Repeat("x", 200) + " (10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"reject_overlong": 1}},
		{name: "overlong/PORT crossing the scan window", run: func(c *ctrl) {
			c.c(strings.Repeat("NOOP\r\n", 84) + "PORT 10,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"control_truncated": 1, "line_port": 0}},
		{name: "overlong/PORT without CRLF", run: func(c *ctrl) {
			c.c("PORT 10,1,0,2,12,234\n")
		}, want: map[string]uint64{"reject_no_crlf": 1}},

		// FTPS: after AUTH TLS is accepted the stream is ciphertext.
		{name: "ftps/PORT-looking bytes after AUTH TLS", run: func(c *ctrl) {
			c.c("AUTH TLS\r\n")
			c.s("234 Proceed with negotiation.\r\n")
			c.c("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
			c.c("PORT 10,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"tls_session": 1, "tls_segment": 2, "line_port": 0}},
		{name: "ftps/227 after AUTH SSL", passive: true, run: func(c *ctrl) {
			c.c("AUTH SSL\r\n")
			c.s("334 Proceed\r\n")
			c.c("PASV\r\n")
			c.s("227 Entering Passive Mode (10,1,0,10,12,234)\r\n")
		}, want: map[string]uint64{"tls_session": 1, "tls_segment": 2, "line_227": 0}},
		{name: "ftps/multi-line 234", run: func(c *ctrl) {
			c.c("AUTH TLS\r\n")
			c.s("234-Using TLS\r\n234 Proceed\r\n")
			c.c("PORT 10,1,0,2,12,234\r\n")
		}, want: map[string]uint64{"tls_session": 1, "tls_segment": 1, "line_port": 0}},

		// Pipelining: the hostile line is refused, its neighbours still read.
		{name: "pipeline/bounce between legitimate lines", legit: 1, run: func(c *ctrl) {
			c.c("NOOP\r\nPORT 10,1,0,99,12,234\r\nPORT 10,1,0,2,4,1\r\n")
		}, want: map[string]uint64{"reject_address_mismatch": 1, "line_port": 2, "pinhole_active_v4": 1}},
	}
}

func TestAdversarial(t *testing.T) {
	for _, tc := range advCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.tweak != nil {
				tc.tweak(&cfg)
			}
			g := newGW(t, cfg)
			var c *ctrl
			switch {
			case tc.v6:
				c = g.activeCtrl(act6Client, act6Server)
			case tc.passive:
				c = g.passiveCtrl(pasClient, pasServer)
			default:
				c = g.activeCtrl(actClient, actServer)
			}
			c.handshake()
			c.s("220 ready\r\n")
			before := g.counters()
			tc.run(c)
			after := g.counters()
			expectDelta(t, before, after, tc.want)
			expectDelta(t, before, after, map[string]uint64{"packet_drop": countDrops(tc)})

			holes := g.pinholes()
			if len(holes) != tc.legit {
				t.Errorf("%d pinholes, want %d: %v", len(holes), tc.legit, holes)
			}
			for _, p := range holes {
				if p.Dest.Port() != legitPort {
					t.Errorf("hostile pinhole opened: %v", p)
				}
			}
			// The hostile port stays shut from wherever it is tried.
			if v := c.activeSYN(hostilePort); v != Drop {
				t.Errorf("SYN from the server to the client's port %d: %v", hostilePort, v)
			}
			if v := c.passiveSYN(hostilePort); v != Drop {
				t.Errorf("SYN from the client to the server's port %d: %v", hostilePort, v)
			}
		})
	}
}

// countDrops is how many packets a case drops on purpose (data SYNs it
// sends to prove a pinhole is used up); control packets never drop.
func countDrops(tc advCase) uint64 {
	if strings.HasPrefix(tc.name, "seq/old segment") {
		return 1
	}
	return 0
}

// Forgery across the gateway: an outside host sends packets carrying an
// inside host's address (XDP sees them before rp_filter could drop them), at
// sequence numbers it knows because it is the other end.
func TestAdversarialSpoofing(t *testing.T) {
	forged := func(c *ctrl, src, dst netip.AddrPort, seq uint32, payload string) testutil.TCP {
		return testutil.TCP{Src: src, Dst: dst, ACK: true, PSH: true, Seq: seq, Payload: []byte(payload)}
	}
	for _, tc := range []struct {
		name    string
		passive bool
		run     func(c *ctrl)
		want    map[string]uint64
	}{
		// A hostile server forges its inside client's PORT.
		{name: "client PORT forged from outside", run: func(c *ctrl) {
			c.send(c.g.out, forged(c, c.client, c.server, c.cseq, "PORT 10,1,0,2,12,234\r\n"))
		}, want: map[string]uint64{"reject_wrong_side": 1, "line_port": 0}},
		// A hostile client forges its inside server's 227.
		{name: "server 227 forged from outside", passive: true, run: func(c *ctrl) {
			c.c("PASV\r\n")
			c.send(c.g.out, forged(c, c.server, c.client, c.sseq, "227 Entering Passive Mode (10,1,0,10,12,234)\r\n"))
		}, want: map[string]uint64{"reject_wrong_side": 1, "line_227": 0}},
		// Forged RST or FIN to drop the state, then a forged pickup.
		{name: "forged RST then forged PORT", run: func(c *ctrl) {
			c.send(c.g.out, testutil.TCP{Src: c.client, Dst: c.server, RST: true, Seq: c.cseq})
			c.send(c.g.out, forged(c, c.client, c.server, c.cseq, "PORT 10,1,0,2,12,234\r\n"))
		}, want: map[string]uint64{"reject_wrong_side": 2, "ctrl_closed": 0}},
		{name: "forged FIN then forged PORT", run: func(c *ctrl) {
			c.send(c.g.out, testutil.TCP{Src: c.client, Dst: c.server, FIN: true, ACK: true, Seq: c.cseq})
			c.send(c.g.out, forged(c, c.client, c.server, c.cseq, "PORT 10,1,0,2,12,234\r\n"))
		}, want: map[string]uint64{"reject_wrong_side": 2, "ctrl_closed": 0}},
		// A forged client SYN to start the state afresh on the outside.
		{name: "forged client SYN then forged PORT", run: func(c *ctrl) {
			c.send(c.g.out, testutil.TCP{Src: c.client, Dst: c.server, SYN: true, Seq: 1})
			c.send(c.g.out, forged(c, c.client, c.server, 2, "PORT 10,1,0,2,12,234\r\n"))
		}, want: map[string]uint64{"reject_wrong_side": 2, "ctrl_opened": 0}},
		// The real client is still heard afterwards.
		{name: "real PORT after a forgery", run: func(c *ctrl) {
			c.send(c.g.out, forged(c, c.client, c.server, c.cseq, "PORT 10,1,0,2,12,234\r\n"))
			c.c("PORT 10,1,0,2,4,1\r\n")
		}, want: map[string]uint64{"reject_wrong_side": 1, "pinhole_active_v4": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGW(t, DefaultConfig())
			c := g.activeCtrl(actClient, actServer)
			if tc.passive {
				c = g.passiveCtrl(pasClient, pasServer)
			}
			c.handshake()
			c.s("220 ready\r\n")
			c.c("USER anonymous\r\n")
			before := g.counters()
			tc.run(c)
			expectDelta(t, before, g.counters(), tc.want)
			for _, p := range g.pinholes() {
				if p.Dest.Port() == hostilePort {
					t.Errorf("forged pinhole opened: %v", p)
				}
			}
			if v := c.activeSYN(hostilePort); v != Drop {
				t.Errorf("SYN through a forged pinhole: %v", v)
			}
			if v := c.passiveSYN(hostilePort); v != Drop {
				t.Errorf("SYN through a forged pinhole: %v", v)
			}
		})
	}
}
