package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// synTo is a data-connection SYN from src to dst.
func synTo(src, dst string) []byte {
	return testutil.TCP{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), SYN: true, Seq: 1}.Frame()
}

// seededDatapath is a datapath whose pintab4 hashes with the given seeds
// (the table emptied), with an outside XDP instance that uses them.
func seededDatapath(t *testing.T, cfg Config, k1, k2, k3, k4 uint64) (*Datapath, *Instance) {
	t.Helper()
	dp := newTestDatapath(t, cfg)
	dp.pt.K1, dp.pt.K2, dp.pt.K3, dp.pt.K4 = k1, k2, k3, k4
	if err := dp.ptClear(); err != nil { // writes the seeds
		t.Fatal(err)
	}
	dp.ptOp.Close()
	if err := dp.loadPtOp(); err != nil {
		t.Fatal(err)
	}
	in, err := dp.Instance(HookXDP, Outside, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return dp, in
}

// admitEach sends each pinhole's SYN from its own source port and checks
// that it passed and that its own pinhole, not another, was used.
func admitEach(t *testing.T, dp *Datapath, in *Instance, holes []pinhole.Pinhole) {
	t.Helper()
	for i, p := range holes {
		sport := 30000 + i
		if v, err := in.Run(synTo(fmt.Sprintf("%v:%d", p.Source, sport), p.Dest.String())); err != nil || v != Pass {
			t.Fatalf("SYN of pinhole %d (%v): %v, %v", i, p.Dest, v, err)
		}
		got, ok, err := dp.LookupPinhole(pinhole.Key{Source: p.Source, Dest: p.Dest})
		if err != nil || !ok || got.UsedNs == 0 || got.Hits != 1 || got.UsedSourcePort != uint16(sport) {
			t.Fatalf("pinhole %d after its SYN: %+v, %v, %v", i, got, ok, err)
		}
	}
}

func liveIs(t *testing.T, dp *Datapath, want int) {
	t.Helper()
	if live, err := dp.ptLive(); err != nil || live != uint64(want) {
		t.Fatalf("live count %d (%v), want %d", live, err, want)
	}
}

// With zero seeds every IPv4 key hashes to bucket 0 for both choices: the
// table then holds 8 pinholes, and must refuse the ninth (errPairFull, the
// live count unchanged), find each of the eight from Go and from a SYN, and
// take the ninth once a slot is freed.
func TestPintabFullBucketPair(t *testing.T) {
	dp, in := seededDatapath(t, DefaultConfig(), 0, 0, 0, 0)
	expires := KernelNow() + 1e12
	hole := func(i int) pinhole.Pinhole {
		return testHole("192.0.2.1", fmt.Sprintf("10.0.0.%d:%d", i+1, 40000+i), expires)
	}
	var holes []pinhole.Pinhole
	for i := range ptWays {
		holes = append(holes, hole(i))
		if err := dp.PutPinhole(holes[i]); err != nil {
			t.Fatalf("pinhole %d: %v", i, err)
		}
	}
	ninth := hole(ptWays)
	if err := dp.PutPinhole(ninth); !errors.Is(err, errPairFull) {
		t.Fatalf("a ninth pinhole in a full bucket pair: got %v, want errPairFull", err)
	}
	liveIs(t, dp, ptWays)
	admitEach(t, dp, in, holes)
	if v, err := in.Run(synTo("192.0.2.1:20", ninth.Dest.String())); err != nil || v != Drop {
		t.Fatalf("SYN of the refused pinhole: %v, %v", v, err)
	}

	n, err := dp.DeletePinholes(func(p pinhole.Pinhole) bool { return p.Dest == holes[0].Dest })
	if err != nil || n != 1 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	liveIs(t, dp, ptWays-1)
	if err := dp.PutPinhole(ninth); err != nil {
		t.Fatalf("the ninth pinhole after a delete: %v", err)
	}
	admitEach(t, dp, in, []pinhole.Pinhole{ninth})
	liveIs(t, dp, ptWays)
}

// With the first hash constant every key's first bucket is bucket 0, so
// all but the first few go to their second bucket: lookups, SYNs, replace,
// put-if-absent and deletes there must work and keep the live count.
func TestPintabSecondBucket(t *testing.T) {
	dp, in := seededDatapath(t, DefaultConfig(), 0, 0, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)
	expires := KernelNow() + 1e12
	var holes []pinhole.Pinhole
	for i := range 40 {
		p := testHole("192.0.2.1", fmt.Sprintf("10.0.1.%d:%d", i+1, 41000+i), expires)
		holes = append(holes, p)
		if err := dp.PutPinhole(p); err != nil {
			t.Fatalf("pinhole %d: %v", i, err)
		}
	}
	liveIs(t, dp, 40)
	var bk ftpxdpPtBucket
	if err := dp.maps["pintab4"].Lookup(uint32(0), &bk); err != nil || bk.Used == 0 || bk.Used == 0xff {
		t.Fatalf("bucket 0 used %08b (%v): want some slots, not all", bk.Used, err)
	}
	// Put again: replace keeps one copy, put-if-absent refuses.
	if err := dp.PutPinhole(holes[39]); err != nil {
		t.Fatal(err)
	}
	k, v := fromPinhole(holes[38])
	if err := dp.ptPut(shortKey(k), v, false); !errors.Is(err, ebpf.ErrKeyExist) {
		t.Fatalf("put-if-absent of a present pinhole: %v", err)
	}
	liveIs(t, dp, 40)
	admitEach(t, dp, in, holes)

	n, err := dp.DeletePinholes(func(pinhole.Pinhole) bool { return true })
	if err != nil || n != 40 {
		t.Fatalf("delete all: %d, %v", n, err)
	}
	liveIs(t, dp, 0)
	for _, p := range holes {
		if v, err := in.Run(synTo("192.0.2.1:31000", p.Dest.String())); err != nil || v != Drop {
			t.Fatalf("SYN of a deleted pinhole: %v, %v", v, err)
		}
	}
}

// The kernel's sweep covers every bucket, across its chunks of 4096 and up
// to the last, removes what expired and nothing else, counts the used and
// unused apart, and keeps the live count.
func TestPintabSweepEdges(t *testing.T) {
	dp := newTestDatapath(t, DefaultConfig())
	m := dp.maps["pintab4"]
	last := m.MaxEntries() - 1
	if last < ptSweepChunk {
		t.Fatalf("table of %d buckets: too small for a second chunk", last+1)
	}
	const now = uint64(1_000_000_000_000)
	want := SweepResult{}
	for i, b := range []uint32{0, ptSweepChunk - 1, ptSweepChunk, last} {
		var bk ftpxdpPtBucket
		bk.Used = 0b101
		bk.Keys[0] = ftpxdpPtKey{Addrs: uint64(b) + 1, Dport: 1}
		bk.Vals[0].ExpiresNs = now - 1 // expired
		if i%2 == 0 {
			bk.Vals[0].UsedNs = now - 2
			want.ExpiredUsed++
		} else {
			want.ExpiredUnused++
		}
		bk.Keys[2] = ftpxdpPtKey{Addrs: uint64(b) + 2, Dport: 2}
		bk.Vals[2].ExpiresNs = now + 1 // live
		if err := m.Update(b, &bk, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
	meta := dp.pt
	meta.Live = 8
	if err := dp.maps["pintab4_meta"].Update(uint32(0), &meta, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	got, err := dp.Sweep(now, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExpiredUsed != want.ExpiredUsed || got.ExpiredUnused != want.ExpiredUnused {
		t.Fatalf("sweep: %+v, want %+v", got, want)
	}
	liveIs(t, dp, 4)
	left := 0
	for p, err := range dp.Pinholes() {
		if err != nil {
			t.Fatal(err)
		}
		if p.ExpiresNs != now+1 {
			t.Fatalf("the sweep left %+v", p)
		}
		left++
	}
	if left != 4 {
		t.Fatalf("%d pinholes left, want 4", left)
	}
}

// A flush deletes a pinhole only as it was listed: by its creation time,
// 0 included, never one made again since.
func TestPintabDeleteByCreation(t *testing.T) {
	dp := newTestDatapath(t, DefaultConfig())
	p := testHole("192.0.2.1", "10.0.0.1:40001", KernelNow()+1e12) // CreatedNs 0
	if err := dp.PutPinhole(p); err != nil {
		t.Fatal(err)
	}
	k, _ := fromPinhole(p)
	if gone, err := dp.ptDelCreated(shortKey(k), 5); err != nil || gone {
		t.Fatalf("deleted a pinhole created at 0 as one created at 5: %v, %v", gone, err)
	}
	if gone, err := dp.ptDelCreated(shortKey(k), 0); err != nil || !gone {
		t.Fatalf("did not delete the pinhole created at 0: %v, %v", gone, err)
	}
	p.CreatedNs = 7
	if err := dp.PutPinhole(p); err != nil {
		t.Fatal(err)
	}
	if gone, err := dp.ptDelCreated(shortKey(k), 0); err != nil || gone {
		t.Fatalf("deleted a pinhole created at 7 as one created at 0: %v, %v", gone, err)
	}
	liveIs(t, dp, 1)
}

// The read-only commands refuse a table whose seeds were never written (a
// start that died between pinning and seeding) instead of hashing every
// key to bucket 0.
func TestOpenRefusesUnseededTable(t *testing.T) {
	ns, s := gatewayLab(t)
	g, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if _, err := Open(s.PinPath); err != nil {
		t.Fatalf("Open of a seeded table: %v", err)
	}
	meta, err := ebpf.LoadPinnedMap(filepath.Join(s.PinPath, "maps", "pintab4_meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.Update(uint32(0), ftpxdpPtMeta{}, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.PinPath); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Open of an unseeded table: got %v, want ErrIncompatible", err)
	}
}
