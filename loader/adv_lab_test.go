package loader

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// Adversarial cases on real interfaces: a gateway namespace with the program
// attached by XDP to its two veths, a protected network behind it (client
// and third host) and an outside one (server and attacker). Namespaces are
// named ftpxdp-adv-* and deleted in t.Cleanup.
//
//	[advlab-in: 10.0.1.2, 10.0.1.3, fd00:1::2] --in0-- [gw] --out0-- [advlab-out: 10.0.2.2, fd00:2::2]

type advLab struct {
	in, gw, out string // namespace names
	g           *gw    // the datapath, attached by attach()
}

var (
	labIn4    = netip.MustParseAddr("10.0.1.2")
	labThird4 = netip.MustParseAddr("10.0.1.3")
	labIn6    = netip.MustParseAddr("fd00:1::2")
	labOut4   = netip.MustParseAddr("10.0.2.2")
	labOut6   = netip.MustParseAddr("fd00:2::2")
)

func newAdvLab(t *testing.T) *advLab {
	t.Helper()
	testutil.RequireKernel(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (make deps-lab)")
	}
	tag := make([]byte, 3)
	rand.Read(tag)
	base := "ftpxdp-adv-" + hex.EncodeToString(tag) + "-"
	l := &advLab{in: base + "in", gw: base + "gw", out: base + "out"}
	for _, n := range []string{l.in, l.gw, l.out} {
		labCmd(t, "ip", "netns", "add", n)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		labCmd(t, "ip", "-n", n, "link", "set", "lo", "up")
		labCmd(t, "ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	labCmd(t, "ip", "-n", l.gw, "link", "add", "in0", "type", "veth", "peer", "name", "eth0", "netns", l.in)
	labCmd(t, "ip", "-n", l.gw, "link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", l.out)
	for _, a := range [][]string{
		{l.in, "eth0", "10.0.1.2/24"}, {l.in, "eth0", "10.0.1.3/24"}, {l.in, "eth0", "fd00:1::2/64"},
		{l.gw, "in0", "10.0.1.1/24"}, {l.gw, "in0", "fd00:1::1/64"},
		{l.gw, "out0", "10.0.2.1/24"}, {l.gw, "out0", "fd00:2::1/64"},
		{l.out, "eth0", "10.0.2.2/24"}, {l.out, "eth0", "fd00:2::2/64"},
	} {
		labCmd(t, "ip", "-n", a[0], "addr", "add", a[2], "dev", a[1], "nodad")
	}
	for _, a := range [][]string{{l.in, "eth0"}, {l.gw, "in0"}, {l.gw, "out0"}, {l.out, "eth0"}} {
		labCmd(t, "ip", "-n", a[0], "link", "set", a[1], "up")
	}
	for _, r := range [][]string{{l.in, "10.0.1.1"}, {l.in, "fd00:1::1"}, {l.out, "10.0.2.1"}, {l.out, "fd00:2::1"}} {
		labCmd(t, "ip", "-n", r[0], "route", "add", "default", "via", r[1])
	}
	labCmd(t, "ip", "netns", "exec", l.gw, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	return l
}

func labCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// inNS runs fn on a thread switched into namespace name. Sockets made in
// fn stay in that namespace.
func inNS(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("current netns: %w", err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	defer netns.Set(orig)
	return fn()
}

// attach loads the datapath and attaches the outside instance to out0 and
// the inside one to in0 of the gateway, by XDP.
func (l *advLab) attach(t *testing.T, cfg Config) {
	t.Helper()
	l.g = newGW(t, cfg)
	l.g.setClock(0) // the real clock: real traffic
	for _, a := range []struct {
		iface string
		in    *Instance
	}{{"out0", l.g.out}, {"in0", l.g.in}} {
		err := inNS(l.gw, func() error {
			ifc, err := net.InterfaceByName(a.iface)
			if err != nil {
				return err
			}
			lk, err := link.AttachXDP(link.XDPOptions{Program: a.in.Program, Interface: ifc.Index})
			if err != nil {
				lk, err = link.AttachXDP(link.XDPOptions{Program: a.in.Program, Interface: ifc.Index, Flags: link.XDPGenericMode})
			}
			if err != nil {
				return fmt.Errorf("attach XDP to %s: %w", a.iface, err)
			}
			t.Cleanup(func() { lk.Close() })
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listen opens a TCP listener in namespace ns.
func listen(t *testing.T, ns string, addr netip.AddrPort) net.Listener {
	t.Helper()
	var ln net.Listener
	err := inNS(ns, func() (err error) {
		ln, err = net.Listen("tcp", addr.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from namespace ns.
func dial(ns string, addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := inNS(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr.String(), timeout)
		return err
	})
	return c, err
}

// TestLabAdvBounce: a hostile inside client asks an outside server (which
// obeys PORT, as bounce-vulnerable servers do) to connect to a third
// inside host. The gateway opens nothing for it and drops the server's SYN;
// the same server connecting back to the client's own PORT gets through.
func TestLabAdvBounce(t *testing.T) {
	l := newAdvLab(t)
	l.attach(t, DefaultConfig())

	// The outside "FTP server": reads PORT lines, answers 200 and connects
	// to the address named, reporting the outcome.
	srv := listen(t, l.out, netip.AddrPortFrom(labOut4, 21))
	outcome := make(chan error, 4)
	go func() {
		c, err := srv.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "220 obedient server\r\n")
		rd := bufio.NewReader(c)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			var h [6]int
			if _, err := fmt.Sscanf(line, "PORT %d,%d,%d,%d,%d,%d", &h[0], &h[1], &h[2], &h[3], &h[4], &h[5]); err != nil {
				fmt.Fprintf(c, "500 ?\r\n")
				continue
			}
			fmt.Fprintf(c, "200 PORT ok\r\n")
			to := netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(h[0]), byte(h[1]), byte(h[2]), byte(h[3])}), uint16(h[4]<<8|h[5]))
			d, err := dial(l.out, to, 2*time.Second)
			if err == nil {
				d.Close()
			}
			outcome <- err
		}
	}()

	third := listen(t, l.in, netip.AddrPortFrom(labThird4, 3306))
	own := listen(t, l.in, netip.AddrPortFrom(labIn4, 40001))
	accepted := make(chan string, 4)
	for _, ln := range []net.Listener{third, own} {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- ln.Addr().String()
				c.Close()
			}
		}()
	}

	ctl, err := dial(l.in, netip.AddrPortFrom(labOut4, 21), 5*time.Second)
	if err != nil {
		t.Fatalf("control connection through the gateway: %v", err)
	}
	defer ctl.Close()
	rd := bufio.NewReader(ctl)
	if _, err := rd.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	before := l.g.counters()

	fmt.Fprintf(ctl, "PORT 10,0,1,3,12,234\r\n") // the third host's MySQL port
	if _, err := rd.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := <-outcome; err == nil {
		t.Errorf("the server reached the third host through the gateway")
	}
	c := l.g.counters()
	expectDelta(t, before, c, map[string]uint64{"reject_address_mismatch": 1, "pinhole_active_v4": 0})
	if d := c.Sub(before); d.Total("syn_no_pinhole") == 0 {
		t.Errorf("the server's SYN was not dropped for want of a pinhole: %v", d.NonZero())
	}

	// The control: the client's own PORT opens a pinhole and the same
	// server gets through it.
	fmt.Fprintf(ctl, "PORT 10,0,1,2,156,65\r\n")
	if _, err := rd.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := <-outcome; err != nil {
		t.Errorf("legitimate active data connection: %v", err)
	}
	select {
	case a := <-accepted:
		if a != netip.AddrPortFrom(labIn4, 40001).String() {
			t.Errorf("accepted on %s", a)
		}
	case <-time.After(5 * time.Second):
		t.Error("the client's own listener accepted nothing")
	}
	select {
	case a := <-accepted:
		t.Errorf("another connection got in: %s", a)
	default:
	}
}

// TestLabAdvIPv6ExtensionChain: an outside attacker sends a SYN to a
// protected host's port behind five IPv6 destination-options headers. With
// no program Linux accepts it (a SYN-ACK comes back); with ftpxdp attached
// it never arrives.
func TestLabAdvIPv6ExtensionChain(t *testing.T) {
	l := newAdvLab(t)
	listen(t, l.in, netip.AddrPortFrom(labIn6, 3306))

	var outMAC, gwMAC net.HardwareAddr
	var ifindex int
	err := inNS(l.out, func() error {
		ifc, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		outMAC, ifindex = ifc.HardwareAddr, ifc.Index
		return nil
	})
	if err == nil {
		err = inNS(l.gw, func() error {
			ifc, err := net.InterfaceByName("out0")
			if err == nil {
				gwMAC = ifc.HardwareAddr
			}
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	src := netip.AddrPortFrom(labOut6, 4444)
	dst := netip.AddrPortFrom(labIn6, 3306)
	frame := withDestOpts(testutil.TCP{Src: src, Dst: dst, SYN: true, Seq: 1}.Frame(), 5)
	copy(frame[0:6], gwMAC)
	copy(frame[6:12], outMAC)

	// Without ftpxdp: the protected host answers.
	if !synAckFor(t, l.out, ifindex, frame, src, dst) {
		t.Fatal("without ftpxdp no SYN-ACK came back: the lab does not show the evasion")
	}
	l.attach(t, DefaultConfig())
	before := l.g.counters()
	if synAckFor(t, l.out, ifindex, frame, src, dst) {
		t.Error("with ftpxdp attached the SYN behind five extension headers still got through")
	}
	expectDelta(t, before, l.g.counters(), map[string]uint64{"unparsed_l3": 1})
}

// synAckFor sends frame on ifindex of namespace ns with a packet socket and
// reports whether a SYN-ACK from dst to src comes back within 2 seconds
// (the reply of a protected host on the same veth path: milliseconds).
func synAckFor(t *testing.T, ns string, ifindex int, frame []byte, src, dst netip.AddrPort) bool {
	t.Helper()
	got := false
	err := inNS(ns, func() error {
		proto := int(htons(unix.ETH_P_IPV6))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifindex}
		if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		buf := make([]byte, 2048)
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("receive: %w", err)
			}
			if isSynAck6(buf[:n], dst, src) {
				got = true
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// isSynAck6 reports whether an Ethernet frame is an IPv6 TCP SYN-ACK from
// src to dst with no extension headers.
func isSynAck6(f []byte, src, dst netip.AddrPort) bool {
	if len(f) < 14+40+20 || binary.BigEndian.Uint16(f[12:]) != unix.ETH_P_IPV6 || f[14+6] != unix.IPPROTO_TCP {
		return false
	}
	s, d := netip.AddrFrom16([16]byte(f[14+8:14+24])), netip.AddrFrom16([16]byte(f[14+24:14+40]))
	tcp := f[14+40:]
	return s == src.Addr() && d == dst.Addr() &&
		binary.BigEndian.Uint16(tcp[0:]) == src.Port() && binary.BigEndian.Uint16(tcp[2:]) == dst.Port() &&
		tcp[13]&0x12 == 0x12
}
