// Package replay runs the packets of a capture through the real kernel
// program with BPF_PROG_TEST_RUN, with no interface attached, and reports
// what it did: each pinhole opened and by which packet, each SYN admitted
// or dropped, each reject with its reason.
//
// Two program instances share fresh, unpinned maps: one in the outside role
// for packets from outside, one in the inside role for packets from the
// inside networks, told apart by source address. Packets run in capture
// order; their capture timestamps drive the program's clock, so pinholes
// expire as they did on the wire. What the program did is read from its
// counters after each packet, and from the pinhole map when a pinhole
// counter moved.
package replay

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// Options configure a replay.
type Options struct {
	// Config is the policy, as 'ftpxdp run' would load it.
	Config loader.Config
	// InsideNets are the networks whose packets are run through the inside
	// instance; nil means DefaultInsideNets.
	InsideNets []netip.Prefix
	// SweepInterval is the capture time between sweeps of expired pinholes,
	// as the daemon's --sweep-interval; 0 means DefaultSweepInterval.
	SweepInterval time.Duration
}

// DefaultSweepInterval is the daemon's default sweep interval.
const DefaultSweepInterval = 10 * time.Second

// controlIdle is the daemon's default --control-idle.
const controlIdle = time.Hour

// clockBase is the program clock at the first packet: the kernel reads an
// override of 0 as "use the real clock", so capture time is offset by it.
const clockBase = uint64(time.Hour)

// Counter slots of the two instances.
const (
	outsideSlot = 0
	insideSlot  = 1
)

var sideNames = [2]string{outsideSlot: "outside", insideSlot: "inside"}

// Replayer holds the loaded program instances and their maps.
type Replayer struct {
	dp       *loader.Datapath
	inst     [2]*loader.Instance
	sides    sides
	sweep    time.Duration
	names    []string
	prev     [2][]uint64
	pinholes *pinholeSet
	used     bool
	// everyPacket reads the counters after every packet, not only after
	// those that may move a reported one (tests compare the two).
	everyPacket bool
}

// New loads the kernel program twice (outside and inside) on fresh maps.
func New(opts Options) (*Replayer, error) {
	dp, err := loader.New(opts.Config, loader.Options{})
	if err != nil {
		return nil, err
	}
	r := &Replayer{dp: dp, sides: opts.InsideNets, sweep: opts.SweepInterval, names: dp.CounterNames(), pinholes: newPinholeSet(dp)}
	if r.sides == nil {
		r.sides = DefaultInsideNets
	}
	if r.sweep <= 0 {
		r.sweep = DefaultSweepInterval
	}
	for slot, role := range [2]loader.Role{outsideSlot: loader.Outside, insideSlot: loader.Inside} {
		in, err := dp.Instance(loader.HookXDP, role, uint8(slot))
		if err != nil {
			r.Close()
			return nil, err
		}
		r.inst[slot] = in
	}
	c, err := dp.SlotCounters(2)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.prev = [2][]uint64{c.Values[0], c.Values[1]}
	return r, nil
}

// Close unloads the program instances and frees the maps.
func (r *Replayer) Close() error {
	for _, in := range r.inst {
		if in != nil {
			in.Close()
		}
	}
	return r.dp.Close()
}

// Reset empties the maps, so the next Run starts as on a fresh Replayer
// without loading the program again.
func (r *Replayer) Reset() error {
	if _, err := r.dp.Sweep(^uint64(0), 0); err != nil { // everything has expired
		return err
	}
	c, err := r.dp.SlotCounters(2)
	if err != nil {
		return err
	}
	r.prev = [2][]uint64{c.Values[0], c.Values[1]}
	r.pinholes = newPinholeSet(r.dp)
	r.used = false
	return nil
}

// Run replays every packet of the capture, calling emit for each event in
// order, and returns the totals. A Replayer runs one capture, then needs
// Reset.
func (r *Replayer) Run(c *Capture, emit func(Event) error) (Summary, error) {
	if r.used {
		return Summary{}, errors.New("a replayer runs one capture between resets")
	}
	r.used = true
	s := Summary{Kind: "summary"}
	base, err := r.dp.SlotCounters(2)
	if err != nil {
		return s, err
	}
	count := func(e Event) error {
		switch e.Kind {
		case PinholeOpened:
			s.PinholesOpened++
		case SYNAdmitted:
			s.SYNsAdmitted++
		case SYNDropped:
			s.SYNsDropped++
		case Reject:
			s.Rejects++
		}
		return emit(e)
	}
	var (
		first, last time.Time
		clock       = clockBase
		nextSweep   = clockBase + uint64(r.sweep)
		copies      = newCopyRing()
	)
	for {
		p, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, err
		}
		s.Packets++
		if s.Packets == 1 {
			first, last = p.Time, p.Time
		}
		// Capture time drives the clock; it never runs backwards (merged
		// captures may be slightly out of order).
		if t := clockBase + uint64(max(p.Time.Sub(first), 0)); t > clock {
			clock, last = t, p.Time
		}
		if clock >= nextSweep {
			// The daemon sweeps on a ticker: sweep at the last tick
			// before this packet.
			tick := nextSweep + (clock-nextSweep)/uint64(r.sweep)*uint64(r.sweep)
			if _, err := r.dp.Sweep(tick, controlIdle); err != nil {
				return s, err
			}
			r.pinholes.forgetExpired(tick)
			nextSweep = tick + uint64(r.sweep)
		}
		if p.Truncated {
			s.Truncated++
		}
		b, err := toEthernet(p.LinkType, p.Data)
		if err != nil {
			return s, fmt.Errorf("packet %d: %w", p.Number, err)
		}
		if len(b) < ethHeaderLen {
			s.Skipped++
			continue
		}
		f := parseFrame(b)
		if copies.seen(b, f, p.Time) {
			s.Copies++
			continue
		}
		frames := [][]byte{b}
		if len(b) > maxWireFrame {
			if parts := splitSegment(b, f); parts != nil {
				frames = parts
				s.Split++
			} else if len(b) > maxRunFrame {
				s.Skipped++
				continue
			}
		}
		rel := p.Time.Sub(first).Seconds()
		for _, fb := range frames {
			side, err := r.runFrame(p, rel, clock, fb, count)
			if err != nil {
				return s, fmt.Errorf("packet %d: %w", p.Number, err)
			}
			if side == outsideSlot {
				s.Outside++
			} else {
				s.Inside++
			}
		}
	}
	s.Seconds = last.Sub(first).Seconds()
	c2, err := r.dp.SlotCounters(2)
	if err != nil {
		return s, err
	}
	s.Counters = c2.Sub(base).NonZero()
	return s, nil
}

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
