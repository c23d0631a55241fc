package loader

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// SweepResult counts what one sweep removed.
type SweepResult struct {
	ExpiredUnused int // pinholes that expired without admitting a SYN
	ExpiredUsed   int // pinholes consumed by their SYN, past the grace period
	IdleControls  int // control-connection states idle past the limit
	RateEntries   int // per-source rate windows long over
}

// batchSize is how many entries one batch syscall moves.
const batchSize = 4096

// Sweep removes pinholes expired at kernel time now, control-connection
// state idle for longer than controlIdle, and stale rate windows. The
// kernel already refuses expired pinholes; sweeping frees their slots.
func (d *Datapath) Sweep(now uint64, controlIdle time.Duration) (SweepResult, error) {
	var r SweepResult
	var err error
	if r.ExpiredUnused, r.ExpiredUsed, err = d.ptSweep(now); err != nil {
		return r, fmt.Errorf("sweep pinholes: %w", err)
	}
	err = sweepMap(d.maps["pinholes6"], func(_ ftpxdpPinholeKey, v ftpxdpPinholeVal) bool {
		if now < v.ExpiresNs {
			return false
		}
		if v.UsedNs == 0 {
			r.ExpiredUnused++
		} else {
			r.ExpiredUsed++
		}
		return true
	})
	if err != nil {
		return r, fmt.Errorf("sweep pinholes: %w", err)
	}
	idle := uint64(controlIdle)
	err = sweepMap(d.maps["ctrl_conns"], func(_ ftpxdpCtrlKey, v ftpxdpCtrlState) bool {
		if now > v.LastSeenNs && now-v.LastSeenNs > idle {
			r.IdleControls++
			return true
		}
		return false
	})
	if err != nil {
		return r, fmt.Errorf("sweep control connections: %w", err)
	}
	window := uint64(d.cfg.RateWindow)
	err = sweepMap(d.maps["rate_limit"], func(_ ftpxdpRateKey, v ftpxdpRateVal) bool {
		if now > v.WindowStartNs && now-v.WindowStartNs > window {
			r.RateEntries++
			return true
		}
		return false
	})
	if err != nil {
		return r, fmt.Errorf("sweep rate windows: %w", err)
	}
	return r, nil
}

// eachBatch reads m in batches of batchSize, handing each to fn, which
// returns false to stop: one syscall per few thousand entries, not two per
// entry as Map.Iterate makes.
func eachBatch[K comparable, V any](m *ebpf.Map, fn func(keys []K, vals []V) bool) error {
	return eachBatchOpts(m, nil, fn)
}

// eachBatchLocked is eachBatch taking each value's spin lock as it copies
// it.
func eachBatchLocked[K comparable, V any](m *ebpf.Map, fn func(keys []K, vals []V) bool) error {
	return eachBatchOpts(m, &ebpf.BatchOptions{ElemFlags: uint64(ebpf.LookupLock)}, fn)
}

func eachBatchOpts[K comparable, V any](m *ebpf.Map, opts *ebpf.BatchOptions, fn func(keys []K, vals []V) bool) error {
	keys := make([]K, batchSize)
	vals := make([]V, batchSize)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, opts)
		if n > 0 && !fn(keys[:n], vals[:n]) {
			return nil
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// sweepMap deletes the entries of m that dead selects, each batch as soon
// as it is read: the cursor is past those buckets, and one reused slice
// keeps a sweep of a million entries from allocating a million keys.
func sweepMap[K comparable, V any](m *ebpf.Map, dead func(K, V) bool) error {
	doomed := make([]K, 0, batchSize)
	var delErr error
	err := eachBatch(m, func(keys []K, vals []V) bool {
		doomed = doomed[:0]
		for i := range keys {
			if dead(keys[i], vals[i]) {
				doomed = append(doomed, keys[i])
			}
		}
		delErr = deleteKeys(m, doomed)
		return delErr == nil
	})
	if err != nil {
		return err
	}
	return delErr
}

func deleteKeys[K comparable](m *ebpf.Map, keys []K) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := m.BatchDelete(keys, nil); err == nil {
		return nil
	}
	// An entry the kernel removed meanwhile fails the batch: finish one
	// by one.
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}
