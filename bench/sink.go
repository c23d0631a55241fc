package bench

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// sink counts and drops what reaches the server's veth.
type sink struct {
	objs sinkObjects
	link link.Link
	cpus int
}

// received is what the sink saw: packets and the kernel times of the first
// and the last.
type received struct {
	Packets         uint64
	FirstNs, LastNs uint64
}

// attachSink attaches the receiver to the server's eth0 (native XDP).
func attachSink(l *lab) (*sink, error) {
	s := &sink{}
	if err := loadSinkObjects(&s.objs, nil); err != nil {
		return nil, fmt.Errorf("load sink program: %w", err)
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		s.objs.Close()
		return nil, fmt.Errorf("count CPUs: %w", err)
	}
	s.cpus = cpus
	err = l.server.Do(func() (err error) {
		s.link, err = link.AttachXDP(link.XDPOptions{Program: s.objs.SinkXdp, Interface: l.serverIfindex, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		s.objs.Close()
		return nil, fmt.Errorf("attach sink to the server's eth0: %w", err)
	}
	return s, nil
}

// Close detaches and unloads the sink.
func (s *sink) Close() error {
	s.link.Close()
	return s.objs.Close()
}

// reset zeroes the tallies.
func (s *sink) reset() error {
	zero := make([]sinkTally, s.cpus)
	if err := s.objs.Tallies.Put(uint32(0), zero); err != nil {
		return fmt.Errorf("reset sink: %w", err)
	}
	return nil
}

// read sums the per-CPU tallies.
func (s *sink) read() (received, error) {
	var per []sinkTally
	if err := s.objs.Tallies.Lookup(uint32(0), &per); err != nil {
		return received{}, fmt.Errorf("read sink: %w", err)
	}
	var r received
	for _, t := range per {
		if t.Packets == 0 {
			continue
		}
		r.Packets += t.Packets
		if r.FirstNs == 0 || t.FirstNs < r.FirstNs {
			r.FirstNs = t.FirstNs
		}
		r.LastNs = max(r.LastNs, t.LastNs)
	}
	return r, nil
}
