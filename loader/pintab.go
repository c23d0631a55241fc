package loader

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
)

// errTableFull is a pinhole refused by a full table: at --max-pinholes,
// or (errPairFull) with both of its buckets full.
var (
	errTableFull = errors.New("pinhole table full")
	errPairFull  = fmt.Errorf("%w: both buckets of this pinhole are full", errTableFull)
)

// ptWays is the slots of a pintab4 bucket (PT_WAYS).
const ptWays = 8

// ptBuckets is how many buckets pintab4 gets for capacity pinholes: slots
// for twice as many (bpf/pintab.h says why that is enough).
func ptBuckets(capacity uint32) uint32 {
	return max(2, uint32((uint64(capacity)*2+ptWays-1)/ptWays))
}

// ptSeeds returns the table's hash seeds from its meta map, making them when
// the table is new: an upgraded program must hash as the one that filled it.
func ptSeeds(meta *ebpf.Map, buckets uint32) (ftpxdpPtMeta, error) {
	var m ftpxdpPtMeta
	if err := meta.Lookup(uint32(0), &m); err != nil {
		return m, fmt.Errorf("read pintab4_meta: %w", err)
	}
	if m.Buckets != 0 {
		if m.Buckets != buckets {
			return m, fmt.Errorf("%w: pintab4 has %d buckets, this capacity needs %d (run 'ftpxdp detach' first)",
				ErrIncompatible, m.Buckets, buckets)
		}
		return m, nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return m, err
	}
	m.K1 = binary.LittleEndian.Uint64(b[0:]) | 1
	m.K2 = binary.LittleEndian.Uint64(b[8:]) | 1
	m.K3 = binary.LittleEndian.Uint64(b[16:]) | 1
	m.K4 = binary.LittleEndian.Uint64(b[24:]) | 1
	m.Buckets = buckets
	if err := meta.Update(uint32(0), &m, ebpf.UpdateAny); err != nil {
		return m, fmt.Errorf("write pintab4_meta: %w", err)
	}
	return m, nil
}

// ptAddrs is a key's addresses as a bucket stores them (pt_addrs).
func ptAddrs(k ftpxdpPinholeKey4) uint64 { return uint64(k.Saddr) | uint64(k.Daddr)<<32 }

// ptBucketsOf mirrors pt_buckets in bpf/pintab.h.
func ptBucketsOf(m ftpxdpPtMeta, k ftpxdpPinholeKey4) (uint32, uint32) {
	addrs := ptAddrs(k)
	n := uint64(m.Buckets)
	h1 := addrs*m.K1 + uint64(k.Dport)*m.K2
	h2 := addrs*m.K3 + uint64(k.Dport)*m.K4
	return uint32((h1 >> 32) * n >> 32), uint32((h2 >> 32) * n >> 32)
}

// ptDo runs one operation on pintab4 through pintab_op and returns its
// answer.
func (d *Datapath) ptDo(op ftpxdpPtOp) (int32, error) {
	res, err := d.ptRun(op)
	return res.Ret, err
}

// ptRun runs one operation on pintab4 through pintab_op.
func (d *Datapath) ptRun(op ftpxdpPtOp) (ftpxdpPtOp, error) {
	if d.ptOp == nil { // Open loads it on first use: most commands only read
		if err := d.loadPtOp(); err != nil {
			return op, err
		}
	}
	in := unsafe.Slice((*byte)(unsafe.Pointer(&op)), unsafe.Sizeof(op))
	out := make([]byte, len(in))
	ret, err := d.ptOp.Run(&ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil {
		return op, fmt.Errorf("pintab_op: %w", err)
	}
	if ret != 2 { // XDP_PASS
		return op, fmt.Errorf("pintab_op refused operation %d", op.Op)
	}
	return *(*ftpxdpPtOp)(unsafe.Pointer(&out[0])), nil
}

// ptPut writes a pinhole into pintab4 (replacing one under the same key
// when replace is set).
func (d *Datapath) ptPut(k ftpxdpPinholeKey4, v ftpxdpPinholeVal, replace bool) error {
	op := ftpxdpPtOp{Op: uint32(ftpxdpPtOpCodePT_OP_PUT_NEW), Key: k, Val: v}
	if replace {
		op.Op = uint32(ftpxdpPtOpCodePT_OP_PUT)
	}
	ret, err := d.ptDo(op)
	if err != nil {
		return err
	}
	switch ftpxdpPtResult(uint32(ret)) {
	case ftpxdpPtResultPT_OK:
		return nil
	case ftpxdpPtResultPT_EXISTS:
		return ebpf.ErrKeyExist
	case ftpxdpPtResultPT_AT_CAPACITY:
		return fmt.Errorf("%w (--max-pinholes %d)", errTableFull, d.cfg.MaxPinholes)
	case ftpxdpPtResultPT_PAIR_FULL:
		return errPairFull
	}
	return fmt.Errorf("pintab_op could not reach its maps (%d)", ret)
}

// ptDelCreated deletes k's pinhole from pintab4 if it is the one created
// at created (not one made again since it was read). It reports whether it
// did.
func (d *Datapath) ptDelCreated(k ftpxdpPinholeKey4, created uint64) (bool, error) {
	ret, err := d.ptDo(ftpxdpPtOp{Op: uint32(ftpxdpPtOpCodePT_OP_DEL_CREATED), Key: k, Arg: created})
	return ret > 0, err
}

// ptLookup reads k's pinhole from its buckets, as pt_find does.
func (d *Datapath) ptLookup(k ftpxdpPinholeKey4, v *ftpxdpPinholeVal) error {
	b1, b2 := ptBucketsOf(d.pt, k)
	for _, b := range []uint32{b1, b2} {
		var bk ftpxdpPtBucket
		if err := d.maps["pintab4"].LookupWithFlags(b, &bk, ebpf.LookupLock); err != nil {
			return err
		}
		for i := range ptWays {
			if bk.Used&(1<<i) != 0 && bk.Keys[i].Addrs == ptAddrs(k) && bk.Keys[i].Dport == k.Dport {
				*v = bk.Vals[i]
				return nil
			}
		}
	}
	return ebpf.ErrKeyNotExist
}

// ptEach hands every pinhole in pintab4 to fn until it returns false,
// reading the buckets in batches, each under its lock (fn may change the
// table: an array's cursor is its index).
func (d *Datapath) ptEach(fn func(ftpxdpPinholeKey4, ftpxdpPinholeVal) bool) error {
	more := true
	err := eachBatchLocked(d.maps["pintab4"], func(_ []uint32, bks []ftpxdpPtBucket) bool {
		for i := range bks {
			for s := range ptWays {
				if bks[i].Used&(1<<s) == 0 {
					continue
				}
				key := bks[i].Keys[s]
				k := ftpxdpPinholeKey4{Saddr: uint32(key.Addrs), Daddr: uint32(key.Addrs >> 32), Dport: key.Dport}
				if more = fn(k, bks[i].Vals[s]); !more {
					return false
				}
			}
		}
		return true
	})
	return err
}

// ptLive is the number of pinholes in pintab4.
func (d *Datapath) ptLive() (uint64, error) {
	var m ftpxdpPtMeta
	if err := d.maps["pintab4_meta"].Lookup(uint32(0), &m); err != nil {
		return 0, err
	}
	return m.Live, nil
}

// ptClear empties pintab4 (tests): every bucket zeroed, the live count 0,
// the seeds kept.
func (d *Datapath) ptClear() error {
	m := d.maps["pintab4"]
	n := int(m.MaxEntries())
	keys := make([]uint32, 0, batchSize)
	for start := 0; start < n; start += batchSize {
		keys = keys[:0]
		for i := start; i < min(n, start+batchSize); i++ {
			keys = append(keys, uint32(i))
		}
		if _, err := m.BatchUpdate(keys, make([]ftpxdpPtBucket, len(keys)), nil); err != nil {
			return err
		}
	}
	meta := d.pt
	meta.Live = 0
	return d.maps["pintab4_meta"].Update(uint32(0), &meta, ebpf.UpdateAny)
}

// ptSweepChunk is the buckets one PT_OP_SWEEP covers (PT_SWEEP_MAX).
const ptSweepChunk = 4096

// ptSweep removes from pintab4 the pinholes expired at kernel time now, in
// the kernel, a chunk of buckets per run; it returns how many had admitted
// no SYN and how many had.
func (d *Datapath) ptSweep(now uint64) (unused, used int, err error) {
	n := d.maps["pintab4"].MaxEntries()
	for from := uint32(0); from < n; from += ptSweepChunk {
		op := ftpxdpPtOp{Op: uint32(ftpxdpPtOpCodePT_OP_SWEEP), Arg: now, From: from, Count: min(ptSweepChunk, n-from)}
		res, err := d.ptRun(op)
		if err != nil {
			return unused, used, err
		}
		unused += int(res.Unused)
		used += int(res.Used)
	}
	return unused, used, nil
}
