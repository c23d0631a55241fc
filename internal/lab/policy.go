package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

// Policy is what the lab's edge does with a new connection from outside.
type Policy string

const (
	// NoFilter: the edge forwards everything.
	NoFilter Policy = "none"
	// Deny: a stateless nftables rule without conntrack drops every TCP SYN
	// (SYN without ACK) arriving on the outside interface, like an IOS ACL
	// with "established"; only the allow rules (tcp/21 to a protected
	// server) get in. A data connection from outside must fail.
	Deny Policy = "deny"
	// FTPXDP: the ftpxdp daemon enforces default-deny with pinholes.
	FTPXDP Policy = "ftpxdp"
	// Observe: the ftpxdp daemon with --observe: never drops, counts.
	Observe Policy = "observe"
)

// Policies lists every policy, in matrix order.
var Policies = []Policy{NoFilter, Deny, FTPXDP, Observe}

// PolicyOptions change how a policy is set up.
type PolicyOptions struct {
	// ServerPort is the control port the allow rules open to the server
	// (topologies with the server inside); 21 when zero.
	ServerPort uint16
	// Bin is the ftpxdp binary (BuildDaemon) for FTPXDP and Observe.
	Bin string
	// DaemonArgs are added to `ftpxdp run` (e.g. --pinhole-timeout 1s).
	DaemonArgs []string
}

// Guard is a policy in force on the lab's edge.
type Guard struct {
	Policy Policy
	// Daemon is the running ftpxdp for FTPXDP and Observe, else nil.
	Daemon *Daemon
	lab    *Lab
	table  bool
}

// Allowed lists the destinations the edge admits new connections to from
// outside without a pinhole: the server's control port when the server is
// behind the edge.
func (l *Lab) Allowed(port uint16) []netip.AddrPort {
	if l.Topology == ClientGateway {
		return nil
	}
	return []netip.AddrPort{netip.AddrPortFrom(ServerAddr4, port), netip.AddrPortFrom(ServerAddr6, port)}
}

// Enforce puts policy p in force on the lab's edge until Lift (or
// t.Cleanup).
func (l *Lab) Enforce(t testing.TB, p Policy, o PolicyOptions) (*Guard, error) {
	t.Helper()
	if o.ServerPort == 0 {
		o.ServerPort = 21
	}
	g := &Guard{Policy: p, lab: l}
	switch p {
	case NoFilter:
	case Deny:
		if err := l.denyTable(o.ServerPort); err != nil {
			return nil, err
		}
		g.table = true
		t.Cleanup(func() { g.Lift() })
	case FTPXDP, Observe:
		if o.Bin == "" {
			return nil, fmt.Errorf("policy %s needs PolicyOptions.Bin", p)
		}
		args := l.DaemonArgs(o.ServerPort)
		if p == Observe {
			args = append(args, "--observe")
		}
		d, err := StartDaemon(t, l.Edge(), o.Bin, append(args, o.DaemonArgs...)...)
		if err != nil {
			return nil, err
		}
		g.Daemon = d
	default:
		return nil, fmt.Errorf("unknown policy %q", p)
	}
	return g, nil
}

// DaemonArgs are the `ftpxdp run` flags of the lab's topology: the
// interfaces, the attach mode and the allow rules for the server.
func (l *Lab) DaemonArgs(serverPort uint16) []string {
	args := []string{"--outside", l.Outside}
	if l.Inside != "" {
		args = append(args, "--inside", l.Inside)
	}
	if l.Topology == SingleHost {
		args = append(args, "--attach", "tc", "--host")
	}
	for _, a := range l.Allowed(serverPort) {
		args = append(args, "--allow", fmt.Sprintf("tcp/%d@%s", a.Port(), a.Addr()))
	}
	if serverPort != 21 {
		args = append(args, "--control-port", fmt.Sprint(serverPort))
	}
	return args
}

// nftTable is the lab's nftables table in the edge namespace.
const nftTable = "ftpxdp_lab"

// denyTable loads the stateless rule: a netdev ingress chain on the
// outside interface, which never involves conntrack.
func (l *Lab) denyTable(serverPort uint16) error {
	var allow []string
	for _, a := range l.Allowed(serverPort) {
		fam := "ip"
		if a.Addr().Is6() {
			fam = "ip6"
		}
		allow = append(allow, fmt.Sprintf("\t\t%s daddr %s tcp dport %d accept", fam, a.Addr(), a.Port()))
	}
	rules := fmt.Sprintf(`table netdev %s {
	chain outside {
		type filter hook ingress device %q priority 0; policy accept;
%s
		tcp flags & (syn | ack) == syn counter drop
	}
}
`, nftTable, l.Outside, strings.Join(allow, "\n"))
	cmd := l.Edge().Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f: %w: %s\n%s", err, out, rules)
	}
	return nil
}

// Lift removes the policy: the nftables table or the daemon.
func (g *Guard) Lift() error {
	if g.Daemon != nil {
		err := g.Daemon.Stop()
		g.Daemon = nil
		return err
	}
	if g.table {
		g.table = false
		out, err := exec.Command("ip", "netns", "exec", g.lab.Edge().Name, "nft", "delete", "table", "netdev", nftTable).CombinedOutput()
		if err != nil {
			return fmt.Errorf("nft delete table: %w: %s", err, out)
		}
	}
	return nil
}
