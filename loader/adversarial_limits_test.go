package loader

import (
	"fmt"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// Limits an attacker pushes against: the pinhole map's capacity, the
// per-source creation rate and the per-control-connection limit. Every
// control packet must still pass (ctrl.send fails otherwise).

// portLine is a PORT for the active client actClient.
func portLine(port uint16) string {
	return fmt.Sprintf("PORT 10,1,0,2,%d,%d\r\n", port>>8, port&0xff)
}

func TestAdversarialMapFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPinholes = 2
	g := newGW(t, cfg)
	conns := make([]*ctrl, 3)
	for i := range conns {
		conns[i] = g.activeCtrl(fmt.Sprintf("10.1.0.2:%d", 40000+i), actServer).handshake()
	}
	before := g.counters()
	conns[0].c(portLine(2000))
	conns[1].c(portLine(2001))
	conns[2].c(portLine(2002)) // the map is full: fail closed
	expectDelta(t, before, g.counters(), map[string]uint64{"pinhole_active_v4": 2, "reject_map_full": 1})
	if n := g.usage("pinholes").Entries; n != 2 {
		t.Fatalf("%d pinholes in a map of 2", n)
	}
	if v := conns[2].activeSYN(2002); v != Drop {
		t.Errorf("SYN for the refused pinhole: %v", v)
	}

	// Announcing a live pinhole again refreshes it in place, full or not.
	before = g.counters()
	conns[0].c(portLine(2000))
	expectDelta(t, before, g.counters(), map[string]uint64{"pinhole_refreshed": 1, "reject_map_full": 0})

	// Nothing live was evicted to make room: both still admit their SYN.
	for i, port := range []uint16{2000, 2001} {
		if v := conns[i].activeSYN(port); v != Pass {
			t.Errorf("legitimate pinhole %d lost: SYN %v", port, v)
		}
	}
	// When the sweeper frees a slot, the refused connection succeeds.
	if _, err := g.dp.DeletePinholes(func(p pinhole.Pinhole) bool { return p.Dest.Port() == 2000 }); err != nil {
		t.Fatal(err)
	}
	conns[2].c(portLine(2003))
	if v := conns[2].activeSYN(2003); v != Pass {
		t.Errorf("pinhole after a slot was freed: SYN %v", v)
	}
}

func TestAdversarialRateLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateWindow = time.Second
	cfg.RateBurst = 3
	cfg.MaxPerControl = MaxPerControlLimit
	g := newGW(t, cfg)
	a := g.activeCtrl(actClient, actServer).handshake()
	b := g.activeCtrl("10.1.0.3:40000", actServer).handshake()

	before := g.counters()
	for p := uint16(2000); p < 2004; p++ {
		a.c(portLine(p))
	}
	a.c(portLine(2000)) // a refresh costs no budget
	expectDelta(t, before, g.counters(), map[string]uint64{
		"pinhole_active_v4": 3, "reject_rate_limit": 1, "pinhole_refreshed": 1,
	})
	if v := a.activeSYN(2003); v != Drop {
		t.Errorf("SYN for the rate-limited pinhole: %v", v)
	}

	// Another source has its own budget.
	b.c("PORT 10,1,0,3,7,208\r\n")
	if v := b.activeSYN(2000); v != Pass {
		t.Errorf("other client's pinhole: SYN %v", v)
	}

	// The next window admits again.
	g.setClock(advStart + uint64(time.Second))
	before = g.counters()
	a.c(portLine(2004))
	expectDelta(t, before, g.counters(), map[string]uint64{"pinhole_active_v4": 1, "reject_rate_limit": 0})
}

func TestAdversarialPerControlLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPerControl = 2
	g := newGW(t, cfg)
	c := g.activeCtrl(actClient, actServer).handshake()

	live := func() int {
		n := 0
		for _, p := range g.pinholes() {
			if p.Control.Client == c.client {
				n++
			}
		}
		return n
	}

	before := g.counters()
	c.c(portLine(2000))
	c.c(portLine(2001))
	c.c(portLine(2002)) // replaces 2000, counted
	expectDelta(t, before, g.counters(), map[string]uint64{"pinhole_active_v4": 3, "pinhole_replaced": 1})
	if n := live(); n != 2 {
		t.Fatalf("%d pinholes for one control connection, limit 2", n)
	}
	if v := c.activeSYN(2000); v != Drop {
		t.Errorf("SYN for the replaced pinhole: %v", v)
	}

	// The limit is per control connection, and a client that resets its
	// own (a new SYN on the 5-tuple, a RST) or opens another starts a new
	// one: what bounds a client is the per-source rate limit.
	c.cseq = 90000
	c.send(c.cin, testutil.TCP{Src: c.client, Dst: c.server, SYN: true, Seq: c.cseq - 1})
	c.c(portLine(2003))
	if n := live(); n != 3 {
		t.Errorf("after a repeated SYN: %d pinholes for the 5-tuple, want 3", n)
	}
}

func TestAdversarialChurnBoundedByRate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateBurst = 10
	g := newGW(t, cfg)
	before := g.counters()
	for i := range 50 {
		c := g.activeCtrl(fmt.Sprintf("10.1.0.2:%d", 30000+i), actServer).handshake()
		c.c(portLine(uint16(2000 + i)))
		c.send(c.cin, testutil.TCP{Src: c.client, Dst: c.server, RST: true, Seq: c.cseq})
	}
	expectDelta(t, before, g.counters(), map[string]uint64{"pinhole_active_v4": 10, "reject_rate_limit": 40})
	if n := len(g.pinholes()); n != 10 {
		t.Errorf("%d pinholes from one churning client, burst 10", n)
	}
}
