package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// The harness with tiny counts: every class takes the path it names, the
// lab forwards the data connection in every setup and drops the flood
// where it should, the table fills, sweeps and lists, and nothing is left
// behind. The figures themselves are not checked: they mean nothing here.
func TestHarnessSmoke(t *testing.T) {
	testutil.RequireKernel(t)
	ctx := context.Background()
	quiet := func(string) {}
	var res Results

	p, err := RunPerPacket(ctx, PerPacketOptions{Repeat: 1000, Rounds: 1}, quiet)
	if err != nil {
		t.Fatalf("per-packet: %v", err)
	}
	res.PerPacket = &p
	if len(p.Classes) != len(perPacketClasses(0)) {
		t.Errorf("per-packet measured %d classes, want %d", len(p.Classes), len(perPacketClasses(0)))
	}
	for _, c := range p.Classes {
		for _, prog := range perPacketPrograms {
			if len(c.Samples[prog]) != 1 || c.Samples[prog][0] <= 0 {
				t.Errorf("class %s, program %s: samples %v", c.Name, prog, c.Samples[prog])
			}
		}
	}

	g, err := RunGateway(ctx, GatewayOptions{Packets: 2000, Runs: 1, Tries: 1}, quiet)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	res.Gateway = &g
	assertNoNetNS(t)
	for _, s := range g.Setups {
		if len(s.Forward) != 1 || len(s.Flood) != 1 {
			t.Fatalf("setup %s: %d forward and %d flood runs, want 1 each", s.Name, len(s.Forward), len(s.Flood))
		}
		if f := s.Forward[0]; f.Received < f.Sent {
			t.Errorf("setup %s forwarded %d of %d data segments", s.Name, f.Received, f.Sent)
		}
		fl := s.Flood[0]
		switch s.Name {
		case setupBare, setupXDPPass, setupTCPass:
			if fl.Received < fl.Sent {
				t.Errorf("setup %s forwarded %d of %d SYNs (it filters nothing)", s.Name, fl.Received, fl.Sent)
			}
		default:
			if fl.Received != 0 || fl.Dropped < fl.Sent {
				t.Errorf("setup %s let %d of %d unsolicited SYNs through and counted %d drops", s.Name, fl.Received, fl.Sent, fl.Dropped)
			}
		}
	}

	s, err := RunScale(ctx, ScaleOptions{Pinholes: 2000, Capacity: 4096, Lookups: 100}, quiet)
	if err != nil {
		t.Fatalf("scale: %v", err)
	}
	res.Scale = &s
	if s.SweepRemoved != s.Pinholes {
		t.Errorf("sweep removed %d of %d expired pinholes", s.SweepRemoved, s.Pinholes)
	}
	if len(s.Listings) != 1 || s.Listings[0].Rows != s.Pinholes {
		t.Errorf("listing: %+v, want %d rows", s.Listings, s.Pinholes)
	}
	if s.MemlockBytes == 0 {
		t.Error("no memlock read for the pinhole map")
	}

	// Every target has a verdict line, and the plot is drawn.
	var out bytes.Buffer
	res.WriteText(&out)
	if !strings.Contains(out.String(), "\nbounds: the reference checker") {
		t.Errorf("no line with the reference checker's bounds:\n%s", out.String())
	}
	if n := strings.Count(out.String(), "\ntarget "); n != len(res.Targets()) || n < 9 {
		t.Errorf("%d verdict lines for %d targets:\n%s", n, len(res.Targets()), out.String())
	}
	var svg bytes.Buffer
	if err := WritePerPacketSVG(&svg, res.PerPacket, ThisMachine()); err != nil || !strings.Contains(svg.String(), "</svg>") {
		t.Errorf("plot: %v", err)
	}
}

// assertNoNetNS fails if this process left a namespace behind.
func assertNoNetNS(t *testing.T) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if mine := fmt.Sprintf("%s%d-", nsPrefix, os.Getpid()); strings.Contains(string(out), mine) {
		t.Errorf("namespaces left behind:\n%s", out)
	}
}
