package replay

import (
	"fmt"
	"strings"
	"time"
)

// Event kinds, the "event" field of the JSON output.
const (
	// PinholeOpened: a command or reply opened a pinhole.
	PinholeOpened = "pinhole_opened"
	// PinholeRefreshed: the same pinhole was announced again and waits anew.
	PinholeRefreshed = "pinhole_refreshed"
	// PinholeReplaced: a pinhole was removed to make room for a newer one of
	// the same control connection (--max-per-control).
	PinholeReplaced = "pinhole_replaced"
	// SYNAdmitted: a SYN on the outside was let in; the reason is
	// "pinhole", "retransmit" (a repeat of the SYN that used the pinhole,
	// within --syn-grace) or "allow_rule".
	SYNAdmitted = "syn_admitted"
	// SYNDropped: a SYN on the outside was refused; the reason is
	// "no_pinhole", "expired_pinhole" or "consumed_pinhole" (used by
	// another source port). In observe mode its verdict is "pass".
	SYNDropped = "syn_dropped"
	// Reject: a PORT, EPRT, 227 or 229 opened nothing; the reason is the
	// kernel's reject counter without its "reject_" prefix.
	Reject = "reject"
	// PacketDropped: a packet other than a SYN was dropped (a tiny TCP
	// fragment on the outside).
	PacketDropped = "packet_dropped"
)

// Event is one thing the kernel program did with a packet of the capture.
// Its JSON field names are a stable interface.
type Event struct {
	// Packet is the packet's number in the capture, from 1.
	Packet int `json:"packet"`
	// Seconds is the packet's capture time, from the first packet.
	Seconds float64 `json:"time"`
	// Timestamp is the packet's capture time.
	Timestamp time.Time `json:"timestamp"`
	Kind      string    `json:"event"`
	Reason    string    `json:"reason,omitempty"`
	// Side is the program instance the packet went through: "outside" or
	// "inside" (decided by its source address).
	Side string `json:"side"`
	// Verdict is what the program returned for the packet: "pass" or "drop".
	Verdict string `json:"verdict"`
	// Source and Destination are the packet's addresses and TCP ports.
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Line is the start of the packet's first control line, for pinhole
	// and reject events.
	Line    string        `json:"line,omitempty"`
	Pinhole *PinholeEvent `json:"pinhole,omitempty"`
}

// PinholeEvent describes the pinhole of a pinhole_* event, with the field
// names of 'ftpxdp pinholes --json'.
type PinholeEvent struct {
	Mode          string `json:"mode"` // active or passive
	Source        string `json:"source"`
	DestAddress   string `json:"destination_address"`
	DestPort      uint16 `json:"destination_port"`
	ControlClient string `json:"control_client"`
	ControlServer string `json:"control_server"`
	// TimeLeftSeconds is how long it admits from this packet on.
	TimeLeftSeconds float64 `json:"time_left_seconds"`
}

// String formats the event as one line for people.
func (e Event) String() string {
	what := strings.ReplaceAll(e.Kind, "_", " ")
	reason := strings.ReplaceAll(e.Reason, "_", " ")
	var b strings.Builder
	fmt.Fprintf(&b, "#%-6d %10.6fs  %-17s ", e.Packet, e.Seconds, what)
	if p := e.Pinhole; p != nil {
		fmt.Fprintf(&b, "%-8s %s -> %s:%d  control %s -> %s", p.Mode, p.Source, p.DestAddress, p.DestPort, p.ControlClient, p.ControlServer)
		if e.Kind != PinholeReplaced {
			fmt.Fprintf(&b, "  for %s", time.Duration(p.TimeLeftSeconds*float64(time.Second)).Round(time.Millisecond))
		}
	} else {
		fmt.Fprintf(&b, "%-17s %s -> %s", reason, e.Source, e.Destination)
	}
	if e.Kind == SYNDropped && e.Verdict == "pass" {
		b.WriteString("  (observe: passed)")
	}
	if e.Line != "" {
		fmt.Fprintf(&b, "  %q", e.Line)
	}
	return b.String()
}

// Summary totals a replay. Its JSON field names are a stable interface.
type Summary struct {
	// Kind is "summary", so a JSON reader can tell it from the events.
	Kind string `json:"event"`
	// Packets counts the packets read from the capture.
	Packets int `json:"packets"`
	// Outside and Inside count the frames run through each instance; a
	// segment split in several counts once per part.
	Outside int `json:"outside"`
	Inside  int `json:"inside"`
	// Copies counts packets skipped as a copy of one run just before (the
	// same packet captured leaving after arriving, tcpdump -i any).
	Copies int `json:"copies"`
	// Split counts TCP segments larger than a 1500-byte MTU carries
	// (GRO/TSO on the capturing host), cut into wire-sized segments.
	Split int `json:"split"`
	// Truncated counts packets the capture cut short (snap length).
	Truncated int `json:"truncated"`
	// Skipped counts packets that could not be run: shorter than an
	// Ethernet header, or too large and not a TCP segment.
	Skipped int `json:"skipped"`
	// Seconds is the time the capture spans.
	Seconds float64 `json:"duration"`
	// PinholesOpened, SYNsAdmitted, SYNsDropped and Rejects count the
	// events of each kind.
	PinholesOpened int `json:"pinholes_opened"`
	SYNsAdmitted   int `json:"syns_admitted"`
	SYNsDropped    int `json:"syns_dropped"`
	Rejects        int `json:"rejects"`
	// Counters holds every kernel counter that moved, summed over both
	// instances, by the names 'ftpxdp status' prints.
	Counters map[string]uint64 `json:"counters"`
}

// count adds an event to the totals.
func (s *Summary) count(e Event) {
	switch e.Kind {
	case PinholeOpened:
		s.PinholesOpened++
	case SYNAdmitted:
		s.SYNsAdmitted++
	case SYNDropped:
		s.SYNsDropped++
	case Reject:
		s.Rejects++
	}
}

// String formats the summary for people.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "replayed %d packets over %s (%d outside, %d inside): %d pinholes opened, %d SYNs admitted, %d SYNs dropped, %d rejects",
		s.Packets, time.Duration(s.Seconds*float64(time.Second)).Round(time.Millisecond), s.Outside, s.Inside,
		s.PinholesOpened, s.SYNsAdmitted, s.SYNsDropped, s.Rejects)
	for _, n := range []struct {
		v    int
		what string
	}{
		{s.Copies, "copies of a packet already run skipped"},
		{s.Split, "oversized segments split (GRO/TSO)"},
		{s.Truncated, "packets truncated by the capture's snap length"},
		{s.Skipped, "packets skipped (too short, or too large and not TCP)"},
	} {
		if n.v > 0 {
			fmt.Fprintf(&b, "\n  %d %s", n.v, n.what)
		}
	}
	return b.String()
}
