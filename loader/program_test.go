package loader

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// The compiled program, run with BPF_PROG_TEST_RUN on frames built with
// gopacket: each case sends its packets in order and checks every verdict,
// the pinhole map afterwards and the counter deltas of the whole case.

// progStep is one packet and the verdict it must get.
type progStep struct {
	pkt   testutil.TCP
	frame []byte        // sent instead of pkt when set
	at    time.Duration // when set, the clock is baseClock+at for this packet
	want  Verdict
}

func pass(p testutil.TCP) progStep { return progStep{pkt: p, want: Pass} }
func drop(p testutil.TCP) progStep { return progStep{pkt: p, want: Drop} }

// hole is what a case expects of one pinhole; its control connection is
// always the case's.
type hole struct {
	src, dst string
	mode     pinhole.Mode
	hits     uint32
}

// Addresses of the cases.
const (
	cli4 = "10.0.0.2:40000"
	srv4 = "192.0.2.10:21"
	cli6 = "[2001:db8::2]:40000"
	srv6 = "[2001:db8:1::10]:21"
)

type progCase struct {
	name           string
	client, server string // the control connection; cli4/srv4 when empty
	cfg            func(*Config)
	role           Role
	vlans          []uint16
	ipv4Opts       []byte
	hbh            bool
	steps          func(s *session) []progStep
	holes          []hole
	counters       map[string]uint64
}

// c is the counter map of a case: name, value, name, value...
func c(kv ...any) map[string]uint64 {
	m := map[string]uint64{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = uint64(kv[i+1].(int))
	}
	return m
}

// one is the counters of n passed packets that are one control line each,
// plus extra.
func lines(n int, extra ...any) map[string]uint64 {
	m := c(extra...)
	m["packet_pass"] += uint64(n)
	m["control_segment"] += uint64(n)
	return m
}

func activePort(s *session) []progStep {
	return []progStep{pass(s.cmd("PORT 10,0,0,2,4,1\r\n"))}
}

var activeHole = []hole{{"192.0.2.10", "10.0.0.2:1025", pinhole.Active, 0}}

func commandCases() []progCase {
	one := func(text string) func(*session) []progStep {
		return func(s *session) []progStep { return []progStep{pass(s.cmd(text))} }
	}
	pasv := func(req, text string) func(*session) []progStep {
		return func(s *session) []progStep { return []progStep{pass(s.cmd(req)), pass(s.reply(text))} }
	}
	passive4 := []hole{{"10.0.0.2", "192.0.2.10:1025", pinhole.Passive, 0}}
	active6 := []hole{{"2001:db8:1::10", "[2001:db8::2]:1025", pinhole.Active, 0}}
	passive6 := []hole{{"2001:db8::2", "[2001:db8:1::10]:50000", pinhole.Passive, 0}}
	return []progCase{
		{name: "PORT", steps: activePort, holes: activeHole,
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1)},
		{name: "PORT lower case, spaces", steps: one("port   10,0,0,2,4,1  \r\n"), holes: activeHole,
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1)},
		{name: "EPRT |1|", steps: one("EPRT |1|10.0.0.2|1025|\r\n"), holes: activeHole,
			counters: lines(1, "line_eprt", 1, "pinhole_active_v4", 1)},
		{name: "EPRT |1| delimiter !", steps: one("EPRT !1!10.0.0.2!1025!\r\n"), holes: activeHole,
			counters: lines(1, "line_eprt", 1, "pinhole_active_v4", 1)},
		{name: "EPRT |1| delimiter ~ lower case", steps: one("eprt ~1~10.0.0.2~1025~\r\n"), holes: activeHole,
			counters: lines(1, "line_eprt", 1, "pinhole_active_v4", 1)},
		{name: "EPRT |2| full", client: cli6, server: srv6, steps: one("EPRT |2|2001:db8:0:0:0:0:0:2|1025|\r\n"), holes: active6,
			counters: lines(1, "line_eprt", 1, "pinhole_active_v6", 1)},
		{name: "EPRT |2| ::", client: cli6, server: srv6, steps: one("EPRT |2|2001:db8::2|1025|\r\n"), holes: active6,
			counters: lines(1, "line_eprt", 1, "pinhole_active_v6", 1)},
		{name: "EPRT |2| :: upper case, delimiter #", client: cli6, server: srv6, steps: one("EPRT #2#2001:DB8:0::0:2#1025#\r\n"), holes: active6,
			counters: lines(1, "line_eprt", 1, "pinhole_active_v6", 1)},
		{name: "EPRT |2| leading ::", client: "[::2]:40000", server: srv6, steps: one("EPRT |2|::2|1025|\r\n"),
			holes:    []hole{{"2001:db8:1::10", "[::2]:1025", pinhole.Active, 0}},
			counters: lines(1, "line_eprt", 1, "pinhole_active_v6", 1)},
		{name: "EPRT |2| trailing ::", client: "[2001:db8::]:40000", server: srv6, steps: one("EPRT |2|2001:db8::|1025|\r\n"),
			holes:    []hole{{"2001:db8:1::10", "[2001:db8::]:1025", pinhole.Active, 0}},
			counters: lines(1, "line_eprt", 1, "pinhole_active_v6", 1)},
		{name: "227 parentheses", steps: pasv("PASV\r\n", "227 Entering Passive Mode (192,0,2,10,4,1).\r\n"), holes: passive4,
			counters: lines(2, "line_pasv", 1, "line_227", 1, "pinhole_passive_v4", 1)},
		{name: "227 no parentheses", steps: pasv("pasv\r\n", "227 Entering passive mode. 192,0,2,10,4,1\r\n"), holes: passive4,
			counters: lines(2, "line_pasv", 1, "line_227", 1, "pinhole_passive_v4", 1)},
		{name: "227 =", steps: pasv("PASV\r\n", "227 =192,0,2,10,4,1\r\n"), holes: passive4,
			counters: lines(2, "line_pasv", 1, "line_227", 1, "pinhole_passive_v4", 1)},
		{name: "229 v4", steps: pasv("EPSV\r\n", "229 Entering Extended Passive Mode (|||1025|)\r\n"), holes: passive4,
			counters: lines(2, "line_epsv", 1, "line_229", 1, "pinhole_passive_v4", 1)},
		{name: "229 v6", client: cli6, server: srv6, steps: pasv("EPSV\r\n", "229 Extended Passive Mode OK (|||50000|)\r\n"), holes: passive6,
			counters: lines(2, "line_epsv", 1, "line_229", 1, "pinhole_passive_v6", 1)},
		{name: "229 v6 delimiter !", client: cli6, server: srv6, steps: pasv("EPSV 2\r\n", "229 ok (!!!50000!)\r\n"), holes: passive6,
			counters: lines(2, "line_epsv", 1, "line_229", 1, "pinhole_passive_v6", 1)},
		{name: "one VLAN", vlans: []uint16{10}, steps: activePort, holes: activeHole,
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1)},
		{name: "two VLANs", vlans: []uint16{10, 20}, steps: activePort, holes: activeHole,
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1)},
		{name: "IPv4 options", ipv4Opts: []byte{0x94, 0x04, 0, 0}, steps: activePort, holes: activeHole,
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1)},
		{name: "IPv6 hop-by-hop, two VLANs", client: cli6, server: srv6, hbh: true, vlans: []uint16{10, 20},
			steps: pasv("EPSV\r\n", "229 (|||50000|)\r\n"), holes: passive6,
			counters: lines(2, "line_epsv", 1, "line_229", 1, "pinhole_passive_v6", 1)},
		{name: "several lines in one segment", steps: one("USER ftp\r\nPASS x\r\nTYPE I\r\nPORT 10,0,0,2,4,1\r\n"), holes: activeHole,
			counters: lines(1, "line_other", 3, "line_port", 1, "pinhole_active_v4", 1)},
	}
}

func rejectCases() []progCase {
	one := func(text string) func(*session) []progStep {
		return func(s *session) []progStep { return []progStep{pass(s.cmd(text))} }
	}
	pasv := func(req, text string) func(*session) []progStep {
		return func(s *session) []progStep { return []progStep{pass(s.cmd(req)), pass(s.reply(text))} }
	}
	return []progCase{
		{name: "PORT to another address", steps: one("PORT 10,0,0,3,4,1\r\n"),
			counters: lines(1, "line_port", 1, "reject_address_mismatch", 1)},
		{name: "227 from another address", steps: pasv("PASV\r\n", "227 (198,51,100,1,4,1)\r\n"),
			counters: lines(2, "line_pasv", 1, "line_227", 1, "reject_address_mismatch", 1)},
		{name: "227 from another address, loose", cfg: func(c *Config) { c.Loose = true },
			steps:    pasv("PASV\r\n", "227 (198,51,100,1,4,1)\r\n"),
			holes:    []hole{{"10.0.0.2", "192.0.2.10:1025", pinhole.Passive, 0}},
			counters: lines(2, "line_pasv", 1, "line_227", 1, "pinhole_passive_v4", 1)},
		{name: "low port", steps: one("PORT 10,0,0,2,3,255\r\n"),
			counters: lines(1, "line_port", 1, "reject_low_port", 1)},
		{name: "port 0", cfg: func(c *Config) { c.MinPort = 1 }, steps: one("EPRT |1|10.0.0.2|0|\r\n"),
			counters: lines(1, "line_eprt", 1, "reject_low_port", 1)},
		{name: "octet 256", steps: one("PORT 10,0,0,256,4,1\r\n"),
			counters: lines(1, "line_port", 1, "reject_range", 1)},
		{name: "229 port 65536", steps: pasv("EPSV\r\n", "229 (|||65536|)\r\n"),
			counters: lines(2, "line_epsv", 1, "line_229", 1, "reject_range", 1)},
		{name: "EPRT |2| on IPv4", steps: one("EPRT |2|::1|1025|\r\n"),
			counters: lines(1, "line_eprt", 1, "reject_family_mismatch", 1)},
		{name: "PORT on IPv6", client: cli6, server: srv6, steps: one("PORT 10,0,0,2,4,1\r\n"),
			counters: lines(1, "line_port", 1, "reject_family_mismatch", 1)},
		{name: "EPRT two ::", client: cli6, server: srv6, steps: one("EPRT |2|2001::db8::2|1025|\r\n"),
			counters: lines(1, "line_eprt", 1, "reject_malformed", 1)},
		{name: "PORT five numbers", steps: one("PORT 10,0,0,2,4\r\n"),
			counters: lines(1, "line_port", 1, "reject_malformed", 1)},
		{name: "no CR", steps: one("PORT 10,0,0,2,4,1\n"),
			counters: lines(1, "line_port", 1, "reject_no_crlf", 1)},
		{name: "overlong", steps: one("PORT 10,0,0,2,4,1" + strings.Repeat(" ", 120) + "\r\n"),
			counters: lines(1, "line_port", 1, "reject_overlong", 1)},
		{name: "227 from the client", steps: one("227 (10,0,0,2,4,1)\r\n"),
			counters: lines(1, "reject_wrong_direction", 1)},
		{name: "PORT from the server", steps: func(s *session) []progStep {
			return []progStep{pass(s.reply("PORT 192,0,2,10,4,1\r\n"))}
		}, counters: lines(1, "reject_wrong_direction", 1)},
		{name: "227 without PASV", steps: func(s *session) []progStep {
			return []progStep{pass(s.reply("227 (192,0,2,10,4,1)\r\n"))}
		}, counters: lines(1, "line_227", 1, "reject_no_pending", 1)},
		{name: "227 after an error", steps: func(s *session) []progStep {
			return []progStep{pass(s.cmd("PASV\r\n")), pass(s.reply("425 busy\r\n")), pass(s.reply("227 (192,0,2,10,4,1)\r\n"))}
		}, counters: lines(3, "line_pasv", 1, "line_other", 1, "line_227", 1, "reject_no_pending", 1)},
		{name: "227 inside a multi-line reply", steps: func(s *session) []progStep {
			return []progStep{pass(s.cmd("PASV\r\n")), pass(s.reply("230-Welcome\r\n227 (192,0,2,10,4,1)\r\n230 ok\r\n"))}
		}, counters: lines(2, "line_pasv", 1, "line_other", 2, "reject_multiline", 1)},
		{name: "rate limit", cfg: func(c *Config) { c.RateWindow, c.RateBurst, c.MaxPerControl = time.Second, 1, 2 },
			steps: one("PORT 10,0,0,2,4,1\r\nPORT 10,0,0,2,4,2\r\n"), holes: activeHole,
			counters: lines(1, "line_port", 2, "pinhole_active_v4", 1, "reject_rate_limit", 1)},
		{name: "map full", cfg: func(c *Config) { c.MaxPinholes, c.MaxPerControl = 1, 2 },
			steps: one("PORT 10,0,0,2,4,1\r\nPORT 10,0,0,2,4,2\r\n"), holes: activeHole,
			counters: lines(1, "line_port", 2, "pinhole_active_v4", 1, "reject_map_full", 1)},
		{name: "TLS: nothing read after 234", steps: func(s *session) []progStep {
			return []progStep{pass(s.cmd("AUTH TLS\r\n")), pass(s.reply("234 Proceed\r\n")), pass(s.cmd("PORT 10,0,0,2,4,1\r\n"))}
		}, counters: lines(3, "line_auth", 1, "line_234", 1, "tls_session", 1, "tls_segment", 1)},
		{name: "retransmitted PORT is not acted on", steps: func(s *session) []progStep {
			p := s.cmd("NOOP\r\n")
			q := s.cmd("PORT 10,0,0,2,4,1\r\n")
			q.Seq = p.Seq
			return []progStep{pass(p), pass(q)}
		}, counters: lines(2, "line_other", 1, "segment_out_of_order", 1)},
		{name: "line split across segments", steps: func(s *session) []progStep {
			return []progStep{pass(s.cmd("PORT 10,0,")), pass(s.cmd("0,2,4,1\r\nPASV\r\n"))}
		}, counters: lines(2, "line_partial", 2, "line_pasv", 1)},
		{name: "segment over 512 bytes", steps: func(s *session) []progStep {
			return []progStep{pass(s.cmd(strings.Repeat("NOOP\r\n", 100))), pass(s.cmd("PORT 10,0,0,2,4,1\r\n"))}
		}, holes: activeHole,
			counters: lines(2, "control_truncated", 1, "line_other", 85, "line_partial", 1, "line_port", 1, "pinhole_active_v4", 1)},
	}
}

func synCases() []progCase {
	data := "192.0.2.10:20"
	return []progCase{
		{name: "SYN admitted and consumed", role: Outside, steps: func(s *session) []progStep {
			return append(activePort(s),
				pass(s.syn(data, "10.0.0.2:1025")),
				pass(s.syn(data, "10.0.0.2:1025")),              // retransmission
				drop(s.syn("192.0.2.10:2020", "10.0.0.2:1025")), // another source port
			)
		}, holes: []hole{{"192.0.2.10", "10.0.0.2:1025", pinhole.Active, 2}},
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1, "packet_pass", 2, "packet_drop", 1,
				"syn_allowed_pinhole", 1, "syn_retransmit_grace", 1, "syn_consumed_pinhole", 1)},
		{name: "SYN retransmitted after the grace period", role: Outside, steps: func(s *session) []progStep {
			late := drop(s.syn(data, "10.0.0.2:1025"))
			late.at = 5 * time.Second
			return append(activePort(s), pass(s.syn(data, "10.0.0.2:1025")), late)
		}, holes: []hole{{"192.0.2.10", "10.0.0.2:1025", pinhole.Active, 1}},
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1, "packet_pass", 1, "packet_drop", 1,
				"syn_allowed_pinhole", 1, "syn_expired_pinhole", 1)},
		{name: "SYN dropped without a pinhole", role: Outside, steps: func(s *session) []progStep {
			return append(activePort(s),
				drop(s.syn(data, "10.0.0.2:1026")),            // another port
				drop(s.syn("192.0.2.11:20", "10.0.0.2:1025")), // another source
			)
		}, holes: activeHole,
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1, "packet_drop", 2, "syn_no_pinhole", 2)},
		{name: "SYN after expiry", role: Outside, steps: func(s *session) []progStep {
			early := pass(s.syn(data, "10.0.0.2:1025"))
			early.at = 5*time.Minute - 1
			late := drop(s.syn(data, "10.0.0.2:1025"))
			late.at = 5 * time.Minute
			// The retransmission grace cannot outlive the pinhole.
			return append(activePort(s), early, late)
		}, holes: []hole{{"192.0.2.10", "10.0.0.2:1025", pinhole.Active, 1}},
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1, "packet_pass", 1, "packet_drop", 1,
				"syn_allowed_pinhole", 1, "syn_expired_pinhole", 1)},
		{name: "unused pinhole expires", role: Outside, steps: func(s *session) []progStep {
			late := drop(s.syn(data, "10.0.0.2:1025"))
			late.at = 5 * time.Minute
			return append(activePort(s), late)
		}, holes: activeHole,
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1, "packet_drop", 1, "syn_expired_pinhole", 1)},
		{name: "passive SYN to a protected server", role: Outside, client: cli6, server: srv6, steps: func(s *session) []progStep {
			return []progStep{pass(s.cmd("EPSV\r\n")), pass(s.reply("229 (|||50000|)\r\n")),
				pass(s.syn("[2001:db8::2]:40001", "[2001:db8:1::10]:50000"))}
		}, holes: []hole{{"2001:db8::2", "[2001:db8:1::10]:50000", pinhole.Passive, 1}},
			counters: lines(2, "line_epsv", 1, "line_229", 1, "pinhole_passive_v6", 1, "packet_pass", 1, "syn_allowed_pinhole", 1)},
		{name: "SYN-ACK and ACK pass", role: Outside, steps: func(s *session) []progStep {
			sa := s.syn(data, "10.0.0.2:1025")
			sa.ACK = true
			a := s.syn(data, "10.0.0.2:1025")
			a.SYN, a.ACK = false, true
			return []progStep{pass(sa), pass(a)}
		}, counters: c("packet_pass", 2)},
		{name: "observe: would drop", role: Outside, cfg: func(c *Config) { c.Observe = true }, steps: func(s *session) []progStep {
			return []progStep{pass(s.syn(data, "10.0.0.2:1025"))}
		}, counters: c("packet_pass", 1, "syn_no_pinhole", 1, "packet_would_drop", 1)},
		{name: "observe: admitted is not a would-drop", role: Outside, cfg: func(c *Config) { c.Observe = true }, steps: func(s *session) []progStep {
			return append(activePort(s), pass(s.syn(data, "10.0.0.2:1025")))
		}, holes: []hole{{"192.0.2.10", "10.0.0.2:1025", pinhole.Active, 1}},
			counters: lines(1, "line_port", 1, "pinhole_active_v4", 1, "packet_pass", 1, "syn_allowed_pinhole", 1)},
		{name: "control SYN dropped without an allow rule", role: Outside, steps: func(s *session) []progStep {
			return []progStep{drop(s.syn(cli4, srv4))}
		}, counters: c("packet_drop", 1, "syn_no_pinhole", 1)},
		{name: "allow rule for any address", role: Outside,
			cfg: func(c *Config) { c.Allow = []AllowRule{{Port: 21}} },
			steps: func(s *session) []progStep {
				return []progStep{pass(s.syn(cli4, srv4)), pass(s.syn(cli6, srv6)), drop(s.syn(cli4, "192.0.2.10:22"))}
			}, counters: c("packet_pass", 2, "packet_drop", 1, "syn_allowed_rule", 2, "ctrl_opened", 2, "syn_no_pinhole", 1)},
		{name: "allow rule for one address", role: Outside,
			cfg: func(c *Config) { c.Allow = []AllowRule{{Port: 21, Addr: netip.MustParseAddr("192.0.2.10")}} },
			steps: func(s *session) []progStep {
				return []progStep{pass(s.syn(cli4, srv4)), drop(s.syn(cli4, "192.0.2.11:21")), drop(s.syn(cli6, srv6))}
			}, counters: c("packet_pass", 1, "packet_drop", 2, "syn_allowed_rule", 1, "ctrl_opened", 1, "syn_no_pinhole", 2)},
		{name: "one per control: the new replaces the old", steps: func(s *session) []progStep {
			return []progStep{pass(s.cmd("PORT 10,0,0,2,4,1\r\n")), pass(s.cmd("PORT 10,0,0,2,4,2\r\n"))}
		}, holes: []hole{{"192.0.2.10", "10.0.0.2:1026", pinhole.Active, 0}},
			counters: lines(2, "line_port", 2, "pinhole_active_v4", 2, "pinhole_replaced", 1)},
		{name: "two per control: the third replaces the first", cfg: func(c *Config) { c.MaxPerControl = 2 }, steps: func(s *session) []progStep {
			return []progStep{pass(s.cmd("PORT 10,0,0,2,4,1\r\n")), pass(s.cmd("PORT 10,0,0,2,4,2\r\n")), pass(s.cmd("PORT 10,0,0,2,4,3\r\n"))}
		}, holes: []hole{{"192.0.2.10", "10.0.0.2:1026", pinhole.Active, 0}, {"192.0.2.10", "10.0.0.2:1027", pinhole.Active, 0}},
			counters: lines(3, "line_port", 3, "pinhole_active_v4", 3, "pinhole_replaced", 1)},
		{name: "the same announcement refreshes", steps: func(s *session) []progStep {
			steps := activePort(s)
			again := pass(s.cmd("PORT 10,0,0,2,4,1\r\n"))
			again.at = time.Minute
			return append(steps, again)
		}, holes: activeHole,
			counters: lines(2, "line_port", 2, "pinhole_active_v4", 1, "pinhole_refreshed", 1)},
		{name: "FIN and RST close the control state", steps: func(s *session) []progStep {
			pasv := s.cmd("PASV\r\n")
			fin := s.cmd("QUIT\r\n")
			fin.FIN = true
			rst := s.tcp(pinhole.ServerToClient)
			rst.RST = true
			return []progStep{pass(pasv), pass(fin), pass(rst)}
		}, counters: lines(2, "line_pasv", 1, "line_other", 1, "ctrl_closed", 1, "packet_pass", 1)},
	}
}

// withFrag sets the IPv4 fragment offset (in 8-byte units) of an untagged
// frame; the program does not check IP checksums.
func withFrag(frame []byte, off uint16) []byte {
	frame[14+6], frame[14+7] = byte(off>>8), byte(off)
	return frame
}

func otherCases() []progCase {
	return []progCase{
		{name: "UDP passes untouched", role: Outside, steps: func(s *session) []progStep {
			return []progStep{{frame: testutil.UDP(s.ctl.Client, s.ctl.Server, []byte("PORT 10,0,0,2,4,1\r\n")), want: Pass}}
		}, counters: c("packet_pass", 1)},
		{name: "ARP passes untouched", role: Outside, steps: func(s *session) []progStep {
			arp := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06}, make([]byte, 28)...)
			return []progStep{{frame: arp, want: Pass}}
		}, counters: c("packet_pass", 1)},
		{name: "IPv4 total length below its header passes", role: Outside, steps: func(s *session) []progStep {
			f := s.syn(cli4, "10.0.0.2:1025").Frame()
			f[14+2], f[14+3] = 0, 16
			return []progStep{{frame: f, want: Pass}}
		}, counters: c("packet_pass", 1, "unparsed_l3", 1)},
		{name: "TCP header cut short passes", role: Outside, steps: func(s *session) []progStep {
			f := s.syn(cli4, "10.0.0.2:1025").Frame()
			return []progStep{{frame: f[:14+20+16], want: Pass}}
		}, counters: c("packet_pass", 1, "unparsed_l4", 1)},
		{name: "later fragment passes", role: Outside, steps: func(s *session) []progStep {
			return []progStep{{frame: withFrag(s.syn(cli4, "10.0.0.2:1025").Frame(), 100), want: Pass}}
		}, counters: c("packet_pass", 1, "fragment", 1)},
		{name: "overlapping fragment dropped", role: Outside, steps: func(s *session) []progStep {
			return []progStep{{frame: withFrag(s.syn(cli4, "10.0.0.2:1025").Frame(), 1), want: Drop}}
		}, counters: c("packet_drop", 1, "fragment", 1, "tiny_fragment", 1)},
		{name: "SYN on the inside is not filtered", role: Inside, steps: func(s *session) []progStep {
			return []progStep{pass(s.syn("192.0.2.10:20", "10.0.0.2:1025"))}
		}, counters: c("packet_pass", 1)},
	}
}

func TestProgram(t *testing.T) {
	groups := map[string][]progCase{"command": commandCases(), "reject": rejectCases(), "syn": synCases(), "other": otherCases()}
	for _, hook := range []Hook{HookXDP, HookTC} {
		for _, g := range slices.Sorted(maps.Keys(groups)) {
			for _, tc := range groups[g] {
				t.Run(hook.String()+"/"+g+"/"+tc.name, func(t *testing.T) { runCase(t, hook, tc) })
			}
		}
	}
}

// Untagged IPv4 TCP takes the program's fast path (fast_ipv4); with a
// VLAN tag the same packets take the full parser. Every case of plain
// IPv4 packets must end the same both ways: verdicts, pinholes, counters.
func TestFastPathMatchesFullParser(t *testing.T) {
	groups := map[string][]progCase{"command": commandCases(), "reject": rejectCases(), "syn": synCases(), "other": otherCases()}
	n := 0
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		for _, tc := range groups[g] {
			if tc.vlans != nil || tc.ipv4Opts != nil || tc.hbh || orDefault(tc.client, cli4) != cli4 || hasRawFrame(tc) {
				continue
			}
			tc.vlans = []uint16{10}
			n++
			for _, hook := range []Hook{HookXDP, HookTC} {
				t.Run(hook.String()+"/"+g+"/"+tc.name, func(t *testing.T) { runCase(t, hook, tc) })
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d cases run through the full parser", n)
	}
}

func hasRawFrame(tc progCase) bool {
	for _, st := range tc.steps(newSession(cli4, srv4)) {
		if st.frame != nil {
			return true
		}
	}
	return false
}

func runCase(t *testing.T, hook Hook, tc progCase) {
	cfg := DefaultConfig()
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	h := kernelHarness(t, cfg, hook, tc.role)
	client, server := orDefault(tc.client, cli4), orDefault(tc.server, srv4)
	s := newSession(client, server)
	s.vlans, s.ipv4Opts, s.hbh = tc.vlans, tc.ipv4Opts, tc.hbh
	for i, st := range tc.steps(s) {
		h.setClock(baseClock + uint64(st.at))
		frame := st.frame
		if frame == nil {
			frame = st.pkt.Frame()
		}
		if v := h.run(frame); v != st.want {
			t.Errorf("packet %d (%v -> %v %q): %s, want %s", i, st.pkt.Src, st.pkt.Dst, st.pkt.Payload, v, st.want)
		}
	}
	var got []hole
	for _, p := range h.pinholes() {
		got = append(got, hole{p.Source.String(), p.Dest.String(), p.Mode, p.Hits})
		if p.Control != s.ctl {
			t.Errorf("pinhole %v: control %v, want %v", p.Dest, p.Control, s.ctl)
		}
		switch {
		case !p.Used() && p.ExpiresNs-p.CreatedNs != uint64(cfg.PinholeTimeout):
			t.Errorf("unused pinhole %v lives %v, want %v", p.Dest, time.Duration(p.ExpiresNs-p.CreatedNs), cfg.PinholeTimeout)
		case p.Used() && p.ExpiresNs != min(p.UsedNs+uint64(cfg.SYNGrace), p.CreatedNs+uint64(cfg.PinholeTimeout)):
			t.Errorf("used pinhole %v expires at %d, want grace after %d", p.Dest, p.ExpiresNs, p.UsedNs)
		}
	}
	if !slices.Equal(got, tc.holes) {
		t.Errorf("pinholes\n got %v\nwant %v", got, tc.holes)
	}
	if d := h.delta(); !maps.Equal(d, tc.counters) {
		t.Errorf("counters\n got %v\nwant %v", d, tc.counters)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
