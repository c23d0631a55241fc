package loader

import (
	"fmt"
	"strings"
	"time"

	"github.com/cilium/ebpf"
)

// Counters is a snapshot of the per-CPU counters, summed over CPUs, per
// program instance slot.
type Counters struct {
	Names []string
	// Values[slot][i] counts Names[i] for the instance with that slot.
	Values [][]uint64
}

// Total sums a counter over all slots; 0 for an unknown name.
func (c Counters) Total(name string) uint64 {
	i := c.index(name)
	if i < 0 {
		return 0
	}
	var t uint64
	for _, v := range c.Values {
		t += v[i]
	}
	return t
}

// Slot returns a counter of one instance slot; 0 for an unknown name.
func (c Counters) Slot(slot uint8, name string) uint64 {
	i := c.index(name)
	if i < 0 || int(slot) >= len(c.Values) {
		return 0
	}
	return c.Values[slot][i]
}

func (c Counters) index(name string) int {
	for i, n := range c.Names {
		if n == name {
			return i
		}
	}
	return -1
}

// Sub returns c - prev, counter by counter (for deltas in tests and replay).
func (c Counters) Sub(prev Counters) Counters {
	out := Counters{Names: c.Names, Values: make([][]uint64, len(c.Values))}
	for s := range c.Values {
		out.Values[s] = make([]uint64, len(c.Names))
		for i := range c.Names {
			out.Values[s][i] = c.Values[s][i]
			if s < len(prev.Values) && i < len(prev.Values[s]) {
				out.Values[s][i] -= prev.Values[s][i]
			}
		}
	}
	return out
}

// NonZero returns the counters summed over slots that are not zero.
func (c Counters) NonZero() map[string]uint64 {
	m := map[string]uint64{}
	for _, n := range c.Names {
		if t := c.Total(n); t != 0 {
			m[n] = t
		}
	}
	return m
}

// CounterNames lists the counters of this build, in kernel order.
func (d *Datapath) CounterNames() []string { return d.counters }

// Counters reads every counter of every slot.
func (d *Datapath) Counters() (Counters, error) {
	n := len(d.counters)
	c := Counters{Names: d.counters, Values: make([][]uint64, MaxInstances)}
	for s := range c.Values {
		c.Values[s] = make([]uint64, n)
	}
	var (
		key    uint32
		percpu []uint64
	)
	it := d.maps["counters"].Iterate()
	for it.Next(&key, &percpu) {
		slot, idx := int(key)/int(ftpxdpCounterCOUNTER_MAX), int(key)%int(ftpxdpCounterCOUNTER_MAX)
		if slot >= MaxInstances || idx >= n {
			continue
		}
		for _, v := range percpu {
			c.Values[slot][idx] += v
		}
	}
	if err := it.Err(); err != nil {
		return Counters{}, fmt.Errorf("read counters: %w", err)
	}
	return c, nil
}

// WaitHistogram is the admission-wait histogram: Counts[i] SYNs waited at
// most Bounds[i] (not cumulative), Inf waited longer, Sum is the total wait.
type WaitHistogram struct {
	Bounds []time.Duration
	Counts []uint64
	Inf    uint64
	Sum    time.Duration
}

// AdmitWait reads the admission-wait histogram.
func (d *Datapath) AdmitWait() (WaitHistogram, error) {
	h := WaitHistogram{Bounds: WaitBounds, Counts: make([]uint64, len(WaitBounds))}
	var percpu []uint64
	for i := 0; i < len(WaitBounds)+2; i++ {
		if err := d.maps["admit_wait"].Lookup(uint32(i), &percpu); err != nil {
			return WaitHistogram{}, fmt.Errorf("read admission histogram: %w", err)
		}
		var sum uint64
		for _, v := range percpu {
			sum += v
		}
		switch {
		case i < len(WaitBounds):
			h.Counts[i] = sum
		case i == len(WaitBounds):
			h.Inf = sum
		default:
			h.Sum = time.Duration(sum)
		}
	}
	return h, nil
}

// MapUsage is how full one map is.
type MapUsage struct {
	Name string
	// Family is "ipv4" or "ipv6" for the pinhole maps, one per family,
	// and empty for the others.
	Family   string
	Entries  int
	Capacity uint32
}

// Usage counts the entries of the pinhole and control-connection maps:
// pintab4 keeps its live count, the hash maps are counted in batches (a few
// syscalls for a full map of a million entries). Pinholes come as two rows,
// one per family: each family's table fills on its own.
func (d *Datapath) Usage() ([]MapUsage, error) {
	live, err := d.ptLive()
	if err != nil {
		return nil, fmt.Errorf("count pintab4: %w", err)
	}
	out := []MapUsage{{Name: "pinholes", Family: "ipv4", Entries: int(live), Capacity: d.cfg.MaxPinholes}}
	for _, u := range []struct {
		name, family, m string
		count           func(*ebpf.Map) (int, error)
	}{
		{"pinholes", "ipv6", "pinholes6", countBatch[ftpxdpPinholeKey, ftpxdpPinholeVal]},
		{"ctrl_conns", "", "ctrl_conns", countBatch[ftpxdpCtrlKey, ftpxdpCtrlState]},
		{"rate_limit", "", "rate_limit", countBatch[ftpxdpRateKey, ftpxdpRateVal]},
	} {
		m := d.maps[u.m]
		n, err := u.count(m)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", u.m, err)
		}
		out = append(out, MapUsage{Name: u.name, Family: u.family, Entries: n, Capacity: m.MaxEntries()})
	}
	return out, nil
}

func countBatch[K comparable, V any](m *ebpf.Map) (int, error) {
	n := 0
	err := eachBatch(m, func(keys []K, _ []V) bool { n += len(keys); return true })
	return n, err
}

func lowerTrim(s, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(s, prefix))
}
