package loader

import (
	"net/netip"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// Observe mode drops nothing: every packet enforce mode drops on the
// outside passes and counts packet_would_drop instead.
func TestObserveDropsNothing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Observe = true
	g := newGW(t, cfg)
	syn := testutil.TCP{Src: netip.MustParseAddrPort("192.0.2.66:4444"), Dst: netip.MustParseAddrPort("10.1.0.10:3306"), SYN: true}.Frame()
	syn6 := testutil.TCP{Src: netip.MustParseAddrPort("[2001:db8::66]:4444"), Dst: netip.MustParseAddrPort("[fd00::10]:3306"), SYN: true}.Frame()
	for _, tc := range []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"SYN without a pinhole", syn, "syn_no_pinhole"},
		{"tiny first fragment", ipv4Fragment(syn, 0, 8), "tiny_fragment"},
		{"fragment at offset 1", ipv4Fragment(syn, 1, 16), "tiny_fragment"},
		{"IPv6 chain too long to walk", withDestOpts(syn6, 6), "unparsed_l3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := g.counters()
			if v := g.run(g.out, tc.frame); v != Pass {
				t.Errorf("verdict %v in observe mode, want pass", v)
			}
			expectDelta(t, before, g.counters(), map[string]uint64{
				tc.reason: 1, "packet_would_drop": 1, "packet_drop": 0, "packet_pass": 1,
			})
		})
	}
}
