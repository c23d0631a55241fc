// Command ftpxdp-bench measures ftpxdp next to its baselines in one run and
// prints a table per part and a verdict line per target (`make bench`).
// It never fails on a figure: only on a broken setup.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cilium/ebpf/rlimit"

	"github.com/ftpxdp/ftpxdp/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ftpxdp-bench:", err)
		os.Exit(1)
	}
}

// flags are the benchmark's sizes; the defaults are `make bench`'s.
type flags struct {
	parts     string
	smoke     bool
	repeat    uint
	rounds    int
	profile   bool
	classes   string
	packets   uint
	runs      int
	tries     int
	iperf     int
	iperfRuns int
	pinholes  int
	capacity  uint
	lookups   int
	ftpxdpBin string
	out       string
}

func parseFlags() flags {
	var f flags
	flag.StringVar(&f.parts, "parts", "1,2,3", "parts to run: 1 per-packet, 2 gateway lab, 3 pinhole table")
	flag.BoolVar(&f.smoke, "smoke", false, "tiny counts: check that the harness works, not the figures")
	flag.UintVar(&f.repeat, "repeat", 1000000, "part 1: repeats per run")
	flag.IntVar(&f.rounds, "rounds", 9, "part 1: interleaved runs per program and class")
	flag.BoolVar(&f.profile, "profile", true, "part 1: sample where ftpxdp's time goes with perf")
	flag.StringVar(&f.classes, "classes", "", "part 1: only these comma-separated classes (e.g. syn-pinhole,ctl-PORT)")
	flag.UintVar(&f.packets, "packets", 50000, "part 2: packets offered per run")
	flag.IntVar(&f.runs, "runs", 11, "part 2: measured rounds (after one warm-up round)")
	flag.IntVar(&f.tries, "tries", 3, "part 2: runs per round and setup; the fastest counts")
	flag.IntVar(&f.iperf, "iperf-seconds", 2, "part 2: seconds per iperf3 test, after one omitted (0: no iperf3)")
	flag.IntVar(&f.iperfRuns, "iperf-runs", 7, "part 2: iperf3 rounds")
	flag.IntVar(&f.pinholes, "pinholes", 1000000, "part 3: live pinholes")
	flag.UintVar(&f.capacity, "capacity", 1<<20, "part 3: pinhole map capacity")
	flag.IntVar(&f.lookups, "lookups", 20000, "part 3: distinct pinholes the cold-lookup test opens")
	flag.StringVar(&f.ftpxdpBin, "ftpxdp", "bin/ftpxdp", "part 3: the ftpxdp binary whose `pinholes` is timed (empty: in process)")
	flag.StringVar(&f.out, "out", "bin/bench", "directory for results.json, results.txt and perpacket.svg")
	flag.Parse()
	if f.smoke {
		f.repeat, f.rounds, f.profile = 1000, 1, false
		f.packets, f.runs, f.tries, f.iperf = 2000, 1, 1, 0
		f.pinholes, f.capacity, f.lookups = 2000, 4096, 100
	}
	return f
}

func run() error {
	f := parseFlags()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("lift the memlock limit (run as root): %w", err)
	}
	if f.ftpxdpBin != "" {
		if _, err := os.Stat(f.ftpxdpBin); err != nil {
			log.Warn("no ftpxdp binary: part 3 lists the table in process instead", "path", f.ftpxdpBin)
			f.ftpxdpBin = ""
		}
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(f.parts, ",") {
		parts[strings.TrimSpace(p)] = true
	}
	progress := func(s string) { log.Info(s) }

	res := bench.Results{Machine: bench.ThisMachine()}
	stolen := bench.StealMeter()
	var errs []error
	if parts["1"] {
		opts := bench.PerPacketOptions{Repeat: uint32(f.repeat), Rounds: f.rounds, Profile: f.profile}
		if f.classes != "" {
			opts.Classes = strings.Split(f.classes, ",")
		}
		p, err := bench.RunPerPacket(ctx, opts, progress)
		res.PerPacket = &p
		errs = append(errs, wrap("part 1", err))
	}
	if parts["2"] && ctx.Err() == nil {
		g, err := bench.RunGateway(ctx, bench.GatewayOptions{Packets: uint32(f.packets), Runs: f.runs, Tries: f.tries, IperfSeconds: f.iperf, IperfRuns: f.iperfRuns}, progress)
		res.Gateway = &g
		errs = append(errs, wrap("part 2", err))
	}
	if parts["3"] && ctx.Err() == nil {
		bin := f.ftpxdpBin
		if bin != "" {
			if abs, err := filepath.Abs(bin); err == nil {
				bin = abs
			}
		}
		s, err := bench.RunScale(ctx, bench.ScaleOptions{Pinholes: f.pinholes, Capacity: uint32(f.capacity), Lookups: f.lookups, Ftpxdp: bin}, progress)
		res.Scale = &s
		errs = append(errs, wrap("part 3", err))
	}
	res.Machine.Steal = stolen()
	res.WriteText(os.Stdout)
	errs = append(errs, save(f.out, res))
	return errors.Join(errs...)
}

func wrap(part string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", part, err)
}

// save writes the results, their text and the per-packet plot to dir.
func save(dir string, res bench.Results) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	txt, err := os.Create(filepath.Join(dir, "results.txt"))
	if err != nil {
		return err
	}
	res.WriteText(txt)
	if err := txt.Close(); err != nil {
		return err
	}
	if res.PerPacket == nil {
		return nil
	}
	svg, err := os.Create(filepath.Join(dir, "perpacket.svg"))
	if err != nil {
		return err
	}
	if err := bench.WritePerPacketSVG(svg, res.PerPacket, res.Machine); err != nil {
		svg.Close()
		return err
	}
	return svg.Close()
}
