package loader

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

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
	for _, name := range []string{"pinholes4", "pinholes6"} {
		if err := os.Remove(filepath.Join(maps, name)); err != nil {
			t.Fatal(err)
		}
	}
	legacy, err := ebpf.NewMap(&ebpf.MapSpec{
		Type: ebpf.Hash, MaxEntries: 16,
		KeySize:   uint32(binary.Size(ftpxdpPinholeKey{})),
		ValueSize: uint32(binary.Size(ftpxdpPinholeVal{})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	expires := KernelNow() + 1e12
	passive := testHole("192.0.2.11", "10.0.0.3:40003", expires)
	passive.Mode, passive.Hits = pinhole.Passive, 1
	old := []pinhole.Pinhole{
		testHole("192.0.2.10", "10.0.0.2:40001", expires),
		testHole("2001:db8::10", "[2001:db8:1::2]:40002", expires),
		passive,
	}
	expired := testHole("192.0.2.12", "10.0.0.4:40004", 1)
	for _, p := range append(slices.Clone(old), expired) {
		k, v := fromPinhole(p)
		if err := legacy.Put(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := legacy.Pin(filepath.Join(maps, legacyPinholes)); err != nil {
		t.Fatal(err)
	}

	if _, err := Open(s.PinPath); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Open of the old state: got %v, want ErrIncompatible", err)
	}

	// A start that fails before switching any program leaves the old
	// state as it was, not half of each.
	tc := s
	tc.Mode = AttachTC
	if _, err := start(t, ns, tc); !errors.Is(err, ErrNeedsDetach) {
		t.Fatalf("start with another attach mode: got %v, want ErrNeedsDetach", err)
	}
	if _, err := os.Stat(filepath.Join(maps, "pinholes4")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed start left the new map pinned: %v", err)
	}
	if _, err := Open(s.PinPath); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Open after a failed upgrade: got %v, want ErrIncompatible", err)
	}

	g2, err := start(t, ns, s)
	if err != nil {
		t.Fatalf("start over the old state: %v", err)
	}
	defer g2.Close()
	var got []pinhole.Pinhole
	for p, err := range g2.Datapath().Pinholes() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	key := func(p pinhole.Pinhole) string { return p.Source.String() + ">" + p.Dest.String() }
	slices.SortFunc(got, func(a, b pinhole.Pinhole) int { return cmpString(key(a), key(b)) })
	want := slices.Clone(old)
	slices.SortFunc(want, func(a, b pinhole.Pinhole) int { return cmpString(key(a), key(b)) })
	if !slices.Equal(got, want) {
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

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
