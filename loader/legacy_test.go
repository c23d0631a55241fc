package loader

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// An upgrade from a version with one pinhole map for both families: the
// read-only commands refuse the old state with a way out, and the daemon
// of this version moves every pinhole into the per-family maps, keeps one
// it made meanwhile, and removes the old pin.
func TestStartAdoptsPreSplitPinholes(t *testing.T) {
	ns, s := gatewayLab(t)
	g, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()

	// Make the pinned state look like the old version's: no per-family
	// maps, one "pinholes" map keyed by the 36-byte key.
	maps := filepath.Join(s.PinPath, "maps")
	for _, name := range newPinholeMaps {
		if err := os.Remove(filepath.Join(maps, name)); err != nil {
			t.Fatal(err)
		}
	}
	expires := KernelNow() + 1e12
	passive := testHole("192.0.2.11", "10.0.0.3:40003", expires)
	passive.Mode, passive.Hits = pinhole.Passive, 1
	old := []pinhole.Pinhole{
		testHole("192.0.2.10", "10.0.0.2:40001", expires),
		testHole("2001:db8::10", "[2001:db8:1::2]:40002", expires),
		passive,
	}
	expired := testHole("192.0.2.12", "10.0.0.4:40004", 1)
	legacy := pinOldMap(t, filepath.Join(maps, legacyPinholes), func(k ftpxdpPinholeKey) ftpxdpPinholeKey { return k },
		append(slices.Clone(old), expired))

	// A start that fails before switching any program leaves the old
	// state as it was, not half of each.
	refuseThenFailStart(t, ns, s)
	for _, name := range newPinholeMaps {
		if _, err := os.Stat(filepath.Join(maps, name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed start left the new map %s pinned: %v", name, err)
		}
	}
	if _, err := Open(s.PinPath); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Open after a failed upgrade: got %v, want ErrIncompatible", err)
	}

	g2, err := start(t, ns, s)
	if err != nil {
		t.Fatalf("start over the old state: %v", err)
	}
	defer g2.Close()
	if got, want := sortedPinholes(t, g2.Datapath()), sortHoles(slices.Clone(old)); !slices.Equal(got, want) {
		t.Fatalf("pinholes after the upgrade (the expired one left behind):\n got %v\nwant %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(maps, legacyPinholes)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old map is still pinned: %v", err)
	}
	if _, err := Open(s.PinPath); err != nil {
		t.Fatalf("Open after the upgrade: %v", err)
	}

	// A pinhole the new programs made before the adoption is not
	// overwritten by the old map's copy.
	newer := old[0]
	newer.UsedNs, newer.UsedSourcePort, newer.Hits = KernelNow(), 40999, 1
	if err := g2.Datapath().PutPinhole(newer); err != nil {
		t.Fatal(err)
	}
	legacy.Unpin() // the adoption removed the file; forget the path
	if err := legacy.Pin(filepath.Join(maps, legacyPinholes)); err != nil {
		t.Fatal(err)
	}
	if a, err := g2.Datapath().adoptLegacyPinholes(maps); err != nil || a != (adoption{Present: len(old), Expired: 1}) {
		t.Fatalf("second adoption: %+v, %v", a, err)
	}
	p, ok, err := g2.Datapath().LookupPinhole(pinhole.Key{Source: newer.Source, Dest: newer.Dest})
	if err != nil || !ok || p.UsedSourcePort != 40999 {
		t.Fatalf("the newer pinhole was overwritten: %+v, %v, %v", p, ok, err)
	}
}

// refuseThenFailStart checks that the read-only commands refuse an old
// version's state, then makes a start fail before it switches any program
// (another attach mode).
func refuseThenFailStart(t *testing.T, ns *testutil.NetNS, s Setup) {
	t.Helper()
	if _, err := Open(s.PinPath); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Open of the old state: got %v, want ErrIncompatible", err)
	}
	tc := s
	tc.Mode = AttachTC
	if _, err := start(t, ns, tc); !errors.Is(err, ErrNeedsDetach) {
		t.Fatalf("start with another attach mode: got %v, want ErrNeedsDetach", err)
	}
}

// pinOldMap pins at path a hash map of an older version holding holes
// under the keys key makes of their full ones.
func pinOldMap[K any](t *testing.T, path string, key func(ftpxdpPinholeKey) K, holes []pinhole.Pinhole) *ebpf.Map {
	t.Helper()
	var k0 K
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Type: ebpf.Hash, MaxEntries: 16,
		KeySize:   uint32(binary.Size(k0)),
		ValueSize: uint32(binary.Size(ftpxdpPinholeVal{})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for _, p := range holes {
		k, v := fromPinhole(p)
		if err := m.Put(key(k), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Pin(path); err != nil {
		t.Fatal(err)
	}
	return m
}

// sortedPinholes lists dp's pinholes in sortHoles's order.
func sortedPinholes(t *testing.T, dp *Datapath) []pinhole.Pinhole {
	t.Helper()
	var got []pinhole.Pinhole
	for p, err := range dp.Pinholes() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	return sortHoles(got)
}

// sortHoles sorts ps by source, then destination.
func sortHoles(ps []pinhole.Pinhole) []pinhole.Pinhole {
	key := func(p pinhole.Pinhole) string { return p.Source.String() + ">" + p.Dest.String() }
	slices.SortFunc(ps, func(a, b pinhole.Pinhole) int { return cmpString(key(a), key(b)) })
	return ps
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// An upgrade from the version with a hash map for IPv4 pinholes
// (pinholes4) beside today's pinholes6: the IPv4 pinholes move into
// pintab4, pinholes6 and its pinholes stay as they are, a failed start
// takes neither the old map nor pinholes6 away, and the old pin goes.
func TestStartAdoptsHashMapPinholes(t *testing.T) {
	ns, s := gatewayLab(t)
	g, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	expires := KernelNow() + 1e12
	v6 := testHole("2001:db8::10", "[2001:db8:1::2]:40002", expires)
	if err := g.Datapath().PutPinhole(v6); err != nil {
		t.Fatal(err)
	}
	g.Close()

	maps := filepath.Join(s.PinPath, "maps")
	for _, name := range []string{"pintab4", "pintab4_meta"} {
		if err := os.Remove(filepath.Join(maps, name)); err != nil {
			t.Fatal(err)
		}
	}
	passive := testHole("192.0.2.11", "10.0.0.3:40003", expires)
	passive.Mode, passive.Hits = pinhole.Passive, 1
	old := []pinhole.Pinhole{testHole("192.0.2.10", "10.0.0.2:40001", expires), passive}
	expired := testHole("192.0.2.12", "10.0.0.4:40004", 1)
	pinOldMap(t, filepath.Join(maps, legacyPinholes4), shortKey, append(slices.Clone(old), expired))
	refuseThenFailStart(t, ns, s)
	for name, want := range map[string]bool{"pintab4": false, "pintab4_meta": false, "pinholes6": true, legacyPinholes4: true} {
		if _, err := os.Stat(filepath.Join(maps, name)); (err == nil) != want {
			t.Fatalf("after a failed start, %s pinned: %v, want %v", name, err == nil, want)
		}
	}

	g2, err := start(t, ns, s)
	if err != nil {
		t.Fatalf("start over the old state: %v", err)
	}
	defer g2.Close()
	if got, want := sortedPinholes(t, g2.Datapath()), sortHoles(append(slices.Clone(old), v6)); !slices.Equal(got, want) {
		t.Fatalf("pinholes after the upgrade (the expired one left behind):\n got %v\nwant %v", got, want)
	}
	// In their buckets (the listing reads all of them), and counted.
	for _, p := range old {
		if _, ok, err := g2.Datapath().LookupPinhole(pinhole.Key{Source: p.Source, Dest: p.Dest}); !ok || err != nil {
			t.Fatalf("adopted pinhole %v not found by its key: %v", p.Dest, err)
		}
	}
	usage, err := g2.Datapath().Usage()
	if err != nil || usage[0].Family != "ipv4" || usage[0].Entries != len(old) {
		t.Fatalf("usage after the upgrade: %+v, %v", usage, err)
	}
	if _, err := os.Stat(filepath.Join(maps, legacyPinholes4)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old map is still pinned: %v", err)
	}
	if _, err := Open(s.PinPath); err != nil {
		t.Fatalf("Open after the upgrade: %v", err)
	}
}
