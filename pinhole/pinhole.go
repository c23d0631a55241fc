// Package pinhole holds what ftpxdp knows about a data connection it expects:
// the pinhole records read from the kernel maps, and the reference parser of
// the FTP control channel with exactly the kernel program's semantics.
package pinhole

import (
	"fmt"
	"net/netip"
	"time"
)

// Mode says which side announced the data connection.
type Mode uint8

// Modes, with the values of the kernel's enum pinhole_mode.
const (
	// Active is a PORT/EPRT from the client: the server connects to it.
	Active Mode = 1
	// Passive is a 227/229 from the server: the client connects to it.
	Passive Mode = 2
)

// String returns "active" or "passive".
func (m Mode) String() string {
	switch m {
	case Active:
		return "active"
	case Passive:
		return "passive"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Control is the FTP control connection a pinhole was announced on.
type Control struct {
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
}

// String returns "client -> server".
func (c Control) String() string { return c.Client.String() + " -> " + c.Server.String() }

// Pinhole is one expected data connection: a SYN from Source to Dest is let
// in once (and its retransmissions for a short grace period).
type Pinhole struct {
	Source  netip.Addr     `json:"source"`      // expected source address; any source port
	Dest    netip.AddrPort `json:"destination"` // destination address and port
	Mode    Mode           `json:"-"`
	Control Control        `json:"control"`
	// Kernel clock (CLOCK_MONOTONIC, or the replay clock) in nanoseconds.
	CreatedNs uint64 `json:"-"`
	ExpiresNs uint64 `json:"-"`
	UsedNs    uint64 `json:"-"` // first admitted SYN; 0 while waiting
	Hits      uint32 `json:"hits"`
	// UsedSourcePort is the source port of the first admitted SYN.
	UsedSourcePort uint16 `json:"-"`
}

// Used reports whether a SYN has been admitted through the pinhole.
func (p Pinhole) Used() bool { return p.UsedNs != 0 }

// State returns "waiting", "used" or "expired" at kernel time now.
func (p Pinhole) State(now uint64) string {
	switch {
	case now >= p.ExpiresNs:
		return "expired"
	case p.Used():
		return "used"
	}
	return "waiting"
}

// Age is the time since the pinhole was created, at kernel time now.
func (p Pinhole) Age(now uint64) time.Duration { return sub(now, p.CreatedNs) }

// TimeLeft is the time until the pinhole stops admitting, at kernel time now.
func (p Pinhole) TimeLeft(now uint64) time.Duration { return sub(p.ExpiresNs, now) }

// Expired reports whether the pinhole no longer admits at kernel time now.
func (p Pinhole) Expired(now uint64) bool { return now >= p.ExpiresNs }

func sub(a, b uint64) time.Duration {
	if a <= b {
		return 0
	}
	return time.Duration(a - b)
}
