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

// adoptLegacyPinholes moves the pinholes of a pre-split pinned map in
// mapsDir into this datapath's maps and removes its pin; it does nothing
// when there is none. Start calls it after the new programs replaced the
// old ones, so no old program adds to the legacy map afterwards. A pinhole
// the new programs made meanwhile is kept (insert-if-absent), and a SYN
// that came in between found no pinhole and was dropped: its
// retransmission a second later finds it.
func (d *Datapath) adoptLegacyPinholes(mapsDir string) (int, error) {
	path := filepath.Join(mapsDir, legacyPinholes)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	old, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return 0, fmt.Errorf("open the pinhole map of the previous version at %s: %w", path, err)
	}
	defer old.Close()
	if old.KeySize() != uint32(binary.Size(ftpxdpPinholeKey{})) || old.ValueSize() != uint32(binary.Size(ftpxdpPinholeVal{})) {
		return 0, fmt.Errorf("%w: %s is not a pinhole map this version can read (run 'ftpxdp detach' and start again)", ErrIncompatible, path)
	}
	n := 0
	var putErr error
	err = eachBatch(old, func(keys []ftpxdpPinholeKey, vals []ftpxdpPinholeVal) bool {
		for i, k := range keys {
			m, key := d.maps["pinholes6"], any(k)
			if k.Family == unix.AF_INET {
				m, key = d.maps["pinholes4"], shortKey(k)
			}
			if err := m.Update(key, vals[i], ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
				putErr = fmt.Errorf("move pinhole %v: %w", toPinhole(k, vals[i]), err)
				return false
			}
			n++
		}
		return true
	})
	if err = errors.Join(err, putErr); err != nil {
		return n, fmt.Errorf("adopt the pinholes of the previous version: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return n, fmt.Errorf("remove the previous version's pinhole map: %w", err)
	}
	return n, nil
}
