package replay

import (
	"cmp"
	"slices"

	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// pinholeSet mirrors the kernel's pinhole map, so a packet that moved a
// pinhole counter can be told which pinholes appeared, changed or went.
type pinholeSet struct {
	dp    *loader.Datapath
	known map[pinhole.Key]pinhole.Pinhole
}

func newPinholeSet(dp *loader.Datapath) *pinholeSet {
	return &pinholeSet{dp: dp, known: map[pinhole.Key]pinhole.Pinhole{}}
}

// pinholeChanges is what one packet did to the map.
type pinholeChanges struct {
	opened, refreshed, removed []pinhole.Pinhole
}

// diff reads the map and returns what changed since the last call.
func (s *pinholeSet) diff() (pinholeChanges, error) {
	var ch pinholeChanges
	seen := make(map[pinhole.Key]bool, len(s.known)+1)
	for p, err := range s.dp.Pinholes() {
		if err != nil {
			return ch, err
		}
		k := p.Key()
		seen[k] = true
		old, ok := s.known[k]
		switch {
		case !ok:
			ch.opened = append(ch.opened, p)
		case old.CreatedNs != p.CreatedNs:
			ch.refreshed = append(ch.refreshed, p)
		}
		s.known[k] = p
	}
	for k, p := range s.known {
		if !seen[k] {
			ch.removed = append(ch.removed, p)
			delete(s.known, k)
		}
	}
	for _, l := range [][]pinhole.Pinhole{ch.opened, ch.refreshed, ch.removed} {
		slices.SortFunc(l, comparePinholes)
	}
	return ch, nil
}

// forgetExpired drops what a sweep at kernel time now removed.
func (s *pinholeSet) forgetExpired(now uint64) {
	for k, p := range s.known {
		if p.Expired(now) {
			delete(s.known, k)
		}
	}
}

func comparePinholes(a, b pinhole.Pinhole) int {
	return cmp.Or(
		a.Source.Compare(b.Source),
		a.Dest.Compare(b.Dest),
	)
}
