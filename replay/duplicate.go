package replay

import (
	"hash/maphash"
	"time"
)

// copyWindow is how close in time two identical IP packets must be for the
// second to count as a copy of the first (the same packet captured on two
// interfaces of a gateway) rather than a retransmission: TCP retransmits
// after 200 ms at the soonest, and a fresh IPv4 packet has a new ID.
const copyWindow = 100 * time.Millisecond

// copyRing remembers the last few IP packets run, to skip copies: a capture
// on several interfaces (tcpdump -i any) holds a forwarded packet twice,
// once arriving and once leaving, and the program only ever sees it arrive.
type copyRing struct {
	seed  maphash.Seed
	sums  [32]uint64
	times [32]time.Time
	next  int
	buf   []byte
}

func newCopyRing() *copyRing { return &copyRing{seed: maphash.MakeSeed()} }

// seen reports whether the IP packet in b was run within copyWindow before
// t, and remembers it otherwise. The TTL (hop limit) and the IPv4 header
// checksum, which forwarding changes, are left out of the comparison.
func (r *copyRing) seen(b []byte, f frame, t time.Time) bool {
	if !f.ip {
		return false
	}
	r.buf = append(r.buf[:0], b[f.l3off:f.l3end]...)
	if len(r.buf) < 20 || f.v6 && len(r.buf) < 40 {
		return false // a bogus length: run it
	}
	if f.v6 {
		r.buf[7] = 0
	} else {
		r.buf[8], r.buf[10], r.buf[11] = 0, 0, 0
	}
	sum := maphash.Bytes(r.seed, r.buf)
	for i, s := range r.sums {
		if s == sum && !r.times[i].IsZero() && t.Sub(r.times[i]) <= copyWindow {
			return true
		}
	}
	r.sums[r.next], r.times[r.next] = sum, t
	r.next = (r.next + 1) % len(r.sums)
	return false
}
