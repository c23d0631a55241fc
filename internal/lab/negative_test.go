package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// negCase is a connection that must not get through a default-deny edge,
// tried by hand in the client-side gateway topology.
type negCase struct {
	name string
	// counter must go up under ftpxdp, once per family at least.
	counter string
	// policies the case runs under; the first, NoFilter, shows the
	// connection does get through when nothing filters.
	policies []Policy
	// probe returns nil when the connection arrived.
	probe func(n *negLab, f Family, port uint16, d *Daemon) error
}

// negLab is the negative cases' lab: client-side gateway, vsftpd on 21 and
// on 2121 (not a control port of the daemon), both promiscuous so that the
// server connects wherever a PORT points and only the edge can refuse.
type negLab struct {
	*Lab
	srv21, srv2121 *Server
}

var negCases = []negCase{
	{
		name: "unsolicited-syn", counter: "syn_no_pinhole", policies: []Policy{NoFilter, Deny, FTPXDP},
		probe: func(n *negLab, f Family, port uint16, _ *Daemon) error {
			a := netip.AddrPortFrom(n.ClientAddr(f), port)
			ln, err := listenData(n.Client, a)
			if err != nil {
				return err
			}
			defer ln.close()
			return dialFrom(n.Server, a)
		},
	},
	{
		name: "port-third-host", counter: "reject_address_mismatch", policies: []Policy{NoFilter, Deny, FTPXDP},
		probe: func(n *negLab, f Family, port uint16, _ *Daemon) error {
			return activeProbe(n, n.srv21, netip.AddrPortFrom(n.ThirdAddr(f), port), nil)
		},
	},
	{
		name: "port-low-port", counter: "reject_low_port", policies: []Policy{NoFilter, Deny, FTPXDP},
		probe: func(n *negLab, f Family, port uint16, _ *Daemon) error {
			// Every server refuses to connect to a port below 1024 itself
			// (vsftpd: "Illegal port request"), so after it has accepted
			// the PORT the data connection is dialled from the server's
			// namespace by hand: only the edge may stop it.
			low := netip.AddrPortFrom(n.ClientAddr(f), port-40000+900)
			ln, err := listenData(n.Client, low)
			if err != nil {
				return err
			}
			defer ln.close()
			c, err := dialCtl(n.Client, netip.AddrPortFrom(n.ServerAddr(f), n.srv21.Port))
			if err != nil {
				return err
			}
			defer c.close()
			if _, err := c.cmd(portCommand(low)); err != nil {
				return fmt.Errorf("the server refused the announcement itself: %w", err)
			}
			return dialFrom(n.Server, low)
		},
	},
	{
		name: "control-port-2121", counter: "syn_no_pinhole", policies: []Policy{NoFilter, Deny, FTPXDP},
		probe: func(n *negLab, f Family, port uint16, _ *Daemon) error {
			return activeProbe(n, n.srv2121, netip.AddrPortFrom(n.ClientAddr(f), port), nil)
		},
	},
	{
		name: "pinhole-expired", counter: "syn_expired_pinhole", policies: []Policy{NoFilter, FTPXDP},
		probe: func(n *negLab, f Family, port uint16, d *Daemon) error {
			return activeProbe(n, n.srv21, netip.AddrPortFrom(n.ClientAddr(f), port), func() error {
				if d == nil {
					return nil
				}
				return waitExpired(d, port)
			})
		},
	},
}

// negDaemonArgs: pinholes live two seconds and are never swept during the
// test, so an expired one is still in the map when its SYN comes.
var negDaemonArgs = []string{"--pinhole-timeout", "2s", "--sweep-interval", "1h"}

func negatives(t *testing.T, bin string, rep *report) {
	var cases []negCase
	for _, c := range negCases {
		for _, p := range c.policies {
			for _, f := range Families {
				if selected(negName(c, f, p)) {
					cases = append(cases, c)
					goto next
				}
			}
		}
	next:
	}
	if len(cases) == 0 {
		t.Skip("no negative case selected")
	}
	l := New(t, ClientGateway, Options{})
	content := NewContent(t, 4<<10)
	n := &negLab{Lab: l}
	var err error
	if n.srv21, err = StartServer(t, l.Server, VSFTPD, content, ServerOptions{Promiscuous: true}); err != nil {
		t.Fatal(err)
	}
	if n.srv2121, err = StartServer(t, l.Server, VSFTPD, content, ServerOptions{Port: 2121, Promiscuous: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Policy{NoFilter, Deny, FTPXDP} {
		g, err := l.Enforce(t, p, PolicyOptions{Bin: bin, DaemonArgs: negDaemonArgs})
		if err != nil {
			t.Fatal(err)
		}
		var before map[string]uint64
		if g.Daemon != nil {
			if before, err = g.Daemon.Counters(); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		want := map[string]int{}
		for i, c := range cases {
			if !slices.Contains(c.policies, p) {
				continue
			}
			for j, f := range Families {
				name := negName(c, f, p)
				if !selected(name) {
					continue
				}
				want[c.counter]++
				port := uint16(40000 + 10*i + j)
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					err := c.probe(n, f, port, g.Daemon)
					o := outcome{Name: name, Want: p == NoFilter, Err: err, Elapsed: time.Since(start)}
					if err != nil && !errors.Is(err, errBlocked) {
						o.Want = true
					}
					rep.add(o)
				}()
			}
		}
		wg.Wait()
		if g.Daemon != nil {
			after, err := g.Daemon.Counters()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("negative counters: %v", after)
			for counter, min := range want {
				o := outcome{Name: fmt.Sprintf("negative/ftpxdp/%s>=%d", counter, min), Want: true}
				if got := after[counter] - before[counter]; got < uint64(min) {
					o.Err = fmt.Errorf("%s went up by %d, want at least %d", counter, got, min)
				}
				rep.add(o)
			}
			o := outcome{Name: "negative/ftpxdp/no-pinhole-admitted", Want: true}
			if got := after["syn_allowed_pinhole"] - before["syn_allowed_pinhole"]; got != 0 {
				o.Err = fmt.Errorf("syn_allowed_pinhole went up by %d", got)
			}
			rep.add(o)
		}
		if err := g.Lift(); err != nil {
			t.Fatal(err)
		}
	}
}

func negName(c negCase, f Family, p Policy) string {
	return fmt.Sprintf("negative/%s/%s/%s", c.name, f, p)
}

// activeProbe logs in to srv, announces data with PORT/EPRT naming a
// (listening there, in the client's namespace), runs before (if any),
// asks for a listing, and reports whether the server's connection arrived.
func activeProbe(n *negLab, srv *Server, a netip.AddrPort, before func() error) error {
	ln, err := listenData(n.Client, a)
	if err != nil {
		return err
	}
	defer ln.close()
	fam := IPv4
	if a.Addr().Is6() {
		fam = IPv6
	}
	c, err := dialCtl(n.Client, netip.AddrPortFrom(n.ServerAddr(fam), srv.Port))
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := c.cmd(portCommand(a)); err != nil {
		return fmt.Errorf("the server refused the announcement itself: %w", err)
	}
	if before != nil {
		if err := before(); err != nil {
			return err
		}
	}
	if _, err := c.c.Write([]byte("NLST\r\n")); err != nil {
		return err
	}
	// vsftpd gives up connecting after its 3s connect_timeout.
	if ln.arrived(4 * time.Second) {
		return nil
	}
	return fmt.Errorf("%w\n%s", errBlocked, srv.LogTail())
}

// dialFrom connects from ns to a; a connection that does not come up
// within three seconds is blocked.
func dialFrom(ns *NS, a netip.AddrPort) error {
	return ns.Do(func() error {
		c, err := net.DialTimeout("tcp", a.String(), 3*time.Second)
		if err != nil {
			return fmt.Errorf("%w: %v", errBlocked, err)
		}
		return c.Close()
	})
}

// errBlocked is a probe's "the connection did not arrive"; any other error
// is a broken probe, wrong under every policy.
var errBlocked = errors.New("no connection arrived")

// waitExpired waits until the daemon no longer lists the pinhole to port
// (it was there, and its two seconds have passed).
func waitExpired(d *Daemon, port uint16) error {
	seen := false
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		rows, err := d.Pinholes()
		if err != nil {
			return err
		}
		listed := false
		for _, r := range rows {
			listed = listed || r.DestPort == port
		}
		if seen && !listed {
			return nil
		}
		seen = seen || listed
		if !seen {
			return fmt.Errorf("no pinhole to port %d after PORT was accepted", port)
		}
		time.Sleep(100 * time.Millisecond) // poll interval while the pinhole ages
	}
	return fmt.Errorf("pinhole to port %d still listed after 15s", port)
}
