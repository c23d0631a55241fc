package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Results are everything one run measured; a part not run is nil.
type Results struct {
	Machine   Machine          `json:"machine"`
	PerPacket *PerPacketResult `json:"per_packet,omitempty"`
	Gateway   *GatewayResult   `json:"gateway,omitempty"`
	Scale     *ScaleResult     `json:"scale,omitempty"`
}

// Target is one claim and whether this run met it.
type Target struct {
	Name   string `json:"name"`
	Met    bool   `json:"met"`
	Figure string `json:"figure"`
}

// String is the verdict line: "target NAME met|missed (FIGURE)".
func (t Target) String() string {
	v := "missed"
	if t.Met {
		v = "met"
	}
	return fmt.Sprintf("target %s %s (%s)", t.Name, v, t.Figure)
}

func itoa(n int) string { return strconv.Itoa(n) }

// Targets evaluates every target of the parts that ran.
func (r Results) Targets() []Target {
	var ts []Target
	if p := r.PerPacket; p != nil && len(p.Classes) > 0 {
		for _, kind := range []string{kindData, kindSYN} {
			worst, name := math.Inf(-1), ""
			var w ClassResult
			for _, c := range p.Classes {
				if c.Kind != kind {
					continue
				}
				if q := c.Ratio(progFtpxdp, progReference); q > worst {
					worst, name, w = q, c.Name, c
				}
			}
			if name == "" {
				continue
			}
			ts = append(ts, Target{
				Name: fmt.Sprintf("per-packet %s classes <= 1.10x reference", kind),
				Met:  worst <= 1.10,
				Figure: fmt.Sprintf("worst %s %.2fx: ftpxdp %.1f ns, reference %.1f ns",
					name, worst, w.Median(progFtpxdp), w.Median(progReference)),
			})
		}
		worst, name := math.Inf(-1), ""
		var w ClassResult
		for _, c := range p.Classes {
			if c.Kind != kindControl {
				continue
			}
			if q := c.Ratio(progFtpxdp, progFloor); q > worst {
				worst, name, w = q, c.Name, c
			}
		}
		if name != "" {
			ts = append(ts, Target{
				Name: "per-packet worst control line <= 20x floor",
				Met:  worst <= 20,
				Figure: fmt.Sprintf("%s %.1fx: ftpxdp %.1f ns, floor %.1f ns",
					name, worst, w.Median(progFtpxdp), w.Median(progFloor)),
			})
		}
	}
	if g := r.Gateway; g != nil && len(g.Setups) > 0 {
		nft := g.Added(setupNft, false)
		nftFlood := g.Setup(setupNft).FloodNs()
		for _, x := range []struct{ setup, ref string }{{setupXDP, setupRefXDP}, {setupTC, setupRefTC}} {
			a := g.Added(x.setup, false)
			fig := fmt.Sprintf("%.3fx: %+.0f ns vs %+.0f ns per packet over bare forwarding", a/nft, a, nft)
			if ref := g.Setup(x.ref); len(ref.Forward) > 0 {
				fig += fmt.Sprintf("; the reference checker at the same hook: %.3fx", g.Added(x.ref, false)/nft)
			}
			ts = append(ts, Target{
				Name:   fmt.Sprintf("gateway %s adds <= 0.1x what nft-conntrack adds", x.setup),
				Met:    nft > 0 && a/nft <= 0.1,
				Figure: fig,
			})
		}
		for _, x := range []struct{ setup, ref, drop string }{{setupXDP, setupRefXDP, setupDropXDP}, {setupTC, setupRefTC, setupDropTC}} {
			f := g.Setup(x.setup).FloodNs()
			fig := fmt.Sprintf("%.1fx: %.2f vs %.2f Mpps", nftFlood/f, 1e3/f, 1e3/nftFlood)
			if ref := g.Setup(x.ref); len(ref.Flood) > 0 {
				fig += fmt.Sprintf("; the reference checker at the same hook: %.1fx", nftFlood/ref.FloodNs())
			}
			if drop := g.Setup(x.drop); len(drop.Flood) > 0 {
				fig += fmt.Sprintf(", dropping every SYN unlooked: %.1fx", nftFlood/drop.FloodNs())
			}
			ts = append(ts, Target{
				Name:   fmt.Sprintf("SYN flood %s drop rate >= 5x nft-conntrack", x.setup),
				Met:    nftFlood/f >= 5,
				Figure: fig,
			})
		}
		if bare, tc := g.Setup(setupBare).IperfGbps(), g.Setup(setupTC).IperfGbps(); !math.IsNaN(bare) {
			q := g.IperfRatio(setupTC)
			ts = append(ts, Target{
				Name: "iperf3 ftpxdp-tc throughput >= 0.95x bare",
				Met:  q >= 0.95,
				Figure: fmt.Sprintf("%.2fx (median of the rounds' ratios; medians %.2f vs %.2f Gbit/s)",
					q, tc, bare),
			})
		}
	}
	if s := r.Scale; s != nil && s.Pinholes > 0 {
		ts = append(ts, Target{
			Name:   fmt.Sprintf("sweep of %s pinholes < 1 s CPU", count(s.Pinholes)),
			Met:    s.SweepCPU < time.Second,
			Figure: fmt.Sprintf("%s CPU, %s wall, %d removed", ms(s.SweepCPU), ms(s.SweepWall), s.SweepRemoved),
		})
		if len(s.Listings) > 0 {
			l := s.Listings[0]
			ts = append(ts, Target{
				Name:   fmt.Sprintf("%s lists %s pinholes < 5 s", l.Command, count(s.Pinholes)),
				Met:    l.Wall < 5*time.Second && l.Rows == s.Pinholes,
				Figure: fmt.Sprintf("%s wall, %s CPU, %d rows, peak RSS %d MiB", ms(l.Wall), ms(l.CPU), l.Rows, l.RSSKiB/1024),
			})
		}
	}
	return ts
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// count writes 1000000 as 1M and 200000 as 200k.
func count(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return itoa(n/1e6) + "M"
	case n >= 1e3 && n%1e3 == 0:
		return itoa(n/1e3) + "k"
	}
	return itoa(n)
}

// WriteText prints a table per part, then the verdict lines.
func (r Results) WriteText(w io.Writer) {
	fmt.Fprintf(w, "machine: %s\n", r.Machine)
	if d := r.Machine.Disturbed(); d != "" {
		fmt.Fprintln(w, d)
	}
	if p := r.PerPacket; p != nil {
		fmt.Fprintf(w, "\n== Part 1: per-packet cost, BPF_PROG_TEST_RUN, kernel ns/packet, median of %d interleaved runs of %d repeats; ratios are medians of each run's ratio ==\n",
			p.Rounds, p.Repeat)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "class\tkind\tfloor\treference\tftpxdp\tvs ref\tvs floor\tspread\tftpxdp path (counters per packet)\t")
		for _, c := range p.Classes {
			fl, rf, fx := c.Median(progFloor), c.Median(progReference), c.Median(progFtpxdp)
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1f\t%.2fx\t%.2fx\t%.0f%%\t%s\t\n", c.Name, c.Kind, fl, rf, fx,
				c.Ratio(progFtpxdp, progReference), c.Ratio(progFtpxdp, progFloor), 100*spread(c.Samples[progFtpxdp]), c.Path)
		}
		tw.Flush()
		fmt.Fprintln(w, "\nprogram sizes:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "program\txlated insns\tjited bytes\tverifier insns\t")
		for _, s := range p.Sizes {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", s.Name, s.Translated, s.Jited, s.Verified)
		}
		tw.Flush()
		if len(p.Profiles) > 0 {
			fmt.Fprintln(w, "\nwhere ftpxdp's time goes (perf cpu-clock samples of the running thread, >= 2%):")
			for _, pr := range p.Profiles {
				var parts []string
				for _, s := range pr.Symbols {
					parts = append(parts, fmt.Sprintf("%s %.0f%%", s.Symbol, s.Percent))
				}
				fmt.Fprintf(w, "  %-14s %s\n", pr.Class, strings.Join(parts, ", "))
			}
		}
		if p.ProfileNote != "" {
			fmt.Fprintf(w, "\nprofile: %s\n", p.ProfileNote)
		}
	}
	if g := r.Gateway; g != nil {
		fmt.Fprintf(w, "\n== Part 2: gateway forwarding in a namespace lab: %d packets per run, fastest of %d tries, median of %d rounds; iperf3 median of %d x %d s ==\n",
			g.Packets, g.Tries, g.Runs, g.IperfRuns, g.IperfSeconds)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "setup\tforward ns/pkt\tMpps\tadded ns\tspread\tSYN flood ns/pkt\tflood Mpps\tflood fate\tiperf3 Gbit/s\tclient offloads\t")
		for _, s := range g.Setups {
			fate := "forwarded"
			if len(s.Flood) > 0 && s.Flood[0].Dropped > 0 {
				fate = "dropped"
			}
			gbps, offloads := "-", "-"
			if len(s.Iperf) > 0 {
				gbps, offloads = fmt.Sprintf("%.2f", s.IperfGbps()), s.Offloads
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%+.0f\t%.0f%%\t%.0f\t%.2f\t%s\t%s\t%s\t\n", s.Name,
				s.ForwardNs(), 1e3/s.ForwardNs(), g.Added(s.Name, false), 100*spread(nsOf(s.Forward)),
				s.FloodNs(), 1e3/s.FloodNs(), fate, gbps, offloads)
		}
		tw.Flush()
		// What the hook costs by itself, and ftpxdp's own work on top.
		fmt.Fprintf(w, "hooks: an empty program adds %+.0f ns at XDP, %+.0f ns at TCX ingress; ftpxdp's own work on top: %+.0f ns at XDP, %+.0f ns at TC\n",
			g.Added(setupXDPPass, false), g.Added(setupTCPass, false),
			g.AddedOver(setupXDP, setupXDPPass, false), g.AddedOver(setupTC, setupTCPass, false))
		if len(g.Setup(setupRefTC).Forward) > 0 {
			fmt.Fprintf(w, "bounds: the reference checker (bench/bpf/reference.c, no iperf3: it has no allow rule) adds %+.0f ns at XDP, %+.0f ns at TC;\n"+
				"        ftpxdp minus the reference: %+.0f ns at XDP, %+.0f ns at TC; the reference drops the flood at %.2f Mpps at XDP, %.2f Mpps at TC\n",
				g.Added(setupRefXDP, false), g.Added(setupRefTC, false),
				g.AddedOver(setupXDP, setupRefXDP, false), g.AddedOver(setupTC, setupRefTC, false),
				1e3/g.Setup(setupRefXDP).FloodNs(), 1e3/g.Setup(setupRefTC).FloodNs())
		}
		if len(g.Setup(setupDropTC).Flood) > 0 {
			nft := g.Setup(setupNft).FloodNs()
			fmt.Fprintf(w, "        a program that drops every SYN with no lookup drops the flood at %.2f Mpps at XDP (%.1fx nft-conntrack), %.2f Mpps at TC (%.1fx)\n",
				1e3/g.Setup(setupDropXDP).FloodNs(), nft/g.Setup(setupDropXDP).FloodNs(),
				1e3/g.Setup(setupDropTC).FloodNs(), nft/g.Setup(setupDropTC).FloodNs())
		}
	}
	if s := r.Scale; s != nil {
		fmt.Fprintf(w, "\n== Part 3: the pinhole table at %s live pinholes (capacity %d) ==\n", count(s.Pinholes), s.Capacity)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "map memory (memlock)\t%.1f MiB: %.0f bytes per pinhole of capacity, preallocated (pintab4: slots for twice the capacity)\n", float64(s.MemlockBytes)/(1<<20), s.BytesPerPinhole())
		fmt.Fprintf(tw, "insert (Datapath.PutPinhole)\t%.2f µs each, %.2f µs CPU\n",
			float64(s.InsertWall.Nanoseconds())/float64(s.Pinholes)/1e3, float64(s.InsertCPU.Nanoseconds())/float64(s.Pinholes)/1e3)
		fmt.Fprintf(tw, "first SYN of a pinhole (lookup may miss cache)\t%.0f ns at %s pinholes, %.0f ns at %s (kernel, less the floor; median of %d)\n",
			s.FirstSYNSmallNs, count(s.Lookups), s.FirstSYNFullNs, count(s.Pinholes), s.Lookups)
		fmt.Fprintf(tw, "repeated SYN of a pinhole (hot)\t%.0f ns in a 1-pinhole table, %.0f ns at %s\n",
			s.HotSYNSmallNs, s.HotSYNFullNs, count(s.Pinholes))
		fmt.Fprintf(tw, "sweep (%s)\t%s wall, %s CPU (%s in the kernel), %d removed\n", s.SweepAPI, ms(s.SweepWall), ms(s.SweepCPU), ms(s.SweepSys), s.SweepRemoved)
		for _, l := range s.Listings {
			fmt.Fprintf(tw, "%s\t%s wall, %s CPU, %d rows, peak RSS %d MiB\n", l.Command, ms(l.Wall), ms(l.CPU), l.Rows, l.RSSKiB/1024)
		}
		if s.ListSmallRSSKiB > 0 {
			fmt.Fprintf(tw, "listing 1 pinhole\tpeak RSS %d MiB\n", s.ListSmallRSSKiB/1024)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	for _, t := range r.Targets() {
		fmt.Fprintln(w, t)
	}
}
