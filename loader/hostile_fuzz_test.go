package loader

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// FuzzHostileControl drives one control connection through a gateway (an
// outside and an inside instance) with mutated sequences of segments in
// both directions: out-of-order and far-off sequence numbers, replays,
// forgeries arriving from the wrong side, SYN/FIN/RST, pipelined and split
// hostile lines, data SYNs and clock jumps. After every packet it checks:
//
//   - a control packet always passes;
//   - every pinhole names the connection's own two addresses, the right
//     way round for its mode, and a port at or above the floor;
//   - the kernel's pinholes are exactly the reference model's
//     (pinhole.Table fed the same segments with the side they arrive on),
//     so none opens that the reference parser would not open;
//   - a data SYN gets the verdict the model gives it;
//   - the pinhole map stays within its capacity.
//
// The input is a binary script (see hostileOp); readable seeds live in
// testdata/corpus/hostile and are compiled by encodeHostile.
func FuzzHostileControl(f *testing.F) {
	testutil.RequireKernel(f)
	seeds, err := readHostileSeeds(hostileSeedDir)
	if err != nil {
		f.Fatal(err)
	}
	if len(seeds) == 0 {
		f.Fatalf("no seeds in %s", hostileSeedDir)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		runHostile(t, script)
	})
}

// TestHostileSeeds runs the seed scripts once as a plain test.
func TestHostileSeeds(t *testing.T) {
	seeds, err := readHostileSeeds(hostileSeedDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) == 0 {
		t.Fatalf("no seeds in %s", hostileSeedDir)
	}
	for i, s := range seeds {
		t.Run(fmt.Sprint(i), func(t *testing.T) { runHostile(t, s) })
	}
}

// The script: a mode byte, then operations.
//
// Mode bits: 1 passive topology (outside client, inside server; else inside
// client, outside server), 2 IPv6, 4 the alternative settings.
//
// Operation byte: low nibble the kind, 0x10 the server's direction, 0x20
// forged (sent into the instance of the other side), top two bits the
// sequence number: 0 in order, 1 the previous segment's, 2 ahead by the next
// byte, 3 far (a million times one more than the next byte).
const (
	opSegment      = iota // a length byte, then the payload (see payload)
	opSegmentFIN          // the same, with FIN
	opSYN                 // a SYN (SYN-ACK from the server)
	opFIN                 // a bare FIN
	opRST                 // a RST
	opProbeActive         // a data SYN from the server to a client port (two bytes)
	opProbePassive        // a data SYN from the client to a server port (two bytes)
	opTick                // the clock moves by the next byte in seconds
	opKinds
)

const (
	hostileMaxOps  = 48
	hostileMaxHole = 8 // the map's capacity under the fuzz
)

// hostileDict are the payloads a length byte with the top bit picks:
// {C}/{S} are the client's/server's address as PORT writes it, {c}/{s} as
// EPRT does, {af} its EPRT family.
var hostileDict = []string{
	"PORT {C},4,1\r\n",
	"PORT {C},12,234\r\n",
	"PORT 10,9,9,9,4,1\r\n",
	"PORT {S},4,1\r\n",
	"PORT {C},0,21\r\n",
	"PORT {C},256,1\r\n",
	"EPRT |{af}|{c}|1025|\r\n",
	"EPRT |{af}|{s}|3306|\r\n",
	"PASV\r\n",
	"EPSV\r\n",
	"227 Entering Passive Mode ({S},4,1)\r\n",
	"227 Entering Passive Mode ({S},12,234).\r\n",
	"227 Entering Passive Mode (10,9,9,9,4,1)\r\n",
	"229 Entering Extended Passive Mode (|||1025|)\r\n",
	"229 (|||3306|)\r\n",
	"230-Welcome\r\n227 Entering Passive Mode ({S},12,234)\r\n230 ok\r\n",
	"227-({S},12,234)\r\n",
	"257 \"x\n227 Entering Passive Mode ({S},12,234)\" created\r\n",
	"500 'XYZ 227 Entering Passive Mode ({S},12,234)'\r\n",
	"227 Entering Passive Mode\x00({S},12,234)\r\n",
	"227 \xff\xfb\x01({S},12,234)\r\n",
	"PORT {C},\xff\xf112,234\r\n",
	"\xff\xf4\xff\xf2PORT {C},12,234\r\n",
	"AUTH TLS\r\n",
	"234 Proceed\r\n",
	"234-TLS\r\n234 go\r\n",
	"534 no\r\n",
	"425 no\r\n",
	"NOOP\r\n",
	"PO",
	"RT {C},12,234\r\n",
	"227 Entering Passive Mode ({S},",
	"12,234)\r\n",
	"\r",
	"\n",
	"x\n",
	"NOOP\r\nPORT {C},4,2\r\nPORT 10,9,9,9,4,3\r\n",
	"PORT " + strings.Repeat(" ", 130) + "{C},4,1\r\n",
	strings.Repeat("NOOP\r\n", 84) + "PORT {C},4,1\r\n",
	"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
}

// hostileRun is one script in progress.
type hostileRun struct {
	t    *testing.T
	g    *gw
	cfg  Config
	c    *ctrl
	ref  *pinhole.Table
	conn *pinhole.Conn
	now  uint64
	prev [2]uint32 // start of the previous segment in each direction
	vars *strings.Replacer
}

func hostileConfig(alt bool) Config {
	cfg := DefaultConfig()
	cfg.MaxPinholes = hostileMaxHole
	cfg.MaxPerControl = 2
	cfg.RateBurst = 5
	if alt {
		cfg.Loose = true
		cfg.RequireRequest = false
		cfg.StrictSequence = false
		cfg.MinPort = 1
		cfg.MaxPerControl = 4
		cfg.MaxPinholes = 3
	}
	return cfg
}

func refConfig(c Config) pinhole.Config {
	return pinhole.Config{
		MinPort: c.MinPort, PinholeTimeout: c.PinholeTimeout, SYNGrace: c.SYNGrace,
		MaxPerControl: c.MaxPerControl, Capacity: int(c.MaxPinholes), Loose: c.Loose,
		StrictSequence: c.StrictSequence, RequireRequest: c.RequireRequest,
		RateWindow: c.RateWindow, RateBurst: c.RateBurst,
	}
}

func runHostile(t *testing.T, script []byte) {
	if len(script) == 0 {
		return
	}
	mode := script[0]
	r := &hostileRun{t: t, cfg: hostileConfig(mode&4 != 0), now: advStart}
	r.g = newGW(t, r.cfg)
	switch {
	case mode&2 != 0 && mode&1 != 0:
		r.c = r.g.passiveCtrl("[2001:db8:5::7]:40000", "[fd00::10]:21")
	case mode&2 != 0:
		r.c = r.g.activeCtrl(act6Client, act6Server)
	case mode&1 != 0:
		r.c = r.g.passiveCtrl(pasClient, pasServer)
	default:
		r.c = r.g.activeCtrl(actClient, actServer)
	}
	r.ref = pinhole.NewTable(refConfig(r.cfg))
	r.conn = r.ref.Conn(pinhole.Control{Client: r.c.client, Server: r.c.server})
	r.prev = [2]uint32{r.c.cseq, r.c.sseq}
	r.vars = strings.NewReplacer(
		"{C}", portAddr(r.c.client.Addr()), "{S}", portAddr(r.c.server.Addr()),
		"{c}", r.c.client.Addr().String(), "{s}", r.c.server.Addr().String(),
		"{af}", map[bool]string{true: "1", false: "2"}[r.c.client.Addr().Is4()])

	b := script[1:]
	for ops := 0; len(b) > 0 && ops < hostileMaxOps; ops++ {
		b = r.op(ops, b)
	}
	for _, u := range must(r.g.dp.Usage()) {
		if uint32(u.Entries) > u.Capacity {
			t.Fatalf("%s holds %d entries, capacity %d", u.Name, u.Entries, u.Capacity)
		}
	}
}

// portAddr writes an IPv4 address as PORT does ("10,1,0,2").
func portAddr(a netip.Addr) string {
	if !a.Is4() {
		return "10,9,9,8"
	}
	b := a.As4()
	return fmt.Sprintf("%d,%d,%d,%d", b[0], b[1], b[2], b[3])
}

// take takes n bytes (fewer at the end).
func take(b []byte, n int) ([]byte, []byte) {
	n = min(n, len(b))
	return b[:n], b[n:]
}

func (r *hostileRun) op(i int, b []byte) []byte {
	t, c := r.t, r.c
	op := b[0]
	b = b[1:]
	kind := int(op&0x0f) % opKinds
	dir := pinhole.ClientToServer
	if op&0x10 != 0 {
		dir = pinhole.ServerToClient
	}
	forged := op&0x20 != 0
	r.now += uint64(time.Millisecond)

	// Where the segment starts.
	cur := &c.cseq
	if dir == pinhole.ServerToClient {
		cur = &c.sseq
	}
	seq := *cur
	switch op >> 6 {
	case 1:
		seq = r.prev[dir]
	case 2, 3:
		var a []byte
		a, b = take(b, 1)
		k := uint32(1)
		if len(a) == 1 {
			k += uint32(a[0])
		}
		if op>>6 == 3 {
			k *= 1_000_000
		}
		seq += k
	}

	switch kind {
	case opTick:
		var a []byte
		a, b = take(b, 1)
		if len(a) == 1 {
			r.now += uint64(a[0]) * uint64(time.Second)
		}
		return b
	case opProbeActive, opProbePassive:
		var a []byte
		a, b = take(b, 2)
		port := uint16(legitPort)
		if len(a) == 2 {
			port = uint16(a[0])<<8 | uint16(a[1])
		}
		r.probe(i, kind == opProbeActive, port)
		return b
	}

	seg := pinhole.Segment{Dir: dir, Seq: seq}
	p := testutil.TCP{Src: c.client, Dst: c.server, Seq: seq, ACK: true}
	if dir == pinhole.ServerToClient {
		p.Src, p.Dst = c.server, c.client
	}
	switch kind {
	case opSYN:
		p.SYN, seg.SYN = true, true
		p.ACK = dir == pinhole.ServerToClient
		seq--
		p.Seq, seg.Seq = seq, seq
	case opFIN:
		p.FIN, seg.FIN = true, true
	case opRST:
		p.RST, seg.RST = true, true
		p.ACK = false
	case opSegment, opSegmentFIN:
		var payload []byte
		payload, b = r.payload(b)
		if len(payload) == 0 {
			return b
		}
		p.PSH, p.Payload, seg.Payload = true, payload, payload
		p.FIN, seg.FIN = kind == opSegmentFIN, kind == opSegmentFIN
		// The real stream moves with in-order segments and small gaps;
		// a forgery or a far-off segment is not the peer speaking.
		r.prev[dir] = seq
		if end := seq + uint32(len(payload)); !forged && op>>6 != 3 && int32(end-*cur) > 0 {
			*cur = end
		}
	}
	if kind == opSYN && !forged {
		*cur = seq + 1
	}

	// The instance of the sender's side, or of the other side for a forgery.
	in := c.cin
	if dir == pinhole.ServerToClient {
		in = c.sin
	}
	if forged {
		in = map[*Instance]*Instance{r.g.out: r.g.in, r.g.in: r.g.out}[in]
	}
	seg.Outside = in == r.g.out
	what := fmt.Sprintf("op %d %#02x (%v forged=%v outside=%v syn=%v fin=%v rst=%v seq=%d) %q",
		i, op, dir, forged, seg.Outside, p.SYN, p.FIN, p.RST, seq, p.Payload)

	r.conn.Segment(r.now, seg)
	r.g.setClock(r.now)
	if v := r.g.run(in, p.Frame()); v != Pass {
		t.Fatalf("%s: control packet dropped", what)
	}
	r.check(what)
	return b
}

// payload reads a length byte: with the top bit a dictionary entry, else
// that many raw bytes; the {C} ... variables are replaced in both.
func (r *hostileRun) payload(b []byte) ([]byte, []byte) {
	var l []byte
	l, b = take(b, 1)
	if len(l) == 0 {
		return nil, b
	}
	if l[0]&0x80 != 0 {
		return []byte(r.vars.Replace(hostileDict[int(l[0]&0x7f)%len(hostileDict)])), b
	}
	raw, b := take(b, int(l[0]))
	return []byte(r.vars.Replace(string(raw))), b
}

// probe sends a data SYN from the outside and compares the verdict.
func (r *hostileRun) probe(i int, active bool, port uint16) {
	c := r.c
	src := netip.AddrPortFrom(c.server.Addr(), 20)
	dst := netip.AddrPortFrom(c.client.Addr(), port)
	if !active {
		src = netip.AddrPortFrom(c.client.Addr(), 50000)
		dst = netip.AddrPortFrom(c.server.Addr(), port)
	}
	if port == 21 {
		return // the allow rule's business
	}
	reason := r.ref.SYN(r.now, src, dst)
	want := Drop
	if reason == pinhole.ReasonSYNAllowedPinhole || reason == pinhole.ReasonSYNRetransmit {
		want = Pass
	}
	r.g.setClock(r.now)
	if v := r.g.synOutside(src, dst); v != want {
		r.t.Fatalf("op %d: data SYN %v -> %v: kernel %v, reference %v (%s)", i, src, dst, v, want, reason)
	}
	r.check(fmt.Sprintf("op %d: data SYN %v -> %v", i, src, dst))
}

// check holds the kernel's pinholes against the invariants and the model.
func (r *hostileRun) check(what string) {
	t, c := r.t, r.c
	got := r.g.pinholes()
	slices.SortFunc(got, func(a, b pinhole.Pinhole) int {
		return cmp.Or(a.Dest.Compare(b.Dest), a.Source.Compare(b.Source))
	})
	if len(got) > int(r.cfg.MaxPinholes) {
		t.Fatalf("%s: %d pinholes, capacity %d", what, len(got), r.cfg.MaxPinholes)
	}
	for _, p := range got {
		src, dst := c.server.Addr(), c.client.Addr()
		if p.Mode == pinhole.Passive {
			src, dst = dst, src
		}
		if p.Source != src || p.Dest.Addr() != dst || p.Dest.Port() < r.cfg.MinPort || p.Dest.Port() == 0 {
			t.Fatalf("%s: pinhole outside the connection's own endpoints: %+v", what, p)
		}
	}
	if want := r.ref.Pinholes(); !slices.Equal(got, want) {
		t.Fatalf("%s: pinholes differ\nkernel    %+v\nreference %+v", what, got, want)
	}
}
