package bench

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ftpxdp/ftpxdp/loader"
)

// Names of the gateway setups.
const (
	setupBare    = "bare"
	setupXDPPass = "xdp-pass"
	setupTCPass  = "tc-pass"
	setupNft     = "nft-conntrack"
	setupXDP     = "ftpxdp-xdp"
	setupTC      = "ftpxdp-tc"
	setupRefXDP  = "ref-xdp"
	setupRefTC   = "ref-tc"
	setupDropXDP = "syn-drop-xdp"
	setupDropTC  = "syn-drop-tc"
)

// gatewaySetups is the order each round applies them in.
var gatewaySetups = []string{setupBare, setupXDPPass, setupTCPass, setupNft, setupXDP, setupTC, setupRefXDP, setupRefTC,
	setupDropXDP, setupDropTC}

// iperfSetups are those iperf3 runs through: the reference checker has no
// allow rule, so it drops iperf3's SYN.
var iperfSetups = []string{setupBare, setupXDPPass, setupTCPass, setupNft, setupXDP, setupTC}

// iperfPort is the port iperf3 listens on; every filtering setup lets new
// connections to it in, as it lets tcp/21 in.
const iperfPort = 5201

// applied is a setup in force on the gateway.
type applied struct {
	name string
	// drops counts what the setup dropped so far, or nil when it drops
	// nothing.
	drops func() (uint64, error)
	undo  []func() error
}

// remove undoes the setup, last step first.
func (a *applied) remove() error {
	var errs []error
	for i := len(a.undo) - 1; i >= 0; i-- {
		errs = append(errs, a.undo[i]())
	}
	a.undo = nil
	return errors.Join(errs...)
}

// gatewayRig holds the programs of every setup, loaded once, so that
// applying a setup only attaches (loading ftpxdp takes the verifier most of
// a second): the rounds then alternate quickly.
type gatewayRig struct {
	floor floorObjects
	ref   referenceObjects
	dp    *loader.Datapath
	// ftpxdp[hook] are the outside and inside instances.
	ftpxdp   map[loader.Hook][2]*loader.Instance
	closeFns closers
}

func newGatewayRig() (_ *gatewayRig, err error) {
	r := &gatewayRig{ftpxdp: map[loader.Hook][2]*loader.Instance{}}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := loadFloorObjects(&r.floor, nil); err != nil {
		return nil, fmt.Errorf("load floor program: %w", err)
	}
	r.closeFns = append(r.closeFns, r.floor.Close)
	if err := loadReferenceObjects(&r.ref, nil); err != nil {
		return nil, fmt.Errorf("load reference program: %w", err)
	}
	r.closeFns = append(r.closeFns, r.ref.Close)
	if r.dp, err = loader.New(gatewayConfig(), loader.Options{}); err != nil {
		return nil, fmt.Errorf("load ftpxdp maps: %w", err)
	}
	r.closeFns = append(r.closeFns, r.dp.Close)
	for _, hook := range []loader.Hook{loader.HookXDP, loader.HookTC} {
		var pair [2]*loader.Instance
		for slot, role := range []loader.Role{loader.Outside, loader.Inside} {
			in, err := r.dp.Instance(hook, role, uint8(slot))
			if err != nil {
				return nil, fmt.Errorf("load ftpxdp %s program: %w", hook, err)
			}
			r.closeFns = append(r.closeFns, in.Close)
			pair[slot] = in
		}
		r.ftpxdp[hook] = pair
	}
	return r, nil
}

// Close unloads the programs.
func (r *gatewayRig) Close() error {
	return r.closeFns.Close()
}

// apply puts setup name in force on the lab's gateway.
func (l *lab) apply(r *gatewayRig, name string) (_ *applied, err error) {
	a := &applied{name: name}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.remove())
		}
	}()
	switch name {
	case setupBare:
	case setupXDPPass:
		err = l.applyXDPPass(r, a)
	case setupTCPass:
		err = l.applyTCPass(r, a)
	case setupNft:
		err = l.applyNft(a)
	case setupXDP:
		err = l.applyFtpxdp(r, a, loader.HookXDP)
	case setupTC:
		err = l.applyFtpxdp(r, a, loader.HookTC)
	case setupRefXDP:
		err = l.applyReference(r, a, loader.HookXDP, r.ref.ReferenceGwXdp)
	case setupRefTC:
		err = l.applyReference(r, a, loader.HookTC, r.ref.ReferenceGwTc)
	case setupDropXDP:
		err = l.applyReference(r, a, loader.HookXDP, r.ref.SynDropGwXdp)
	case setupDropTC:
		err = l.applyReference(r, a, loader.HookTC, r.ref.SynDropGwTc)
	default:
		err = fmt.Errorf("unknown gateway setup %q", name)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// applyXDPPass attaches the empty program to both gateway veths: native
// XDP on a veth changes its receive path, and this isolates that change
// from ftpxdp's own work.
func (l *lab) applyXDPPass(r *gatewayRig, a *applied) error {
	return l.attachPair(a, loader.HookXDP, r.floor.FloorXdp, r.floor.FloorXdp)
}

// applyTCPass attaches the empty TC program at TCX ingress of both gateway
// veths: what the hook costs by itself, next to which ftpxdp-tc's own work
// shows.
func (l *lab) applyTCPass(r *gatewayRig, a *applied) error {
	return l.attachPair(a, loader.HookTC, r.floor.FloorTc, r.floor.FloorTc)
}

// applyReference attaches p, the reference checker (bench/bpf/reference.c,
// with a drop counter) or the unconditional SYN drop, to both gateway
// veths: the least work any pinhole checker does at that hook, and the
// fastest the hook drops a flood: the bounds on what one can reach there.
func (l *lab) applyReference(r *gatewayRig, a *applied, hook loader.Hook, p *ebpf.Program) error {
	if err := l.attachPair(a, hook, p, p); err != nil {
		return fmt.Errorf("attach the reference checker at %s: %w", hook, err)
	}
	a.drops = func() (uint64, error) {
		var perCPU []uint64
		if err := r.ref.Drops.Lookup(uint32(0), &perCPU); err != nil {
			return 0, fmt.Errorf("read the reference's drops: %w", err)
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		return n, nil
	}
	return nil
}

// attachPair attaches out to the gateway's outside veth and in to its
// inside one, at XDP (native) or TCX ingress, and records the undo.
func (l *lab) attachPair(a *applied, hook loader.Hook, out, in *ebpf.Program) error {
	attach := l.attachXDP
	if hook == loader.HookTC {
		attach = l.attachTCX
	}
	for _, x := range []struct {
		p       *ebpf.Program
		ifindex int
	}{{out, l.outIfindex}, {in, l.inIfindex}} {
		lk, err := attach(x.p, x.ifindex)
		if err != nil {
			return err
		}
		a.undo = append(a.undo, lk.Close)
	}
	return nil
}

func (l *lab) attachTCX(p *ebpf.Program, ifindex int) (link.Link, error) {
	var lk link.Link
	err := l.gw.Do(func() (err error) {
		lk, err = link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: p, Attach: ebpf.AttachTCXIngress})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("attach tcx ingress to ifindex %d: %w", ifindex, err)
	}
	return lk, nil
}

func (l *lab) attachXDP(p *ebpf.Program, ifindex int) (link.Link, error) {
	var lk link.Link
	err := l.gw.Do(func() (err error) {
		lk, err = link.AttachXDP(link.XDPOptions{Program: p, Interface: ifindex, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("attach xdp to ifindex %d: %w", ifindex, err)
	}
	return lk, nil
}

// gatewayConfig is ftpxdp on the lab's gateway: a stock install that lets
// the FTP control port and the iperf3 port in.
func gatewayConfig() loader.Config {
	cfg := benchConfig()
	cfg.Allow = append(cfg.Allow, loader.AllowRule{Port: iperfPort})
	return cfg
}

// applyFtpxdp attaches ftpxdp as the daemon does: the outside instance on
// out0, the inside one on in0, at XDP (native) or TCX ingress.
func (l *lab) applyFtpxdp(r *gatewayRig, a *applied, hook loader.Hook) error {
	pair := r.ftpxdp[hook]
	if err := l.attachPair(a, hook, pair[0].Program, pair[1].Program); err != nil {
		return fmt.Errorf("attach ftpxdp %s: %w", hook, err)
	}
	a.drops = func() (uint64, error) {
		c, err := r.dp.Counters()
		if err != nil {
			return 0, err
		}
		return c.Total("packet_drop"), nil
	}
	return nil
}

// nftTable is the benchmark's table in the gateway namespace.
const nftTable = "ftpxdp_bench"

// nftRules is what operators run today: conntrack, the FTP helper on the
// control port, and a forward policy that drops new connections from the
// outside unless they go to an allowed port. The counter sees the new
// inbound packets the policy then drops.
func nftRules() string {
	return fmt.Sprintf(`table inet %s {
	ct helper ftp-standard {
		type "ftp" protocol tcp
		l3proto inet
	}
	counter new_inbound {}
	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
		tcp dport 21 ct helper set "ftp-standard"
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "in0" accept
		iifname "out0" tcp dport { 21, %d } ct state new accept
		iifname "out0" ct state new counter name "new_inbound"
	}
}
`, nftTable, iperfPort)
}

func (l *lab) applyNft(a *applied) error {
	cmd := l.gw.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(nftRules())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f in %s: %w: %s", l.gw.Name, err, out)
	}
	a.undo = append(a.undo, func() error {
		_, err := l.gw.Exec("nft", "delete", "table", "inet", nftTable)
		return err
	})
	a.drops = func() (uint64, error) { return l.nftCounter("new_inbound") }
	return nil
}

// nftCounter reads a named counter's packets from the benchmark's table.
func (l *lab) nftCounter(name string) (uint64, error) {
	out, err := l.gw.Exec("nft", "list", "counter", "inet", nftTable, name)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, f := range strings.Split(out, "\n") {
		f = strings.TrimSpace(f)
		if _, err := fmt.Sscanf(f, "packets %d", &n); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("counter %s: no packet count in %q", name, out)
}
