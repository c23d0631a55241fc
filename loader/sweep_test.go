package loader

import (
	"fmt"
	"testing"
)

func TestSweepRemovesOnlyExpired(t *testing.T) {
	dp := newTestDatapath(t, DefaultConfig())
	const now = uint64(1_000_000_000_000)
	put := func(port uint16, expires, used uint64) {
		t.Helper()
		p := testHole("192.0.2.1", fmt.Sprintf("10.0.0.1:%d", port), expires)
		p.UsedNs = used
		if err := dp.PutPinhole(p); err != nil {
			t.Fatal(err)
		}
	}
	// 5000 live, 3000 expired unused, 2000 expired used: more than one batch.
	for i := 0; i < 10000; i++ {
		switch {
		case i < 5000:
			put(uint16(10000+i), now+1, 0)
		case i < 8000:
			put(uint16(10000+i), now, 0)
		default:
			put(uint16(10000+i), now-1, now-5)
		}
	}
	r, err := dp.Sweep(now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.ExpiredUnused != 3000 || r.ExpiredUsed != 2000 {
		t.Fatalf("sweep = %+v, want 3000 unused and 2000 used removed", r)
	}
	left := 0
	for p, err := range dp.Pinholes() {
		if err != nil {
			t.Fatal(err)
		}
		if p.Expired(now) {
			t.Fatalf("expired pinhole left: %+v", p)
		}
		left++
	}
	if left != 5000 {
		t.Fatalf("%d pinholes left, want 5000", left)
	}
	u, err := dp.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u[0].Name != "pinholes" || u[0].Entries != 5000 || u[0].Capacity != dp.Config().MaxPinholes {
		t.Fatalf("usage = %+v, want pinholes 5000 of %d", u[0], dp.Config().MaxPinholes)
	}
}
