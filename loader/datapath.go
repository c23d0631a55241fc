package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Role is where a program instance sits on the gateway.
type Role uint8

// Roles, with the values of the kernel's enum role.
const (
	// Inside is ingress from the protected side: parse control traffic only.
	Inside = Role(ftpxdpRoleROLE_INSIDE)
	// Outside is ingress from the untrusted side: parse, and let a SYN in
	// only through an allow rule or a pinhole.
	Outside = Role(ftpxdpRoleROLE_OUTSIDE)
	// Egress is TC egress of a single host: parse its own replies.
	Egress = Role(ftpxdpRoleROLE_EGRESS)
)

// String returns "inside", "outside" or "egress".
func (r Role) String() string {
	switch r {
	case Inside:
		return "inside"
	case Outside:
		return "outside"
	case Egress:
		return "egress"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Hook is the kernel attach point a program instance is built for.
type Hook uint8

// Hooks.
const (
	HookXDP Hook = iota
	HookTC
)

// String returns "xdp" or "tc".
func (h Hook) String() string {
	if h == HookTC {
		return "tc"
	}
	return "xdp"
}

func (h Hook) program() string {
	if h == HookTC {
		return "ftpxdp_tc"
	}
	return "ftpxdp_xdp"
}

// MaxInstances is how many program instances may count separately (one
// counter slot each).
const MaxInstances = 64

// sharedMaps are used by every program instance; .rodata and .bss are each
// instance's own.
var sharedMaps = []string{
	"pintab4", "pintab4_meta", "pinholes6", "ctrl_conns", "allow_rules", "rate_limit",
	"counters", "admit_wait", "scratch_buf", "ctrl_template",
}

// unpinned maps hold nothing worth keeping across restarts.
var unpinned = map[string]bool{"scratch_buf": true, "ctrl_template": true}

// Options says where the datapath's maps live.
type Options struct {
	// PinPath, when set, is a directory on bpffs: maps already pinned there
	// are reused, new ones are pinned there.
	PinPath string
	// laterAllowRules leaves the pinned allow_rules map as it is: Start
	// writes it once the new programs are loaded, so that a start that
	// fails does not change what the running programs admit.
	laterAllowRules bool
}

// ErrIncompatible is returned when pinned maps do not fit this build or
// these settings (for example another pinhole capacity).
var ErrIncompatible = errors.New("pinned state is incompatible")

// Datapath is the loaded kernel side: the shared maps and the settings the
// program instances are built with.
type Datapath struct {
	cfg      Config
	spec     *ebpf.CollectionSpec
	maps     map[string]*ebpf.Map
	counters []string
	pt       ftpxdpPtMeta // pintab4's seeds and size
	ptOp     *ebpf.Program
}

// New loads the shared maps (reusing pinned ones when Options.PinPath is
// set). Program instances are added with Instance.
func New(cfg Config, opts Options) (*Datapath, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	spec, err := loadFtpxdp()
	if err != nil {
		return nil, fmt.Errorf("read embedded program: %w", err)
	}
	buckets := ptBuckets(cfg.MaxPinholes)
	spec.Maps["pintab4"].MaxEntries = buckets
	spec.Maps["pinholes6"].MaxEntries = cfg.MaxPinholes
	names, err := counterNames(spec)
	if err != nil {
		return nil, err
	}

	maps := make(map[string]*ebpf.Map, len(sharedMaps))
	for _, name := range sharedMaps {
		ms := spec.Maps[name].Copy()
		mopts := ebpf.MapOptions{}
		if opts.PinPath != "" && !unpinned[name] {
			ms.Pinning = ebpf.PinByName
			mopts.PinPath = opts.PinPath
		}
		m, err := ebpf.NewMapWithOptions(ms, mopts)
		if err != nil {
			closeAll(maps)
			if errors.Is(err, ebpf.ErrMapIncompatible) {
				return nil, fmt.Errorf("%w: map %s at %s was made by another version or with other settings (run 'ftpxdp detach' first): %w",
					ErrIncompatible, name, opts.PinPath, err)
			}
			return nil, fmt.Errorf("create map %s: %w", name, err)
		}
		maps[name] = m
	}
	d := &Datapath{cfg: cfg, spec: spec, maps: maps, counters: names}
	if d.pt, err = ptSeeds(maps["pintab4_meta"], buckets); err != nil {
		closeAll(maps)
		return nil, err
	}
	if err := d.loadPtOp(); err != nil {
		closeAll(maps)
		return nil, err
	}
	if opts.laterAllowRules {
		return d, nil
	}
	if err := d.syncAllowRules(); err != nil {
		closeAll(maps)
		return nil, err
	}
	return d, nil
}

// Config returns the settings the datapath was loaded with.
func (d *Datapath) Config() Config { return d.cfg }

// Close releases the datapath's file descriptors; pinned maps stay.
func (d *Datapath) Close() error {
	if d.ptOp != nil {
		d.ptOp.Close()
	}
	closeAll(d.maps)
	return nil
}

// loadPtOp loads pintab_op, through which Go writes pintab4.
func (d *Datapath) loadPtOp() error {
	coll, err := d.loadProgram("pintab_op", d.kernelConfig(Outside, 0))
	if err != nil {
		return fmt.Errorf("load pintab_op: %w", err)
	}
	d.ptOp = coll.Programs["pintab_op"]
	delete(coll.Programs, "pintab_op")
	coll.Close()
	return nil
}

// loadProgram loads the one program name of the object with settings cfg,
// on the datapath's maps.
func (d *Datapath) loadProgram(name string, cfg ftpxdpConfig) (*ebpf.Collection, error) {
	spec := d.spec.Copy()
	for n := range spec.Programs {
		if n != name {
			delete(spec.Programs, n)
		}
	}
	if err := spec.Variables["cfg"].Set(cfg); err != nil {
		return nil, fmt.Errorf("set program settings: %w", err)
	}
	return ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: d.maps})
}

// kernelConfig is the program's struct config for one instance.
func (d *Datapath) kernelConfig(role Role, slot uint8) ftpxdpConfig {
	k := d.cfg.kernel(role, slot)
	k.PtK1, k.PtK2, k.PtK3, k.PtK4 = d.pt.K1, d.pt.K2, d.pt.K3, d.pt.K4
	k.PtBuckets = d.pt.Buckets
	k.MaxPinholes = d.cfg.MaxPinholes
	return k
}

func closeAll(maps map[string]*ebpf.Map) {
	for _, m := range maps {
		m.Close()
	}
}

// Instance is one loaded program, ready to attach or to run with
// BPF_PROG_TEST_RUN.
type Instance struct {
	Program *ebpf.Program
	Hook    Hook
	Role    Role
	Slot    uint8
	clock   *ebpf.Variable
	coll    *ebpf.Collection
}

// Instance loads the program for hook with its role and counter slot fixed,
// sharing the datapath's maps.
func (d *Datapath) Instance(hook Hook, role Role, slot uint8) (*Instance, error) {
	if int(slot) >= MaxInstances {
		return nil, fmt.Errorf("counter slot %d out of range (max %d)", slot, MaxInstances-1)
	}
	coll, err := d.loadProgram(hook.program(), d.kernelConfig(role, slot))
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("kernel verifier rejected the %s program (kernel too old or unsupported): %w", hook, err)
		}
		return nil, fmt.Errorf("load %s program: %w", hook, err)
	}
	return &Instance{
		Program: coll.Programs[hook.program()],
		Hook:    hook,
		Role:    role,
		Slot:    slot,
		clock:   coll.Variables["clock_override_ns"],
		coll:    coll,
	}, nil
}

// SetClock makes the instance read ns as the time instead of the kernel
// clock (replay and tests); 0 returns to the kernel clock.
func (i *Instance) SetClock(ns uint64) error {
	return i.clock.Set(ns)
}

// Close releases the instance; an attached link keeps the program alive.
func (i *Instance) Close() error {
	i.coll.Close()
	return nil
}

// counterNames reads enum counter from the program's BTF, so the names in Go
// always match the build.
func counterNames(spec *ebpf.CollectionSpec) ([]string, error) {
	var e *btf.Enum
	if err := spec.Types.TypeByName("counter", &e); err != nil {
		return nil, fmt.Errorf("find enum counter in program BTF: %w", err)
	}
	names := make([]string, 0, len(e.Values))
	for _, v := range e.Values {
		if v.Name == "COUNTER_MAX" {
			continue
		}
		if int(v.Value) != len(names) {
			return nil, fmt.Errorf("enum counter is not dense at %s", v.Name)
		}
		names = append(names, lowerTrim(v.Name, "COUNTER_"))
	}
	return names, nil
}
