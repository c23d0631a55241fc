package loader

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/link"
)

// Setup is what the daemon is asked to run.
type Setup struct {
	Config  Config
	Outside []string // interfaces facing the untrusted side
	Inside  []string // interfaces facing the protected side
	Mode    AttachMode
	// Host also parses this machine's own egress (TC only): for an FTP
	// server or client protecting itself, whose replies never pass an
	// ingress hook.
	Host bool
	// Replace removes a foreign XDP program found on an interface.
	Replace bool
	PinPath string
}

// ErrNeedsDetach is returned for a change the pinned state cannot take in
// place: another attach mode on an interface. (Another map capacity fails
// earlier, in New, with ErrIncompatible.)
var ErrNeedsDetach = errors.New("cannot change in place")

func (s Setup) hookPoints() ([]hookPoint, error) {
	if len(s.Outside) == 0 {
		return nil, fmt.Errorf("%w: at least one --outside interface is needed", ErrInvalidConfig)
	}
	if s.Host && s.Mode != AttachTC {
		return nil, fmt.Errorf("%w: --host needs --attach tc (XDP never sees this host's own replies)", ErrInvalidConfig)
	}
	hook := HookXDP
	if s.Mode == AttachTC {
		hook = HookTC
	}
	var pts []hookPoint
	seen := map[string]bool{}
	add := func(name string, role Role, egress bool) error {
		idx, err := lookupInterface(name)
		if err != nil {
			return err
		}
		pts = append(pts, hookPoint{Iface: name, Ifindex: idx, Hook: hook, Egress: egress, Role: role})
		return nil
	}
	for _, group := range []struct {
		names []string
		role  Role
	}{{s.Outside, Outside}, {s.Inside, Inside}} {
		for _, n := range group.names {
			if seen[n] {
				return nil, fmt.Errorf("%w: interface %s is named twice", ErrInvalidConfig, n)
			}
			seen[n] = true
			if err := add(n, group.role, false); err != nil {
				return nil, err
			}
			if s.Host && group.role == Outside {
				if err := add(n, Egress, true); err != nil {
					return nil, err
				}
			}
		}
	}
	return pts, nil
}

// Gateway is a running datapath with its programs attached and pinned. Its
// owner holds the state directory's lock until Close.
type Gateway struct {
	dp      *Datapath
	lock    *dirLock
	pinPath string
	hooks   []liveHook
	log     *slog.Logger
}

type liveHook struct {
	hookPoint
	Slot uint8
	link link.Link
	inst *Instance
}

// Start attaches the datapath as s asks. With pinned state already at
// s.PinPath (a restart or an upgrade), it reuses the maps and replaces the
// programs in the pinned links in place, so no packet goes unfiltered and no
// pinhole is lost. A first start builds the state in a temporary directory
// and renames it into place.
func Start(s Setup, log *slog.Logger) (*Gateway, error) {
	pts, err := s.hookPoints()
	if err != nil {
		return nil, err
	}
	if err := s.Config.Validate(); err != nil {
		return nil, err
	}
	if err := probeKernel(s.Mode); err != nil {
		return nil, err
	}
	if err := EnsureBPFFS(s.PinPath); err != nil {
		return nil, err
	}

	fresh := !stateExists(s.PinPath)
	dir := s.PinPath
	if fresh {
		dir = fmt.Sprintf("%s-tmp-%d", s.PinPath, os.Getpid()) // bpffs allows no dots
		os.RemoveAll(dir)
		for _, d := range []string{dir, filepath.Join(dir, "maps"), filepath.Join(dir, "links")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, fmt.Errorf("create state directory: %w", err)
			}
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	g := &Gateway{lock: lock, pinPath: dir, log: log}
	ok := false
	defer func() {
		if !ok {
			g.Close()
			if fresh {
				os.RemoveAll(dir)
			}
		}
	}()

	// An upgrade from an older pinhole map: New pins this version's maps
	// next to it. If no program gets switched to them, remove them again,
	// so the state stays the old version's (and 'pinholes' keeps refusing
	// it) rather than half of each.
	mapsDir := filepath.Join(dir, "maps")
	if !fresh && legacyOnly(mapsDir) {
		for _, name := range legacyMaps(mapsDir) {
			old, err := openLegacyPinholes(mapsDir, name)
			if err != nil {
				return nil, err
			}
			old.Close()
		}
		before := pinnedOf(mapsDir, newPinholeMaps)
		defer func() {
			if !ok && len(g.hooks) == 0 {
				removeNewPins(mapsDir, before)
			}
		}()
	}
	g.dp, err = New(s.Config, Options{PinPath: mapsDir, laterAllowRules: true})
	if err != nil {
		return nil, err
	}
	pinned, err := readPinnedHooks(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range pinned {
			p.link.Close()
		}
	}()

	used := map[uint8]bool{}
	for _, p := range pinned {
		used[p.Slot] = true
	}
	nextSlot := func() (uint8, error) {
		for i := 0; i < MaxInstances; i++ {
			if !used[uint8(i)] {
				used[uint8(i)] = true
				return uint8(i), nil
			}
		}
		return 0, fmt.Errorf("%w: more than %d hooks", ErrInvalidConfig, MaxInstances)
	}

	// Load every program before switching any link: a verifier or
	// settings error then leaves the running programs as they were.
	type step struct {
		pt   hookPoint
		slot uint8
		old  *pinnedHook // nil: a new attachment
		inst *Instance
	}
	var steps []step
	defer func() {
		for _, st := range steps {
			if st.inst != nil {
				st.inst.Close()
			}
		}
	}()
	for _, pt := range pts {
		for _, p := range pinned {
			if p.Ifindex == pt.Ifindex && p.Egress == pt.Egress && p.Hook != pt.Hook {
				return nil, fmt.Errorf("%w: %s is attached with %s, asked for %s: run 'ftpxdp detach' first",
					ErrNeedsDetach, pt.Iface, p.Hook, pt.Hook)
			}
		}
		st := step{pt: pt, old: pinned[pt.pinName()]}
		if st.old != nil {
			st.slot = st.old.Slot
		} else if st.slot, err = nextSlot(); err != nil {
			return nil, err
		}
		if st.inst, err = g.dp.Instance(pt.Hook, pt.Role, st.slot); err != nil {
			return nil, err
		}
		steps = append(steps, st)
	}
	// Every program loaded: now the per-address allow rules may change
	// under the running ones, just before they are replaced.
	if err := g.dp.syncAllowRules(); err != nil {
		return nil, err
	}
	for i := range steps {
		st := &steps[i]
		pt, name := st.pt, st.pt.pinName()
		h := liveHook{hookPoint: pt, Slot: st.slot, inst: st.inst}
		if st.old != nil {
			if err := st.old.link.Update(st.inst.Program); err != nil {
				return nil, fmt.Errorf("upgrade the program on %s in place: %w", pt.Iface, err)
			}
			h.link = st.old.link
			delete(pinned, name)
			log.Info("upgraded in place", "interface", pt.Iface, "hook", pt.Hook, "role", pt.Role)
		} else {
			l, err := attachHook(st.inst, pt, s.Replace, log)
			if err != nil {
				return nil, err
			}
			if err := l.Pin(filepath.Join(dir, "links", name)); err != nil {
				l.Close()
				return nil, fmt.Errorf("pin link of %s: %w", pt.Iface, err)
			}
			h.link = l
			log.Info("attached", "interface", pt.Iface, "hook", pt.Hook, "direction", dirName(pt.Egress), "role", pt.Role, "xdp_mode", xdpAttachMode(pt.Ifindex))
		}
		st.inst = nil // g.hooks owns it now
		g.hooks = append(g.hooks, h)
	}
	// Hooks no longer asked for are detached.
	for name, p := range pinned {
		p.link.Unpin()
		p.link.Close()
		delete(pinned, name)
		log.Info("detached, no longer configured", "interface", p.Iface, "hook", p.Hook)
	}
	// No old program is left to write the pre-split map: take it over.
	if a, err := g.dp.adoptLegacyPinholes(filepath.Join(dir, "maps")); err != nil {
		return nil, err
	} else if a.Moved+a.Full > 0 {
		log.Info("took over the previous version's pinholes", "moved", a.Moved, "expired_left", a.Expired, "present", a.Present)
		if a.Full > 0 {
			log.Warn("pinhole map full: some of the previous version's pinholes were not moved and are gone (their data connections will be refused); a larger --max-pinholes needs 'ftpxdp detach' first",
				"not_moved", a.Full)
		}
	}
	if fresh {
		if err := os.Rename(dir, s.PinPath); err != nil {
			return nil, fmt.Errorf("move state into place at %s: %w", s.PinPath, err)
		}
		g.pinPath = s.PinPath
	}
	ok = true
	return g, nil
}

// Datapath returns the gateway's maps.
func (g *Gateway) Datapath() *Datapath { return g.dp }

// PinPath returns where the state is pinned.
func (g *Gateway) PinPath() string { return g.pinPath }

// Interfaces maps each counter slot to "interface/direction".
func (g *Gateway) Interfaces() map[uint8]string {
	m := map[uint8]string{}
	for _, h := range g.hooks {
		m[h.Slot] = h.Iface + "/" + dirName(h.Egress)
	}
	return m
}

// Healthy reports an error when a program is no longer attached where the
// gateway put it (its link was detached or its pin removed).
func (g *Gateway) Healthy() error {
	for _, h := range g.hooks {
		if _, err := os.Stat(filepath.Join(g.pinPath, "links", h.pinName())); err != nil {
			return fmt.Errorf("%s: link pin is gone: %w", h.Iface, err)
		}
		info, err := h.link.Info()
		if err != nil {
			return fmt.Errorf("%s: read link: %w", h.Iface, err)
		}
		if x := info.XDP(); x != nil && x.Ifindex == 0 {
			return fmt.Errorf("%s: XDP program detached", h.Iface)
		}
		if t := info.TCX(); t != nil && t.Ifindex == 0 {
			return fmt.Errorf("%s: TC program detached", h.Iface)
		}
	}
	return nil
}

// Close releases the gateway's descriptors and lock. The programs stay
// attached and the maps pinned, so a restart picks them up.
func (g *Gateway) Close() error {
	for _, h := range g.hooks {
		h.link.Close()
		h.inst.Close()
	}
	g.hooks = nil
	if g.dp != nil {
		g.dp.Close()
	}
	g.lock.unlock()
	return nil
}

// Detach removes every program, link and pin under pinPath. It refuses
// while a daemon holds the state.
func Detach(pinPath string) error {
	if !stateExists(pinPath) {
		if _, err := os.Stat(pinPath); err != nil {
			return fmt.Errorf("%w: nothing pinned at %s", ErrNotLoaded, pinPath)
		}
	}
	lock, err := lockDir(pinPath)
	if err != nil {
		return err
	}
	defer lock.unlock()
	pinned, err := readPinnedHooks(pinPath)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pinned {
		if err := p.link.Unpin(); err != nil {
			errs = append(errs, err)
		}
		p.link.Close()
	}
	if err := os.RemoveAll(pinPath); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ErrNotLoaded is returned when no pinned state exists.
var ErrNotLoaded = errors.New("ftpxdp is not loaded")

type pinnedHook struct {
	hookPoint
	Slot uint8
	cfg  ftpxdpConfig
	link link.Link
	id   link.ID
	prog uint32
}

// readPinnedHooks opens every pinned link under dir/links.
func readPinnedHooks(dir string) (map[string]*pinnedHook, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "links"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return map[string]*pinnedHook{}, nil
		}
		return nil, fmt.Errorf("read pinned links: %w", err)
	}
	out := map[string]*pinnedHook{}
	for _, e := range ents {
		p, err := openPinnedHook(filepath.Join(dir, "links", e.Name()))
		if err != nil {
			for _, o := range out {
				o.link.Close()
			}
			return nil, err
		}
		out[e.Name()] = p
	}
	return out, nil
}

func openPinnedHook(path string) (*pinnedHook, error) {
	parts := strings.Split(filepath.Base(path), "-")
	if len(parts) != 3 || !slices.Contains([]string{"xdp", "tc"}, parts[0]) {
		return nil, fmt.Errorf("%w: unexpected pin %s (run 'ftpxdp detach')", ErrIncompatible, path)
	}
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open pinned link %s: %w", path, err)
	}
	info, err := l.Info()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("read pinned link %s: %w", path, err)
	}
	cfg, err := programConfig(uint32(info.Program))
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("%w: program of %s: %w (run 'ftpxdp detach')", ErrIncompatible, path, err)
	}
	h := hookPoint{Hook: HookXDP, Egress: parts[1] == "egress", Role: Role(cfg.Role)}
	if parts[0] == "tc" {
		h.Hook = HookTC
	}
	h.Ifindex, _ = strconv.Atoi(parts[2])
	h.Iface = "if" + parts[2] + " (gone)"
	if ifc, err := net.InterfaceByIndex(h.Ifindex); err == nil {
		h.Iface = ifc.Name
	}
	return &pinnedHook{hookPoint: h, Slot: cfg.IfaceSlot, cfg: cfg, link: l, id: info.ID, prog: uint32(info.Program)}, nil
}
