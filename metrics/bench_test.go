package metrics

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// BenchmarkScrape measures one scrape of the collector (every counter slot,
// the histogram, and counting the map entries) against the stock capacity
// of 65536 pinholes, empty and full: the full map is the slow case.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{0, 65536} {
		b.Run(fmt.Sprintf("pinholes=%d", n), func(b *testing.B) {
			cfg := loader.DefaultConfig()
			l := newLab(b, cfg)
			ctrl := pinhole.Control{Client: netip.AddrPortFrom(client, 40000), Server: netip.AddrPortFrom(server, 21)}
			for i := range n {
				p := pinhole.Pinhole{
					Source: server, Dest: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 50000),
					Mode: pinhole.Active, Control: ctrl, CreatedNs: labStart, ExpiresNs: labStart + 1e12,
				}
				if err := l.dp.PutPinhole(p); err != nil {
					b.Fatalf("pinhole %d: %v", i, err)
				}
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(NewCollector(l.dp, Options{Interfaces: labInterfaces, Sweeps: &SweepStats{}}))
			b.ResetTimer()
			for range b.N {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
