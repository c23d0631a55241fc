package lab

import (
	"fmt"
	"net/netip"
	"testing"
)

// Topology is where the client, the server and the policy sit.
type Topology int

const (
	// ClientGateway: the client is inside, behind a gateway; the server is
	// outside (the seed article's network). Active mode needs pinholes.
	ClientGateway Topology = iota
	// ProtectedServer: the server is inside, behind a gateway; clients are
	// outside and reach it through an allow rule for tcp/21. Passive mode
	// needs pinholes.
	ProtectedServer
	// SingleHost: the client's namespace is wired straight to the server's;
	// the policy runs on the server's own interface (ftpxdp --attach tc
	// --host). Passive mode needs pinholes.
	SingleHost
)

// Topologies lists every topology, in matrix order.
var Topologies = []Topology{ClientGateway, ProtectedServer, SingleHost}

// String names the topology as the matrix prints it.
func (t Topology) String() string {
	switch t {
	case ClientGateway:
		return "client-gw"
	case ProtectedServer:
		return "protected-server"
	case SingleHost:
		return "single-host"
	}
	return fmt.Sprintf("topology(%d)", int(t))
}

// Family is an IP version.
type Family int

const (
	// IPv4 is IP version 4.
	IPv4 Family = 4
	// IPv6 is IP version 6.
	IPv6 Family = 6
)

// Families lists both IP versions.
var Families = []Family{IPv4, IPv6}

// String returns "v4" or "v6".
func (f Family) String() string { return fmt.Sprintf("v%d", int(f)) }

// The lab's address plan, the same in every Lab: namespaces keep parallel
// labs apart. The client's net is 10.0.1.0/24 and fd00:1::/64, the server's
// 10.0.2.0/24 and fd00:2::/64; a gateway is .1 / ::1 on both.
var (
	ClientAddr4 = netip.MustParseAddr("10.0.1.2")
	ClientAddr6 = netip.MustParseAddr("fd00:1::2")
	ServerAddr4 = netip.MustParseAddr("10.0.2.2")
	ServerAddr6 = netip.MustParseAddr("fd00:2::2")
	// ThirdAddr4 and ThirdAddr6 are a second address in the client's
	// namespace: a "third host" a PORT may name instead of the client.
	ThirdAddr4 = netip.MustParseAddr("10.0.1.3")
	ThirdAddr6 = netip.MustParseAddr("fd00:1::3")
)

// Options change how a Lab is built.
type Options struct {
	// Prefix starts every namespace name; DefaultPrefix when empty. A
	// random tag and the role follow, e.g. ftpxdp-lab-1a2b3c-gw.
	Prefix string
}

// Lab is a built topology. Gateway is nil for SingleHost.
type Lab struct {
	Topology Topology
	Client   *NS
	Gateway  *NS
	Server   *NS
	// Outside and Inside are the interfaces of Edge() the policy attaches
	// to; Inside is empty for SingleHost.
	Outside, Inside string
}

// New builds the topology; everything is removed in t.Cleanup.
func New(t testing.TB, top Topology, opts Options) *Lab {
	t.Helper()
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	base := prefix + randomTag(3) + "-"
	l := &Lab{Topology: top}
	l.Client = newNS(t, base+"client")
	l.Server = newNS(t, base+"server")
	if top != SingleHost {
		l.Gateway = newNS(t, base+"gw")
	}
	for _, n := range []*NS{l.Client, l.Server, l.Gateway} {
		if n == nil {
			continue
		}
		// No duplicate address detection: addresses are usable at once.
		for _, k := range []string{"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"} {
			if err := n.Sysctl(k, "0"); err != nil {
				t.Fatal(err)
			}
		}
	}
	switch top {
	case SingleHost:
		l.Server.MustIP(t, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", l.Client.Name)
		host(t, l.Client, ClientAddr4, ClientAddr6, "")
		host(t, l.Server, ServerAddr4, ServerAddr6, "")
		l.Client.MustIP(t, "route", "add", "10.0.2.0/24", "dev", "eth0")
		l.Client.MustIP(t, "-6", "route", "add", "fd00:2::/64", "dev", "eth0")
		l.Server.MustIP(t, "route", "add", "10.0.1.0/24", "dev", "eth0")
		l.Server.MustIP(t, "-6", "route", "add", "fd00:1::/64", "dev", "eth0")
		l.Outside = "eth0"
	default:
		clientSide, serverSide := "in0", "out0"
		if top == ProtectedServer {
			clientSide, serverSide = "out0", "in0"
		}
		l.Gateway.MustIP(t, "link", "add", clientSide, "type", "veth", "peer", "name", "eth0", "netns", l.Client.Name)
		l.Gateway.MustIP(t, "link", "add", serverSide, "type", "veth", "peer", "name", "eth0", "netns", l.Server.Name)
		host(t, l.Client, ClientAddr4, ClientAddr6, "1")
		host(t, l.Server, ServerAddr4, ServerAddr6, "1")
		gw := l.Gateway
		for _, a := range [][]string{
			{clientSide, "10.0.1.1/24"}, {clientSide, "fd00:1::1/64"},
			{serverSide, "10.0.2.1/24"}, {serverSide, "fd00:2::1/64"},
		} {
			gw.MustIP(t, "addr", "add", a[1], "dev", a[0], "nodad")
		}
		gw.MustIP(t, "link", "set", clientSide, "up")
		gw.MustIP(t, "link", "set", serverSide, "up")
		for _, k := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"} {
			if err := gw.Sysctl(k, "1"); err != nil {
				t.Fatal(err)
			}
		}
		l.Outside, l.Inside = "out0", "in0"
	}
	// The third host's addresses, for PORT/EPRT naming someone else: a
	// secondary IPv4 address and a deprecated IPv6 one, so neither is ever
	// picked as the client's source address.
	l.Client.MustIP(t, "addr", "add", ThirdAddr4.String()+"/24", "dev", "eth0")
	l.Client.MustIP(t, "addr", "add", ThirdAddr6.String()+"/64", "dev", "eth0", "nodad", "preferred_lft", "0")
	return l
}

// host gives eth0 in n its addresses (/24 and /64) and, with gwHost set,
// default routes via .gwHost / ::gwHost of the same nets.
func host(t testing.TB, n *NS, a4, a6 netip.Addr, gwHost string) {
	t.Helper()
	n.MustIP(t, "addr", "add", a4.String()+"/24", "dev", "eth0")
	n.MustIP(t, "addr", "add", a6.String()+"/64", "dev", "eth0", "nodad")
	n.MustIP(t, "link", "set", "eth0", "up")
	if gwHost == "" {
		return
	}
	gw4 := netip.PrefixFrom(a4, 24).Masked().Addr().As4()
	gw4[3] = 1
	gw6 := netip.PrefixFrom(a6, 64).Masked().Addr().As16()
	gw6[15] = 1
	n.MustIP(t, "route", "add", "default", "via", netip.AddrFrom4(gw4).String())
	n.MustIP(t, "-6", "route", "add", "default", "via", netip.AddrFrom16(gw6).String())
}

// Edge is the namespace where the policy runs: the gateway, or the
// server for SingleHost.
func (l *Lab) Edge() *NS {
	if l.Gateway != nil {
		return l.Gateway
	}
	return l.Server
}

// ServerAddr is the FTP server's address of family f.
func (l *Lab) ServerAddr(f Family) netip.Addr {
	if f == IPv6 {
		return ServerAddr6
	}
	return ServerAddr4
}

// ClientAddr is the FTP client's address of family f.
func (l *Lab) ClientAddr(f Family) netip.Addr {
	if f == IPv6 {
		return ClientAddr6
	}
	return ClientAddr4
}

// ThirdAddr is the third host's address of family f.
func (l *Lab) ThirdAddr(f Family) netip.Addr {
	if f == IPv6 {
		return ThirdAddr6
	}
	return ThirdAddr4
}
