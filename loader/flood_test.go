package loader

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/pinhole"
)

// The flood: one million hostile control segments through the program,
// from a hundred thousand connections (more than ctrl_conns holds), with
// pinhole churn from many sources. Memory must stay within the maps'
// capacities, every control packet must pass, nothing hostile may open and
// the pinholes made before the flood must still admit their SYNs.

// floodSegments is the size of the flood; -short runs a tenth.
const floodSegments = 1_000_000

// rawTCP4 builds an Ethernet/IPv4/TCP frame by hand (much faster than
// gopacket; the program checks no checksums).
func rawTCP4(src, dst netip.AddrPort, flags uint8, seq uint32, payload []byte) []byte {
	f := make([]byte, 54+len(payload))
	f[12], f[13] = 0x08, 0x00
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
	ip[8], ip[9] = 64, 6
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	copy(tcp[20:], payload)
	return f
}

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// Lines no flood connection may act on: no flood client ever sends PASV or
// EPSV and none has address 10.9.9.9, so each is refused by construction.
var (
	floodClientLines = []string{
		"PORT 10,9,9,9,12,234\r\n",
		"EPRT |1|10.9.9.9|3306|\r\n",
		"EPRT |2|::1|3306|\r\n",
		"PORT 10,9,9,9,0,21\r\n",
		"PORT 10,9,9,265,12,234\r\n",
		"PORT 10,9,9,9,\xff\xf112,234\r\n",
		"PORT 10,9,9,9,12,234\x00\r\n",
		"\xff\xf4\xff\xf2PORT 10,9,9,9,12,234\r\n",
		"227 Entering Passive Mode (10,1,0,10,12,234)\r\n",
		"NOOP\r\nPORT 10,9,9,9,12,234\r\nNOOP\r\n",
		"USER " + string(make([]byte, 300)) + "\r\n",
		"PO",
		"RT 10,9,9,9,12,234\r\n",
		"AUTH TLS\r\n",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
	}
	floodServerLines = []string{
		"227 Entering Passive Mode (10,1,0,10,12,234)\r\n",
		"229 Entering Extended Passive Mode (|||3306|)\r\n",
		"230-Welcome\r\n227 Entering Passive Mode (10,1,0,10,12,234)\r\n230 ok\r\n",
		"227-(10,1,0,10,12,234)\r\n",
		"257 \"x\n227 Entering Passive Mode (10,1,0,10,12,234)\" created\r\n",
		"500 'x 227 Entering Passive Mode (10,1,0,10,12,234)'\r\n",
		"PORT 10,1,0,10,12,234\r\n",
		"234 Proceed\r\n",
		"227 Entering Passive Mode (10,1,0,10,12,234",
		")\r\n",
	}
)

// floodServer is the inside server of the flood's outside clients.
var floodServer = netip.MustParseAddrPort("10.1.0.10:21")

// floodClient returns flood connection i's outside client: 100k of them
// over 256 addresses.
func floodClient(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 256)}), uint16(1024+i/256))
}

func TestFlood(t *testing.T) {
	n := floodSegments
	if testing.Short() {
		n /= 10
	}
	cfg := DefaultConfig()
	cfg.MaxPinholes = 4096 // small, so the churn reaches it
	g := newGW(t, cfg)

	// Legitimate pinholes made before the flood.
	act := g.activeCtrl(actClient, actServer).handshake()
	act.c(portLine(legitPort))
	pas := g.passiveCtrl(pasClient, pasServer).handshake()
	pas.c("PASV\r\n")
	pas.s("227 Entering Passive Mode (10,1,0,10,4,1)\r\n")
	if len(g.pinholes()) != 2 {
		t.Fatalf("legitimate pinholes: %v", g.pinholes())
	}

	const conns = 100_000
	rng := rand.New(rand.NewPCG(7, 7))
	next := make([][2]uint32, conns)
	frame := func(i int, dir int, flags uint8, payload []byte) []byte {
		cl := floodClient(i)
		seq := next[i][dir]
		if rng.IntN(4) == 0 {
			seq = rng.Uint32() // a jump, a replay, a forgery
		} else {
			next[i][dir] += uint32(len(payload))
		}
		if dir == 0 {
			return rawTCP4(cl, floodServer, flags, seq, payload)
		}
		return rawTCP4(floodServer, cl, flags, seq, payload)
	}

	churn := 0
	check := func(at int) {
		for _, u := range must(g.dp.Usage()) {
			if uint32(u.Entries) > u.Capacity {
				t.Fatalf("after %d segments: %s holds %d entries, capacity %d", at, u.Name, u.Entries, u.Capacity)
			}
		}
	}
	for k := range n {
		i := rng.IntN(conns)
		var f []byte
		in := g.out
		switch r := rng.IntN(10); {
		case r == 0: // a control SYN: ctrl_conns churn past its capacity
			next[i] = [2]uint32{rng.Uint32(), rng.Uint32()}
			f = rawTCP4(floodClient(i), floodServer, tcpSYN, next[i][0]-1, nil)
		case r <= 2: // a valid PORT for the client's own address: pinhole churn
			cl := floodClient(i)
			a := cl.Addr().As4()
			p := 1024 + rng.IntN(60000)
			f = frame(i, 0, tcpACK|tcpPSH, fmt.Appendf(nil, "PORT %d,%d,%d,%d,%d,%d\r\n", a[0], a[1], a[2], a[3], p>>8, p&0xff))
			churn++
		case r <= 6:
			f = frame(i, 0, tcpACK|tcpPSH, []byte(floodClientLines[rng.IntN(len(floodClientLines))]))
		default:
			f = frame(i, 1, tcpACK|tcpPSH, []byte(floodServerLines[rng.IntN(len(floodServerLines))]))
			in = g.in
		}
		if rng.IntN(64) == 0 {
			f[47] |= tcpFIN
		}
		if v := g.run(in, f); v != Pass {
			t.Fatalf("segment %d dropped: %q", k, f[54:])
		}
		if (k+1)%(n/4) == 0 {
			check(k + 1)
		}
	}
	c := g.counters()
	t.Logf("%d segments (%d own-address PORTs): %v", n, churn, c.NonZero())
	if u := g.usage("ctrl_conns"); !testing.Short() && u.Entries < int(u.Capacity)*9/10 {
		t.Errorf("ctrl_conns holds %d of %d: the flood did not press on it", u.Entries, u.Capacity)
	}

	// Nothing hostile opened: every pinhole is a flood client's own PORT
	// (to its own address) or one of the two legitimate ones.
	for _, p := range g.pinholes() {
		own := p.Mode == pinhole.Active && p.Dest.Addr() == p.Control.Client.Addr() && p.Source == floodServer.Addr()
		legit := p.Dest.Port() == legitPort && (p.Control.Client == act.client || p.Control.Client == pas.client)
		if !own && !legit {
			t.Errorf("pinhole opened by the flood: %v", p)
		}
	}
	if c.Total("reject_map_full") == 0 {
		t.Error("the churn never filled the pinhole map: the test lost its point")
	}

	// The pinholes made before the flood still admit, and their control
	// connections still work (state evicted by the churn is picked up).
	if v := act.activeSYN(legitPort); v != Pass {
		t.Errorf("active pinhole lost in the flood: SYN %v", v)
	}
	if v := pas.passiveSYN(legitPort); v != Pass {
		t.Errorf("passive pinhole lost in the flood: SYN %v", v)
	}

	// Once the churn expires and is swept, a legitimate client gets a
	// pinhole again.
	g.setClock(advStart + uint64(cfg.PinholeTimeout) + uint64(time.Second))
	if _, err := g.dp.Sweep(g.now, time.Hour); err != nil {
		t.Fatal(err)
	}
	act.c(portLine(legitPort + 1))
	if v := act.activeSYN(legitPort + 1); v != Pass {
		t.Errorf("pinhole after the flood was swept: SYN %v", v)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
