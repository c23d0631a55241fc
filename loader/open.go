package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// Open opens the maps pinned at pinPath, for the read-only commands and the
// flush; it works with or without a running daemon.
func Open(pinPath string) (*Datapath, error) {
	if !stateExists(pinPath) {
		return nil, fmt.Errorf("%w: nothing pinned at %s (is 'ftpxdp run' started with this --pin-path?)", ErrNotLoaded, pinPath)
	}
	if len(legacyMaps(filepath.Join(pinPath, "maps"))) > 0 {
		return nil, fmt.Errorf("%w: %s holds the pinhole map of an older ftpxdp (or an upgrade from it did not finish): start 'ftpxdp run' of this version with the same --pin-path to upgrade it",
			ErrIncompatible, pinPath)
	}
	spec, err := loadFtpxdp()
	if err != nil {
		return nil, fmt.Errorf("read embedded program: %w", err)
	}
	names, err := counterNames(spec)
	if err != nil {
		return nil, err
	}
	maps := map[string]*ebpf.Map{}
	for _, name := range sharedMaps {
		path := filepath.Join(pinPath, "maps", name)
		if unpinned[name] {
			continue // per-CPU scratch maps are not pinned
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			closeAll(maps)
			return nil, fmt.Errorf("%w: %s has no map %s: it was pinned by another version of ftpxdp; start 'ftpxdp run' of this version with the same --pin-path",
				ErrIncompatible, pinPath, name)
		}
		m, err := ebpf.LoadPinnedMap(path, nil)
		if err != nil {
			closeAll(maps)
			return nil, fmt.Errorf("open pinned map %s: %w", path, err)
		}
		ms := spec.Maps[name]
		if m.KeySize() != ms.KeySize || m.ValueSize() != ms.ValueSize || m.Type() != ms.Type {
			m.Close()
			closeAll(maps)
			return nil, fmt.Errorf("%w: map %s was made by another version (run 'ftpxdp detach' and start again)", ErrIncompatible, path)
		}
		maps[name] = m
	}
	cfg := DefaultConfig()
	cfg.MaxPinholes = maps["pinholes6"].MaxEntries()
	spec.Maps["pintab4"].MaxEntries = maps["pintab4"].MaxEntries()
	spec.Maps["pinholes6"].MaxEntries = cfg.MaxPinholes
	d := &Datapath{cfg: cfg, spec: spec, maps: maps, counters: names}
	if err := maps["pintab4_meta"].Lookup(uint32(0), &d.pt); err != nil {
		closeAll(maps)
		return nil, fmt.Errorf("read pintab4_meta: %w", err)
	}
	if d.pt.Buckets == 0 || d.pt.Buckets != maps["pintab4"].MaxEntries() {
		closeAll(maps)
		return nil, fmt.Errorf("%w: %s: pintab4_meta does not describe pintab4 (a start that did not finish?): start 'ftpxdp run' again, or 'ftpxdp detach'",
			ErrIncompatible, pinPath)
	}
	return d, nil
}

// HookStatus describes one attached hook, read from the pinned state.
type HookStatus struct {
	Interface string `json:"interface"`
	Ifindex   int    `json:"ifindex"`
	Hook      string `json:"hook"`
	Direction string `json:"direction"`
	Role      string `json:"role"`
	Slot      uint8  `json:"slot"`
	XDPMode   string `json:"xdp_mode,omitempty"`
	ProgramID uint32 `json:"program_id"`
	LinkID    uint32 `json:"link_id"`
	Config    Config `json:"-"`
}

// Hooks lists the hooks pinned at pinPath.
func Hooks(pinPath string) ([]HookStatus, error) {
	if !stateExists(pinPath) {
		return nil, fmt.Errorf("%w: nothing pinned at %s", ErrNotLoaded, pinPath)
	}
	pinned, err := readPinnedHooks(pinPath)
	if err != nil {
		return nil, err
	}
	var out []HookStatus
	for _, p := range pinned {
		hs := HookStatus{
			Interface: p.Iface, Ifindex: p.Ifindex, Hook: p.Hook.String(), Direction: dirName(p.Egress),
			Role: p.Role.String(), Slot: p.Slot, ProgramID: p.prog, LinkID: uint32(p.id), Config: fromKernel(p.cfg),
		}
		if p.Hook == HookXDP {
			hs.XDPMode = xdpAttachMode(p.Ifindex)
		}
		out = append(out, hs)
		p.link.Close()
	}
	return out, nil
}
