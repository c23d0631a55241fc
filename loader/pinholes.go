package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net/netip"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ftpxdp/ftpxdp/pinhole"
)

// KernelNow reads the clock the kernel program stamps pinholes with
// (CLOCK_MONOTONIC), in nanoseconds.
func KernelNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err) // cannot fail on Linux
	}
	return uint64(ts.Nano())
}

// Pinholes yields every pinhole in the maps (IPv4, then IPv6), expired
// ones included, streaming in batches (constant memory whatever the size).
func (d *Datapath) Pinholes() iter.Seq2[pinhole.Pinhole, error] {
	return func(yield func(pinhole.Pinhole, error) bool) {
		stopped := false
		err := d.eachPinhole(func(k ftpxdpPinholeKey, v ftpxdpPinholeVal) bool {
			stopped = !yield(toPinhole(k, v), nil)
			return !stopped
		})
		if err != nil && !stopped {
			yield(pinhole.Pinhole{}, fmt.Errorf("read pinholes: %w", err))
		}
	}
}

// eachPinhole hands the entries of both pinhole maps to fn under their
// full keys, IPv4 first, until fn returns false.
func (d *Datapath) eachPinhole(fn func(ftpxdpPinholeKey, ftpxdpPinholeVal) bool) error {
	more := true
	err := d.ptEach(func(k ftpxdpPinholeKey4, v ftpxdpPinholeVal) bool {
		more = fn(fullKey(k), v)
		return more
	})
	if err != nil || !more {
		return err
	}
	return eachBatch(d.maps["pinholes6"], func(keys []ftpxdpPinholeKey, vals []ftpxdpPinholeVal) bool {
		for i := range keys {
			if !fn(keys[i], vals[i]) {
				return false
			}
		}
		return true
	})
}

// DeletePinholes removes the pinholes match selects and returns how many.
// An IPv4 pinhole goes only as it was listed: one made again since stays.
func (d *Datapath) DeletePinholes(match func(pinhole.Pinhole) bool) (int, error) {
	n := 0
	var delErr error
	err := d.ptEach(func(k ftpxdpPinholeKey4, v ftpxdpPinholeVal) bool {
		if !match(toPinhole(fullKey(k), v)) {
			return true
		}
		var gone bool
		if gone, delErr = d.ptDelCreated(k, v.CreatedNs); gone {
			n++
		}
		return delErr == nil
	})
	if err == nil {
		err = delErr
	}
	if err == nil {
		err = sweepMap(d.maps["pinholes6"], func(k ftpxdpPinholeKey, v ftpxdpPinholeVal) bool {
			if match(toPinhole(k, v)) {
				n++
				return true
			}
			return false
		})
	}
	if err != nil {
		return n, fmt.Errorf("delete pinholes: %w", err)
	}
	return n, nil
}

// PutPinhole writes a pinhole into its family's map as the kernel would have made it
// (benchmarks and tests of the table at scale).
func (d *Datapath) PutPinhole(p pinhole.Pinhole) error {
	if p.Source.Is4() != p.Dest.Addr().Is4() {
		return fmt.Errorf("pinhole %v -> %v mixes address families", p.Source, p.Dest)
	}
	k, v := fromPinhole(p)
	if k.Family == unix.AF_INET {
		return d.ptPut(shortKey(k), v, true)
	}
	return d.maps["pinholes6"].Put(k, v)
}

// lookupPinhole reads the pinhole under full key k from its family's map.
func (d *Datapath) lookupPinhole(k ftpxdpPinholeKey, v *ftpxdpPinholeVal) error {
	if k.Family == unix.AF_INET {
		return d.ptLookup(shortKey(k), v)
	}
	return d.maps["pinholes6"].Lookup(k, v)
}

// shortKey is the IPv4 map's key of a full pinhole key, fullKey its inverse.
func shortKey(k ftpxdpPinholeKey) ftpxdpPinholeKey4 {
	return ftpxdpPinholeKey4{Saddr: k.Saddr[0], Daddr: k.Daddr[0], Dport: k.Dport}
}

func fullKey(k ftpxdpPinholeKey4) ftpxdpPinholeKey {
	return ftpxdpPinholeKey{Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Dport: k.Dport,
		Saddr: [4]uint32{k.Saddr}, Daddr: [4]uint32{k.Daddr}}
}

func isNotExist(err error) bool { return errors.Is(err, ebpf.ErrKeyNotExist) }

func addrOf(family uint8, a [4]uint32) netip.Addr {
	var b [16]byte
	for i, w := range a {
		binary.NativeEndian.PutUint32(b[4*i:], w)
	}
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

func wordsOf(a netip.Addr) (family uint8, w [4]uint32) {
	family = unix.AF_INET6
	b := a.As16()
	if a.Is4() {
		family = unix.AF_INET
		b = [16]byte{}
		a4 := a.As4()
		copy(b[:], a4[:])
	}
	for i := range w {
		w[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	return family, w
}

// port converts a __be16 read in native order to a host-order port.
func port(be uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], be)
	return binary.BigEndian.Uint16(b[:])
}

// bePort is the inverse of port.
func bePort(p uint16) uint16 { return port(p) }

func toControl(c ftpxdpCtrlKey) pinhole.Control {
	return pinhole.Control{
		Client: netip.AddrPortFrom(addrOf(c.Family, c.Client), port(c.Cport)),
		Server: netip.AddrPortFrom(addrOf(c.Family, c.Server), port(c.Sport)),
	}
}

func toPinhole(k ftpxdpPinholeKey, v ftpxdpPinholeVal) pinhole.Pinhole {
	return pinhole.Pinhole{
		Source:         addrOf(k.Family, k.Saddr),
		Dest:           netip.AddrPortFrom(addrOf(k.Family, k.Daddr), port(k.Dport)),
		Mode:           pinhole.Mode(v.Mode),
		Control:        toControl(v.Ctrl),
		CreatedNs:      v.CreatedNs,
		ExpiresNs:      v.ExpiresNs,
		UsedNs:         v.UsedNs,
		Hits:           v.Hits,
		UsedSourcePort: port(v.UsedSport),
	}
}

func fromPinhole(p pinhole.Pinhole) (ftpxdpPinholeKey, ftpxdpPinholeVal) {
	fam, src := wordsOf(p.Source)
	_, dst := wordsOf(p.Dest.Addr())
	_, cli := wordsOf(p.Control.Client.Addr())
	_, srv := wordsOf(p.Control.Server.Addr())
	k := ftpxdpPinholeKey{Family: fam, Proto: unix.IPPROTO_TCP, Dport: bePort(p.Dest.Port()), Saddr: src, Daddr: dst}
	v := ftpxdpPinholeVal{
		CreatedNs: p.CreatedNs, ExpiresNs: p.ExpiresNs, UsedNs: p.UsedNs, Hits: p.Hits,
		Mode: uint8(p.Mode), UsedSport: bePort(p.UsedSourcePort),
		Ctrl: ftpxdpCtrlKey{Family: fam, Client: cli, Server: srv,
			Cport: bePort(p.Control.Client.Port()), Sport: bePort(p.Control.Server.Port())},
	}
	return k, v
}
