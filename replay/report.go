package replay

import (
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// runFrame runs one Ethernet frame and emits what it did.
func (r *Replayer) runFrame(p Packet, rel float64, clock uint64, b []byte, emit func(Event) error) (int, error) {
	f := parseFrame(b)
	slot := outsideSlot
	if f.ip && r.sides.inside(f.src) {
		slot = insideSlot
	}
	in := r.inst[slot]
	if err := in.SetClock(clock); err != nil {
		return slot, err
	}
	verdict, err := in.Run(b)
	if err != nil {
		return slot, err
	}
	if verdict == loader.Pass && !r.everyPacket && !r.mayReport(f, b, slot) {
		return slot, nil
	}
	// The outside is slot 0: its counters alone are half the read.
	c, err := r.dp.SlotCounters(slot + 1)
	if err != nil {
		return slot, err
	}
	cur, prev := c.Values[slot], r.prev[slot]
	r.prev[slot] = cur
	if slot == insideSlot {
		r.prev[outsideSlot] = c.Values[outsideSlot]
	}

	src, dst := f.endpoints()
	base := Event{
		Packet: p.Number, Seconds: rel, Timestamp: p.Time, Side: sideNames[slot],
		Verdict: verdict.String(), Source: addrString(src), Destination: addrString(dst),
	}
	var (
		evs  []Event
		want [3]int // pinholes opened, refreshed, removed
	)
	for i, name := range r.names {
		d := cur[i] - prev[i]
		if d == 0 {
			continue
		}
		e := base
		switch {
		case strings.HasPrefix(name, "syn_"):
			e.Kind, e.Reason = synEvent(name)
		case name == "tiny_fragment" && (verdict == loader.Drop || r.dp.Config().Observe):
			e.Kind, e.Reason = PacketDropped, name
		case strings.HasPrefix(name, "reject_"):
			e.Kind, e.Reason, e.Line = Reject, strings.TrimPrefix(name, "reject_"), firstLine(f.payload(b))
		case name == "pinhole_refreshed":
			want[1] += int(d)
			continue
		case name == "pinhole_replaced":
			want[2] += int(d)
			continue
		case strings.HasPrefix(name, "pinhole_"):
			want[0] += int(d)
			continue
		default:
			continue
		}
		for range d {
			evs = append(evs, e)
		}
	}
	if want != [3]int{} {
		ch, err := r.pinholes.changes(r.control(f), want)
		if err != nil {
			return slot, err
		}
		line := firstLine(f.payload(b))
		for _, g := range []struct {
			kind string
			ps   []pinhole.Pinhole
		}{{PinholeReplaced, ch.removed}, {PinholeOpened, ch.opened}, {PinholeRefreshed, ch.refreshed}} {
			for _, ph := range g.ps {
				e := base
				e.Kind, e.Line, e.Pinhole = g.kind, line, pinholeEvent(ph, clock)
				evs = append(evs, e)
			}
		}
	}
	for _, e := range evs {
		if err := emit(e); err != nil {
			return slot, err
		}
	}
	return slot, nil
}

// mayReport says whether a packet the program passed can have moved a
// counter replay reports: a SYN on the outside, a control segment with
// data or a SYN, FIN or RST, a fragment, or what Go could not parse. The
// counters are read only after those: data connections are most of a
// capture.
func (r *Replayer) mayReport(f frame, b []byte, slot int) bool {
	switch {
	case !f.ip:
		return false // not IP: the program passes it untouched
	case f.fragment || f.moreFrag:
		return true
	case !f.tcp:
		return f.proto == protoTCP // a TCP header Go could not parse
	case f.flags&(tcpSYN|tcpACK) == tcpSYN && slot == outsideSlot:
		return true
	case r.isControlPort(f.sport) || r.isControlPort(f.dport):
		return len(f.payload(b)) > 0 || f.flags&(tcpSYN|tcpFIN|tcpRST) != 0
	}
	return false
}

func (r *Replayer) isControlPort(p uint16) bool {
	return slices.Contains(r.dp.Config().ControlPorts, p)
}

// control returns the control connection of a control segment, client
// first, as the kernel keys it: the destination is the server when its
// port is a control port.
func (r *Replayer) control(f frame) pinhole.Control {
	src, dst := f.endpoints()
	if r.isControlPort(f.dport) {
		return pinhole.Control{Client: src, Server: dst}
	}
	return pinhole.Control{Client: dst, Server: src}
}

// synEvent names the event of a syn_* counter.
func synEvent(counter string) (kind, reason string) {
	switch counter {
	case "syn_allowed_pinhole":
		return SYNAdmitted, "pinhole"
	case "syn_retransmit_grace":
		return SYNAdmitted, "retransmit"
	case "syn_allowed_rule":
		return SYNAdmitted, "allow_rule"
	}
	return SYNDropped, strings.TrimPrefix(counter, "syn_")
}

func pinholeEvent(p pinhole.Pinhole, now uint64) *PinholeEvent {
	return &PinholeEvent{
		Mode: p.Mode.String(), Source: p.Source.String(),
		DestAddress: p.Dest.Addr().String(), DestPort: p.Dest.Port(),
		ControlClient: p.Control.Client.String(), ControlServer: p.Control.Server.String(),
		TimeLeftSeconds: p.TimeLeft(now).Seconds(),
	}
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// maxLine is how much of a control line an event quotes.
const maxLine = 100

// firstLine returns the payload's first line without its line end, cut to
// maxLine bytes.
func firstLine(payload []byte) string {
	if i := strings.IndexByte(string(payload), '\n'); i >= 0 {
		payload = payload[:i]
	}
	line := strings.TrimRight(string(payload[:min(len(payload), maxLine)]), "\r")
	if !utf8.ValidString(line) {
		line = strings.ToValidUTF8(line, "\uFFFD")
	}
	return line
}
