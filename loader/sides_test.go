package loader

import (
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// A hostile outside client races its protected server: right after its own
// SYN, before the server's SYN-ACK has crossed the inside interface, it
// sends PASV and forges the server's 227. The SYN already put the server on
// the local side, so the forgery is refused.
func TestForged227BeforeSYNACK(t *testing.T) {
	g := newGW(t, DefaultConfig())
	c := g.passiveCtrl(pasClient, pasServer)
	c.send(c.cin, testutil.TCP{Src: c.client, Dst: c.server, SYN: true, Seq: c.cseq - 1})
	before := g.counters()
	c.c("PASV\r\n")
	c.send(g.out, testutil.TCP{Src: c.server, Dst: c.client, ACK: true, PSH: true, Seq: c.sseq,
		Payload: []byte("227 Entering Passive Mode (10,1,0,10,12,234)\r\n")})
	expectDelta(t, before, g.counters(), map[string]uint64{"reject_wrong_side": 1, "line_227": 0})
	if v := c.passiveSYN(hostilePort); v != Drop {
		t.Errorf("the client's SYN to the port it forged: %v, want drop", v)
	}
	// The real server is still heard.
	c.send(c.sin, testutil.TCP{Src: c.server, Dst: c.client, SYN: true, ACK: true, Seq: c.sseq - 1, Ack: c.cseq})
	c.s("227 Entering Passive Mode (10,1,0,10,4,1)\r\n")
	if v := c.passiveSYN(1025); v != Pass {
		t.Errorf("the client's SYN to the real passive port: %v, want pass", v)
	}
}
