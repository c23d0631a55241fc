package loader

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ftpxdp/ftpxdp/pinhole"
)

// ControlPinholes returns the pinholes the kernel lists for one control
// connection (at most MaxPerControlLimit) that are in the map now; none
// when it keeps no state for the connection. Replay asks it after a packet
// that opened or replaced a pinhole, instead of reading the whole map.
func (d *Datapath) ControlPinholes(c pinhole.Control) ([]pinhole.Pinhole, error) {
	var st ftpxdpCtrlState
	if err := d.maps["ctrl_conns"].Lookup(ctrlKeyOf(c), &st); err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read control connection: %w", err)
	}
	var out []pinhole.Pinhole
	for i := range min(int(st.Nholes), len(st.Holes)) {
		var v ftpxdpPinholeVal
		if err := d.lookupPinhole(st.Holes[i], &v); err != nil {
			if isNotExist(err) {
				continue // swept, or replaced by another connection's
			}
			return nil, fmt.Errorf("read pinhole: %w", err)
		}
		if p := toPinhole(st.Holes[i], v); p.Control == c {
			out = append(out, p)
		}
	}
	return out, nil
}

// LookupPinhole returns the pinhole with key k, if its family's map holds one.
func (d *Datapath) LookupPinhole(k pinhole.Key) (pinhole.Pinhole, bool, error) {
	if k.Source.Is4() != k.Dest.Addr().Is4() {
		return pinhole.Pinhole{}, false, nil // no pinhole mixes families
	}
	fam, src := wordsOf(k.Source)
	_, dst := wordsOf(k.Dest.Addr())
	key := ftpxdpPinholeKey{Family: fam, Proto: unix.IPPROTO_TCP, Dport: bePort(k.Dest.Port()), Saddr: src, Daddr: dst}
	var v ftpxdpPinholeVal
	if err := d.lookupPinhole(key, &v); err != nil {
		if isNotExist(err) {
			return pinhole.Pinhole{}, false, nil
		}
		return pinhole.Pinhole{}, false, fmt.Errorf("read pinhole: %w", err)
	}
	return toPinhole(key, v), true, nil
}

func ctrlKeyOf(c pinhole.Control) ftpxdpCtrlKey {
	fam, cli := wordsOf(c.Client.Addr())
	_, srv := wordsOf(c.Server.Addr())
	return ftpxdpCtrlKey{Family: fam, Client: cli, Server: srv, Cport: bePort(c.Client.Port()), Sport: bePort(c.Server.Port())}
}
