package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// A family is one Prometheus metric fed by kernel counters. The kernel's
// enum counter names (lower case, without COUNTER_) choose the family and
// give the label values, so a counter added to the kernel shows up without a
// list here to keep in step: a new reject_* reason is a new reason label.
type family struct {
	desc *prometheus.Desc
	// match returns the label values after "interface" for a counter name
	// this family takes, and ok false for any other name.
	match func(name string) (labels []string, ok bool)
}

// exact takes exactly one counter name, with no labels of its own.
func exact(counter string) func(string) ([]string, bool) {
	return func(name string) ([]string, bool) { return nil, name == counter }
}

// prefixed takes every counter named prefix+rest, rest as the one label.
func prefixed(prefix string) func(string) ([]string, bool) {
	return func(name string) ([]string, bool) {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || rest == "" {
			return nil, false
		}
		return []string{rest}, true
	}
}

// pinholeCreated takes pinhole_<mode>_<v4|v6>.
func pinholeCreated(name string) ([]string, bool) {
	rest, ok := strings.CutPrefix(name, "pinhole_")
	if !ok {
		return nil, false
	}
	mode, fam, ok := strings.Cut(rest, "_")
	if !ok || (mode != "active" && mode != "passive") {
		return nil, false
	}
	switch fam {
	case "v4":
		return []string{mode, "ipv4"}, true
	case "v6":
		return []string{mode, "ipv6"}, true
	}
	return nil, false
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, append([]string{"interface"}, labels...), nil)
}

// families maps the kernel counters to metrics, first match wins. Every
// family is per program instance (the interface label); the last one takes
// whatever no other does, so no kernel counter is ever left out.
func families() []family {
	return []family{
		{newDesc("packets_would_drop_total",
			"Packets observe mode let through that enforcing would have dropped (also counted as verdict=\"pass\").",
		), exact("packet_would_drop")},
		{newDesc("packets_total",
			"Packets the program returned a verdict for, by verdict.", "verdict",
		), prefixed("packet_")},
		{newDesc("unparsed_packets_total",
			"Packets passed because a header could not be parsed, by layer.", "layer",
		), prefixed("unparsed_")},
		{newDesc("fragments_total",
			"IP fragments seen (passed, except tiny ones on the outside).",
		), exact("fragment")},
		{newDesc("tiny_fragments_total",
			"Tiny or overlapping TCP fragments (RFC 1858), dropped on the outside.",
		), exact("tiny_fragment")},
		{newDesc("syns_total",
			"Connection-opening SYNs on the outside, by decision: allowed_rule, allowed_pinhole (a pinhole admission), retransmit_grace, or dropped for no_pinhole, expired_pinhole, consumed_pinhole.",
			"decision",
		), prefixed("syn_")},
		{newDesc("control_segments_total",
			"FTP control segments with payload.",
		), exact("control_segment")},
		{newDesc("control_segments_truncated_total",
			"Control segments longer than the kernel's scan buffer (the tail is not read).",
		), exact("control_truncated")},
		{newDesc("control_segments_out_of_order_total",
			"Control segments not at the tracked stream position (retransmissions, gaps): not acted on.",
		), exact("segment_out_of_order")},
		{newDesc("control_segments_tls_total",
			"Control segments ignored because the session switched to TLS.",
		), exact("tls_segment")},
		{newDesc("control_tls_sessions_total",
			"Control connections that switched to TLS (AUTH accepted): their data channels are invisible.",
		), exact("tls_session")},
		{newDesc("control_lines_total",
			"Control lines parsed, by kind: port, eprt, pasv, epsv, auth (commands), 227, 229, 234 (replies), other, partial (split across segments).",
			"kind",
		), prefixed("line_")},
		{newDesc("control_connections_opened_total",
			"Control connections whose client SYN was seen.",
		), exact("ctrl_opened")},
		{newDesc("control_connections_closed_total",
			"Control connections whose state a FIN or RST removed.",
		), exact("ctrl_closed")},
		{newDesc("pinholes_created_total",
			"Pinholes created, by mode (active: PORT/EPRT, passive: 227/229) and address family.",
			"mode", "family",
		), pinholeCreated},
		{newDesc("pinholes_refreshed_total",
			"Announcements of a pinhole that already existed: its timer restarted.",
		), exact("pinhole_refreshed")},
		{newDesc("pinholes_replaced_total",
			"Pinholes removed to make room under the per-control-connection limit.",
		), exact("pinhole_replaced")},
		{newDesc("rejects_total",
			"Commands and replies that opened no pinhole, by reason.", "reason",
		), prefixed("reject_")},
		{newDesc("kernel_events_total",
			"Kernel counters this build of the exporter has no dedicated metric for, by counter name.",
			"counter",
		), func(name string) ([]string, bool) { return []string{name}, true }},
	}
}
