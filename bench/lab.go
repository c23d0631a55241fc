package bench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// The lab's addresses: private, on veths of its own namespaces only.
var (
	clientAddr  = netip.MustParseAddr("10.81.0.2")
	gwOutAddr   = netip.MustParseAddr("10.81.0.1")
	gwInAddr    = netip.MustParseAddr("10.82.0.1")
	serverAddr  = netip.MustParseAddr("10.82.0.2")
	labPrefixes = "/24"
)

// lab is client - gateway - server in three namespaces: the client's eth0
// faces the gateway's out0 (the outside), the server's eth0 the gateway's
// in0 (the inside). Close deletes all three.
type lab struct {
	client, gw, server *netNS
	clientMAC, outMAC  net.HardwareAddr
	inMAC, serverMAC   net.HardwareAddr
	clientIfindex      int
	outIfindex         int
	inIfindex          int
	serverIfindex      int
}

// newLab builds the lab; on error nothing is left behind.
func newLab() (_ *lab, err error) {
	if err := removeStaleNetNS(); err != nil {
		return nil, err
	}
	l := &lab{}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	for _, p := range []struct {
		ns   **netNS
		role string
	}{{&l.client, "cl"}, {&l.gw, "gw"}, {&l.server, "sv"}} {
		if *p.ns, err = newNetNS(p.role); err != nil {
			return nil, err
		}
	}
	steps := [][]string{
		{"link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", l.client.Name},
		{"link", "add", "in0", "type", "veth", "peer", "name", "eth0", "netns", l.server.Name},
		{"addr", "add", gwOutAddr.String() + labPrefixes, "dev", "out0"},
		{"addr", "add", gwInAddr.String() + labPrefixes, "dev", "in0"},
		{"link", "set", "out0", "up"},
		{"link", "set", "in0", "up"},
	}
	for _, s := range steps {
		if _, err := l.gw.IP(s...); err != nil {
			return nil, err
		}
	}
	for _, side := range []struct {
		ns         *netNS
		addr, peer netip.Addr
	}{{l.client, clientAddr, gwOutAddr}, {l.server, serverAddr, gwInAddr}} {
		for _, s := range [][]string{
			{"addr", "add", side.addr.String() + labPrefixes, "dev", "eth0"},
			{"link", "set", "eth0", "up"},
			{"route", "add", "default", "via", side.peer.String()},
		} {
			if _, err := side.ns.IP(s...); err != nil {
				return nil, err
			}
		}
	}
	if _, err := l.gw.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		ns      *netNS
		name    string
		mac     *net.HardwareAddr
		ifindex *int
	}{
		{l.client, "eth0", &l.clientMAC, &l.clientIfindex},
		{l.gw, "out0", &l.outMAC, &l.outIfindex},
		{l.gw, "in0", &l.inMAC, &l.inIfindex},
		{l.server, "eth0", &l.serverMAC, &l.serverIfindex},
	} {
		err := x.ns.Do(func() error {
			ifc, err := net.InterfaceByName(x.name)
			if err != nil {
				return fmt.Errorf("find %s in %s: %w", x.name, x.ns.Name, err)
			}
			*x.mac, *x.ifindex = ifc.HardwareAddr, ifc.Index
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// The receiver drops everything, ARP replies too: the neighbours are
	// fixed so that forwarding never waits on resolution.
	for _, n := range []struct {
		ns   *netNS
		addr netip.Addr
		mac  net.HardwareAddr
		dev  string
	}{
		{l.gw, serverAddr, l.serverMAC, "in0"},
		{l.gw, clientAddr, l.clientMAC, "out0"},
		{l.server, gwInAddr, l.inMAC, "eth0"},
		{l.client, gwOutAddr, l.outMAC, "eth0"},
	} {
		if _, err := n.ns.IP("neigh", "replace", n.addr.String(), "lladdr", n.mac.String(), "dev", n.dev, "nud", "permanent"); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Close deletes the lab's namespaces, with everything attached in them.
func (l *lab) Close() error {
	var errs []error
	for _, n := range []*netNS{l.client, l.gw, l.server} {
		if n != nil {
			errs = append(errs, n.Delete())
		}
	}
	return errors.Join(errs...)
}
