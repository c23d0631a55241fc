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

// legacyPinholes is the pinned map of versions before the pinhole table
// was split by family: both families under the 36-byte key.
const legacyPinholes = "pinholes"

// adoption counts what adoptLegacyPinholes did with the old map's entries.
type adoption struct {
	Moved   int // now in the per-family maps
	Present int // already there (made by the new program meanwhile): kept
	Expired int // past their expiry: left behind
	Full    int // refused by a full map
}

// legacyOnly reports whether mapsDir holds the single pinhole map of an
// older version and not yet the per-family ones.
func legacyOnly(mapsDir string) bool {
	_, errOld := os.Stat(filepath.Join(mapsDir, legacyPinholes))
	_, errNew := os.Stat(filepath.Join(mapsDir, "pinholes4"))
	return errOld == nil && errors.Is(errNew, os.ErrNotExist)
}

// openLegacyPinholes opens the pre-split map in mapsDir, failing unless it
// has the layout this version can adopt. Start checks it before any
// program is switched.
func openLegacyPinholes(mapsDir string) (*ebpf.Map, error) {
	path := filepath.Join(mapsDir, legacyPinholes)
	old, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open the pinhole map of the previous version at %s: %w", path, err)
	}
	if old.KeySize() != uint32(binary.Size(ftpxdpPinholeKey{})) || old.ValueSize() != uint32(binary.Size(ftpxdpPinholeVal{})) {
		old.Close()
		return nil, fmt.Errorf("%w: %s is not a pinhole map this version can read (run 'ftpxdp detach' and start again)", ErrIncompatible, path)
	}
	return old, nil
}

// removePerFamilyPins undoes what New pinned next to an older version's
// map when no program was switched to the new maps.
func removePerFamilyPins(mapsDir string) {
	for _, name := range []string{"pinholes4", "pinholes6"} {
		os.Remove(filepath.Join(mapsDir, name))
	}
}

// adoptLegacyPinholes moves the live pinholes of a pre-split pinned map in
// mapsDir into this datapath's maps and removes its pin; it does nothing
// when there is none. Start calls it once every link runs a new program,
// so no old program adds to the legacy map afterwards. A pinhole the new
// programs made meanwhile is kept (insert-if-absent). What the new programs
// did in between with a pinhole still in the old map is not seen: a SYN
// found none and was dropped (its retransmission finds it), and a
// replace-oldest found nothing to remove (the replaced pinhole lives until
// it expires). A full map refuses some: counted, not fatal, so the daemon
// still starts and sweeps.
func (d *Datapath) adoptLegacyPinholes(mapsDir string) (adoption, error) {
	var a adoption
	path := filepath.Join(mapsDir, legacyPinholes)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	old, err := openLegacyPinholes(mapsDir)
	if err != nil {
		return a, err
	}
	defer old.Close()
	now := KernelNow()
	var putErr error
	err = eachBatch(old, func(keys []ftpxdpPinholeKey, vals []ftpxdpPinholeVal) bool {
		for i, k := range keys {
			if now >= vals[i].ExpiresNs {
				a.Expired++
				continue
			}
			m, key := d.maps["pinholes6"], any(k)
			if k.Family == unix.AF_INET {
				m, key = d.maps["pinholes4"], shortKey(k)
			}
			switch err := m.Update(key, vals[i], ebpf.UpdateNoExist); {
			case err == nil:
				a.Moved++
			case errors.Is(err, ebpf.ErrKeyExist):
				a.Present++
			case errors.Is(err, unix.E2BIG):
				a.Full++
			default:
				putErr = fmt.Errorf("move pinhole %v: %w", toPinhole(k, vals[i]), err)
				return false
			}
		}
		return true
	})
	if err = errors.Join(err, putErr); err != nil {
		return a, fmt.Errorf("adopt the pinholes of the previous version: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return a, fmt.Errorf("remove the previous version's pinhole map: %w", err)
	}
	return a, nil
}
