package loader

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// The adversarial tests run a gateway in miniature: one datapath with an
// outside and an inside program instance, fed the frames each interface
// would see, with the kernel clock fixed so nothing depends on wall time.

// advStart is the fixed kernel time the adversarial tests start at.
const advStart = uint64(1_000_000_000_000)

// gw is a datapath with the two ingress instances of a gateway.
type gw struct {
	t   testing.TB
	dp  *Datapath
	out *Instance // ingress from the untrusted side
	in  *Instance // ingress from the protected side
	now uint64
}

var (
	gwMu    sync.Mutex
	gwCache = map[string]*gw{}
)

// newGW returns cfg loaded with an outside and an inside instance and an
// allow rule for each control port (an outside client's control SYN is
// admitted), with empty state maps and the clock at advStart. Loaded
// gateways are cached per config for the test binary: verification costs
// far more than a test.
func newGW(t testing.TB, cfg Config) *gw {
	t.Helper()
	testutil.RequireKernel(t)
	for _, p := range cfg.ControlPorts {
		cfg.Allow = append(cfg.Allow, AllowRule{Port: p})
	}
	key := fmt.Sprintf("%+v", cfg)
	gwMu.Lock()
	defer gwMu.Unlock()
	g, ok := gwCache[key]
	if !ok {
		dp, err := New(cfg, Options{})
		if err != nil {
			t.Fatalf("load datapath: %v", err)
		}
		g = &gw{dp: dp}
		if g.out, err = dp.Instance(HookXDP, Outside, 0); err != nil {
			t.Fatalf("load outside instance: %v", err)
		}
		if g.in, err = dp.Instance(HookXDP, Inside, 1); err != nil {
			t.Fatalf("load inside instance: %v", err)
		}
		gwCache[key] = g
	}
	g.t = t
	for _, name := range []string{"pinholes6", "ctrl_conns", "rate_limit"} {
		if err := clearMap(g.dp.maps[name]); err != nil {
			t.Fatalf("clear %s: %v", name, err)
		}
	}
	if err := g.dp.ptClear(); err != nil {
		t.Fatalf("clear pintab4: %v", err)
	}
	g.setClock(advStart)
	return g
}

// setClock sets the kernel time both instances read.
func (g *gw) setClock(ns uint64) {
	g.t.Helper()
	g.now = ns
	for _, in := range []*Instance{g.out, g.in} {
		if err := in.SetClock(ns); err != nil {
			g.t.Fatalf("set clock: %v", err)
		}
	}
}

// run sends one frame through an instance and returns the verdict.
func (g *gw) run(in *Instance, frame []byte) Verdict {
	g.t.Helper()
	v, err := in.Run(frame)
	if err != nil {
		g.t.Fatalf("run frame: %v", err)
	}
	return v
}

// counters reads every counter, summed over instances.
func (g *gw) counters() Counters {
	g.t.Helper()
	c, err := g.dp.Counters()
	if err != nil {
		g.t.Fatalf("read counters: %v", err)
	}
	return c
}

// pinholes lists the pinhole map.
func (g *gw) pinholes() []pinhole.Pinhole {
	g.t.Helper()
	var ps []pinhole.Pinhole
	for p, err := range g.dp.Pinholes() {
		if err != nil {
			g.t.Fatalf("read pinholes: %v", err)
		}
		ps = append(ps, p)
	}
	return ps
}

// usage returns the entry count of a map.
func (g *gw) usage(name string) MapUsage {
	g.t.Helper()
	us, err := g.dp.Usage()
	if err != nil {
		g.t.Fatalf("map usage: %v", err)
	}
	for _, u := range us {
		if u.Name == name {
			return u
		}
	}
	g.t.Fatalf("no map %s", name)
	return MapUsage{}
}

// synOutside sends a data-connection SYN arriving from the untrusted side.
func (g *gw) synOutside(src, dst netip.AddrPort) Verdict {
	g.t.Helper()
	return g.run(g.out, testutil.TCP{Src: src, Dst: dst, SYN: true, Seq: 7}.Frame())
}

// ctrl is one FTP control connection through the gateway. Client frames
// go through cin, server frames through sin; every one must pass.
type ctrl struct {
	g              *gw
	client, server netip.AddrPort
	cin, sin       *Instance
	cseq, sseq     uint32 // next sequence number of each direction
}

// activeCtrl is a protected client (inside) talking to an outside server:
// the case where PORT/EPRT pinholes let the server in.
func (g *gw) activeCtrl(client, server string) *ctrl {
	return &ctrl{g: g, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server),
		cin: g.in, sin: g.out, cseq: 1000, sseq: 5000}
}

// passiveCtrl is an outside client talking to a protected server (inside):
// the case where 227/229 pinholes let the client in.
func (g *gw) passiveCtrl(client, server string) *ctrl {
	return &ctrl{g: g, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server),
		cin: g.out, sin: g.in, cseq: 1000, sseq: 5000}
}

// handshake sends SYN, SYN-ACK and ACK.
func (c *ctrl) handshake() *ctrl {
	c.g.t.Helper()
	c.send(c.cin, testutil.TCP{Src: c.client, Dst: c.server, SYN: true, Seq: c.cseq - 1})
	c.send(c.sin, testutil.TCP{Src: c.server, Dst: c.client, SYN: true, ACK: true, Seq: c.sseq - 1, Ack: c.cseq})
	c.send(c.cin, testutil.TCP{Src: c.client, Dst: c.server, ACK: true, Seq: c.cseq, Ack: c.sseq})
	return c
}

func (c *ctrl) send(in *Instance, seg testutil.TCP) {
	c.g.t.Helper()
	if v := c.g.run(in, seg.Frame()); v != Pass {
		c.g.t.Fatalf("control segment %+q was dropped", seg.Payload)
	}
}

// c sends client bytes in order.
func (c *ctrl) c(payload string) {
	c.g.t.Helper()
	c.cAt(c.cseq, payload)
	c.cseq += uint32(len(payload))
}

// s sends server bytes in order.
func (c *ctrl) s(payload string) {
	c.g.t.Helper()
	c.sAt(c.sseq, payload)
	c.sseq += uint32(len(payload))
}

// cAt sends client bytes at any sequence number without moving the stream.
func (c *ctrl) cAt(seq uint32, payload string) {
	c.g.t.Helper()
	c.send(c.cin, testutil.TCP{Src: c.client, Dst: c.server, ACK: true, PSH: true, Seq: seq, Ack: c.sseq, Payload: []byte(payload)})
}

// sAt sends server bytes at any sequence number without moving the stream.
func (c *ctrl) sAt(seq uint32, payload string) {
	c.g.t.Helper()
	c.send(c.sin, testutil.TCP{Src: c.server, Dst: c.client, ACK: true, PSH: true, Seq: seq, Ack: c.cseq, Payload: []byte(payload)})
}

// serverData is where the server's active-mode data connection comes from.
func (c *ctrl) serverData() netip.AddrPort {
	return netip.AddrPortFrom(c.server.Addr(), 20)
}

// activeSYN is the server's data SYN to the client's port, from outside.
func (c *ctrl) activeSYN(port uint16) Verdict {
	c.g.t.Helper()
	return c.g.synOutside(c.serverData(), netip.AddrPortFrom(c.client.Addr(), port))
}

// passiveSYN is the client's data SYN to the server's port, from outside.
func (c *ctrl) passiveSYN(port uint16) Verdict {
	c.g.t.Helper()
	return c.g.synOutside(netip.AddrPortFrom(c.client.Addr(), 50000), netip.AddrPortFrom(c.server.Addr(), port))
}

// expectDelta fails unless each named counter moved by exactly want since
// before.
func expectDelta(t testing.TB, before, after Counters, want map[string]uint64) {
	t.Helper()
	d := after.Sub(before)
	for name, n := range want {
		if got := d.Total(name); got != n {
			t.Errorf("counter %s moved by %d, want %d (all: %v)", name, got, n, d.NonZero())
		}
	}
}
