package loader

import (
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// routedLab is client (outside) - gateway - server (inside), IPv4.
type routedLab struct {
	client, gw, server *testutil.NetNS
}

func newRoutedLab(t *testing.T) routedLab {
	testutil.RequireKernel(t)
	l := routedLab{client: testutil.NewNetNS(t), gw: testutil.NewNetNS(t), server: testutil.NewNetNS(t)}
	l.gw.Veth(t, "out0", "eth0", l.client)
	l.gw.Veth(t, "in0", "eth0", l.server)
	l.client.MustIP(t, "addr", "add", "10.1.0.2/24", "dev", "eth0")
	l.client.MustIP(t, "route", "add", "default", "via", "10.1.0.1")
	l.server.MustIP(t, "addr", "add", "10.2.0.2/24", "dev", "eth0")
	l.server.MustIP(t, "route", "add", "default", "via", "10.2.0.1")
	l.gw.MustIP(t, "addr", "add", "10.1.0.1/24", "dev", "out0")
	l.gw.MustIP(t, "addr", "add", "10.2.0.1/24", "dev", "in0")
	if out, err := l.gw.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		t.Fatalf("enable forwarding: %v: %s", err, out)
	}
	return l
}

// listen accepts and closes connections on the server until the test ends.
func (l routedLab) listen(t *testing.T, addr string) {
	t.Helper()
	var ln net.Listener
	if err := l.server.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

func (l routedLab) dial(addr string, timeout time.Duration) error {
	return l.client.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// The daemon restarts and upgrades by swapping programs in pinned links:
// while it does, a refused port stays refused and an allowed one stays open.
func TestUpgradeInPlaceWhileTrafficFlows(t *testing.T) {
	l := newRoutedLab(t)
	l.listen(t, "10.2.0.2:9999") // no rule, no pinhole: must never be reached
	l.listen(t, "10.2.0.2:2121") // allowed
	s := Setup{
		Config:  DefaultConfig(),
		Outside: []string{"out0"},
		Inside:  []string{"in0"},
		Mode:    AttachXDP,
		PinPath: filepath.Join(testutil.TempBPFFS(t), "ftpxdp"),
	}
	s.Config.Allow = []AllowRule{{Port: 2121}}
	start := func() *Gateway {
		t.Helper()
		var g *Gateway
		if err := l.gw.Do(func() (err error) { g, err = Start(s, quiet); return }); err != nil {
			t.Fatal(err)
		}
		return g
	}
	// Without ftpxdp the refused port is reachable: the test can fail.
	if err := l.dial("10.2.0.2:9999", 2*time.Second); err != nil {
		t.Fatalf("lab broken, port 9999 unreachable without ftpxdp: %v", err)
	}
	g := start()
	if err := l.dial("10.2.0.2:9999", 200*time.Millisecond); err == nil {
		t.Fatal("port 9999 reachable with ftpxdp attached")
	}
	if err := l.dial("10.2.0.2:2121", 2*time.Second); err != nil {
		t.Fatalf("allowed port before the upgrade: %v", err)
	}

	var refusedReached, allowedFailed, rounds atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if l.dial("10.2.0.2:9999", 30*time.Millisecond) == nil {
				refusedReached.Add(1)
			}
			if l.dial("10.2.0.2:2121", time.Second) != nil {
				allowedFailed.Add(1)
			}
			rounds.Add(1)
		}
	}()

	// Five stop/start cycles, alternating a setting that changes in place.
	for i := 0; i < 5; i++ {
		g.Close()
		s.Config.PinholeTimeout = time.Duration(60+i) * time.Second
		g = start()
	}
	// Let the traffic loop run a few rounds on the final program.
	for deadline := time.Now().Add(5 * time.Second); rounds.Load() < 10 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	g.Close()
	l.gw.Do(func() error { return Detach(s.PinPath) })

	t.Logf("%d rounds during 5 restarts", rounds.Load())
	if n := refusedReached.Load(); n != 0 {
		t.Errorf("%d connections reached the refused port during restarts: traffic went unfiltered", n)
	}
	if n := allowedFailed.Load(); n != 0 {
		t.Errorf("%d connections to the allowed port failed during restarts", n)
	}
	if rounds.Load() == 0 {
		t.Fatal("no traffic ran during the restarts")
	}
}
