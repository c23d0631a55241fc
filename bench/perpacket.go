package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ftpxdp/ftpxdp/loader"
)

// PerPacketOptions size the per-packet benchmark.
type PerPacketOptions struct {
	// Repeat is how many times one run repeats the packet in the kernel.
	Repeat uint32
	// Rounds is how many interleaved runs each program gets per class.
	Rounds int
	// Profile samples where ftpxdp's time goes with perf, when perf runs.
	Profile bool
	// Classes, when set, limits the run to the named classes.
	Classes []string
}

// Program names in the per-packet results.
const (
	progFloor     = "floor"
	progReference = "reference"
	progFtpxdp    = "ftpxdp"
)

// perPacketPrograms is the order of every round: A B C A B C ...
var perPacketPrograms = []string{progFloor, progReference, progFtpxdp}

// ClassResult is one packet class: the kernel's ns per packet of each
// program, one sample per round.
type ClassResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Samples[program] are the kernel's ns/packet, one per round.
	Samples map[string][]float64 `json:"samples_ns"`
	// Path is what ftpxdp counted per packet in this class.
	Path string `json:"path"`
}

// Median is the median ns/packet of a program.
func (c ClassResult) Median(prog string) float64 { return median(c.Samples[prog]) }

// Ratio is the median, over rounds, of prog's time over base's in the same
// round: paired, so that a round the shared machine slowed down slows
// both, and noise that comes and goes between rounds cancels out.
func (c ClassResult) Ratio(prog, base string) float64 {
	a, b := c.Samples[prog], c.Samples[base]
	var q []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			q = append(q, a[i]/b[i])
		}
	}
	return median(q)
}

// ProgramSize is the size of a loaded program.
type ProgramSize struct {
	Name       string `json:"name"`
	Translated int    `json:"xlated_insns"`
	Jited      uint32 `json:"jited_bytes"`
	Verified   uint32 `json:"verified_insns"`
}

// PerPacketResult is the outcome of the per-packet benchmark.
type PerPacketResult struct {
	Repeat   uint32         `json:"repeat"`
	Rounds   int            `json:"rounds"`
	Classes  []ClassResult  `json:"classes"`
	Sizes    []ProgramSize  `json:"sizes"`
	Profiles []ClassProfile `json:"profiles,omitempty"`
	// ProfileNote says why there is no profile, when there is none.
	ProfileNote string `json:"profile_note,omitempty"`
}

// perPacketRig holds the loaded programs of the per-packet benchmark.
type perPacketRig struct {
	floor    floorObjects
	ref      referenceObjects
	shipped  *loader.Datapath // DefaultConfig plus tcp/21: data and SYN classes
	control  *loader.Datapath // every repeat of a control segment parsed
	inShip   *loader.Instance
	inCtl    *loader.Instance
	closeFns closers
}

// benchConfig is a stock install with the FTP control port allowed in,
// as `ftpxdp run --allow tcp/21` runs.
func benchConfig() loader.Config {
	cfg := loader.DefaultConfig()
	cfg.Allow = []loader.AllowRule{{Port: 21}}
	return cfg
}

// controlConfig parses every repeat of a control segment: the kernel
// program otherwise treats a repeated segment (same sequence number) as a
// retransmission and skips it, and a 227/229 repeated without its PASV/EPSV
// would be refused before it is parsed. Both are settings, not code: the
// program is the same.
func controlConfig() loader.Config {
	cfg := benchConfig()
	cfg.StrictSequence = false
	cfg.RequireRequest = false
	return cfg
}

func newPerPacketRig() (_ *perPacketRig, err error) {
	r := &perPacketRig{}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := loadFloorObjects(&r.floor, nil); err != nil {
		return nil, fmt.Errorf("load floor program: %w", err)
	}
	r.closeFns = append(r.closeFns, r.floor.Close)
	if err := loadReferenceObjects(&r.ref, nil); err != nil {
		return nil, fmt.Errorf("load reference program: %w", err)
	}
	r.closeFns = append(r.closeFns, r.ref.Close)
	for _, x := range []struct {
		cfg loader.Config
		dp  **loader.Datapath
		in  **loader.Instance
	}{{benchConfig(), &r.shipped, &r.inShip}, {controlConfig(), &r.control, &r.inCtl}} {
		dp, err := loader.New(x.cfg, loader.Options{})
		if err != nil {
			return nil, fmt.Errorf("load ftpxdp maps: %w", err)
		}
		r.closeFns = append(r.closeFns, dp.Close)
		in, err := dp.Instance(loader.HookXDP, loader.Outside, 0)
		if err != nil {
			return nil, fmt.Errorf("load ftpxdp program: %w", err)
		}
		r.closeFns = append(r.closeFns, in.Close)
		*x.dp, *x.in = dp, in
	}
	return r, nil
}

// Close unloads everything, last loaded first.
func (r *perPacketRig) Close() error {
	return r.closeFns.Close()
}

// ftpxdpFor returns the datapath and instance a class runs on.
func (r *perPacketRig) ftpxdpFor(c packetClass) (*loader.Datapath, *loader.Instance) {
	if c.Kind == kindControl {
		return r.control, r.inCtl
	}
	return r.shipped, r.inShip
}

// prepare puts the class's state in place before a run of ftpxdp.
func (r *perPacketRig) prepare(c packetClass) error {
	if c.Pinhole == nil {
		return nil
	}
	p := *c.Pinhole
	now := loader.KernelNow()
	p.CreatedNs, p.ExpiresNs = now, now+uint64(benchConfig().PinholeTimeout)
	dp, _ := r.ftpxdpFor(c)
	if err := dp.PutPinhole(p); err != nil {
		return fmt.Errorf("put the pinhole of %s: %w", c.Name, err)
	}
	return nil
}

// run runs one program over the class's frame repeat times and returns the
// kernel's own ns per packet.
func (r *perPacketRig) run(prog string, c packetClass, repeat uint32) (float64, error) {
	var p *ebpf.Program
	switch prog {
	case progFloor:
		p = r.floor.FloorXdp
	case progReference:
		p = r.ref.ReferenceXdp
	default:
		if err := r.prepare(c); err != nil {
			return 0, err
		}
		_, in := r.ftpxdpFor(c)
		p = in.Program
	}
	_, d, err := p.Benchmark(c.Frame, int(repeat), nil)
	if err != nil {
		return 0, fmt.Errorf("run %s on %s: %w", prog, c.Name, err)
	}
	return float64(d.Nanoseconds()), nil
}

// xdp return codes.
const (
	xdpDrop = 1
	xdpPass = 2
)

// check runs ftpxdp over the class n times and fails unless it took the
// class's verdict and counted its path once per packet: the benchmark
// must measure the path it names. It returns that path as counted.
func (r *perPacketRig) check(c packetClass, n uint32) (string, error) {
	dp, in := r.ftpxdpFor(c)
	if err := r.prepare(c); err != nil {
		return "", err
	}
	before, err := dp.Counters()
	if err != nil {
		return "", err
	}
	ret, _, err := in.Program.Benchmark(c.Frame, int(n), nil)
	if err != nil {
		return "", fmt.Errorf("run ftpxdp on %s: %w", c.Name, err)
	}
	after, err := dp.Counters()
	if err != nil {
		return "", err
	}
	want := uint32(xdpPass)
	if c.Verdict == loader.Drop {
		want = xdpDrop
	}
	if ret != want {
		return "", fmt.Errorf("class %s: ftpxdp returned %d, want %d (%s)", c.Name, ret, want, c.Verdict)
	}
	// The reference must reach the same verdict: a SYN it finds passes, a
	// SYN it misses drops. Otherwise its key is wrong, and so its cost.
	if ret, _, err := r.ref.ReferenceXdp.Benchmark(c.Frame, 1, nil); err != nil || ret != want {
		return "", fmt.Errorf("class %s: reference returned %d (%v), want %d", c.Name, ret, err, want)
	}
	delta := after.Sub(before)
	// The first repeat may differ (a pinhole's first use, a new control
	// connection); every other one must count the path.
	for _, name := range c.Path {
		if got := delta.Total(name); got < uint64(n)-1 {
			return "", fmt.Errorf("class %s: counter %s went up %d times in %d packets: the class does not take the path it names (%v)",
				c.Name, name, got, n, delta.NonZero())
		}
	}
	var path []string
	for name, v := range delta.NonZero() {
		if v*2 >= uint64(n) && name != "packet_pass" && name != "control_segment" {
			per := float64(v) / float64(n)
			if per >= 1.5 {
				path = append(path, fmt.Sprintf("%s x%.0f", name, per))
			} else {
				path = append(path, name)
			}
		}
	}
	slices.Sort(path)
	if len(path) == 0 {
		path = []string{"packet_pass"}
	}
	return strings.Join(path, ", "), nil
}

// sizes reads the size of each loaded program.
func (r *perPacketRig) sizes() ([]ProgramSize, error) {
	var out []ProgramSize
	for _, x := range []struct {
		name string
		p    *ebpf.Program
	}{{progFloor, r.floor.FloorXdp}, {progReference, r.ref.ReferenceXdp}, {progFtpxdp, r.inShip.Program}} {
		info, err := x.p.Info()
		if err != nil {
			return nil, fmt.Errorf("read %s program info: %w", x.name, err)
		}
		s := ProgramSize{Name: x.name}
		if n, err := info.TranslatedSize(); err == nil {
			s.Translated = n / 8
		}
		if n, err := info.JitedSize(); err == nil {
			s.Jited = n
		}
		s.Verified, _ = info.VerifiedInstructions()
		out = append(out, s)
	}
	return out, nil
}

// RunPerPacket measures every class through the floor, the reference and
// ftpxdp, interleaved: for each class, round after round, one run of each
// program in turn, so that a noisy moment hits all three alike.
func RunPerPacket(ctx context.Context, opts PerPacketOptions, progress func(string)) (PerPacketResult, error) {
	res := PerPacketResult{Repeat: opts.Repeat, Rounds: opts.Rounds}
	r, err := newPerPacketRig()
	if err != nil {
		return res, err
	}
	defer r.Close()
	classes := perPacketClasses(loader.KernelNow())
	if len(opts.Classes) > 0 {
		classes = slices.DeleteFunc(classes, func(c packetClass) bool { return !slices.Contains(opts.Classes, c.Name) })
		if len(classes) == 0 {
			return res, fmt.Errorf("no packet class named %v", opts.Classes)
		}
	}
	for _, c := range classes {
		if c.Tuple {
			if err := r.putTuple(c.Frame); err != nil {
				return res, err
			}
		}
	}
	if res.Sizes, err = r.sizes(); err != nil {
		return res, err
	}
	for _, c := range classes {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		path, err := r.check(c, min(opts.Repeat, 10000))
		if err != nil {
			return res, err
		}
		cr := ClassResult{Name: c.Name, Kind: c.Kind, Path: path, Samples: map[string][]float64{}}
		for round := 0; round < opts.Rounds; round++ {
			for _, prog := range perPacketPrograms {
				ns, err := r.run(prog, c, opts.Repeat)
				if err != nil {
					return res, err
				}
				cr.Samples[prog] = append(cr.Samples[prog], ns)
			}
		}
		res.Classes = append(res.Classes, cr)
		progress(fmt.Sprintf("per-packet %-15s floor %6.1f  reference %6.1f  ftpxdp %6.1f ns", c.Name,
			cr.Median(progFloor), cr.Median(progReference), cr.Median(progFtpxdp)))
	}
	if opts.Profile {
		res.Profiles, res.ProfileNote = r.profile(ctx, classes, progress)
	}
	return res, nil
}
