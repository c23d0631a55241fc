package loader

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the settings fixed in the kernel program before it loads.
type Config struct {
	// ControlPorts are the TCP ports whose traffic is read as FTP control
	// (at most four).
	ControlPorts []uint16
	// MinPort is the lowest data port a pinhole may open.
	MinPort uint16
	// PinholeTimeout is how long an unused pinhole waits for its SYN.
	PinholeTimeout time.Duration
	// SYNGrace is how long a used pinhole still admits retransmissions of
	// the SYN that used it.
	SYNGrace time.Duration
	// MaxPerControl is how many pinholes one control connection may have
	// outstanding; a new one replaces the oldest.
	MaxPerControl int
	// MaxPinholes is the capacity of each address family's pinhole map.
	MaxPinholes uint32
	// Observe runs every check but never drops: would-be drops are counted.
	Observe bool
	// Loose accepts a 227 naming another address than the server's (servers
	// behind NAT); the pinhole still only opens to the server's address.
	Loose bool
	// StrictSequence acts only on lines that start an in-order segment at a
	// tracked line start.
	StrictSequence bool
	// RequireRequest accepts a 227/229 only while a PASV/EPSV is outstanding.
	RequireRequest bool
	// RateWindow and RateBurst bound pinhole creation per client address:
	// at most RateBurst per RateWindow. A zero window turns the limit off.
	RateWindow time.Duration
	RateBurst  uint32
	// Allow lets SYNs to these ports in on the outside without a pinhole.
	Allow []AllowRule
}

// MaxAllowPorts is how many distinct ports the allow rules may name, of
// each kind (open to any address, or to listed addresses).
const MaxAllowPorts = 8

// MaxControlPorts is how many control ports the kernel program checks.
const MaxControlPorts = 4

// MaxPerControlLimit is the ceiling for Config.MaxPerControl.
const MaxPerControlLimit = 8

// WaitBounds are the upper bounds of the admission-wait histogram, the time
// from a pinhole's creation to the SYN it admits.
var WaitBounds = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute, 5 * time.Minute,
}

// DefaultConfig returns the settings of a stock install: control port 21,
// data ports from 1024, five-minute pinholes, one per control connection, as
// the Linux helper does.
func DefaultConfig() Config {
	return Config{
		ControlPorts:   []uint16{21},
		MinPort:        1024,
		PinholeTimeout: 5 * time.Minute,
		SYNGrace:       5 * time.Second,
		MaxPerControl:  1,
		MaxPinholes:    65536,
		StrictSequence: true,
		RequireRequest: true,
		RateWindow:     time.Second,
		RateBurst:      100,
	}
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid configuration")

// Validate reports the first setting the kernel program cannot take.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if len(c.ControlPorts) == 0 || len(c.ControlPorts) > MaxControlPorts {
		return bad("need 1 to %d control ports, got %d", MaxControlPorts, len(c.ControlPorts))
	}
	for _, p := range c.ControlPorts {
		if p == 0 {
			return bad("control port 0 is not a port")
		}
	}
	if c.MinPort == 0 {
		return bad("minimum data port must be at least 1")
	}
	if c.PinholeTimeout <= 0 {
		return bad("pinhole timeout must be positive, got %s", c.PinholeTimeout)
	}
	if c.SYNGrace < 0 {
		return bad("SYN grace must not be negative, got %s", c.SYNGrace)
	}
	if c.MaxPerControl < 1 || c.MaxPerControl > MaxPerControlLimit {
		return bad("pinholes per control connection must be 1 to %d, got %d", MaxPerControlLimit, c.MaxPerControl)
	}
	if c.MaxPinholes < 1 {
		return bad("pinhole map capacity must be at least 1")
	}
	if c.RateWindow < 0 {
		return bad("rate window must not be negative, got %s", c.RateWindow)
	}
	if anyAddr, perAddr := allowPorts(c.Allow); len(anyAddr) > MaxAllowPorts || len(perAddr) > MaxAllowPorts {
		return bad("allow rules may name at most %d ports open to any address and %d with addresses", MaxAllowPorts, MaxAllowPorts)
	}
	if c.RateWindow > 0 && c.RateBurst == 0 {
		return bad("rate burst must be at least 1 when a rate window is set")
	}
	return nil
}

// kernel converts the settings to the program's struct config for one
// program instance.
func (c Config) kernel(r Role, slot uint8) ftpxdpConfig {
	k := ftpxdpConfig{
		MinPort:          c.MinPort,
		Role:             uint8(r),
		IfaceSlot:        slot,
		MaxPerControl:    uint8(c.MaxPerControl),
		PinholeTimeoutNs: uint64(c.PinholeTimeout),
		SynGraceNs:       uint64(c.SYNGrace),
		RateWindowNs:     uint64(c.RateWindow),
		RateBurst:        c.RateBurst,
		Observe:          b2u(c.Observe),
		Loose:            b2u(c.Loose),
		StrictSeq:        b2u(c.StrictSequence),
		RequireRequest:   b2u(c.RequireRequest),
	}
	k.NsPerJiffy = nsPerJiffy()
	copy(k.CtrlPorts[:], c.ControlPorts)
	anyAddr, perAddr := allowPorts(c.Allow)
	copy(k.AllowAnyPorts[:], anyAddr)
	copy(k.AllowAddrPorts[:], perAddr)
	for i, b := range WaitBounds {
		k.WaitBoundsNs[i] = uint64(b)
	}
	return k
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func durationNs(ns uint64) time.Duration { return time.Duration(ns) }
