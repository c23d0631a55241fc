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
	"time"

	"github.com/ftpxdp/ftpxdp/loader"
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
	base, err := r.dp.SlotCounters(2)
	if err != nil {
		return Summary{}, err
	}
	st := &runState{
		sum:       Summary{Kind: "summary"},
		clock:     clockBase,
		nextSweep: clockBase + uint64(r.sweep),
		copies:    newCopyRing(),
	}
	st.emit = func(e Event) error {
		st.sum.count(e)
		return emit(e)
	}
	for {
		p, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st.sum, err
		}
		if err := r.packet(st, p); err != nil {
			return st.sum, fmt.Errorf("packet %d: %w", p.Number, err)
		}
	}
	st.sum.Seconds = st.last.Sub(st.first).Seconds()
	end, err := r.dp.SlotCounters(2)
	if err != nil {
		return st.sum, err
	}
	st.sum.Counters = end.Sub(base).NonZero()
	return st.sum, nil
}

// runState is what Run carries from one packet to the next.
type runState struct {
	sum         Summary
	emit        func(Event) error
	first, last time.Time
	clock       uint64 // the program's clock at the current packet
	nextSweep   uint64
	copies      *copyRing
}

// packet replays one packet of the capture.
func (r *Replayer) packet(st *runState, p Packet) error {
	st.sum.Packets++
	if st.sum.Packets == 1 {
		st.first, st.last = p.Time, p.Time
	}
	// Capture time drives the clock; it never runs backwards (merged
	// captures may be slightly out of order).
	if t := clockBase + uint64(max(p.Time.Sub(st.first), 0)); t > st.clock {
		st.clock, st.last = t, p.Time
	}
	if err := r.sweepUntil(st); err != nil {
		return err
	}
	if p.Truncated {
		st.sum.Truncated++
	}
	b, err := toEthernet(p.LinkType, p.Data)
	if err != nil {
		return err
	}
	if len(b) < ethHeaderLen {
		st.sum.Skipped++
		return nil
	}
	f := parseFrame(b)
	if st.copies.seen(b, f, p.Time) {
		st.sum.Copies++
		return nil
	}
	frames := [][]byte{b}
	if len(b) > maxWireFrame {
		if parts := splitSegment(b, f); parts != nil {
			frames = parts
			st.sum.Split++
		} else if len(b) > maxRunFrame {
			st.sum.Skipped++
			return nil
		}
	}
	rel := p.Time.Sub(st.first).Seconds()
	for _, fb := range frames {
		side, err := r.runFrame(p, rel, st.clock, fb, st.emit)
		if err != nil {
			return err
		}
		if side == outsideSlot {
			st.sum.Outside++
		} else {
			st.sum.Inside++
		}
	}
	return nil
}

// sweepUntil removes expired pinholes as the daemon's sweeper, which runs
// on a ticker, would have by the current packet: at the last tick before it.
func (r *Replayer) sweepUntil(st *runState) error {
	if st.clock < st.nextSweep {
		return nil
	}
	tick := st.nextSweep + (st.clock-st.nextSweep)/uint64(r.sweep)*uint64(r.sweep)
	if _, err := r.dp.Sweep(tick, controlIdle); err != nil {
		return err
	}
	r.pinholes.forgetExpired(tick)
	st.nextSweep = tick + uint64(r.sweep)
	return nil
}
