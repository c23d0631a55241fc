package loader

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// seedDir holds the seed scripts of FuzzKernelVsReference.
const seedDir = "../testdata/corpus/control"

// maxPayload keeps frames within what BPF_PROG_TEST_RUN takes in one page;
// the kernel reads only 512 bytes anyway.
const maxPayload = 1400

// maxOps bounds the work of one fuzz input.
const maxOps = 64

// fuzzConfig is the settings of the differential test: the stock ones with
// room for several pinholes per control connection, or (alt) every relaxed
// switch, tight limits and a tiny map so that refreshes, replacements, the
// rate limit and a full map all happen.
func fuzzConfig(alt bool) Config {
	cfg := DefaultConfig()
	cfg.Allow = []AllowRule{{Port: 21}}
	cfg.MaxPinholes = 64
	cfg.MaxPerControl = 2
	if alt {
		cfg.Loose = true
		cfg.RequireRequest = false
		cfg.StrictSequence = false
		cfg.MaxPerControl = 4
		cfg.MinPort = 1
		cfg.RateBurst = 4
		cfg.MaxPinholes = 3
	}
	return cfg
}

// FuzzKernelVsReference feeds the same control script to the kernel program
// and to the reference model in package pinhole and fails on any difference
// in counted reasons, verdicts or pinholes, after every packet.
func FuzzKernelVsReference(f *testing.F) {
	testutil.RequireKernel(f)
	seeds, err := readSeeds(seedDir)
	if err != nil {
		f.Fatal(err)
	}
	if len(seeds) == 0 {
		f.Fatalf("no seed scripts in %s", seedDir)
	}
	for _, s := range seeds {
		f.Add(s.mode, s.script)
		f.Add(s.mode^modeAlt^modeTC, s.script)
		f.Add(s.mode^modeGateway, s.script)
	}
	f.Fuzz(func(t *testing.T, mode uint8, script []byte) {
		differential(t, mode, script)
	})
}

// compared are the counters the differential test holds equal.
var compared = func() map[string]bool {
	m := map[string]bool{"syn_allowed_rule": true}
	for _, r := range pinhole.Reasons {
		m[string(r)] = true
	}
	return m
}()

// diffRun is one script running through the kernel and the reference.
type diffRun struct {
	t     *testing.T
	h     *harness
	ref   *pinhole.Table
	conn  *pinhole.Conn
	s     *session
	now   uint64
	start [2]uint32 // seq of the previous segment in each direction
	// gateway: the client's control packets arrive at the inside program.
	gateway bool
}

// via returns the program a control packet in direction dir arrives at,
// and whether that is the outside one.
func (r *diffRun) via(dir pinhole.Direction, forged bool) (*Instance, bool) {
	if r.gateway && dir == pinhole.ClientToServer && !forged {
		return r.h.other(), false
	}
	return r.h.in, true
}

func differential(t *testing.T, mode uint8, script []byte) {
	cfg := fuzzConfig(mode&modeAlt != 0)
	hook := HookXDP
	if mode&modeTC != 0 {
		hook = HookTC
	}
	r := &diffRun{t: t, h: kernelHarness(t, cfg, hook, Outside), ref: pinhole.NewTable(referenceConfig(cfg)), now: baseClock}
	r.s = newSession(cli4, srv4)
	if mode&modeV6 != 0 {
		r.s = newSession(cli6, srv6)
	}
	r.conn = r.ref.Conn(r.s.ctl)
	r.gateway = mode&modeGateway != 0
	r.start = r.s.seq
	if mode&modeNoHandshake == 0 {
		r.handshake()
	}
	for i, seg := range bytes.Split(script, []byte{0}) {
		if i >= maxOps {
			break
		}
		if len(seg) == 0 {
			continue
		}
		payload := unescapePayload(seg[1:])
		if len(payload) > maxPayload {
			payload = payload[:maxPayload]
		}
		r.op(fmt.Sprintf("op %d %q %q", i, seg[0], payload), seg[0], payload)
	}
}

func (r *diffRun) handshake() {
	syn := r.s.tcp(pinhole.ClientToServer)
	syn.SYN, syn.Seq = true, r.s.seq[0]-1
	in, outside := r.via(pinhole.ClientToServer, false)
	ev := r.conn.Segment(r.now, pinhole.Segment{Dir: pinhole.ClientToServer, SYN: true, Seq: syn.Seq, Outside: outside})
	if outside {
		ev = append([]pinhole.Event{{Reason: "syn_allowed_rule"}}, ev...)
	}
	r.check("client SYN", in, syn, Pass, ev)
	sa := r.s.tcp(pinhole.ServerToClient)
	sa.SYN, sa.ACK, sa.Seq = true, true, r.s.seq[1]-1
	in, outside = r.via(pinhole.ServerToClient, false)
	ev = r.conn.Segment(r.now, pinhole.Segment{Dir: pinhole.ServerToClient, SYN: true, Seq: sa.Seq, Outside: outside})
	r.check("server SYN-ACK", in, sa, Pass, ev)
}

func (r *diffRun) op(what string, op byte, payload []byte) {
	r.now += uint64(time.Millisecond)
	dir := pinhole.ClientToServer
	switch op {
	case 'S', 's', 'H':
		dir = pinhole.ServerToClient
	case 'C', 'c', 'G', 'F', 'R', 'Y', 'X':
	case 'T':
		r.now += digits(payload) * uint64(time.Second)
		return
	case 'A', 'P':
		r.dataSYN(what, op, payload)
		return
	default:
		dir = pinhole.Direction(op & 1)
	}
	if op == 'Y' {
		r.handshake()
		return
	}
	seq := r.s.seq[dir]
	switch op {
	case 'c', 's':
		seq = r.start[dir]
	case 'G', 'H':
		seq += 7
	}
	in, outside := r.via(dir, op == 'X')
	p := r.s.tcp(dir)
	p.ACK, p.Seq = true, seq
	seg := pinhole.Segment{Dir: dir, Seq: seq, Outside: outside}
	switch op {
	case 'R':
		p.RST, seg.RST = true, true
	case 'F':
		p.FIN, seg.FIN = true, true
		fallthrough
	default:
		p.PSH, p.Payload, seg.Payload = true, payload, payload
		r.start[dir] = seq
		if end := seq + uint32(len(payload)); int32(end-r.s.seq[dir]) > 0 {
			r.s.seq[dir] = end
		}
	}
	r.check(what, in, p, Pass, r.conn.Segment(r.now, seg))
}

// dataSYN sends the first SYN of a data connection: "port" or
// "port,source-port" in the payload.
func (r *diffRun) dataSYN(what string, op byte, payload []byte) {
	port := uint16(digits(payload))
	sport := uint16(20)
	if i := bytes.IndexByte(payload, ','); i >= 0 {
		sport = uint16(digits(payload[i+1:]))
	}
	if port == 21 || sport == 21 {
		return // allow rule and control port: not this test's business
	}
	src := netip.AddrPortFrom(r.s.ctl.Server.Addr(), sport)
	dst := netip.AddrPortFrom(r.s.ctl.Client.Addr(), port)
	if op == 'P' {
		src = netip.AddrPortFrom(r.s.ctl.Client.Addr(), sport)
		dst = netip.AddrPortFrom(r.s.ctl.Server.Addr(), port)
	}
	reason := r.ref.SYN(r.now, src, dst)
	want := Drop
	if reason == pinhole.ReasonSYNAllowedPinhole || reason == pinhole.ReasonSYNRetransmit {
		want = Pass
	}
	p := r.s.tcp(pinhole.ClientToServer)
	p.Src, p.Dst, p.SYN = src, dst, true
	r.check(what, r.h.in, p, want, []pinhole.Event{{Reason: reason}})
}

// check runs p through the kernel program in and compares its verdict,
// counters and pinholes with the reference's.
func (r *diffRun) check(what string, in *Instance, p testutil.TCP, want Verdict, ev []pinhole.Event) {
	t, h := r.t, r.h
	t.Helper()
	h.setClock(r.now)
	if v := h.runOn(in, p.Frame()); v != want {
		t.Fatalf("%s: kernel verdict %s, reference %s", what, v, want)
	}
	wantC := map[string]uint64{}
	for _, e := range ev {
		wantC[string(e.Reason)]++
	}
	gotC := map[string]uint64{}
	for name, v := range h.delta() {
		if compared[name] {
			gotC[name] = v
		}
	}
	if !maps.Equal(gotC, wantC) {
		t.Fatalf("%s: counters differ\nkernel    %v\nreference %v\nreference events %s", what, gotC, wantC, describe(ev))
	}
	if got, want := h.pinholes(), r.ref.Pinholes(); !slices.Equal(got, want) {
		t.Fatalf("%s: pinholes differ\nkernel    %+v\nreference %+v", what, got, want)
	}
}

func describe(ev []pinhole.Event) string {
	var b bytes.Buffer
	for _, e := range ev {
		fmt.Fprintf(&b, "\n  %s %q", e.Reason, e.Line)
	}
	return b.String()
}
