package loader

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// AllowRule lets SYNs to a TCP port in on the outside without a pinhole,
// for example tcp/21 to a protected FTP server.
type AllowRule struct {
	Port uint16
	// Addr limits the rule to one destination; the zero Addr means any
	// address of either family.
	Addr netip.Addr
}

// String returns the rule as ParseAllowRule reads it.
func (r AllowRule) String() string {
	s := "tcp/" + strconv.Itoa(int(r.Port))
	if r.Addr.IsValid() {
		s += "@" + r.Addr.String()
	}
	return s
}

// ParseAllowRule reads "tcp/PORT" or "tcp/PORT@ADDR".
func ParseAllowRule(s string) (AllowRule, error) {
	proto, rest, ok := strings.Cut(s, "/")
	if !ok || proto != "tcp" {
		return AllowRule{}, fmt.Errorf("allow rule %q: want tcp/PORT or tcp/PORT@ADDR", s)
	}
	ps, as, hasAddr := strings.Cut(rest, "@")
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return AllowRule{}, fmt.Errorf("allow rule %q: port must be 1-65535", s)
	}
	r := AllowRule{Port: uint16(p)}
	if hasAddr {
		a, err := netip.ParseAddr(as)
		if err != nil {
			return AllowRule{}, fmt.Errorf("allow rule %q: %w", s, err)
		}
		r.Addr = a.Unmap()
	}
	return r, nil
}

// SetAllowRules replaces the allow rules. Port-only rules are constants of
// the program, so they apply to instances loaded afterwards; per-address
// rules apply at once.
func (d *Datapath) SetAllowRules(rules []AllowRule) error {
	cfg := d.cfg
	cfg.Allow = rules
	if err := cfg.Validate(); err != nil {
		return err
	}
	d.cfg = cfg
	return d.syncAllowRules()
}

// syncAllowRules makes the allow_rules map hold exactly the address-specific
// rules of the config; port-only rules live in the program's constants.
func (d *Datapath) syncAllowRules() error {
	m := d.maps["allow_rules"]
	want := map[ftpxdpAllowKey]bool{}
	for _, r := range d.cfg.Allow {
		if r.Addr.IsValid() {
			want[allowKey(r)] = true
		}
	}
	var (
		k     ftpxdpAllowKey
		v     uint8
		stale []ftpxdpAllowKey
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if !want[k] {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read allow rules: %w", err)
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !isNotExist(err) {
			return fmt.Errorf("delete allow rule: %w", err)
		}
	}
	for k := range want {
		if err := m.Put(k, uint8(1)); err != nil {
			return fmt.Errorf("add allow rule: %w", err)
		}
	}
	return nil
}

// allowPorts splits the rules' ports into those open to any address and
// those with per-address rules, for the program's constants.
func allowPorts(rules []AllowRule) (anyAddr, perAddr []uint16) {
	for _, r := range rules {
		if r.Addr.IsValid() {
			if !slices.Contains(perAddr, r.Port) {
				perAddr = append(perAddr, r.Port)
			}
		} else if !slices.Contains(anyAddr, r.Port) {
			anyAddr = append(anyAddr, r.Port)
		}
	}
	return anyAddr, perAddr
}

func allowKey(r AllowRule) ftpxdpAllowKey {
	fam, w := wordsOf(r.Addr)
	return ftpxdpAllowKey{Family: fam, Proto: unix.IPPROTO_TCP, Dport: bePort(r.Port), Daddr: w}
}
