package pinhole

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Config is the part of the kernel program's settings the reference model
// needs; the loader's Config has the same fields under the same names, but
// for Capacity, which it calls MaxPinholes.
type Config struct {
	MinPort        uint16
	PinholeTimeout time.Duration
	SYNGrace       time.Duration
	MaxPerControl  int
	// Capacity is the size of each address family's pinhole map (the
	// kernel keeps one per family); 0 means unbounded.
	Capacity       int
	Loose          bool
	StrictSequence bool
	RequireRequest bool
	RateWindow     time.Duration
	RateBurst      uint32
}

// Key identifies a pinhole as the kernel's pinhole keys do (struct
// pinhole_key4 for IPv4, pinhole_key for IPv6; the protocol is always TCP).
type Key struct {
	Source netip.Addr
	Dest   netip.AddrPort
}

// Key returns the pinhole's map key.
func (p Pinhole) Key() Key { return Key{Source: p.Source, Dest: p.Dest} }

type rateVal struct {
	start uint64
	count uint32
}

// Table is the reference model of the kernel's maps: the pinholes, the
// per-client creation budgets and the control connections' state. Time is
// the kernel clock in nanoseconds, passed in by the caller.
type Table struct {
	cfg   Config
	holes map[Key]*Pinhole
	rate  map[netip.Addr]rateVal
	conns map[Control]*Conn
}

// NewTable returns an empty model with the settings cfg.
func NewTable(cfg Config) *Table {
	return &Table{
		cfg:   cfg,
		holes: map[Key]*Pinhole{},
		rate:  map[netip.Addr]rateVal{},
		conns: map[Control]*Conn{},
	}
}

// Pinholes returns the pinholes in the model, ordered by destination then
// source.
func (t *Table) Pinholes() []Pinhole {
	out := make([]Pinhole, 0, len(t.holes))
	for _, p := range t.holes {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Pinhole) int {
		return cmp.Or(a.Dest.Compare(b.Dest), a.Source.Compare(b.Source))
	})
	return out
}

// Lookup returns the pinhole with key k.
func (t *Table) Lookup(k Key) (Pinhole, bool) {
	p, ok := t.holes[k]
	if !ok {
		return Pinhole{}, false
	}
	return *p, true
}

// Delete removes the pinhole with key k (as the sweeper would).
func (t *Table) Delete(k Key) { delete(t.holes, k) }

// Conn returns the control connection c of this table (client -> server).
func (t *Table) Conn(c Control) *Conn {
	if cn, ok := t.conns[c]; ok {
		return cn
	}
	cn := &Conn{Control: c, t: t}
	t.conns[c] = cn
	return cn
}

// rateOK takes one creation from the client's budget (ftpxdp.c rate_ok).
func (t *Table) rateOK(client netip.Addr, now uint64) bool {
	w := uint64(t.cfg.RateWindow)
	if w == 0 {
		return true
	}
	k := client
	rv, ok := t.rate[k]
	switch {
	case !ok, now-rv.start >= w:
		t.rate[k] = rateVal{start: now, count: 1}
		return true
	case rv.count >= t.cfg.RateBurst:
		return false
	}
	rv.count++
	t.rate[k] = rv
	return true
}

// put inserts like bpf_map_update_elem(BPF_ANY): replacing an existing key
// always works, a new key fails when the map is full.
func (t *Table) put(p Pinhole) bool {
	k := p.Key()
	if _, ok := t.holes[k]; !ok && t.cfg.Capacity > 0 && t.family(p.Source.Is4()) >= t.cfg.Capacity {
		return false
	}
	t.holes[k] = &p
	return true
}

// family counts the pinholes of one address family: each has its own map.
func (t *Table) family(v4 bool) int {
	n := 0
	for k := range t.holes {
		if k.Source.Is4() == v4 {
			n++
		}
	}
	return n
}

// SYN decides a SYN (without ACK) from src to dst on the outside that no
// allow rule matched, as the kernel's syn_check does after the allow rules,
// and returns the reason it counts; the SYN is admitted for
// ReasonSYNAllowedPinhole and ReasonSYNRetransmit.
func (t *Table) SYN(now uint64, src, dst netip.AddrPort) Reason {
	p, ok := t.holes[Key{Source: src.Addr(), Dest: dst}]
	if !ok {
		return ReasonSYNNoPinhole
	}
	if now >= p.ExpiresNs {
		return ReasonSYNExpired
	}
	if p.UsedNs == 0 {
		p.UsedNs = now
		p.UsedSourcePort = src.Port()
		p.Hits = 1
		if grace := now + uint64(t.cfg.SYNGrace); grace < p.ExpiresNs {
			p.ExpiresNs = grace
		}
		return ReasonSYNAllowedPinhole
	}
	if p.UsedSourcePort == src.Port() {
		p.Hits++
		return ReasonSYNRetransmit
	}
	return ReasonSYNConsumed
}
