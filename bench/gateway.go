package bench

import (
	"context"
	"errors"
	"fmt"
)

// GatewayOptions size the forwarding benchmark.
type GatewayOptions struct {
	// Packets is what the generator offers per run.
	Packets uint32
	// Runs is the measured rounds; one warm-up round comes first.
	Runs int
	// Tries is the runs per round and setup, of which the fastest counts:
	// a shared VM only ever adds time, so the fastest of a few is the
	// least disturbed.
	Tries int
	// IperfSeconds is the length of one iperf3 test; 0 skips iperf3.
	IperfSeconds int
	// IperfRuns is the iperf3 rounds (default Runs).
	IperfRuns int
}

// SetupResult is one gateway setup over all rounds.
type SetupResult struct {
	Name    string     `json:"name"`
	Forward []offered  `json:"forward"`
	Flood   []offered  `json:"flood"`
	Iperf   []iperfRun `json:"iperf"`
	// Offloads is the client veth's segmentation offloads while the setup
	// is in force (native XDP on the peer turns them off).
	Offloads string `json:"client_offloads"`
}

// ForwardNs is the median ns per forwarded packet.
func (s SetupResult) ForwardNs() float64 { return median(nsOf(s.Forward)) }

// FloodNs is the median ns per flood packet.
func (s SetupResult) FloodNs() float64 { return median(nsOf(s.Flood)) }

// IperfGbps is the median iperf3 throughput.
func (s SetupResult) IperfGbps() float64 {
	var g []float64
	for _, r := range s.Iperf {
		g = append(g, r.Gbps)
	}
	return median(g)
}

func nsOf(os []offered) []float64 {
	var ns []float64
	for _, o := range os {
		ns = append(ns, o.NsPerPacket())
	}
	return ns
}

// GatewayResult is the outcome of the forwarding benchmark.
type GatewayResult struct {
	Packets uint32        `json:"packets"`
	Runs    int           `json:"runs"`
	Setups  []SetupResult `json:"setups"`
	// IperfSeconds and IperfRuns size the iperf3 tests.
	IperfSeconds int `json:"iperf_seconds"`
	IperfRuns    int `json:"iperf_runs"`
	Tries        int `json:"tries"`
}

// Added is the median, over rounds, of the ns per packet setup name adds
// to bare forwarding in the same round (flood: of the SYN flood).
func (g GatewayResult) Added(name string, flood bool) float64 {
	return g.AddedOver(name, setupBare, flood)
}

// AddedOver is the median, over rounds, of the ns per packet setup name
// adds to setup base in the same round.
func (g GatewayResult) AddedOver(name, base string, flood bool) float64 {
	s, b := g.Setup(name), g.Setup(base)
	x, y := s.Forward, b.Forward
	if flood {
		x, y = s.Flood, b.Flood
	}
	var d []float64
	for i := range min(len(x), len(y)) {
		d = append(d, x[i].NsPerPacket()-y[i].NsPerPacket())
	}
	return median(d)
}

// IperfRatio is the median, over rounds, of setup name's iperf3 throughput
// over bare forwarding's in the same round: paired, so that a round the
// shared machine slowed down slows both.
func (g GatewayResult) IperfRatio(name string) float64 {
	a, b := g.Setup(name).Iperf, g.Setup(setupBare).Iperf
	var q []float64
	for i := range min(len(a), len(b)) {
		if b[i].Gbps > 0 {
			q = append(q, a[i].Gbps/b[i].Gbps)
		}
	}
	return median(q)
}

// Setup returns the named setup's result.
func (g GatewayResult) Setup(name string) SetupResult {
	for _, s := range g.Setups {
		if s.Name == name {
			return s
		}
	}
	return SetupResult{Name: name}
}

// RunGateway builds the lab, runs every setup round after round (a warm-up
// round first, then opts.Runs measured ones), and deletes the lab, also on
// failure.
func RunGateway(ctx context.Context, opts GatewayOptions, progress func(string)) (res GatewayResult, err error) {
	res = GatewayResult{Packets: opts.Packets, Runs: opts.Runs, IperfSeconds: opts.IperfSeconds, IperfRuns: opts.IperfRuns, Tries: opts.Tries}
	l, err := newLab()
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	if err := l.guardClient(); err != nil {
		return res, err
	}
	// XDP_TX into a veth needs the peer's NAPI, which an XDP program or
	// GRO turns on: GRO, so that setups without XDP receive at all.
	if err := l.gw.setGRO("out0", true); err != nil {
		return res, err
	}
	rig, err := newGatewayRig()
	if err != nil {
		return res, err
	}
	defer rig.Close()
	results := map[string]*SetupResult{}
	for _, name := range gatewaySetups {
		results[name] = &SetupResult{Name: name}
	}
	if err := l.packetRounds(ctx, rig, opts, results, progress); err != nil {
		return res, err
	}
	if res.IperfRuns <= 0 {
		res.IperfRuns = opts.Runs
	}
	if opts.IperfSeconds > 0 {
		if err := l.iperfRounds(ctx, rig, opts, results, progress); err != nil {
			return res, err
		}
	}
	for _, name := range gatewaySetups {
		res.Setups = append(res.Setups, *results[name])
	}
	return res, nil
}

func (l *lab) packetRounds(ctx context.Context, rig *gatewayRig, opts GatewayOptions, results map[string]*SetupResult, progress func(string)) error {
	s, err := attachSink(l)
	if err != nil {
		return err
	}
	defer s.Close()
	data, syn := l.dataFrame(), l.synFrame()
	gData, err := newGenerator(l, data, 0, 0)
	if err != nil {
		return err
	}
	defer gData.Close()
	gFlood, err := newGenerator(l, syn, floodPortBase, floodPortSpan)
	if err != nil {
		return err
	}
	defer gFlood.Close()

	for round := 0; round <= opts.Runs; round++ {
		for _, name := range gatewaySetups {
			if err := ctx.Err(); err != nil {
				return err
			}
			fwd, flood, err := l.packetRun(rig, name, s, gData, gFlood, data, syn, opts, round == 0)
			if err != nil {
				return fmt.Errorf("setup %s: %w", name, err)
			}
			if round == 0 {
				continue
			}
			r := results[name]
			r.Forward = append(r.Forward, fwd)
			r.Flood = append(r.Flood, flood)
			progress(fmt.Sprintf("gateway run %d %-13s forward %7.1f ns/pkt (%.0f%% arrived)  SYN flood %7.1f ns/pkt (%.0f%% accounted)",
				round, name, fwd.NsPerPacket(), 100*float64(fwd.Received)/float64(fwd.Sent), flood.NsPerPacket(), 100*flood.Accounted()))
		}
	}
	return nil
}

// packetRun applies one setup, warms it up, measures forwarding and the
// SYN flood (the fastest of opts.Tries runs each), and removes it.
func (l *lab) packetRun(rig *gatewayRig, name string, s *sink, gData, gFlood *generator, data, syn []byte,
	opts GatewayOptions, warmup bool) (fwd, flood offered, err error) {
	a, err := l.apply(rig, name)
	if err != nil {
		return fwd, flood, err
	}
	defer func() { err = errors.Join(err, a.remove()) }()
	if name == setupNft {
		if err := l.primeFlow(); err != nil {
			return fwd, flood, err
		}
	}
	n := opts.Packets
	warm := max(n/5, 1)
	if warmup {
		warm = n
	}
	best := func(g *generator, frame []byte) (offered, error) {
		if _, err := l.offer(g, s, a, frame, warm); err != nil {
			return offered{}, err
		}
		var b offered
		for try := range max(opts.Tries, 1) {
			o, err := l.offer(g, s, a, frame, n)
			if err != nil {
				return o, err
			}
			if try == 0 || o.Elapsed < b.Elapsed {
				b = o
			}
		}
		return b, nil
	}
	if fwd, err = best(gData, data); err != nil {
		return fwd, flood, err
	}
	flood, err = best(gFlood, syn)
	return fwd, flood, err
}

func (l *lab) iperfRounds(ctx context.Context, rig *gatewayRig, opts GatewayOptions, results map[string]*SetupResult, progress func(string)) error {
	srv, err := l.startIperfServer()
	if err != nil {
		return err
	}
	defer srv.Stop()
	runs := opts.IperfRuns
	if runs <= 0 {
		runs = opts.Runs
	}
	for round := 1; round <= runs; round++ {
		for _, name := range iperfSetups {
			if err := ctx.Err(); err != nil {
				return err
			}
			run, offloads, err := l.iperfRun(rig, name, opts.IperfSeconds)
			if err != nil {
				return fmt.Errorf("setup %s: %w", name, err)
			}
			r := results[name]
			r.Iperf = append(r.Iperf, run)
			r.Offloads = offloads
			progress(fmt.Sprintf("iperf3 run %d %-13s %6.2f Gbit/s, %d retransmits", round, name, run.Gbps, run.Retransmits))
		}
	}
	return nil
}

func (l *lab) iperfRun(rig *gatewayRig, name string, seconds int) (run iperfRun, offloads string, err error) {
	a, err := l.apply(rig, name)
	if err != nil {
		return run, "", err
	}
	defer func() { err = errors.Join(err, a.remove()) }()
	offloads, err = l.clientOffloads()
	if err != nil {
		return run, "", err
	}
	run, err = l.iperf(seconds)
	return run, offloads, err
}

// clientOffloads lists the client veth's offloads that are on.
func (l *lab) clientOffloads() (string, error) { return l.client.offloads("eth0") }
