package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Pinned pinhole maps of earlier versions, which Start adopts:
// legacyPinholes held both families under the 36-byte key; legacyPinholes4
// held IPv4 under the 12-byte key in a kernel hash map, before pintab4
// (pinholes6 has not changed since the split).
const (
	legacyPinholes  = "pinholes"
	legacyPinholes4 = "pinholes4"
)

// newPinholeMaps are the pins of this version's pinhole maps.
var newPinholeMaps = []string{"pintab4", "pintab4_meta", "pinholes6"}

// adoption counts what adoptLegacyPinholes did with the old maps' entries.
type adoption struct {
	Moved   int // now in this version's maps
	Present int // already there (made by the new program meanwhile): kept
	Expired int // past their expiry: left behind
	Full    int // refused by a full map
}

// legacyOnly reports whether mapsDir holds an older version's pinhole map
// and not yet this version's table.
func legacyOnly(mapsDir string) bool {
	_, errNew := os.Stat(filepath.Join(mapsDir, "pintab4"))
	return len(legacyMaps(mapsDir)) > 0 && errors.Is(errNew, os.ErrNotExist)
}

// legacyMaps names the older versions' pinhole maps pinned in mapsDir.
func legacyMaps(mapsDir string) []string {
	var out []string
	for _, name := range []string{legacyPinholes, legacyPinholes4} {
		if _, err := os.Stat(filepath.Join(mapsDir, name)); err == nil {
			out = append(out, name)
		}
	}
	return out
}

// legacyKeySize is the key size each older pinhole map must have.
var legacyKeySize = map[string]int{
	legacyPinholes:  binary.Size(ftpxdpPinholeKey{}),
	legacyPinholes4: binary.Size(ftpxdpPinholeKey4{}),
}

// openLegacyPinholes opens an older version's pinhole map name in mapsDir,
// failing unless it has a layout this version can adopt. Start checks them
// before any program is switched.
func openLegacyPinholes(mapsDir, name string) (*ebpf.Map, error) {
	path := filepath.Join(mapsDir, name)
	old, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open the pinhole map of the previous version at %s: %w", path, err)
	}
	if old.KeySize() != uint32(legacyKeySize[name]) || old.ValueSize() != uint32(binary.Size(ftpxdpPinholeVal{})) {
		old.Close()
		return nil, fmt.Errorf("%w: %s is not a pinhole map this version can read (run 'ftpxdp detach' and start again)", ErrIncompatible, path)
	}
	return old, nil
}

// pinnedOf names those of names pinned in mapsDir.
func pinnedOf(mapsDir string, names []string) map[string]bool {
	out := map[string]bool{}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(mapsDir, name)); err == nil {
			out[name] = true
		}
	}
	return out
}

// removeNewPins undoes what New pinned next to an older version's maps when
// no program was switched to them: the pins of names not in before.
func removeNewPins(mapsDir string, before map[string]bool) {
	for _, name := range newPinholeMaps {
		if !before[name] {
			os.Remove(filepath.Join(mapsDir, name))
		}
	}
}

// adoptLegacyPinholes moves the live pinholes of older versions' pinned
// maps in mapsDir into this datapath's maps and removes their pins; it does
// nothing when there are none. Start calls it once every link runs a new
// program, so no old program adds to the old maps afterwards. A pinhole the
// new programs made meanwhile is kept (insert-if-absent). What the new
// programs did in between with a pinhole still in an old map is not seen: a
// SYN found none and was dropped (its retransmission finds it), and a
// replace-oldest found nothing to remove (the replaced pinhole lives until
// it expires). A full map refuses some: counted, not fatal, so the daemon
// still starts and sweeps.
func (d *Datapath) adoptLegacyPinholes(mapsDir string) (adoption, error) {
	var a adoption
	for _, name := range legacyMaps(mapsDir) {
		old, err := openLegacyPinholes(mapsDir, name)
		if err != nil {
			return a, err
		}
		if name == legacyPinholes4 {
			err = adoptFrom(old, &a, func(k ftpxdpPinholeKey4, v ftpxdpPinholeVal) error {
				return d.adoptOne(fullKey(k), v)
			})
		} else {
			err = adoptFrom(old, &a, d.adoptOne)
		}
		old.Close()
		if err != nil {
			return a, fmt.Errorf("adopt the pinholes of the previous version: %w", err)
		}
		if err := os.Remove(filepath.Join(mapsDir, name)); err != nil {
			return a, fmt.Errorf("remove the previous version's pinhole map: %w", err)
		}
	}
	return a, nil
}

// adoptFrom hands old's unexpired entries to put, counting the outcomes.
func adoptFrom[K comparable](old *ebpf.Map, a *adoption, put func(K, ftpxdpPinholeVal) error) error {
	now := KernelNow()
	var putErr error
	err := eachBatch(old, func(keys []K, vals []ftpxdpPinholeVal) bool {
		for i, k := range keys {
			if now >= vals[i].ExpiresNs {
				a.Expired++
				continue
			}
			switch err := put(k, vals[i]); {
			case err == nil:
				a.Moved++
			case errors.Is(err, ebpf.ErrKeyExist):
				a.Present++
			case errors.Is(err, errTableFull):
				a.Full++
			default:
				putErr = err
				return false
			}
		}
		return true
	})
	return errors.Join(err, putErr)
}

// adoptOne inserts an older version's pinhole if absent; errTableFull when
// its family's map is full.
func (d *Datapath) adoptOne(k ftpxdpPinholeKey, v ftpxdpPinholeVal) error {
	if k.Family == unix.AF_INET {
		return d.ptPut(shortKey(k), v, false)
	}
	err := d.maps["pinholes6"].Update(k, v, ebpf.UpdateNoExist)
	if errors.Is(err, unix.E2BIG) {
		return errTableFull
	}
	return err
}
