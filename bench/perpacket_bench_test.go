package bench

import (
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
)

// BenchmarkPerPacket is the per-packet benchmark as Go benchmarks, one per
// class and program, reporting the kernel's ns/pkt (`go test -bench
// PerPacket ./bench/`). Sub-benchmarks run one after another; `make bench`
// interleaves the programs instead, which a noisy machine needs.
func BenchmarkPerPacket(b *testing.B) {
	testutil.RequireKernel(b)
	r, err := newPerPacketRig()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const repeat = 100000
	for _, c := range perPacketClasses(loader.KernelNow()) {
		if c.Tuple {
			if err := r.putTuple(c.Frame); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := r.check(c, 1000); err != nil {
			b.Fatal(err)
		}
		for _, prog := range perPacketPrograms {
			b.Run(c.Name+"/"+prog, func(b *testing.B) {
				var sum float64
				n := 0
				for b.Loop() {
					ns, err := r.run(prog, c, repeat)
					if err != nil {
						b.Fatal(err)
					}
					sum += ns
					n++
				}
				b.ReportMetric(sum/float64(n), "ns/pkt")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
