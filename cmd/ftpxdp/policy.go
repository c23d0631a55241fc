package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/ftpxdp/ftpxdp/loader"
)

// policyFlags are the settings of the kernel program, shared by run and
// replay so a capture is judged exactly as the daemon would.
type policyFlags struct {
	allow         []string
	controlPorts  []uint
	minPort       uint
	timeout       time.Duration
	grace         time.Duration
	maxPerControl int
	maxPinholes   uint32
	observe       bool
	loose         bool
	noSeq         bool
	noCorrelate   bool
	rateWindow    time.Duration
	rateBurst     uint32
}

func (p *policyFlags) register(fs *pflag.FlagSet) {
	d := loader.DefaultConfig()
	fs.StringArrayVar(&p.allow, "allow", nil, "admit new connections to `tcp/PORT[@ADDR]` on the outside without a pinhole (repeatable), e.g. tcp/21@192.0.2.10 for a protected server")
	fs.UintSliceVar(&p.controlPorts, "control-port", []uint{21}, "TCP `PORT` read as FTP control (repeatable or comma-separated; at most 4)")
	fs.UintVar(&p.minPort, "min-port", uint(d.MinPort), "lowest data `PORT` a pinhole may open")
	fs.DurationVar(&p.timeout, "pinhole-timeout", d.PinholeTimeout, "how long a pinhole waits for its data connection before it expires")
	fs.DurationVar(&p.grace, "syn-grace", d.SYNGrace, "how long a used pinhole still admits retransmissions of its SYN")
	fs.IntVar(&p.maxPerControl, "max-per-control", d.MaxPerControl, "outstanding pinholes per control connection, 1 to 8; a new one replaces the oldest")
	fs.Uint32Var(&p.maxPinholes, "max-pinholes", d.MaxPinholes, "capacity of the pinhole map of each address family (fixed while pinned)")
	fs.BoolVar(&p.observe, "observe", false, "never drop: count what enforcement would drop (for rollout)")
	fs.BoolVar(&p.loose, "loose", false, "accept a 227 naming another address than the server's (server behind NAT); the pinhole still opens only to the server")
	fs.BoolVar(&p.noSeq, "no-sequence-check", false, "act on lines without checking they start an in-order segment (asymmetric routing)")
	fs.BoolVar(&p.noCorrelate, "no-request-check", false, "accept a 227/229 without an outstanding PASV/EPSV (only one direction is seen)")
	fs.DurationVar(&p.rateWindow, "rate-window", d.RateWindow, "window of the per-client pinhole creation limit (0 turns it off)")
	fs.Uint32Var(&p.rateBurst, "rate-burst", d.RateBurst, "pinholes one client address may create per window")
}

// check names the flag of the first value the kernel program cannot take,
// and what to give instead.
func (p *policyFlags) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", loader.ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case len(p.controlPorts) == 0:
		return bad("--control-port: give at least one port, e.g. 21")
	case len(p.controlPorts) > loader.MaxControlPorts:
		return bad("--control-port: at most %d ports, got %d", loader.MaxControlPorts, len(p.controlPorts))
	case p.minPort == 0 || p.minPort > 65535:
		return bad("--min-port %d is not a port (1-65535)", p.minPort)
	case p.timeout <= 0:
		return bad("--pinhole-timeout %s must be positive, e.g. 5m", p.timeout)
	case p.grace < 0:
		return bad("--syn-grace %s must not be negative, e.g. 5s", p.grace)
	case p.maxPerControl < 1 || p.maxPerControl > loader.MaxPerControlLimit:
		return bad("--max-per-control %d: use 1 to %d", p.maxPerControl, loader.MaxPerControlLimit)
	case p.maxPinholes < 1:
		return bad("--max-pinholes must be at least 1, e.g. 65536")
	case p.rateWindow < 0:
		return bad("--rate-window %s must not be negative (0 turns the limit off)", p.rateWindow)
	case p.rateWindow > 0 && p.rateBurst == 0:
		return bad("--rate-burst must be at least 1 while --rate-window is set (--rate-window 0 turns the limit off)")
	}
	return nil
}

func (p *policyFlags) config() (loader.Config, []loader.AllowRule, error) {
	c := loader.DefaultConfig()
	if err := p.check(); err != nil {
		return c, nil, err
	}
	c.ControlPorts = nil
	for _, cp := range p.controlPorts {
		if cp == 0 || cp > 65535 {
			return c, nil, fmt.Errorf("%w: --control-port %d is not a port (1-65535)", loader.ErrInvalidConfig, cp)
		}
		c.ControlPorts = append(c.ControlPorts, uint16(cp))
	}
	c.MinPort = uint16(p.minPort)
	c.PinholeTimeout = p.timeout
	c.SYNGrace = p.grace
	c.MaxPerControl = p.maxPerControl
	c.MaxPinholes = p.maxPinholes
	c.Observe = p.observe
	c.Loose = p.loose
	c.StrictSequence = !p.noSeq
	c.RequireRequest = !p.noCorrelate
	c.RateWindow = p.rateWindow
	c.RateBurst = p.rateBurst
	for _, a := range p.allow {
		r, err := loader.ParseAllowRule(a)
		if err != nil {
			return c, nil, fmt.Errorf("%w: --allow: %w", loader.ErrInvalidConfig, err)
		}
		c.Allow = append(c.Allow, r)
	}
	if err := c.Validate(); err != nil {
		return c, nil, err
	}
	return c, c.Allow, nil
}
