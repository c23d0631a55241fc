package loader

import (
	"net/netip"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// newTestDatapath loads cfg's maps for a test and closes them after it.
func newTestDatapath(t *testing.T, cfg Config) *Datapath {
	t.Helper()
	testutil.RequireKernel(t)
	dp, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	return dp
}

// testHole is an active-mode pinhole from server src to the client at dst,
// announced on the control connection dst:5000 -> src:21.
func testHole(src, dst string, expires uint64) pinhole.Pinhole {
	d := netip.MustParseAddrPort(dst)
	return pinhole.Pinhole{
		Source: netip.MustParseAddr(src), Dest: d, Mode: pinhole.Active, ExpiresNs: expires,
		Control: pinhole.Control{Client: netip.AddrPortFrom(d.Addr(), 5000), Server: netip.AddrPortFrom(netip.MustParseAddr(src), 21)},
	}
}

// The pinholes live in a map per family; every reader and writer in Go
// must see one table: listing, lookup, sweep and delete across both, and
// no pinhole that mixes families.
func TestPinholesAcrossFamilies(t *testing.T) {
	dp := newTestDatapath(t, DefaultConfig())
	const now = uint64(1_000_000_000_000)
	hole := testHole
	live4, old4 := hole("192.0.2.1", "10.0.0.1:40001", now+1), hole("192.0.2.1", "10.0.0.1:40002", now)
	live6, old6 := hole("2001:db8::1", "[2001:db8:1::1]:40001", now+1), hole("2001:db8::1", "[2001:db8:1::1]:40002", now-1)
	for _, p := range []pinhole.Pinhole{live4, old4, live6, old6} {
		if err := dp.PutPinhole(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := dp.PutPinhole(hole("192.0.2.1", "[2001:db8:1::1]:40003", now+1)); err == nil {
		t.Error("a pinhole from an IPv4 source to an IPv6 destination was accepted")
	}

	count := func() (v4, v6 int) {
		for p, err := range dp.Pinholes() {
			if err != nil {
				t.Fatal(err)
			}
			if p.Source.Is4() {
				v4++
			} else {
				v6++
			}
		}
		return v4, v6
	}
	if v4, v6 := count(); v4 != 2 || v6 != 2 {
		t.Fatalf("listed %d IPv4 and %d IPv6 pinholes, want 2 and 2", v4, v6)
	}
	for _, p := range []pinhole.Pinhole{live4, live6} {
		got, ok, err := dp.LookupPinhole(p.Key())
		if err != nil || !ok || got != p {
			t.Errorf("lookup %v: %+v, %v, %v", p.Key(), got, ok, err)
		}
	}
	mixed := pinhole.Key{Source: netip.MustParseAddr("192.0.2.1"), Dest: netip.MustParseAddrPort("[::ffff:10.0.0.1]:40001")}
	if _, ok, err := dp.LookupPinhole(mixed); ok || err != nil {
		t.Errorf("lookup across families found %v, %v", ok, err)
	}

	r, err := dp.Sweep(now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.ExpiredUnused != 2 {
		t.Errorf("sweep removed %d expired pinholes, want 2 (one per family)", r.ExpiredUnused)
	}
	if v4, v6 := count(); v4 != 1 || v6 != 1 {
		t.Fatalf("after the sweep: %d IPv4 and %d IPv6 pinholes, want 1 and 1", v4, v6)
	}
	n, err := dp.DeletePinholes(func(p pinhole.Pinhole) bool { return p.Source.Is6() })
	if err != nil || n != 1 {
		t.Fatalf("delete the IPv6 pinholes: %d, %v", n, err)
	}
	if v4, v6 := count(); v4 != 1 || v6 != 0 {
		t.Fatalf("after the delete: %d IPv4 and %d IPv6 pinholes, want 1 and 0", v4, v6)
	}
}

// Each family's map has --max-pinholes slots of its own.
func TestPinholeCapacityPerFamily(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPinholes = 1
	dp := newTestDatapath(t, cfg)
	hole := func(src, dst string) pinhole.Pinhole { return testHole(src, dst, 1<<62) }
	if err := dp.PutPinhole(hole("192.0.2.1", "10.0.0.1:40001")); err != nil {
		t.Fatal(err)
	}
	if err := dp.PutPinhole(hole("192.0.2.1", "10.0.0.1:40002")); err == nil {
		t.Error("a second IPv4 pinhole fit a map of one")
	}
	if err := dp.PutPinhole(hole("2001:db8::1", "[2001:db8:1::1]:40001")); err != nil {
		t.Errorf("a full IPv4 map refused an IPv6 pinhole: %v", err)
	}
}
