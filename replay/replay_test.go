package replay

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
)

// replayBytes replays a capture held in memory and returns its events.
func replayBytes(t *testing.T, capture []byte, opts Options) ([]Event, Summary) {
	t.Helper()
	return replayWith(t, capture, opts, nil)
}

// replayers caches a loaded Replayer per set of options for the test
// binary (the kernel frees them when it exits): loading and verifying the
// two programs costs far more than a replay.
var (
	replayersMu sync.Mutex
	replayers   = map[string]*Replayer{}
)

// replayWith is replayBytes with a hook to set up the replayer.
func replayWith(t *testing.T, capture []byte, opts Options, setup func(*Replayer)) ([]Event, Summary) {
	t.Helper()
	testutil.RequireKernel(t)
	if opts.Config.ControlPorts == nil {
		opts.Config = loader.DefaultConfig()
	}
	replayersMu.Lock()
	defer replayersMu.Unlock()
	key := fmt.Sprintf("%+v", opts)
	r, ok := replayers[key]
	if !ok {
		var err error
		if r, err = New(opts); err != nil {
			t.Fatalf("load: %v", err)
		}
		replayers[key] = r
	} else if err := r.Reset(); err != nil {
		t.Fatalf("reset: %v", err)
	}
	r.everyPacket = false
	if setup != nil {
		setup(r)
	}
	c, err := OpenCapture(bytes.NewReader(capture))
	if err != nil {
		t.Fatalf("open capture: %v", err)
	}
	var evs []Event
	s, err := r.Run(c, func(e Event) error { evs = append(evs, e); return nil })
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return evs, s
}

// activeSession is a client at 10.0.0.5 behind the gateway fetching a file
// in active mode from a server on the outside: packet 6 is the PORT, 8 the
// server's data SYN.
func activeSession() *session {
	s := &session{}
	c := s.dial("10.0.0.5:40000", "198.51.100.10:21") // 1-3
	c.reply("220 ready\r\n")                          // 4
	c.send("USER anonymous\r\n")                      // 5
	c.send("PORT 10,0,0,5,156,65\r\n")                // 6
	c.reply("200 PORT command successful\r\n")        // 7
	s.syn("198.51.100.10:20", "10.0.0.5:40001")       // 8
	return s
}

func TestReplayActiveOpensAndAdmits(t *testing.T) {
	evs, sum := replayBytes(t, activeSession().pcap(t, LinkTypeEthernet), Options{})
	want := "" +
		"#6 pinhole_opened inside pass 10.0.0.5:40000>198.51.100.10:21 [active 198.51.100.10>10.0.0.5:40001]\n" +
		"#8 syn_admitted pinhole outside pass 198.51.100.10:20>10.0.0.5:40001\n"
	if got := sigs(evs); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
	if evs[0].Line != "PORT 10,0,0,5,156,65" {
		t.Errorf("line = %q", evs[0].Line)
	}
	p := evs[0].Pinhole
	if p.ControlClient != "10.0.0.5:40000" || p.ControlServer != "198.51.100.10:21" || p.TimeLeftSeconds != 300 {
		t.Errorf("pinhole = %+v", *p)
	}
	if sum.Packets != 8 || sum.Outside != 4 || sum.Inside != 4 || sum.PinholesOpened != 1 || sum.SYNsAdmitted != 1 || sum.SYNsDropped != 0 {
		t.Errorf("summary = %+v", sum)
	}
	if sum.Counters["pinhole_active_v4"] != 1 || sum.Counters["syn_allowed_pinhole"] != 1 {
		t.Errorf("counters = %v", sum.Counters)
	}
	if sum.Seconds != 0.007 {
		t.Errorf("duration = %v, want 0.007", sum.Seconds)
	}
}

func TestReplayOtherControlPortOpensNothing(t *testing.T) {
	cfg := loader.DefaultConfig()
	cfg.ControlPorts = []uint16{2121}
	evs, _ := replayBytes(t, activeSession().pcap(t, LinkTypeEthernet), Options{Config: cfg})
	want := "#8 syn_dropped no_pinhole outside drop 198.51.100.10:20>10.0.0.5:40001\n"
	if got := sigs(evs); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
}

func TestReplayObserveCountsButPasses(t *testing.T) {
	cfg := loader.DefaultConfig()
	cfg.ControlPorts = []uint16{2121}
	cfg.Observe = true
	evs, sum := replayBytes(t, activeSession().pcap(t, LinkTypeEthernet), Options{Config: cfg})
	want := "#8 syn_dropped no_pinhole outside pass 198.51.100.10:20>10.0.0.5:40001\n"
	if got := sigs(evs); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(evs[0].String(), "(observe: passed)") {
		t.Errorf("human line does not say the drop was only observed: %s", evs[0])
	}
	if sum.Counters["packet_would_drop"] != 1 || sum.Counters["packet_drop"] != 0 {
		t.Errorf("counters = %v", sum.Counters)
	}
}

// Every link type replay reads gives the same events.
func TestReplayLinkTypes(t *testing.T) {
	s := activeSession()
	base, baseSum := replayBytes(t, s.pcap(t, LinkTypeEthernet), Options{})
	for name, capture := range map[string][]byte{
		"pcapng": s.pcapng(t),
		"sll":    s.pcap(t, LinkTypeSLL),
		"sll2":   s.pcap(t, LinkTypeSLL2),
		"raw":    s.pcap(t, LinkTypeRaw),
	} {
		t.Run(name, func(t *testing.T) {
			evs, sum := replayBytes(t, capture, Options{})
			if got, want := sigs(evs), sigs(base); got != want {
				t.Errorf("events:\n%s\nwant (Ethernet):\n%s", got, want)
			}
			if sum.Packets != 8 || sum.Skipped != 0 {
				t.Errorf("summary = %+v", sum)
			}
			// The replayer is reset between runs: counters start again.
			if !maps.Equal(sum.Counters, baseSum.Counters) {
				t.Errorf("counters %v, want %v", sum.Counters, baseSum.Counters)
			}
		})
	}
}

// Capture timestamps drive expiry: a SYN after the pinhole's timeout is
// refused as expired; once the sweeper ran past it, as having none.
func TestReplayTimestampsDriveExpiry(t *testing.T) {
	for _, tc := range []struct {
		synAt time.Duration
		want  string
	}{
		{4*time.Minute + 59*time.Second, "#8 syn_admitted pinhole"},
		{5*time.Minute + 5*time.Second, "#8 syn_dropped expired_pinhole"},
		{5*time.Minute + 15*time.Second, "#8 syn_dropped no_pinhole"}, // swept at 5m10s
	} {
		t.Run(tc.synAt.String(), func(t *testing.T) {
			s := &session{}
			c := s.dial("10.0.0.5:40000", "198.51.100.10:21")
			c.reply("220 ready\r\n")
			c.send("USER anonymous\r\n")
			c.send("PORT 10,0,0,5,156,65\r\n")
			c.reply("200 PORT command successful\r\n")
			s.at(tc.synAt).syn("198.51.100.10:20", "10.0.0.5:40001")
			evs, _ := replayBytes(t, s.pcap(t, LinkTypeEthernet), Options{})
			if len(evs) != 2 || !strings.HasPrefix(sig(evs[1]), tc.want+" ") {
				t.Errorf("events:\n%s\nwant the second to start %q", sigs(evs), tc.want)
			}
		})
	}
}

// Passive mode from the server's side: the server at 10.0.0.20 is inside,
// the client outside; the 227 opens a pinhole for the client's data SYN.
// The control connection comes in by the allow rule. A retransmission of
// the data SYN in the grace period is admitted, a SYN from another source
// port is not.
func TestReplayPassiveServerSide(t *testing.T) {
	s := &session{}
	c := s.dial("203.0.113.7:50000", "10.0.0.20:21")              // 1-3
	c.reply("220 ready\r\n")                                      // 4
	c.send("PASV\r\n")                                            // 5
	c.reply("227 Entering Passive Mode (10,0,0,20,195,80).\r\n")  // 6
	s.syn("203.0.113.7:50001", "10.0.0.20:50000")                 // 7
	s.at(time.Second).syn("203.0.113.7:50001", "10.0.0.20:50000") // 8: retransmission
	s.syn("203.0.113.7:50002", "10.0.0.20:50000")                 // 9: another connection
	s.syn("203.0.113.7:50003", "10.0.0.20:21")                    // 10: control, allowed by rule
	cfg := loader.DefaultConfig()
	cfg.Allow = []loader.AllowRule{{Port: 21, Addr: netip.MustParseAddr("10.0.0.20")}}
	evs, _ := replayBytes(t, s.pcap(t, LinkTypeEthernet), Options{Config: cfg})
	want := "" +
		"#1 syn_admitted allow_rule outside pass 203.0.113.7:50000>10.0.0.20:21\n" +
		"#6 pinhole_opened inside pass 10.0.0.20:21>203.0.113.7:50000 [passive 203.0.113.7>10.0.0.20:50000]\n" +
		"#7 syn_admitted pinhole outside pass 203.0.113.7:50001>10.0.0.20:50000\n" +
		"#8 syn_admitted retransmit outside pass 203.0.113.7:50001>10.0.0.20:50000\n" +
		"#9 syn_dropped consumed_pinhole outside drop 203.0.113.7:50002>10.0.0.20:50000\n" +
		"#10 syn_admitted allow_rule outside pass 203.0.113.7:50003>10.0.0.20:21\n"
	if got := sigs(evs); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
}

// Rejects carry the kernel's reason and the line; with one pinhole per
// control connection, a second PORT replaces the first.
func TestReplayRejectsAndReplacement(t *testing.T) {
	s := &session{}
	c := s.dial("10.0.0.5:40000", "198.51.100.10:21") // 1-3
	c.reply("220 ready\r\n")                          // 4
	c.send("PORT 10,0,0,5,0,80\r\n")                  // 5: low port
	c.send("PORT 10,0,0,9,156,65\r\n")                // 6: not the client's address
	c.send("PORT 10,0,0,5,156,65\r\n")                // 7
	c.send("PORT 10,0,0,5,156,66\r\n")                // 8: replaces 7's
	evs, sum := replayBytes(t, s.pcap(t, LinkTypeEthernet), Options{})
	want := "" +
		"#5 reject low_port inside pass 10.0.0.5:40000>198.51.100.10:21\n" +
		"#6 reject address_mismatch inside pass 10.0.0.5:40000>198.51.100.10:21\n" +
		"#7 pinhole_opened inside pass 10.0.0.5:40000>198.51.100.10:21 [active 198.51.100.10>10.0.0.5:40001]\n" +
		"#8 pinhole_replaced inside pass 10.0.0.5:40000>198.51.100.10:21 [active 198.51.100.10>10.0.0.5:40001]\n" +
		"#8 pinhole_opened inside pass 10.0.0.5:40000>198.51.100.10:21 [active 198.51.100.10>10.0.0.5:40002]\n"
	if got := sigs(evs); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
	if evs[0].Line != "PORT 10,0,0,5,0,80" {
		t.Errorf("reject line = %q", evs[0].Line)
	}
	if sum.Rejects != 2 || sum.PinholesOpened != 2 {
		t.Errorf("summary = %+v", sum)
	}
}

// A capture on several interfaces holds a forwarded packet twice, the copy
// with a lower TTL: the copy is skipped, a real retransmission is not.
func TestReplaySkipsCopies(t *testing.T) {
	s := activeSession()
	var doubled session
	for i, p := range s.pkts {
		doubled.pkts = append(doubled.pkts, p)
		cp := append([]byte(nil), p.frame...)
		cp[14+8]-- // TTL
		doubled.pkts = append(doubled.pkts, captured{at: p.at + 20*time.Microsecond, frame: cp})
		if i == len(s.pkts)-1 { // the SYN again, a second later: a retransmission
			doubled.pkts = append(doubled.pkts, captured{at: p.at + time.Second, frame: p.frame})
		}
	}
	evs, sum := replayBytes(t, doubled.pcap(t, LinkTypeEthernet), Options{})
	want := "" +
		"#11 pinhole_opened inside pass 10.0.0.5:40000>198.51.100.10:21 [active 198.51.100.10>10.0.0.5:40001]\n" +
		"#15 syn_admitted pinhole outside pass 198.51.100.10:20>10.0.0.5:40001\n" +
		"#17 syn_admitted retransmit outside pass 198.51.100.10:20>10.0.0.5:40001\n"
	if got := sigs(evs); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
	if sum.Copies != 8 {
		t.Errorf("copies = %d, want 8", sum.Copies)
	}
}

// With the default inside networks a capture between two private hosts
// shows no SYN decision; --inside-net names the inside.
func TestReplayInsideNets(t *testing.T) {
	s := &session{}
	c := s.dial("10.1.0.5:40000", "10.2.0.10:21")
	c.reply("220 ready\r\n")
	c.send("PORT 10,1,0,5,156,65\r\n")
	s.syn("10.2.0.10:20", "10.1.0.5:40001")
	s.syn("10.2.0.10:20", "10.1.0.5:40002")
	capture := s.pcap(t, LinkTypeEthernet)

	evs, _ := replayBytes(t, capture, Options{})
	if got, want := sigs(evs), "#5 pinhole_opened inside pass 10.1.0.5:40000>10.2.0.10:21 [active 10.2.0.10>10.1.0.5:40001]\n"; got != want {
		t.Errorf("default inside nets:\n%s\nwant:\n%s", got, want)
	}
	evs, _ = replayBytes(t, capture, Options{InsideNets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	want := "" +
		"#5 pinhole_opened inside pass 10.1.0.5:40000>10.2.0.10:21 [active 10.2.0.10>10.1.0.5:40001]\n" +
		"#6 syn_admitted pinhole outside pass 10.2.0.10:20>10.1.0.5:40001\n" +
		"#7 syn_dropped no_pinhole outside drop 10.2.0.10:20>10.1.0.5:40002\n"
	if got := sigs(evs); got != want {
		t.Errorf("inside 10.1.0.0/16:\n%s\nwant:\n%s", got, want)
	}
}

// A capture taken on a host with GRO holds segments larger than a test run
// takes: they are cut back into wire-sized ones, and a PORT in the middle
// of one still opens its pinhole.
func TestReplaySplitsSuperSegments(t *testing.T) {
	s := &session{}
	c := s.dial("10.0.0.5:40000", "198.51.100.10:21")                    // 1-3
	c.reply("220 ready\r\n")                                             // 4
	c.send(strings.Repeat("NOOP\r\n", 500) + "PORT 10,0,0,5,156,65\r\n") // 5: 3022 bytes
	c.reply(strings.Repeat("200 NOOP ok\r\n", 500))                      // 6: 6500 bytes
	s.syn("198.51.100.10:20", "10.0.0.5:40001")                          // 7
	evs, sum := replayBytes(t, s.pcap(t, LinkTypeEthernet), Options{})
	want := "" +
		"#5 pinhole_opened inside pass 10.0.0.5:40000>198.51.100.10:21 [active 198.51.100.10>10.0.0.5:40001]\n" +
		"#7 syn_admitted pinhole outside pass 198.51.100.10:20>10.0.0.5:40001\n"
	if got := sigs(evs); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
	if sum.Split != 2 || sum.Inside != 2+3 || sum.Outside != 3+5 {
		t.Errorf("summary = %+v", sum)
	}
	if n := sum.Counters["segment_out_of_order"]; n != 0 {
		t.Errorf("%d segments out of order: the parts do not follow each other", n)
	}
}
