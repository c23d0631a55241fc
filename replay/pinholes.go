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
	// byControl indexes known by control connection.
	byControl map[pinhole.Control][]pinhole.Key
}

func newPinholeSet(dp *loader.Datapath) *pinholeSet {
	return &pinholeSet{dp: dp, known: map[pinhole.Key]pinhole.Pinhole{}, byControl: map[pinhole.Control][]pinhole.Key{}}
}

// put records p as the map's pinhole for its key.
func (s *pinholeSet) put(p pinhole.Pinhole) {
	k := p.Key()
	if old, ok := s.known[k]; ok {
		if old.Control == p.Control {
			s.known[k] = p
			return
		}
		s.forget(k)
	}
	s.known[k] = p
	s.byControl[p.Control] = append(s.byControl[p.Control], k)
}

// forget drops the pinhole with key k.
func (s *pinholeSet) forget(k pinhole.Key) {
	p, ok := s.known[k]
	if !ok {
		return
	}
	delete(s.known, k)
	keys := slices.DeleteFunc(s.byControl[p.Control], func(x pinhole.Key) bool { return x == k })
	if len(keys) == 0 {
		delete(s.byControl, p.Control)
	} else {
		s.byControl[p.Control] = keys
	}
}

// pinholeChanges is what one packet did to the map.
type pinholeChanges struct {
	opened, refreshed, removed []pinhole.Pinhole
}

func (c pinholeChanges) counts() [3]int {
	return [3]int{len(c.opened), len(c.refreshed), len(c.removed)}
}

// changes returns what a packet of control connection ctrl did to the
// pinholes, want being the number opened, refreshed and removed by the
// counters. It reads only the connection's own pinholes; when they do not
// account for the counters (its state went with a FIN in the same
// segment), it reads the whole map.
func (s *pinholeSet) changes(ctrl pinhole.Control, want [3]int) (pinholeChanges, error) {
	var ch pinholeChanges
	now, err := s.dp.ControlPinholes(ctrl)
	if err != nil {
		return ch, err
	}
	listed := make(map[pinhole.Key]bool, len(now))
	for _, p := range now {
		k := p.Key()
		listed[k] = true
		s.note(&ch, p)
	}
	for _, k := range slices.Clone(s.byControl[ctrl]) {
		if listed[k] {
			continue
		}
		old := s.known[k]
		p, ok, err := s.dp.LookupPinhole(k)
		if err != nil {
			return ch, err
		}
		if ok && p.Control == ctrl {
			s.note(&ch, p)
			continue
		}
		ch.removed = append(ch.removed, old)
		s.forget(k)
	}
	if ch.counts() != want {
		more, err := s.diff()
		if err != nil {
			return ch, err
		}
		ch.opened = append(ch.opened, more.opened...)
		ch.refreshed = append(ch.refreshed, more.refreshed...)
		ch.removed = append(ch.removed, more.removed...)
	}
	ch.sort()
	return ch, nil
}

// note records p, as opened or refreshed when it is new or renewed.
func (s *pinholeSet) note(ch *pinholeChanges, p pinhole.Pinhole) {
	k := p.Key()
	old, ok := s.known[k]
	switch {
	case !ok || old.Control != p.Control:
		ch.opened = append(ch.opened, p)
	case old.CreatedNs != p.CreatedNs:
		ch.refreshed = append(ch.refreshed, p)
	}
	s.put(p)
}

// diff reads the whole map and returns what changed since it was last seen.
func (s *pinholeSet) diff() (pinholeChanges, error) {
	var ch pinholeChanges
	seen := make(map[pinhole.Key]bool, len(s.known)+1)
	for p, err := range s.dp.Pinholes() {
		if err != nil {
			return ch, err
		}
		seen[p.Key()] = true
		s.note(&ch, p)
	}
	for k, p := range s.known {
		if !seen[k] {
			ch.removed = append(ch.removed, p)
			s.forget(k)
		}
	}
	return ch, nil
}

// forgetExpired drops what a sweep at kernel time now removed.
func (s *pinholeSet) forgetExpired(now uint64) {
	for k, p := range s.known {
		if p.Expired(now) {
			s.forget(k)
		}
	}
}

func (c *pinholeChanges) sort() {
	for _, l := range [][]pinhole.Pinhole{c.opened, c.refreshed, c.removed} {
		slices.SortFunc(l, func(a, b pinhole.Pinhole) int {
			return cmp.Or(a.Source.Compare(b.Source), a.Dest.Compare(b.Dest))
		})
	}
}
