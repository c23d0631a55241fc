package metrics

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
)

// A lab is a real datapath with an outside and an inside program instance
// on the same maps, driven by frames through BPF_PROG_TEST_RUN on a clock
// the test sets, so every counter moves by a known amount.
type lab struct {
	t       testing.TB
	dp      *loader.Datapath
	out, in *loader.Instance
	now     uint64
	seq     map[string]uint32 // next sequence number per sender
}

// Addresses of the lab: the client is inside, the server outside.
var (
	client  = netip.MustParseAddr("10.0.0.2")
	server  = netip.MustParseAddr("192.0.2.10")
	client6 = netip.MustParseAddr("2001:db8:1::2")
	server6 = netip.MustParseAddr("2001:db8:2::10")
)

// labStart is the kernel time a lab starts at.
const labStart = uint64(1_000_000_000_000)

// labConfig is the stock configuration with a small pinhole map, so that
// tests can fill it.
func labConfig() loader.Config {
	cfg := loader.DefaultConfig()
	cfg.MaxPinholes = 64
	return cfg
}

// newLab loads a datapath with cfg and its instances on slots 0 (outside)
// and 1 (inside).
func newLab(t testing.TB, cfg loader.Config) *lab {
	t.Helper()
	testutil.RequireKernel(t)
	dp, err := loader.New(cfg, loader.Options{})
	if err != nil {
		t.Fatalf("load datapath: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	return labOn(t, dp, 0, 1)
}

// labOn loads the lab's instances on an existing datapath.
func labOn(t testing.TB, dp *loader.Datapath, outSlot, inSlot uint8) *lab {
	t.Helper()
	l := &lab{t: t, dp: dp, seq: map[string]uint32{}}
	for _, x := range []struct {
		in   **loader.Instance
		role loader.Role
		slot uint8
	}{{&l.out, loader.Outside, outSlot}, {&l.in, loader.Inside, inSlot}} {
		in, err := dp.Instance(loader.HookXDP, x.role, x.slot)
		if err != nil {
			t.Fatalf("load %s program: %v", x.role, err)
		}
		t.Cleanup(func() { in.Close() })
		*x.in = in
	}
	l.setClock(labStart)
	return l
}

func (l *lab) setClock(ns uint64) {
	l.t.Helper()
	for _, in := range []*loader.Instance{l.out, l.in} {
		if err := in.SetClock(ns); err != nil {
			l.t.Fatalf("set clock: %v", err)
		}
	}
	l.now = ns
}

// advance moves the lab's clock forward by d.
func (l *lab) advance(d time.Duration) { l.setClock(l.now + uint64(d)) }

func (l *lab) run(in *loader.Instance, p testutil.TCP) loader.Verdict {
	l.t.Helper()
	v, err := in.Run(p.Frame())
	if err != nil {
		l.t.Fatalf("run %s: %v", in.Role, err)
	}
	return v
}

// line sends one control line from src to dst through in, in sequence
// after the sender's earlier lines.
func (l *lab) line(in *loader.Instance, src, dst netip.AddrPort, text string) {
	l.t.Helper()
	key := src.String() + ">" + dst.String()
	seq, ok := l.seq[key]
	if !ok {
		seq = 1000
	}
	payload := []byte(text + "\r\n")
	l.run(in, testutil.TCP{Src: src, Dst: dst, ACK: true, PSH: true, Seq: seq, Ack: 1, Payload: payload})
	l.seq[key] = seq + uint32(len(payload))
}

// command sends a client's control line through the inside instance.
func (l *lab) command(c netip.AddrPort, text string) {
	l.t.Helper()
	s := netip.AddrPortFrom(server, 21)
	if c.Addr().Is6() {
		s = netip.AddrPortFrom(server6, 21)
	}
	l.line(l.in, c, s, text)
}

// reply sends a server's control line through the outside instance.
func (l *lab) reply(c netip.AddrPort, text string) {
	l.t.Helper()
	s := netip.AddrPortFrom(server, 21)
	if c.Addr().Is6() {
		s = netip.AddrPortFrom(server6, 21)
	}
	l.line(l.out, s, c, text)
}

// syn sends a connection-opening SYN from the outside.
func (l *lab) syn(src, dst netip.AddrPort) loader.Verdict {
	l.t.Helper()
	return l.run(l.out, testutil.TCP{Src: src, Dst: dst, SYN: true, Seq: 7})
}

// portArg formats a PORT argument for addr:port.
func portArg(ap netip.AddrPort) string {
	a := ap.Addr().As4()
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], ap.Port()>>8, ap.Port()&0xff)
}

// scenarioWait is the admission wait the scenario produces.
const scenarioWait = 30 * time.Millisecond

// scenario moves the counters by the amounts scenarioCounts lists: an
// active transfer (PORT, the server's SYN 30 ms later, its retransmission),
// rejected PORTs, a passive reply, an EPRT over IPv6, and SYNs the program
// drops.
func (l *lab) scenario() {
	l.t.Helper()
	ctrlA := netip.AddrPortFrom(client, 40000)
	ctrlB := netip.AddrPortFrom(client, 40002)
	ctrl6 := netip.AddrPortFrom(client6, 40001)
	data := netip.AddrPortFrom(client, 50000)
	ftpData := netip.AddrPortFrom(server, 20)

	l.command(ctrlA, "USER anonymous")
	l.command(ctrlA, "PORT "+portArg(data))
	l.advance(scenarioWait)
	if v := l.syn(ftpData, data); v != loader.Pass {
		l.t.Fatalf("SYN through the pinhole: %s, want pass", v)
	}
	if v := l.syn(ftpData, data); v != loader.Pass {
		l.t.Fatalf("retransmitted SYN: %s, want pass", v)
	}
	if v := l.syn(netip.AddrPortFrom(server, 2020), data); v != loader.Drop {
		l.t.Fatalf("second SYN to a used pinhole: %s, want drop", v)
	}
	if v := l.syn(ftpData, netip.AddrPortFrom(client, 50009)); v != loader.Drop {
		l.t.Fatalf("SYN without a pinhole: %s, want drop", v)
	}
	l.command(ctrlA, "PORT "+portArg(netip.AddrPortFrom(client, 80)))
	l.command(ctrlA, "PORT "+portArg(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), 50001)))

	l.command(ctrlB, "PASV")
	l.reply(ctrlB, "227 Entering Passive Mode ("+portArg(netip.AddrPortFrom(server, 51210))+")")

	l.command(ctrl6, "EPRT |2|"+client6.String()+"|50001|")
}

// scenarioCounts is what scenario adds to each kernel counter, per role.
var scenarioCounts = map[loader.Role]map[string]uint64{
	loader.Inside: {
		"packet_pass":             6,
		"control_segment":         6,
		"line_other":              1,
		"line_port":               3,
		"line_pasv":               1,
		"line_eprt":               1,
		"pinhole_active_v4":       1,
		"pinhole_active_v6":       1,
		"reject_low_port":         1,
		"reject_address_mismatch": 1,
	},
	loader.Outside: {
		"packet_pass":          3,
		"packet_drop":          2,
		"syn_allowed_pinhole":  1,
		"syn_retransmit_grace": 1,
		"syn_consumed_pinhole": 1,
		"syn_no_pinhole":       1,
		"control_segment":      1,
		"line_227":             1,
		"pinhole_passive_v4":   1,
	},
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))
