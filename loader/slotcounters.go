package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// SlotCounters reads the counters of slots 0 to n-1 with one system call,
// where Counters reads all MaxInstances slots entry by entry: for replay,
// which reads them after every packet.
func (d *Datapath) SlotCounters(n int) (Counters, error) {
	if n < 1 || n > MaxInstances {
		return Counters{}, fmt.Errorf("slot count %d out of range (1-%d)", n, MaxInstances)
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return Counters{}, fmt.Errorf("count CPUs: %w", err)
	}
	per := int(ftpxdpCounterCOUNTER_MAX)
	keys := make([]uint32, n*per)
	vals := make([]uint64, n*per*cpus)
	var cursor ebpf.MapBatchCursor // a fresh cursor starts at key 0
	got, err := d.maps["counters"].BatchLookup(&cursor, keys, vals, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return Counters{}, fmt.Errorf("read counters: %w", err)
	}
	if got != len(keys) {
		return Counters{}, fmt.Errorf("read counters: got %d of %d", got, len(keys))
	}
	c := Counters{Names: d.counters, Values: make([][]uint64, n)}
	for s := range c.Values {
		c.Values[s] = make([]uint64, len(d.counters))
	}
	for i, k := range keys {
		slot, idx := int(k)/per, int(k)%per
		if slot >= n || idx >= len(d.counters) {
			continue
		}
		for _, v := range vals[i*cpus : (i+1)*cpus] {
			c.Values[slot][idx] += v
		}
	}
	return c, nil
}
