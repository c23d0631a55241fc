package loader

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// gatewayLab is a namespace with two veths: out0 (outside) and in0 (inside).
func gatewayLab(t *testing.T) (*testutil.NetNS, Setup) {
	testutil.RequireKernel(t)
	ns := testutil.NewNetNS(t)
	ns.Veth(t, "out0", "out0p", nil)
	ns.Veth(t, "in0", "in0p", nil)
	return ns, Setup{
		Config:  DefaultConfig(),
		Outside: []string{"out0"},
		Inside:  []string{"in0"},
		Mode:    AttachXDP,
		PinPath: filepath.Join(testutil.TempBPFFS(t), "ftpxdp"),
	}
}

func start(t *testing.T, ns *testutil.NetNS, s Setup) (*Gateway, error) {
	var g *Gateway
	err := ns.Do(func() (err error) { g, err = Start(s, quiet); return })
	return g, err
}

func TestGatewayRestartKeepsPinholesAndLinks(t *testing.T) {
	ns, s := gatewayLab(t)
	g, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Healthy(); err != nil {
		t.Fatal(err)
	}
	p := testHole("192.0.2.10", "10.0.0.2:40001", KernelNow()+1e12)
	if err := g.Datapath().PutPinhole(p); err != nil {
		t.Fatal(err)
	}
	var before []HookStatus
	ns.Do(func() (err error) { before, err = Hooks(s.PinPath); return })
	g.Close()

	// The daemon is gone: programs stay attached, the pinhole stays.
	var hooks []HookStatus
	if err := ns.Do(func() (err error) { hooks, err = Hooks(s.PinPath); return }); err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 2 {
		t.Fatalf("want 2 hooks pinned after stop, got %+v", hooks)
	}

	s.Config.PinholeTimeout = 7e9 // a setting that may change in place
	g2, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	var after []HookStatus
	ns.Do(func() (err error) { after, err = Hooks(s.PinPath); return })
	links := map[string]uint32{}
	for _, h := range before {
		links[h.Interface] = h.LinkID
	}
	for _, h := range after {
		if links[h.Interface] != h.LinkID {
			t.Errorf("%s: link %d replaced by %d: want the same link updated in place", h.Interface, links[h.Interface], h.LinkID)
		}
		if h.Config.PinholeTimeout != 7e9 {
			t.Errorf("%s: running program has timeout %s, want the new 7s", h.Interface, h.Config.PinholeTimeout)
		}
	}
	var got []pinhole.Pinhole
	for q, err := range g2.Datapath().Pinholes() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, q)
	}
	if len(got) != 1 || got[0].Dest != p.Dest {
		t.Fatalf("pinholes after restart = %+v, want the one put before", got)
	}
}

func TestGatewayDetachLeavesNothing(t *testing.T) {
	ns, s := gatewayLab(t)
	g, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if err := ns.Do(func() error { return Detach(s.PinPath) }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.PinPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pin path still there after detach: %v", err)
	}
	ns.Do(func() error {
		for _, name := range []string{"out0", "in0"} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if x := l.Attrs().Xdp; x != nil && x.Attached {
				t.Errorf("%s still has XDP program %d after detach", name, x.ProgId)
			}
		}
		return nil
	})
}

func TestGatewayRefusals(t *testing.T) {
	ns, s := gatewayLab(t)

	t.Run("unknown interface", func(t *testing.T) {
		bad := s
		bad.Outside = []string{"nope0"}
		if _, err := start(t, ns, bad); !errors.Is(err, ErrNoInterface) {
			t.Fatalf("got %v, want ErrNoInterface", err)
		}
	})
	t.Run("pin path not on bpffs", func(t *testing.T) {
		bad := s
		bad.PinPath = filepath.Join(t.TempDir(), "ftpxdp")
		if _, err := start(t, ns, bad); !errors.Is(err, ErrNotBPFFS) {
			t.Fatalf("got %v, want ErrNotBPFFS", err)
		}
	})
	t.Run("host without tc", func(t *testing.T) {
		bad := s
		bad.Host = true
		if _, err := start(t, ns, bad); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("got %v, want ErrInvalidConfig", err)
		}
	})

	g, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("second daemon on the same pin path", func(t *testing.T) {
		if _, err := start(t, ns, s); !errors.Is(err, ErrLocked) {
			t.Fatalf("got %v, want ErrLocked", err)
		}
	})
	g.Close()

	t.Run("another map capacity", func(t *testing.T) {
		bad := s
		bad.Config.MaxPinholes = 1024
		if _, err := start(t, ns, bad); !errors.Is(err, ErrIncompatible) {
			t.Fatalf("got %v, want ErrIncompatible", err)
		}
	})
	t.Run("another attach mode", func(t *testing.T) {
		bad := s
		bad.Mode = AttachTC
		if _, err := start(t, ns, bad); !errors.Is(err, ErrNeedsDetach) {
			t.Fatalf("got %v, want ErrNeedsDetach", err)
		}
	})
	ns.Do(func() error { return Detach(s.PinPath) })

	t.Run("foreign XDP program", func(t *testing.T) {
		// Someone else's XDP program, attached the legacy way.
		other, err := New(DefaultConfig(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		inst, err := other.Instance(HookXDP, Inside, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close()
		ns.Do(func() error {
			l, _ := netlink.LinkByName("out0")
			return netlink.LinkSetXdpFdWithFlags(l, inst.Program.FD(), 4 /* XDP_FLAGS_DRV_MODE */)
		})
		if _, err := start(t, ns, s); !errors.Is(err, ErrXDPBusy) {
			t.Fatalf("got %v, want ErrXDPBusy", err)
		}
		s2 := s
		s2.Replace = true
		g, err := start(t, ns, s2)
		if err != nil {
			t.Fatalf("with --replace: %v", err)
		}
		g.Close()
		ns.Do(func() error { return Detach(s.PinPath) })
	})
}

func TestGatewayTCHostHooks(t *testing.T) {
	ns, s := gatewayLab(t)
	s.Mode = AttachTC
	s.Host = true
	s.Inside = nil
	g, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Healthy(); err != nil {
		t.Fatal(err)
	}
	g.Close()
	var hooks []HookStatus
	if err := ns.Do(func() (err error) { hooks, err = Hooks(s.PinPath); return }); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range hooks {
		got[h.Interface+"/"+h.Hook+"/"+h.Direction] = h.Role
	}
	want := map[string]string{"out0/tc/ingress": "outside", "out0/tc/egress": "egress"}
	if len(got) != len(want) || got["out0/tc/ingress"] != "outside" || got["out0/tc/egress"] != "egress" {
		t.Fatalf("hooks = %v, want %v", got, want)
	}
	tcx := func() (n int) {
		ns.Do(func() error {
			for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
				r, err := link.QueryPrograms(link.QueryOptions{Target: hooks[0].Ifindex, Attach: at})
				if err != nil {
					t.Fatal(err)
				}
				n += len(r.Programs)
			}
			return nil
		})
		return n
	}
	if n := tcx(); n != 2 {
		t.Fatalf("%d TCX programs on out0 while attached, want 2", n)
	}
	if err := ns.Do(func() error { return Detach(s.PinPath) }); err != nil {
		t.Fatal(err)
	}
	if n := tcx(); n != 0 {
		t.Fatalf("%d TCX programs still on out0 after detach", n)
	}
}

// A start that fails before switching any program leaves the allow rules
// the running programs consult as they were.
func TestFailedStartKeepsAllowRules(t *testing.T) {
	ns, s := gatewayLab(t)
	s.Config.Allow = []AllowRule{{Port: 21, Addr: netip.MustParseAddr("192.0.2.10")}}
	g, err := start(t, ns, s)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()

	other := s
	other.Config.Allow = []AllowRule{{Port: 21, Addr: netip.MustParseAddr("192.0.2.99")}}
	other.Mode = AttachTC
	if _, err := start(t, ns, other); !errors.Is(err, ErrNeedsDetach) {
		t.Fatalf("start with another attach mode: got %v, want ErrNeedsDetach", err)
	}
	dp, err := Open(s.PinPath)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	var (
		k    ftpxdpAllowKey
		v    uint8
		keys []ftpxdpAllowKey
	)
	for it := dp.maps["allow_rules"].Iterate(); it.Next(&k, &v); {
		keys = append(keys, k)
	}
	if want := allowKey(s.Config.Allow[0]); len(keys) != 1 || keys[0] != want {
		t.Fatalf("allow rules after a failed start: %+v, want only %+v", keys, want)
	}
}
