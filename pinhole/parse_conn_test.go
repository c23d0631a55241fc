package pinhole

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	ctl4 = Control{
		Client: netip.MustParseAddrPort("10.0.0.2:40000"),
		Server: netip.MustParseAddrPort("192.0.2.10:21"),
	}
	ctl6 = Control{
		Client: netip.MustParseAddrPort("[2001:db8::2]:40000"),
		Server: netip.MustParseAddrPort("[2001:db8:1::10]:21"),
	}
)

func testConfig() Config {
	return Config{
		MinPort:        1024,
		PinholeTimeout: 5 * time.Minute,
		SYNGrace:       5 * time.Second,
		MaxPerControl:  1,
		StrictSequence: true,
		RequireRequest: true,
	}
}

const (
	c2s = ClientToServer
	s2c = ServerToClient
)

// step is one segment; seq 0 means "the next in-order byte".
type step struct {
	dir  Direction
	text string
	seq  uint32
	fin  bool
}

// run sends the steps in order after a handshake and returns every reason
// but control_segment.
func run(t *testing.T, tb *Table, ctl Control, steps []step) []Reason {
	t.Helper()
	cn := tb.Conn(ctl)
	next := [2]uint32{1001, 5001}
	cn.Segment(1, Segment{Dir: c2s, SYN: true, Seq: 1000})
	cn.Segment(1, Segment{Dir: s2c, SYN: true, Seq: 5000})
	var got []Reason
	for i, s := range steps {
		seq := s.seq
		if seq == 0 {
			seq = next[s.dir]
		}
		for _, e := range cn.Segment(uint64(100+i), Segment{Dir: s.dir, Seq: seq, FIN: s.fin, Payload: []byte(s.text)}) {
			if e.Reason != ReasonControlSegment {
				got = append(got, e.Reason)
			}
		}
		if end := seq + uint32(len(s.text)); int32(end-next[s.dir]) > 0 {
			next[s.dir] = end
		}
	}
	return got
}

func TestConnLines(t *testing.T) {
	long := "227 Entering Passive Mode " + strings.Repeat("x", 100) + " (192,0,2,10,4,1)\r\n"
	tests := []struct {
		name  string
		ctl   Control
		cfg   func(*Config)
		steps []step
		want  []Reason
		holes int
	}{
		{"port", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,1\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonActiveV4}, 1},
		{"eprt v6", ctl6, nil, []step{{c2s, "EPRT |2|2001:db8::2|1025|\r\n", 0, false}},
			[]Reason{ReasonLineEPRT, ReasonActiveV6}, 1},
		{"pasv 227", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "227 Entering Passive Mode (192,0,2,10,4,1).\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLine227, ReasonPassiveV4}, 1},
		{"epsv 229 v6", ctl6, nil, []step{{c2s, "EPSV\r\n", 0, false}, {s2c, "229 Entering Extended Passive Mode (|||50000|)\r\n", 0, false}},
			[]Reason{ReasonLineEPSV, ReasonLine229, ReasonPassiveV6}, 1},
		{"epsv with argument", ctl4, nil, []step{{c2s, "epsv 1\r\n", 0, false}, {s2c, "229 (|||50000|)\r\n", 0, false}},
			[]Reason{ReasonLineEPSV, ReasonLine229, ReasonPassiveV4}, 1},
		{"pasv bare LF", ctl4, nil, []step{{c2s, "PASV\n", 0, false}},
			[]Reason{ReasonLinePASV}, 0},
		{"pasvx is other", ctl4, nil, []step{{c2s, "PASVX\r\n", 0, false}},
			[]Reason{ReasonLineOther}, 0},
		{"227 needs pasv", ctl4, nil, []step{{s2c, "227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLine227, ReasonNoPending}, 0},
		{"229 needs epsv not pasv", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "229 (|||5000|)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLine229, ReasonNoPending}, 0},
		{"227 without request when allowed", ctl4, func(c *Config) { c.RequireRequest = false },
			[]step{{s2c, "227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLine227, ReasonPassiveV4}, 1},
		{"pasv answered once", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "227 (192,0,2,10,4,1)\r\n227 (192,0,2,10,4,2)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLine227, ReasonPassiveV4, ReasonLine227, ReasonNoPending}, 1},
		{"error clears pending", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "425 no\r\n227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLineOther, ReasonLine227, ReasonNoPending}, 0},
		{"3xx keeps pending", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "350 go on\r\n227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLineOther, ReasonLine227, ReasonPassiveV4}, 1},
		{"multiline 227 inside", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "230-hi\r\n227 (192,0,2,10,4,1)\r\n230 ok\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLineOther, ReasonMultiline, ReasonLineOther}, 0},
		{"multiline 227-", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "227-(192,0,2,10,4,1)\r\n227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonMultiline, ReasonMultiline}, 0},
		{"multiline ends only on its code", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "230-hi\r\n220 x\r\n230-y\r\n230 ok\r\n227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLineOther, ReasonLineOther, ReasonLineOther, ReasonLineOther, ReasonLine227, ReasonPassiveV4}, 1},
		{"auth tls", ctl4, nil, []step{{c2s, "AUTH TLS\r\n", 0, false}, {s2c, "234 go\r\n227 (192,0,2,10,4,1)\r\n", 0, false}, {s2c, "anything\r\n", 0, false}},
			[]Reason{ReasonLineAUTH, ReasonLine234, ReasonTLSSession, ReasonTLSSegment}, 0},
		{"334 after auth", ctl4, nil, []step{{c2s, "auth GSSAPI\r\n", 0, false}, {s2c, "334 ok\r\n", 0, false}, {c2s, "PORT 10,0,0,2,4,1\r\n", 0, false}},
			[]Reason{ReasonLineAUTH, ReasonLine234, ReasonTLSSession, ReasonTLSSegment}, 0},
		{"234 without auth", ctl4, nil, []step{{s2c, "234 go\r\n", 0, false}},
			[]Reason{ReasonLineOther}, 0},
		{"auth refused", ctl4, nil, []step{{c2s, "AUTH TLS\r\n", 0, false}, {s2c, "534 no\r\n234 go\r\n", 0, false}},
			[]Reason{ReasonLineAUTH, ReasonLineOther, ReasonLineOther}, 0},
		{"reply from client", ctl4, nil, []step{{c2s, "227 (10,0,0,2,4,1)\r\n229 (|||1025|)\r\n", 0, false}},
			[]Reason{ReasonWrongDirection, ReasonWrongDirection}, 0},
		{"command from server", ctl4, nil, []step{{s2c, "PORT 192,0,2,10,4,1\r\neprt |1|192.0.2.10|1025|\r\n", 0, false}},
			[]Reason{ReasonWrongDirection, ReasonWrongDirection}, 0},
		{"short lines", ctl4, nil, []step{{c2s, "\r\nPAS\r\nNOOP\r\n", 0, false}},
			[]Reason{ReasonLineOther, ReasonLineOther, ReasonLineOther}, 0},
		{"reply without separator", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "227x(192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLineOther}, 0},
		{"no crlf", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,1\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonNoCRLF}, 0},
		{"overlong", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, long, 0, false}},
			[]Reason{ReasonLinePASV, ReasonLine227, ReasonOverlong}, 0},
		{"address mismatch port", ctl4, nil, []step{{c2s, "PORT 10,0,0,3,4,1\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonAddressMismatch}, 0},
		{"address mismatch 227", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "227 (10,1,1,1,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLine227, ReasonAddressMismatch}, 0},
		{"loose 227", ctl4, func(c *Config) { c.Loose = true }, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "227 (10,1,1,1,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLine227, ReasonPassiveV4}, 1},
		{"loose not for port", ctl4, func(c *Config) { c.Loose = true }, []step{{c2s, "PORT 10,0,0,3,4,1\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonAddressMismatch}, 0},
		{"port on v6", ctl6, nil, []step{{c2s, "PORT 10,0,0,2,4,1\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonFamilyMismatch}, 0},
		{"227 on v6 even loose", ctl6, func(c *Config) { c.Loose = true }, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "227 (10,1,1,1,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLine227, ReasonFamilyMismatch}, 0},
		{"eprt family", ctl4, nil, []step{{c2s, "EPRT |2|::1|1025|\r\n", 0, false}},
			[]Reason{ReasonLineEPRT, ReasonFamilyMismatch}, 0},
		{"low port", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,3,255\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonLowPort}, 0},
		{"port zero", ctl4, func(c *Config) { c.MinPort = 1 }, []step{{c2s, "PORT 10,0,0,2,0,0\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonLowPort}, 0},
		{"malformed", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonMalformed}, 0},
		{"range", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,256\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonRange}, 0},
		{"refresh", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,1\r\nPORT 10,0,0,2,4,1\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonActiveV4, ReasonLinePORT, ReasonRefreshed}, 1},
		{"replace", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,1\r\nPORT 10,0,0,2,4,2\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonActiveV4, ReasonLinePORT, ReasonReplaced, ReasonActiveV4}, 1},
		{"two per control", ctl4, func(c *Config) { c.MaxPerControl = 2 },
			[]step{{c2s, "PORT 10,0,0,2,4,1\r\nPORT 10,0,0,2,4,2\r\nPORT 10,0,0,2,4,3\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonActiveV4, ReasonLinePORT, ReasonActiveV4, ReasonLinePORT, ReasonReplaced, ReasonActiveV4}, 2},
		{"rate limit", ctl4, func(c *Config) { c.RateWindow, c.RateBurst, c.MaxPerControl = time.Second, 1, 2 },
			[]step{{c2s, "PORT 10,0,0,2,4,1\r\nPORT 10,0,0,2,4,2\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonActiveV4, ReasonLinePORT, ReasonRateLimit}, 1},
		{"map full", ctl4, func(c *Config) { c.Capacity, c.MaxPerControl = 1, 2 },
			[]step{{c2s, "PORT 10,0,0,2,4,1\r\nPORT 10,0,0,2,4,2\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonActiveV4, ReasonLinePORT, ReasonMapFull}, 1},
		{"partial line then rest", ctl4, nil, []step{{c2s, "PORT 10,0,", 0, false}, {c2s, "0,2,4,1\r\nPASV\r\n", 0, false}},
			[]Reason{ReasonLinePartial, ReasonLinePartial, ReasonLinePASV}, 0},
		{"loose sequence acts on continuation", ctl4, func(c *Config) { c.StrictSequence = false },
			[]step{{c2s, "XX", 0, false}, {c2s, "PORT 10,0,0,2,4,1\r\n", 0, false}},
			[]Reason{ReasonLinePartial, ReasonLinePORT, ReasonActiveV4}, 1},
		{"retransmission", ctl4, nil, []step{{c2s, "NOOP\r\n", 0, false}, {c2s, "PORT 10,0,0,2,4,1\r\n", 1001, false}},
			[]Reason{ReasonLineOther, ReasonOutOfOrder}, 0},
		{"gap resynchronises", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,1\r\n", 2000, false}, {c2s, "PASV\r\n", 2019, false}},
			[]Reason{ReasonOutOfOrder, ReasonLinePASV}, 0},
		{"gap mid line", ctl4, nil, []step{{c2s, "PORT 10", 2000, false}, {c2s, ",0,0,2,4,1\r\nPASV\r\n", 2007, false}},
			[]Reason{ReasonOutOfOrder, ReasonLinePartial, ReasonLinePASV}, 0},
		{"fin closes", ctl4, nil, []step{{c2s, "QUIT\r\n", 0, true}},
			[]Reason{ReasonLineOther, ReasonCtrlClosed}, 0},
		{"reply ends only at CRLF", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "550 x\n227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLineOther}, 0},
		{"command ends at bare LF", ctl4, nil, []step{{c2s, "NOOP\nPASV\r\n", 0, false}},
			[]Reason{ReasonLineOther, ReasonLinePASV}, 0},
		{"reply CR and LF split across segments", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "200 ok\r", 0, false}, {s2c, "\n227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLinePartial, ReasonLinePartial, ReasonLine227, ReasonPassiveV4}, 1},
		{"NUL in an announcement", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,1\x00\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonMalformed}, 0},
		{"IAC in an announcement", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "227 \xff\xf4(192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLine227, ReasonMalformed}, 0},
		{"bare CR in an announcement", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,1\rPORT 10,0,0,2,4,2\r\n", 0, false}},
			[]Reason{ReasonLinePORT, ReasonMalformed}, 0},
		{"multi-line 234 starts TLS", ctl4, nil, []step{{c2s, "AUTH TLS\r\n", 0, false}, {s2c, "234-go\r\n234 on\r\n", 0, false}, {c2s, "PORT 10,0,0,2,4,1\r\n", 0, false}},
			[]Reason{ReasonLineAUTH, ReasonLineOther, ReasonLine234, ReasonTLSSession, ReasonTLSSegment}, 0},
		{"multi-line error clears pending", ctl4, nil, []step{{c2s, "PASV\r\n", 0, false}, {s2c, "425-no\r\n425 no\r\n227 (192,0,2,10,4,1)\r\n", 0, false}},
			[]Reason{ReasonLinePASV, ReasonLineOther, ReasonLineOther, ReasonLine227, ReasonNoPending}, 0},
		{"far-future segment does not move the position", ctl4, nil, []step{{c2s, "PORT 10,0,0,2,4,1\r\n", 1002 + ResyncMax, false}, {c2s, "PASV\r\n", 1001, false}},
			[]Reason{ReasonOutOfOrder, ReasonLinePASV}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			tb := NewTable(cfg)
			got := run(t, tb, tt.ctl, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("reasons\n got %v\nwant %v", got, tt.want)
			}
			if n := len(tb.Pinholes()); n != tt.holes {
				t.Errorf("pinholes = %d, want %d: %v", n, tt.holes, tb.Pinholes())
			}
		})
	}
}

func TestConnPinholeShape(t *testing.T) {
	tb := NewTable(testConfig())
	run(t, tb, ctl4, []step{
		{c2s, "PORT 10,0,0,2,4,1\r\n", 0, false},
	})
	run(t, tb, ctl6, []step{
		{c2s, "EPSV\r\n", 0, false},
		{s2c, "229 (|||50000|)\r\n", 0, false},
	})
	got := tb.Pinholes()
	want := []Pinhole{
		{Source: ctl4.Server.Addr(), Dest: netip.MustParseAddrPort("10.0.0.2:1025"), Mode: Active, Control: ctl4,
			CreatedNs: 100, ExpiresNs: 100 + uint64(5*time.Minute)},
		{Source: ctl6.Client.Addr(), Dest: netip.MustParseAddrPort("[2001:db8:1::10]:50000"), Mode: Passive, Control: ctl6,
			CreatedNs: 101, ExpiresNs: 101 + uint64(5*time.Minute)},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pinholes\n got %+v\nwant %+v", got, want)
	}
}

func TestConnTruncated(t *testing.T) {
	tb := NewTable(testConfig())
	cn := tb.Conn(ctl4)
	payload := strings.Repeat("NOOP\r\n", 100) // 600 bytes: 85 lines and 2 bytes read
	ev := cn.Segment(1, Segment{Dir: c2s, Seq: 1, Payload: []byte(payload)})
	counts := map[Reason]int{}
	for _, e := range ev {
		counts[e.Reason]++
	}
	want := map[Reason]int{ReasonControlSegment: 1, ReasonControlTruncated: 1, ReasonLineOther: 85, ReasonLinePartial: 1}
	if !maps.Equal(counts, want) {
		t.Fatalf("counts %v, want %v", counts, want)
	}
	// The segment ended on LF, so the next one starts a line.
	ev = cn.Segment(2, Segment{Dir: c2s, Seq: 601, Payload: []byte("PASV\r\n")})
	if ev[len(ev)-1].Reason != ReasonLinePASV {
		t.Fatalf("after a truncated segment: %v", ev)
	}
}

func TestConnStateLifecycle(t *testing.T) {
	tb := NewTable(testConfig())
	cn := tb.Conn(ctl4)
	if cn.Tracked() {
		t.Fatal("tracked before any segment")
	}
	if ev := cn.Segment(1, Segment{Dir: s2c, FIN: true}); len(ev) != 0 {
		t.Fatalf("FIN without state: %v", ev)
	}
	ev := cn.Segment(1, Segment{Dir: c2s, Seq: 7, Payload: []byte("PASV\r\n")})
	if !cn.Tracked() || len(ev) != 2 {
		t.Fatalf("mid-stream pickup: tracked=%v %v", cn.Tracked(), ev)
	}
	if ev := cn.Segment(1, Segment{Dir: c2s, RST: true, Payload: []byte("PASV\r\n")}); len(ev) != 1 || ev[0].Reason != ReasonCtrlClosed {
		t.Fatalf("RST: %v", ev)
	}
	if ev := cn.Segment(1, Segment{Dir: c2s, SYN: true}); len(ev) != 1 || ev[0].Reason != ReasonCtrlOpened {
		t.Fatalf("SYN: %v", ev)
	}
	// A client SYN starts afresh: the PASV above is forgotten.
	ev = cn.Segment(1, Segment{Dir: s2c, Seq: 1, Payload: []byte("227 (192,0,2,10,4,1)\r\n")})
	if ev[len(ev)-1].Reason != ReasonNoPending {
		t.Fatalf("after SYN: %v", ev)
	}
}

func TestTableSYN(t *testing.T) {
	cfg := testConfig()
	tb := NewTable(cfg)
	run(t, tb, ctl4, []step{{c2s, "PORT 10,0,0,2,4,1\r\n", 0, false}})
	src := netip.MustParseAddrPort("192.0.2.10:20")
	dst := netip.MustParseAddrPort("10.0.0.2:1025")
	steps := []struct {
		now  uint64
		src  netip.AddrPort
		dst  netip.AddrPort
		want Reason
	}{
		{200, src, netip.MustParseAddrPort("10.0.0.2:1026"), ReasonSYNNoPinhole},
		{200, netip.MustParseAddrPort("192.0.2.11:20"), dst, ReasonSYNNoPinhole},
		{200, src, dst, ReasonSYNAllowedPinhole},
		{300, src, dst, ReasonSYNRetransmit},
		{300, netip.MustParseAddrPort("192.0.2.10:21"), dst, ReasonSYNConsumed},
		{200 + uint64(cfg.SYNGrace), src, dst, ReasonSYNExpired},
	}
	for _, s := range steps {
		if got := tb.SYN(s.now, s.src, s.dst); got != s.want {
			t.Errorf("SYN at %d %v -> %v = %s, want %s", s.now, s.src, s.dst, got, s.want)
		}
	}
	p, _ := tb.Lookup(Key{Source: src.Addr(), Dest: dst})
	if p.Hits != 2 || p.UsedNs != 200 || p.UsedSourcePort != 20 {
		t.Errorf("pinhole after use: %+v", p)
	}
	// An unused pinhole expires at its timeout.
	run(t, tb, ctl4, []step{{c2s, "PORT 10,0,0,2,4,2\r\n", 0, false}})
	if got := tb.SYN(100+uint64(cfg.PinholeTimeout), src, netip.MustParseAddrPort("10.0.0.2:1026")); got != ReasonSYNExpired {
		t.Errorf("unused pinhole at its expiry: %s", got)
	}
}

func TestConnSides(t *testing.T) {
	tb := NewTable(testConfig())
	cn := tb.Conn(ctl4)
	reasons := func(s Segment) []Reason {
		var out []Reason
		for _, e := range cn.Segment(1, s) {
			out = append(out, e.Reason)
		}
		return out
	}
	// The client is seen on the local side first; the same direction from
	// the outside is a forgery.
	if got := reasons(Segment{Dir: c2s, Seq: 1, Payload: []byte("NOOP\r\n")}); !slices.Equal(got, []Reason{ReasonControlSegment, ReasonLineOther}) {
		t.Fatalf("local client: %v", got)
	}
	forged := Segment{Dir: c2s, Seq: 7, Payload: []byte("PORT 10,0,0,2,4,1\r\n"), Outside: true}
	if got := reasons(forged); !slices.Equal(got, []Reason{ReasonControlSegment, ReasonWrongSide}) {
		t.Fatalf("forged client: %v", got)
	}
	if got := reasons(Segment{Dir: c2s, RST: true, Outside: true}); !slices.Equal(got, []Reason{ReasonWrongSide}) || !cn.Tracked() {
		t.Fatalf("forged RST: %v, tracked %v", got, cn.Tracked())
	}
	// The server's direction arrives from the outside, as it should.
	if got := reasons(Segment{Dir: s2c, Seq: 1, Payload: []byte("200 ok\r\n"), Outside: true}); !slices.Equal(got, []Reason{ReasonControlSegment, ReasonLineOther}) {
		t.Fatalf("server from outside: %v", got)
	}
	// The outside seen first is overruled by the local side.
	cn2 := tb.Conn(ctl6)
	cn2.Segment(1, Segment{Dir: c2s, Seq: 1, Payload: []byte("NOOP\r\n"), Outside: true})
	if ev := cn2.Segment(1, Segment{Dir: c2s, Seq: 7, Payload: []byte("NOOP\r\n")}); len(ev) != 2 || ev[1].Reason != ReasonLineOther {
		t.Fatalf("local after outside: %v", ev)
	}
}
