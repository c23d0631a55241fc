package loader

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// The kernel-test harness: one loaded program per (settings, hook, role),
// shared by the tests of the package run and reset between uses, since
// loading (verification) costs far more than a test run.

// baseClock is the kernel time the harness starts each use at; pinhole
// times in the tests are relative to it.
const baseClock = uint64(1_000_000_000_000)

type harness struct {
	t  testing.TB
	dp *Datapath
	in *Instance
	// peer is an instance of the other role on the same maps and counter
	// slot (a gateway's inside and outside), loaded on first use.
	peer *Instance
	prev map[string]uint64
	now  uint64
}

var (
	harnessMu    sync.Mutex
	harnessCache = map[string]*harness{}
)

// kernelHarness returns a harness for cfg, hook and role with empty maps,
// the clock at baseClock and counter deltas starting from zero. Harnesses
// live for the test binary; the kernel frees them when it exits.
func kernelHarness(t testing.TB, cfg Config, hook Hook, role Role) *harness {
	t.Helper()
	testutil.RequireKernel(t)
	key := fmt.Sprintf("%+v/%s/%s", cfg, hook, role)
	harnessMu.Lock()
	defer harnessMu.Unlock()
	h, ok := harnessCache[key]
	if !ok {
		dp, err := New(cfg, Options{})
		if err != nil {
			t.Fatalf("load maps: %v", err)
		}
		in, err := dp.Instance(hook, role, 0)
		if err != nil {
			dp.Close()
			t.Fatalf("load program: %v", err)
		}
		h = &harness{dp: dp, in: in}
		harnessCache[key] = h
	}
	h.t = t
	h.reset()
	return h
}

// reset empties the state maps (allow rules stay: they are part of the
// settings), sets the clock to baseClock and takes a counter baseline.
func (h *harness) reset() {
	h.t.Helper()
	for _, name := range []string{"pinholes6", "ctrl_conns", "rate_limit"} {
		if err := clearMap(h.dp.maps[name]); err != nil {
			h.t.Fatalf("clear %s: %v", name, err)
		}
	}
	if err := h.dp.ptClear(); err != nil {
		h.t.Fatalf("clear pintab4: %v", err)
	}
	h.setClock(baseClock)
	h.prev = h.counters()
}

func clearMap(m *ebpf.Map) error {
	var keys [][]byte
	var key any // nil: the first key
	for {
		next := make([]byte, m.KeySize())
		if err := m.NextKey(key, &next); err != nil {
			if isNotExist(err) {
				break
			}
			return err
		}
		keys = append(keys, next)
		key = next
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !isNotExist(err) {
			return err
		}
	}
	return nil
}

func (h *harness) setClock(ns uint64) {
	h.t.Helper()
	for _, in := range []*Instance{h.in, h.peer} {
		if in == nil {
			continue
		}
		if err := in.SetClock(ns); err != nil {
			h.t.Fatalf("set clock: %v", err)
		}
	}
	h.now = ns
}

func (h *harness) run(frame []byte) Verdict {
	h.t.Helper()
	return h.runOn(h.in, frame)
}

// other returns the instance of the other role (Inside for Outside, else
// Outside), on the same maps and counter slot.
func (h *harness) other() *Instance {
	h.t.Helper()
	if h.peer == nil {
		role := Outside
		if h.in.Role == Outside {
			role = Inside
		}
		in, err := h.dp.Instance(h.in.Hook, role, h.in.Slot)
		if err != nil {
			h.t.Fatalf("load the %s program: %v", role, err)
		}
		h.peer = in
		h.setClock(h.now)
	}
	return h.peer
}

func (h *harness) runOn(in *Instance, frame []byte) Verdict {
	h.t.Helper()
	v, err := in.Run(frame)
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
	return v
}

// counters reads the counters of slot 0, the only one the harness uses, in
// one batch (far cheaper than reading all 64 slots).
func (h *harness) counters() map[string]uint64 {
	h.t.Helper()
	n := len(h.dp.counters)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		h.t.Fatalf("count CPUs: %v", err)
	}
	keys := make([]uint32, n)
	vals := make([]uint64, n*ncpu)
	var cursor ebpf.MapBatchCursor
	got, err := h.dp.maps["counters"].BatchLookup(&cursor, keys, vals, nil)
	if err != nil && !isNotExist(err) || got != n {
		h.t.Fatalf("read counters: %d of %d: %v", got, n, err)
	}
	out := make(map[string]uint64, n)
	for i, k := range keys {
		for _, v := range vals[i*ncpu : (i+1)*ncpu] {
			out[h.dp.counters[k]] += v
		}
	}
	return out
}

// delta returns the non-zero counter changes since the last delta (or
// reset).
func (h *harness) delta() map[string]uint64 {
	h.t.Helper()
	c := h.counters()
	d := map[string]uint64{}
	for name, v := range c {
		if v != h.prev[name] {
			d[name] = v - h.prev[name]
		}
	}
	h.prev = c
	return d
}

// pinholes returns the map's pinholes in the reference model's order, and
// checks that pintab4's live count agrees with what it holds.
func (h *harness) pinholes() []pinhole.Pinhole {
	h.t.Helper()
	var out []pinhole.Pinhole
	v4 := 0
	for p, err := range h.dp.Pinholes() {
		if err != nil {
			h.t.Fatalf("read pinholes: %v", err)
		}
		out = append(out, p)
		if p.Source.Is4() {
			v4++
		}
	}
	if live, err := h.dp.ptLive(); err != nil || live != uint64(v4) {
		h.t.Errorf("pintab4 holds %d pinholes, its live count says %d (%v)", v4, live, err)
	}
	slices.SortFunc(out, func(a, b pinhole.Pinhole) int {
		return cmp.Or(a.Dest.Compare(b.Dest), a.Source.Compare(b.Source))
	})
	return out
}

// referenceConfig is the reference model's view of the settings.
func referenceConfig(c Config) pinhole.Config {
	return pinhole.Config{
		MinPort:        c.MinPort,
		PinholeTimeout: c.PinholeTimeout,
		SYNGrace:       c.SYNGrace,
		MaxPerControl:  c.MaxPerControl,
		Capacity:       int(c.MaxPinholes),
		Loose:          c.Loose,
		StrictSequence: c.StrictSequence,
		RequireRequest: c.RequireRequest,
		RateWindow:     c.RateWindow,
		RateBurst:      c.RateBurst,
	}
}

// session builds the segments of one control connection with in-order
// sequence numbers, and data-connection SYNs.
type session struct {
	ctl      pinhole.Control
	seq      [2]uint32
	vlans    []uint16
	ipv4Opts []byte
	hbh      bool
}

func newSession(client, server string) *session {
	return &session{
		ctl: pinhole.Control{
			Client: netip.MustParseAddrPort(client),
			Server: netip.MustParseAddrPort(server),
		},
		seq: [2]uint32{1000, 5000},
	}
}

// segment returns the next segment in direction dir carrying text.
func (s *session) segment(dir pinhole.Direction, text string) testutil.TCP {
	p := s.tcp(dir)
	p.ACK, p.PSH = true, true
	p.Seq = s.seq[dir]
	p.Payload = []byte(text)
	s.seq[dir] += uint32(len(text))
	return p
}

// tcp is a bare segment in direction dir with the session's headers.
func (s *session) tcp(dir pinhole.Direction) testutil.TCP {
	src, dst := s.ctl.Client, s.ctl.Server
	if dir == pinhole.ServerToClient {
		src, dst = dst, src
	}
	return testutil.TCP{Src: src, Dst: dst, VLANs: s.vlans, IPv4Options: s.ipv4Opts, IPv6HopByHop: s.hbh}
}

func (s *session) cmd(text string) testutil.TCP   { return s.segment(pinhole.ClientToServer, text) }
func (s *session) reply(text string) testutil.TCP { return s.segment(pinhole.ServerToClient, text) }

// syn is a data-connection SYN from src to dst with the session's headers.
func (s *session) syn(src, dst string) testutil.TCP {
	p := s.tcp(pinhole.ClientToServer)
	p.Src, p.Dst = netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	p.SYN = true
	return p
}
