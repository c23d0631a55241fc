package metrics

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
)

// The scenario moves the kernel counters by exactly the amounts the tests
// expect: without this, a wrong expectation in a metrics test could be a
// metrics bug or a misread of the kernel.
func TestScenarioCounts(t *testing.T) {
	l := newLab(t, labConfig())
	l.scenario()
	cs, err := l.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []*loader.Instance{l.out, l.in} {
		want := scenarioCounts[in.Role]
		for _, name := range cs.Names {
			if got := cs.Slot(in.Slot, name); got != want[name] {
				t.Errorf("%s %s = %d, want %d", in.Role, name, got, want[name])
			}
		}
	}
}

var labInterfaces = map[uint8]string{0: "out0", 1: "in0"}

// registry registers c alone with a pedantic registry, which also checks
// that what Collect sends matches what Describe promised.
func registry(t testing.TB, c *Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestCollectorCountsTheScenario(t *testing.T) {
	l := newLab(t, labConfig())
	c := NewCollector(l.dp, Options{Interfaces: labInterfaces})
	reg := registry(t, c)

	before := series(t, reg)
	for k, v := range before {
		if v != 0 && !strings.HasPrefix(k, "ftpxdp_build_info") && !strings.HasPrefix(k, "ftpxdp_map_max_entries") {
			t.Errorf("before any packet: %s = %v", k, v)
		}
	}

	l.scenario()
	all := series(t, reg)
	expectFamily(t, all, "ftpxdp_packets_total", map[string]float64{
		`ftpxdp_packets_total{interface="in0",verdict="pass"}`:  6,
		`ftpxdp_packets_total{interface="out0",verdict="pass"}`: 3,
		`ftpxdp_packets_total{interface="out0",verdict="drop"}`: 2,
	})
	expectFamily(t, all, "ftpxdp_packets_would_drop_total", nil)
	expectFamily(t, all, "ftpxdp_syns_total", map[string]float64{
		`ftpxdp_syns_total{decision="allowed_pinhole",interface="out0"}`:  1,
		`ftpxdp_syns_total{decision="retransmit_grace",interface="out0"}`: 1,
		`ftpxdp_syns_total{decision="consumed_pinhole",interface="out0"}`: 1,
		`ftpxdp_syns_total{decision="no_pinhole",interface="out0"}`:       1,
	})
	expectFamily(t, all, "ftpxdp_control_lines_total", map[string]float64{
		`ftpxdp_control_lines_total{interface="in0",kind="other"}`: 1,
		`ftpxdp_control_lines_total{interface="in0",kind="port"}`:  3,
		`ftpxdp_control_lines_total{interface="in0",kind="pasv"}`:  1,
		`ftpxdp_control_lines_total{interface="in0",kind="eprt"}`:  1,
		`ftpxdp_control_lines_total{interface="out0",kind="227"}`:  1,
	})
	expectFamily(t, all, "ftpxdp_control_segments_total", map[string]float64{
		`ftpxdp_control_segments_total{interface="in0"}`:  6,
		`ftpxdp_control_segments_total{interface="out0"}`: 1,
	})
	expectFamily(t, all, "ftpxdp_pinholes_created_total", map[string]float64{
		`ftpxdp_pinholes_created_total{family="ipv4",interface="in0",mode="active"}`:   1,
		`ftpxdp_pinholes_created_total{family="ipv6",interface="in0",mode="active"}`:   1,
		`ftpxdp_pinholes_created_total{family="ipv4",interface="out0",mode="passive"}`: 1,
	})
	expectFamily(t, all, "ftpxdp_rejects_total", map[string]float64{
		`ftpxdp_rejects_total{interface="in0",reason="low_port"}`:         1,
		`ftpxdp_rejects_total{interface="in0",reason="address_mismatch"}`: 1,
	})
	expectFamily(t, all, "ftpxdp_map_entries", map[string]float64{
		`ftpxdp_map_entries{family="ipv4",map="pinholes"}`: 2,
		`ftpxdp_map_entries{family="ipv6",map="pinholes"}`: 1,
		`ftpxdp_map_entries{family="",map="ctrl_conns"}`:   3,
		`ftpxdp_map_entries{family="",map="rate_limit"}`:   2,
	})
	expectFamily(t, all, "ftpxdp_map_max_entries", map[string]float64{
		`ftpxdp_map_max_entries{family="ipv4",map="pinholes"}`: 64,
		`ftpxdp_map_max_entries{family="ipv6",map="pinholes"}`: 64,
		`ftpxdp_map_max_entries{family="",map="ctrl_conns"}`:   65536,
		`ftpxdp_map_max_entries{family="",map="rate_limit"}`:   65536,
	})
	expectFamily(t, all, "ftpxdp_collection_errors_total", nil)
	if n := len(seriesOf(all, "ftpxdp_kernel_events_total")); n != 0 {
		t.Errorf("%d kernel counters have no dedicated metric", n)
	}

	// The wait from the PORT to the SYN it let in, in cumulative buckets.
	if err := promtest.CollectAndCompare(c, strings.NewReader(histogramText(scenarioWait, 1)),
		"ftpxdp_pinhole_admission_wait_seconds"); err != nil {
		t.Error(err)
	}
}

// histogramText is the exposition of the admission-wait histogram after n
// admissions that each waited w.
func histogramText(w time.Duration, n int) string {
	var b strings.Builder
	b.WriteString("# HELP ftpxdp_pinhole_admission_wait_seconds Time from a pinhole's creation to the first SYN it admitted.\n")
	b.WriteString("# TYPE ftpxdp_pinhole_admission_wait_seconds histogram\n")
	for _, bound := range loader.WaitBounds {
		in := 0
		if w <= bound {
			in = n
		}
		fmt.Fprintf(&b, "ftpxdp_pinhole_admission_wait_seconds_bucket{le=%q} %d\n",
			strconv.FormatFloat(bound.Seconds(), 'g', -1, 64), in)
	}
	fmt.Fprintf(&b, "ftpxdp_pinhole_admission_wait_seconds_bucket{le=\"+Inf\"} %d\n", n)
	fmt.Fprintf(&b, "ftpxdp_pinhole_admission_wait_seconds_sum %s\n",
		strconv.FormatFloat(float64(n)*w.Seconds(), 'g', -1, 64))
	fmt.Fprintf(&b, "ftpxdp_pinhole_admission_wait_seconds_count %d\n", n)
	return b.String()
}

// Every kernel counter of every named slot is exported exactly once, and
// the label values come from the kernel's names: a counter the exporter
// does not know still shows up, and nothing is counted twice.
func TestCollectorExportsEveryKernelCounter(t *testing.T) {
	l := newLab(t, labConfig())
	c := NewCollector(l.dp, Options{Interfaces: labInterfaces})
	reg := registry(t, c)
	l.scenario()

	cs, err := l.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	all := series(t, reg)
	perIface := map[string]int{}
	var exported float64
	for _, f := range c.families {
		for k, v := range seriesOf(all, descName(f.desc)) {
			exported += v
			for iface := range map[string]bool{"in0": true, "out0": true} {
				if strings.Contains(k, `interface="`+iface+`"`) {
					perIface[iface]++
				}
			}
		}
	}
	var total float64
	for _, n := range cs.Names {
		total += float64(cs.Total(n))
	}
	if exported != total {
		t.Errorf("exported counters sum to %v, the kernel's to %v", exported, total)
	}
	for iface, n := range perIface {
		if n != len(cs.Names) {
			t.Errorf("interface %s has %d counter series, the kernel %d counters", iface, n, len(cs.Names))
		}
	}

	// Every reject_* counter is a reason, named after it.
	for _, n := range cs.Names {
		if reason, ok := strings.CutPrefix(n, "reject_"); ok {
			k := `ftpxdp_rejects_total{interface="in0",reason="` + reason + `"}`
			if _, ok := all[k]; !ok {
				t.Errorf("kernel counter %s: no series %s", n, k)
			}
		}
	}
}

func TestCollectorObserveModeCountsWouldDrop(t *testing.T) {
	cfg := labConfig()
	cfg.Observe = true
	l := newLab(t, cfg)
	reg := registry(t, NewCollector(l.dp, Options{Interfaces: labInterfaces}))

	for i := range 3 {
		dst := netip.AddrPortFrom(client, uint16(50000+i))
		if v := l.syn(netip.AddrPortFrom(server, 20), dst); v != loader.Pass {
			t.Fatalf("observe mode: SYN without a pinhole: %s, want pass", v)
		}
	}
	all := series(t, reg)
	expectFamily(t, all, "ftpxdp_packets_would_drop_total", map[string]float64{
		`ftpxdp_packets_would_drop_total{interface="out0"}`: 3,
	})
	expectFamily(t, all, "ftpxdp_packets_total", map[string]float64{
		`ftpxdp_packets_total{interface="out0",verdict="pass"}`: 3,
	})
	expectFamily(t, all, "ftpxdp_syns_total", map[string]float64{
		`ftpxdp_syns_total{decision="no_pinhole",interface="out0"}`: 3,
	})
}

// The sweeper's counts come from a real sweep of the scenario's maps.
func TestCollectorReportsSweeps(t *testing.T) {
	l := newLab(t, labConfig())
	stats := &SweepStats{}
	reg := registry(t, NewCollector(l.dp, Options{Interfaces: labInterfaces, Sweeps: stats}))
	l.scenario()

	all := series(t, reg)
	expectFamily(t, all, "ftpxdp_pinholes_expired_total", nil)
	expectFamily(t, all, "ftpxdp_sweeps_total", nil)

	r, err := l.dp.Sweep(l.now+uint64(10*time.Minute), time.Minute)
	stats.Observe(r, err)
	if err != nil {
		t.Fatal(err)
	}
	all = series(t, reg)
	expectFamily(t, all, "ftpxdp_pinholes_expired_total", map[string]float64{
		`ftpxdp_pinholes_expired_total{state="unused"}`: 2, // the EPRT's and the 227's
		`ftpxdp_pinholes_expired_total{state="used"}`:   1, // the PORT's, after its SYN
	})
	expectFamily(t, all, "ftpxdp_control_connections_expired_total", map[string]float64{
		"ftpxdp_control_connections_expired_total": 3,
	})
	expectFamily(t, all, "ftpxdp_rate_limit_entries_expired_total", map[string]float64{
		"ftpxdp_rate_limit_entries_expired_total": 2,
	})
	expectFamily(t, all, "ftpxdp_sweeps_total", map[string]float64{"ftpxdp_sweeps_total": 1})
	expectFamily(t, all, "ftpxdp_sweep_errors_total", nil)
	expectFamily(t, all, "ftpxdp_map_entries", nil) // all swept

	stats.Observe(loader.SweepResult{}, errors.New("sweep pinholes: operation not permitted"))
	all = series(t, reg)
	expectFamily(t, all, "ftpxdp_sweeps_total", map[string]float64{"ftpxdp_sweeps_total": 2})
	expectFamily(t, all, "ftpxdp_sweep_errors_total", map[string]float64{"ftpxdp_sweep_errors_total": 1})
}

// A slot with no name is reported by number once it counted something.
func TestCollectorUnnamedSlots(t *testing.T) {
	l := newLab(t, labConfig())
	reg := registry(t, NewCollector(l.dp, Options{Interfaces: map[uint8]string{0: "out0"}}))
	extra, err := l.dp.Instance(loader.HookTC, loader.Outside, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { extra.Close() })
	if v := l.run(extra, testutil.TCP{Src: netip.AddrPortFrom(server, 20), Dst: netip.AddrPortFrom(client, 50000), SYN: true}); v != loader.Drop {
		t.Fatalf("SYN without a pinhole: %s, want drop", v)
	}
	all := series(t, reg)
	expectFamily(t, all, "ftpxdp_packets_total", map[string]float64{
		`ftpxdp_packets_total{interface="slot5",verdict="drop"}`: 1,
	})
	for k := range all {
		if strings.Contains(k, `interface="in0"`) || strings.Contains(k, `interface="slot1"`) {
			t.Errorf("series for a slot that counted nothing and has no name: %s", k)
		}
	}
	if _, ok := all[`ftpxdp_packets_total{interface="out0",verdict="pass"}`]; !ok {
		t.Error("a named slot is reported before it counts anything")
	}
}

func TestCollectorBuildInfo(t *testing.T) {
	l := newLab(t, labConfig())
	c := NewCollector(l.dp, Options{Version: "1.2.3"})
	all := series(t, registry(t, c))
	found := 0
	for k, v := range seriesOf(all, "ftpxdp_build_info") {
		found++
		if v != 1 || !strings.Contains(k, `version="1.2.3"`) || !strings.Contains(k, `goversion="`+runtime.Version()+`"`) ||
			!strings.Contains(k, `revision="`) {
			t.Errorf("build info %s = %v", k, v)
		}
	}
	if found != 1 {
		t.Errorf("%d build_info series, want 1", found)
	}
}

// A datapath that cannot be read fails the scrape's parts that read it,
// counts each failure, and still serves the rest.
func TestCollectorCountsReadErrors(t *testing.T) {
	l := newLab(t, labConfig())
	c := NewCollector(l.dp, Options{Interfaces: labInterfaces, Sweeps: &SweepStats{}, Log: quietLog})
	reg := registry(t, c)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather from an open datapath: %v", err)
	}
	l.dp.Close()

	mfs, err := reg.Gather()
	if err == nil {
		t.Fatal("gather from a closed datapath: no error")
	}
	// counters, admission wait, map usage
	if got := promtest.ToFloat64(c.collectionErrors); got != 3 {
		t.Errorf("collection errors = %v, want 3", got)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"ftpxdp_build_info", "ftpxdp_sweeps_total", "ftpxdp_collection_errors_total"} {
		if !names[n] {
			t.Errorf("%s missing from a scrape that partly failed", n)
		}
	}
}

func TestCollectorLint(t *testing.T) {
	l := newLab(t, labConfig())
	reg := registry(t, NewCollector(l.dp, Options{Interfaces: labInterfaces, Sweeps: &SweepStats{}, Attached: func() error { return nil }}))
	l.scenario()
	problems, err := promtest.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
