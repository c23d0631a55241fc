package loader

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AttachMode is how the programs reach packets.
type AttachMode uint8

// Attach modes.
const (
	// AttachXDP runs at the driver (native XDP, generic as a fallback):
	// ingress only, the fastest.
	AttachXDP AttachMode = iota
	// AttachTC runs at TCX ingress (and egress for a single host).
	AttachTC
)

// String returns "xdp" or "tc".
func (m AttachMode) String() string {
	if m == AttachTC {
		return "tc"
	}
	return "xdp"
}

// ParseAttachMode reads "xdp" or "tc".
func ParseAttachMode(s string) (AttachMode, error) {
	switch s {
	case "xdp":
		return AttachXDP, nil
	case "tc":
		return AttachTC, nil
	}
	return 0, fmt.Errorf("%w: unknown attach mode %q: use xdp or tc", ErrInvalidConfig, s)
}

// Errors of attaching, each with the fix in its message.
var (
	ErrNoInterface = errors.New("interface not found")
	ErrXDPBusy     = errors.New("another XDP program is attached")
	ErrUnsupported = errors.New("kernel lacks a feature ftpxdp needs")
)

// hookPoint is one hook on one interface.
type hookPoint struct {
	Iface   string
	Ifindex int
	Hook    Hook
	Egress  bool
	Role    Role
}

// pinName names the hook's link pin. bpffs refuses dots in names (as in
// eth0.100), so the interface is named by index.
func (h hookPoint) pinName() string {
	return fmt.Sprintf("%s-%s-%d", h.Hook, dirName(h.Egress), h.Ifindex)
}

func lookupInterface(name string) (int, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("%w: %s (check 'ip link' in this network namespace)", ErrNoInterface, name)
	}
	return ifc.Index, nil
}

// probeKernel checks the program types the attach mode needs.
func probeKernel(m AttachMode) error { return probeWith(features.HaveProgramType, m) }

// probeWith is probeKernel with the feature probe passed in, so the error
// for a kernel without XDP or TC, which cannot run here, is testable.
func probeWith(have func(ebpf.ProgramType) error, m AttachMode) error {
	if m == AttachXDP {
		if err := have(ebpf.XDP); err != nil {
			return fmt.Errorf("%w: XDP programs: %w (use a kernel with CONFIG_BPF_SYSCALL and XDP, 5.18 or later)", ErrUnsupported, err)
		}
		return nil
	}
	if err := have(ebpf.SchedCLS); err != nil {
		return fmt.Errorf("%w: TC programs: %w (use a kernel with CONFIG_NET_CLS_BPF, 6.6 or later for TCX)", ErrUnsupported, err)
	}
	return nil
}

// attachHook attaches inst at h. XDP goes native first and falls back to
// generic with a warning; a foreign XDP program is replaced only if asked.
func attachHook(inst *Instance, h hookPoint, replace bool, log *slog.Logger) (link.Link, error) {
	if h.Hook == HookTC {
		at := ebpf.AttachTCXIngress
		if h.Egress {
			at = ebpf.AttachTCXEgress
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: h.Ifindex, Program: inst.Program, Attach: at})
		if err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) {
				return nil, fmt.Errorf("%w: TCX on %s needs Linux 6.6 or later: use --attach xdp", ErrUnsupported, h.Iface)
			}
			return nil, fmt.Errorf("attach tc %s to %s: %w", dirName(h.Egress), h.Iface, err)
		}
		return l, nil
	}

	l, err := link.AttachXDP(link.XDPOptions{Program: inst.Program, Interface: h.Ifindex, Flags: link.XDPDriverMode})
	if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
		if !replace {
			return nil, fmt.Errorf("%w to %s (see 'ip link show %s'): stop its owner, or pass --replace to replace it",
				ErrXDPBusy, h.Iface, h.Iface)
		}
		if rErr := removeForeignXDP(h.Ifindex); rErr != nil {
			return nil, fmt.Errorf("replace the XDP program on %s: %w", h.Iface, rErr)
		}
		log.Warn("replaced a foreign XDP program", "interface", h.Iface)
		l, err = link.AttachXDP(link.XDPOptions{Program: inst.Program, Interface: h.Ifindex, Flags: link.XDPDriverMode})
	}
	if err != nil && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
		log.Warn("driver has no native XDP: using generic XDP, which is slower (consider --attach tc)", "interface", h.Iface)
		l, err = link.AttachXDP(link.XDPOptions{Program: inst.Program, Interface: h.Ifindex, Flags: link.XDPGenericMode})
	}
	if err != nil {
		return nil, fmt.Errorf("attach xdp to %s: %w", h.Iface, err)
	}
	return l, nil
}

func dirName(egress bool) string {
	if egress {
		return "egress"
	}
	return "ingress"
}

// removeForeignXDP detaches whatever XDP program holds ifindex: a netlink
// attachment directly, a bpf_link by finding and detaching the link.
func removeForeignXDP(ifindex int) error {
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("read interface %d: %w", ifindex, err)
	}
	if x := nl.Attrs().Xdp; x != nil && x.Attached {
		flags := map[uint32]int{1: unix.XDP_FLAGS_DRV_MODE, 2: unix.XDP_FLAGS_SKB_MODE, 3: unix.XDP_FLAGS_HW_MODE}[x.AttachMode]
		if err := netlink.LinkSetXdpFdWithFlags(nl, -1, flags); err == nil {
			return nil
		}
	}
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType {
			continue
		}
		if x := info.XDP(); x != nil && int(x.Ifindex) == ifindex {
			return it.Link.Detach()
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list bpf links: %w", err)
	}
	return nil
}

// xdpAttachMode reads whether ifindex runs XDP natively or generically.
func xdpAttachMode(ifindex int) string {
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil || nl.Attrs().Xdp == nil {
		return ""
	}
	switch nl.Attrs().Xdp.AttachMode {
	case 1:
		return "native"
	case 2:
		return "generic"
	case 3:
		return "offload"
	}
	return ""
}
