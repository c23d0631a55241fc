package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// TestMatrix runs every server x client x mode x IP version in every
// topology under every policy, and the negative cases, then prints the
// table and "N passed, M failed". A subset: -run TestMatrix/client-gw/vsftpd,
// or FTPXDP_LAB_CELLS=REGEXP on names like client-gw/ftpxdp/vsftpd/v4/lftp/active.
func TestMatrix(t *testing.T) {
	testutil.RequireKernel(t)
	requireLab(t)
	bin := BuildDaemon(t)
	rep := &report{}
	for _, top := range Topologies {
		t.Run(top.String(), func(t *testing.T) { matrixTopology(t, top, bin, rep) })
	}
	t.Run("negative", func(t *testing.T) { negatives(t, bin, rep) })
	if _, failed := rep.print(os.Stdout); failed > 0 {
		t.Errorf("%d matrix cells or checks are wrong (table above)", failed)
	}
}

// requireLab skips (fails under make test) when the servers are missing.
func requireLab(t *testing.T) {
	t.Helper()
	for _, k := range Servers {
		if _, err := os.Stat(k.Binary()); err != nil {
			if os.Getenv("FTPXDP_REQUIRE_KERNEL") == "1" {
				t.Fatalf("%s missing: run make deps-lab", k)
			}
			t.Skipf("%s missing: run make deps-lab", k)
		}
	}
}

// cell is one transfer of the matrix.
type cell struct {
	name   string
	family Family
	client ClientKind
	mode   Mode
	want   bool
}

// expectTransfer is the matrix's expectation: only the stateless deny
// rule blocks, and only the data connections that come from outside.
func expectTransfer(top Topology, p Policy, m Mode) bool {
	if p != Deny {
		return true
	}
	return !needsPinhole(top, m)
}

// needsPinhole reports whether the data connection of mode m comes from
// outside the edge in topology top.
func needsPinhole(top Topology, m Mode) bool {
	if top == ClientGateway {
		return m.ServerConnects()
	}
	return !m.ServerConnects()
}

func matrixTopology(t *testing.T, top Topology, bin string, rep *report) {
	l := New(t, top, Options{})
	content := NewContent(t, 64<<10)
	for _, k := range Servers {
		t.Run(string(k), func(t *testing.T) {
			var byPolicy [][]cell
			some := false
			for _, p := range Policies {
				var cells []cell
				for _, f := range Families {
					for _, c := range Clients {
						for _, m := range c.Modes(f) {
							name := fmt.Sprintf("%s/%s/%s/%s/%s/%s", top, p, k, f, c, m)
							if selected(name) {
								cells = append(cells, cell{name: name, family: f, client: c, mode: m, want: expectTransfer(top, p, m)})
							}
						}
					}
				}
				byPolicy = append(byPolicy, cells)
				some = some || len(cells) > 0
			}
			if !some {
				t.Skip("no cell selected")
			}
			for i, p := range Policies {
				if len(byPolicy[i]) == 0 {
					continue
				}
				start := time.Now()
				// A fresh server per policy: no session of a blocked
				// transfer is still knocking when the next policy counts.
				srv, err := StartServer(t, l.Server, k, content, ServerOptions{})
				if err != nil {
					t.Fatal(err)
				}
				g, err := l.Enforce(t, p, PolicyOptions{Bin: bin})
				if err != nil {
					t.Fatal(err)
				}
				var before map[string]uint64
				if g.Daemon != nil {
					if before, err = g.Daemon.Counters(); err != nil {
						t.Fatal(err)
					}
				}
				ready := time.Now()
				runCells(t, l, srv, byPolicy[i], rep)
				t.Logf("%s: %d transfers in %s (setup %s)", p, len(byPolicy[i]), time.Since(ready).Round(time.Millisecond), ready.Sub(start).Round(time.Millisecond))
				if g.Daemon != nil {
					daemonChecks(t, fmt.Sprintf("%s/%s/%s", top, p, k), top, g, before, byPolicy[i], rep)
				}
				if err := g.Lift(); err != nil {
					t.Fatal(err)
				}
				if err := srv.Stop(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// workers is how many transfers run at once ($FTPXDP_LAB_WORKERS, 12).
func workers() int {
	if n, err := strconv.Atoi(os.Getenv("FTPXDP_LAB_WORKERS")); err == nil && n > 0 {
		return n
	}
	return 12
}

// runCells runs the transfers, several at a time: a blocked one waits out
// its short timeout while the others go on.
func runCells(t *testing.T, l *Lab, srv *Server, cells []cell, rep *report) {
	sem := make(chan struct{}, workers())
	var wg sync.WaitGroup
	for _, c := range cells {
		dir := t.TempDir()
		timeout := 20 * time.Second
		if !c.want {
			timeout = 3 * time.Second
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := Fetch(context.Background(), l.Client, srv.Content, Transfer{
				Client: c.client, Mode: c.mode, Server: netip.AddrPortFrom(l.ServerAddr(c.family), srv.Port),
				Timeout: timeout, Dir: dir,
			})
			rep.add(outcome{Name: c.name, Want: c.want, Err: r.Err, Elapsed: r.Elapsed, Detail: r.Output})
		}()
	}
	wg.Wait()
}

// daemonChecks reads the daemon's counters after a block of transfers:
// every data connection from outside went through a pinhole, and in
// observe mode nothing would have been dropped.
func daemonChecks(t *testing.T, prefix string, top Topology, g *Guard, before map[string]uint64, cells []cell, rep *report) {
	after, err := g.Daemon.Counters()
	if err != nil {
		t.Fatal(err)
	}
	delta := func(n string) uint64 { return after[n] - before[n] }
	// Each session opens two data connections: the listing and the file.
	var wantAdmitted uint64
	for _, c := range cells {
		if needsPinhole(top, c.mode) {
			wantAdmitted += 2
		}
	}
	changed := map[string]uint64{}
	for n := range after {
		if d := delta(n); d != 0 {
			changed[n] = d
		}
	}
	t.Logf("%s counters: %v", g.Policy, changed)
	admitted := delta("syn_allowed_pinhole")
	o := outcome{Name: prefix + "/syn_allowed_pinhole=" + fmt.Sprint(wantAdmitted), Want: true}
	if admitted != wantAdmitted {
		o.Err = fmt.Errorf("syn_allowed_pinhole went up by %d, want %d (counters: %v)", admitted, wantAdmitted, after)
	}
	rep.add(o)
	if g.Policy == Observe {
		o := outcome{Name: prefix + "/would_drop=0", Want: true}
		if n := delta("packet_would_drop"); n != 0 {
			o.Err = fmt.Errorf("packet_would_drop went up by %d (counters: %v)", n, after)
		}
		rep.add(o)
	}
}
