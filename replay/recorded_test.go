package replay

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftpxdp/ftpxdp/loader"
)

// The captures in testdata/ are real sessions between vsftpd and lftp or
// curl, recorded by testdata/record.sh: the client 10.78.1.2 behind a
// router, the server 198.51.100.10 on the outside.

func recorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Seen from a client-side gateway (the default inside networks hold the
// client), each session opens the pinhole its mode calls for.
func TestRecordedClientSide(t *testing.T) {
	for _, tc := range []struct {
		capture string
		cfg     func(*loader.Config)
		want    string
		packets int
		copies  int
	}{
		{
			capture: "lftp-active.pcap",
			want: "" +
				"#31 pinhole_opened inside pass 10.78.1.2:49922>198.51.100.10:21 [active 198.51.100.10>10.78.1.2:55351]\n" +
				"#34 syn_admitted pinhole outside pass 198.51.100.10:20>10.78.1.2:55351\n",
			packets: 49,
		},
		{
			// The same session with the control port moved: the PORT is
			// not read, so the server's data connection is refused.
			capture: "lftp-active.pcap",
			cfg:     func(c *loader.Config) { c.ControlPorts = []uint16{2121} },
			want:    "#34 syn_dropped no_pinhole outside drop 198.51.100.10:20>10.78.1.2:55351\n",
			packets: 49,
		},
		{
			// Passive mode through a client-side gateway: the client's
			// data SYN leaves from the inside, nothing to admit.
			capture: "lftp-passive.pcap",
			want:    "#29 pinhole_opened outside pass 198.51.100.10:21>10.78.1.2:49936 [passive 10.78.1.2>198.51.100.10:50002]\n",
			packets: 46,
		},
		{
			// tcpdump -i any on the router: every forwarded packet twice.
			capture: "gateway-any.pcap",
			want: "" +
				"#57 pinhole_opened inside pass 10.78.1.2:49940>198.51.100.10:21 [active 198.51.100.10>10.78.1.2:48695]\n" +
				"#63 syn_admitted pinhole outside pass 198.51.100.10:20>10.78.1.2:48695\n" +
				"#117 pinhole_opened outside pass 198.51.100.10:21>10.78.1.2:49942 [passive 10.78.1.2>198.51.100.10:50003]\n" +
				"#181 pinhole_opened inside pass 10.78.1.2:49944>198.51.100.10:21 [active 198.51.100.10>10.78.1.2:39857]\n" +
				"#195 syn_admitted pinhole outside pass 198.51.100.10:20>10.78.1.2:39857\n",
			packets: 218,
			copies:  109,
		},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			cfg := loader.DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			evs, sum := replayBytes(t, recorded(t, tc.capture), Options{Config: cfg})
			if got := sigs(evs); got != tc.want {
				t.Errorf("events:\n%s\nwant:\n%s", got, tc.want)
			}
			if sum.Packets != tc.packets || sum.Copies != tc.copies || sum.Skipped != 0 || sum.Truncated != 0 {
				t.Errorf("summary = %+v", sum)
			}
		})
	}
}

// Seen from a gateway in front of the server (the server is the inside,
// its control port open by an allow rule): in passive mode the client's
// data connection comes in through the 227's pinhole; in active mode the
// server connects out and nothing is checked.
func TestRecordedServerSide(t *testing.T) {
	cfg := loader.DefaultConfig()
	cfg.Allow = []loader.AllowRule{{Port: 21, Addr: netip.MustParseAddr("198.51.100.10")}}
	opts := Options{Config: cfg, InsideNets: []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")}}

	evs, _ := replayBytes(t, recorded(t, "lftp-passive.pcap"), opts)
	want := "" +
		"#1 syn_admitted allow_rule outside pass 10.78.1.2:49936>198.51.100.10:21\n" +
		"#29 pinhole_opened inside pass 198.51.100.10:21>10.78.1.2:49936 [passive 10.78.1.2>198.51.100.10:50002]\n" +
		"#30 syn_admitted pinhole outside pass 10.78.1.2:52660>198.51.100.10:50002\n"
	if got := sigs(evs); got != want {
		t.Errorf("passive, server side:\n%s\nwant:\n%s", got, want)
	}

	evs, _ = replayBytes(t, recorded(t, "lftp-active.pcap"), opts)
	want = "" +
		"#1 syn_admitted allow_rule outside pass 10.78.1.2:49922>198.51.100.10:21\n" +
		"#31 pinhole_opened outside pass 10.78.1.2:49922>198.51.100.10:21 [active 198.51.100.10>10.78.1.2:55351]\n"
	if got := sigs(evs); got != want {
		t.Errorf("active, server side:\n%s\nwant:\n%s", got, want)
	}
}

// Replay reads the counters only after packets that may move a reported
// one; reading them after every packet must give the same events.
func TestCounterReadsSkipNothing(t *testing.T) {
	captures := map[string][]byte{}
	for _, name := range []string{"lftp-active.pcap", "lftp-passive.pcap", "gateway-any.pcap"} {
		captures[name] = recorded(t, name)
	}
	captures["many sessions"] = manySessions(50).pcap(t, LinkTypeEthernet)
	for name, capture := range captures {
		t.Run(name, func(t *testing.T) {
			fast, _ := replayBytes(t, capture, Options{})
			slow, _ := replayWith(t, capture, Options{}, func(r *Replayer) { r.everyPacket = true })
			if len(fast) == 0 || sigs(fast) != sigs(slow) {
				t.Errorf("events reading counters when needed:\n%s\nafter every packet:\n%s", sigs(fast), sigs(slow))
			}
		})
	}
}

// The lab's captures (testdata/pcap at the repository root, recorded from
// the interoperability matrix) all replay: nothing is skipped and every
// session announces a data connection the program reads.
func TestLabCaptures(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.pcap", "*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join("..", "testdata", "pcap", pattern))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no captures in testdata/pcap yet")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, sum := replayBytes(t, b, Options{})
			if sum.Packets == 0 || sum.Skipped != 0 {
				t.Errorf("summary = %+v", sum)
			}
			lines := sum.Counters["line_port"] + sum.Counters["line_eprt"] + sum.Counters["line_227"] + sum.Counters["line_229"]
			if lines == 0 {
				t.Errorf("no PORT, EPRT, 227 or 229 read: counters %v", sum.Counters)
			}
		})
	}
}
