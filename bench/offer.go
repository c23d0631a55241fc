package bench

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
)

// The lab's two streams: a data connection's segments from the client to
// the server, and a flood of SYNs to a port nothing opened.
const (
	flowClientPort = 40000
	flowServerPort = 5001
	floodPort      = 8080
	floodPortBase  = 10000
	floodPortSpan  = 50000
	labPayload     = 64
)

// labFrame sets the frame's MACs to the client's and the gateway's.
func (l *lab) labFrame(f []byte) []byte {
	copy(f[0:6], l.outMAC)
	copy(f[6:12], l.clientMAC)
	return f
}

// dataFrame is one segment of an established data connection.
func (l *lab) dataFrame() []byte {
	return l.labFrame(testutil.TCP{
		Src: netip.AddrPortFrom(clientAddr, flowClientPort), Dst: netip.AddrPortFrom(serverAddr, flowServerPort),
		ACK: true, PSH: true, Seq: 1, Ack: 1, Payload: make([]byte, labPayload),
	}.Frame())
}

// synFrame is an unsolicited SYN; the generator walks its source port.
func (l *lab) synFrame() []byte {
	return l.labFrame(testutil.TCP{
		Src: netip.AddrPortFrom(clientAddr, floodPortBase), Dst: netip.AddrPortFrom(serverAddr, floodPort),
		SYN: true, Seq: 1,
	}.Frame())
}

// primeFlow sends one segment of the data connection from the server side,
// so that conntrack has picked the connection up (as it does mid-stream)
// and sees the client's segments as its established replies. The client
// drops its RST in answer (see guardClient).
func (l *lab) primeFlow() error {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: serverAddr.AsSlice(), DstIP: clientAddr.AsSlice()}
	tcp := &layers.TCP{SrcPort: flowServerPort, DstPort: flowClientPort, ACK: true, Seq: 1, Ack: 1 + labPayload, Window: 64240}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return fmt.Errorf("primer checksum: %w", err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, tcp); err != nil {
		return fmt.Errorf("build primer: %w", err)
	}
	return l.server.Do(func() error {
		c, err := net.ListenPacket("ip4:tcp", serverAddr.String())
		if err != nil {
			return fmt.Errorf("raw socket in %s: %w", l.server.Name, err)
		}
		defer c.Close()
		if _, err := c.WriteTo(buf.Bytes(), &net.IPAddr{IP: clientAddr.AsSlice()}); err != nil {
			return fmt.Errorf("send primer: %w", err)
		}
		return nil
	})
}

// guardClient keeps the client's kernel from answering the primer with a
// RST, which would close the connection in conntrack.
func (l *lab) guardClient() error {
	rules := fmt.Sprintf(`table inet %s_guard {
	chain output {
		type filter hook output priority filter; policy accept;
		tcp sport %d tcp flags rst drop
	}
}
`, nftTable, flowClientPort)
	cmd := l.client.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f in %s: %w: %s", l.client.Name, err, out)
	}
	return nil
}

// offered is one bounded run of the generator.
type offered struct {
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	Dropped  uint64 `json:"dropped"` // counted by the setup
	// Elapsed is the kernel's time for the run (see generator.send).
	Elapsed time.Duration `json:"elapsed_ns"`
	// Span is wall time from the start to the receiver's last packet,
	// yields to other tasks included: a check on Elapsed, not a figure.
	Span time.Duration `json:"span_ns"`
}

// NsPerPacket is the elapsed time per packet offered.
func (o offered) NsPerPacket() float64 { return float64(o.Elapsed.Nanoseconds()) / float64(o.Sent) }

// Mpps is packets offered per microsecond.
func (o offered) Mpps() float64 { return 1e3 / o.NsPerPacket() }

// Accounted is the share of packets seen at the far end or dropped by the
// setup: below 1 the generator outran the path and lost some.
func (o offered) Accounted() float64 { return float64(o.Received+o.Dropped) / float64(o.Sent) }

// settle is how long the count at the far end must stay still before a run
// counts as over, and drainFor the bound on waiting for it.
const (
	settle   = 20 * time.Millisecond
	drainFor = 5 * time.Second
)

// offer sends n frames and waits until the far end has seen the last of
// them. Generator, gateway and receiver run on the sending CPU (veth hands
// frames on within the softirq that ends each batch), so the kernel's time
// for the send is the whole path's cost.
func (l *lab) offer(g *generator, s *sink, a *applied, frame []byte, n uint32) (offered, error) {
	o := offered{Sent: uint64(n)}
	if err := s.reset(); err != nil {
		return o, err
	}
	var drops0 uint64
	if a.drops != nil {
		d, err := a.drops()
		if err != nil {
			return o, err
		}
		drops0 = d
	}
	start := loader.KernelNow()
	took, err := g.send(frame, n)
	if err != nil {
		return o, err
	}
	var r received
	last, still := uint64(0), time.Now()
	for deadline := time.Now().Add(drainFor); time.Now().Before(deadline); {
		if r, err = s.read(); err != nil {
			return o, err
		}
		if r.Packets >= uint64(n) {
			break
		}
		if r.Packets != last {
			last, still = r.Packets, time.Now()
		} else if time.Since(still) >= settle {
			break
		}
		time.Sleep(time.Millisecond)
	}
	o.Received = r.Packets
	o.Elapsed = took
	if r.LastNs > start {
		o.Span = time.Duration(r.LastNs - start)
	}
	if a.drops != nil {
		d, err := a.drops()
		if err != nil {
			return o, err
		}
		o.Dropped = d - drops0
	}
	return o, nil
}
