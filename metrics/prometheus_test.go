package metrics

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/metrics/promlab"
)

// serveIn serves h on a loopback port of ns until the test ends.
func serveIn(t *testing.T, ns *testutil.NetNS, h http.Handler) string {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// expectation is a PromQL expression selecting one series and the value
// the test makes it reach: for a counter, how far it moves.
type expectation struct {
	expr    string
	want    float64
	counter bool
}

// Slots of the test's own program instances on the gateway's datapath,
// apart from the gateway's (which count whatever the veths carry).
const labOutSlot, labInSlot = 20, 21

// A real Prometheus scrapes the handler serving a real gateway's datapath
// while real packets move its counters: the counters reach Prometheus by
// the amounts sent, every dashboard query and every alert expression
// evaluates, and the alerts that should fire do once their condition is
// made real (a full map, a reject spike, a detached program).
func TestRealPrometheus(t *testing.T) {
	promlab.RequireTool(t, "prometheus")
	ns, gw := gateway(t)
	l := labOn(t, gw.Datapath(), labOutSlot, labInSlot)
	ifaces := gw.Interfaces()
	ifaces[labOutSlot], ifaces[labInSlot] = "lab-outside", "lab-inside"
	stats := &SweepStats{}
	c := NewCollector(gw.Datapath(), Options{Interfaces: ifaces, Attached: gw.Healthy, Sweeps: stats, Log: quietLog})
	target := serveIn(t, ns, newHandler(t, c, HandlerOptions{Timeout: time.Second, Log: quietLog}))
	prom := promlab.Start(t, ns, []string{target}, alertsFile)

	exps := []expectation{
		{`ftpxdp_pinholes_created_total{interface="lab-inside",mode="active",family="ipv4"}`, 1 + 64, true},
		{`ftpxdp_pinholes_created_total{interface="lab-inside",mode="active",family="ipv6"}`, 1, true},
		{`ftpxdp_pinholes_created_total{interface="lab-outside",mode="passive",family="ipv4"}`, 1, true},
		{`ftpxdp_control_lines_total{interface="lab-inside",kind="port"}`, 3 + 65 + rejectBurst, true},
		{`ftpxdp_control_lines_total{interface="lab-outside",kind="227"}`, 1, true},
		{`ftpxdp_rejects_total{interface="lab-inside",reason="low_port"}`, 1 + rejectBurst, true},
		{`ftpxdp_rejects_total{interface="lab-inside",reason="address_mismatch"}`, 1, true},
		{`ftpxdp_rejects_total{interface="lab-inside",reason="map_full"}`, 1, true},
		{`ftpxdp_syns_total{interface="lab-outside",decision="allowed_pinhole"}`, 1, true},
		{`ftpxdp_syns_total{interface="lab-outside",decision="no_pinhole"}`, 1, true},
		{`ftpxdp_packets_total{interface="lab-outside",verdict="drop"}`, 2, true},
		{`ftpxdp_packets_total{interface="lab-inside",verdict="pass"}`, 6 + 65 + rejectBurst, true},
		{`ftpxdp_pinholes_expired_total{state="unused"}`, 2, true},
		{`ftpxdp_pinholes_expired_total{state="used"}`, 1, true},
		{`ftpxdp_sweeps_total`, 1, true},
		{`ftpxdp_pinhole_admission_wait_seconds_count`, 1, true},
		{`ftpxdp_pinhole_admission_wait_seconds_sum`, scenarioWait.Seconds(), true},
		{`ftpxdp_pinhole_admission_wait_seconds_bucket{le="0.025"}`, 0, true},
		{`ftpxdp_pinhole_admission_wait_seconds_bucket{le="0.05"}`, 1, true},
		{`ftpxdp_collection_errors_total`, 0, true},
		{`ftpxdp_map_entries{map="pinholes",family="ipv4"}`, 64, false},
		{`ftpxdp_map_max_entries{map="pinholes",family="ipv4"}`, 64, false},
		{`ftpxdp_attached`, 1, false},
		{`up{job="ftpxdp"}`, 1, false},
	}

	// A first scrape, before any packet: the baseline.
	base := map[string]float64{}
	promlab.Eventually(t, "first scrape", 30*time.Second, func() error {
		for _, e := range exps {
			v, err := prom.Scalar(e.expr)
			if err != nil {
				return err
			}
			base[e.expr] = v
		}
		return nil
	})

	// Real packets through the datapath, and a real sweep.
	l.scenario()
	r, err := gw.Datapath().Sweep(l.now+uint64(10*time.Minute), time.Minute)
	stats.Observe(r, err)
	if err != nil {
		t.Fatal(err)
	}
	l.fillPinholes(64)
	l.rejectBurst()

	promlab.Eventually(t, "counters reach Prometheus", 30*time.Second, func() error {
		var bad []string
		for _, e := range exps {
			v, err := prom.Scalar(e.expr)
			if err != nil {
				return err
			}
			if e.counter {
				v -= base[e.expr]
			}
			if v != e.want {
				bad = append(bad, fmt.Sprintf("%s = %v, want %v", e.expr, v, e.want))
			}
		}
		if bad != nil {
			return fmt.Errorf("\n%s", strings.Join(bad, "\n"))
		}
		return nil
	})

	t.Run("dashboard", func(t *testing.T) {
		promlab.CheckDashboard(t, prom, dashboardFile, target)
	})

	// What each alert's expression returns now: data (the alert is pending
	// or firing) or nothing.
	fires := map[string]bool{
		"FtpxdpDown":             false,
		"FtpxdpProgramDetached":  false,
		"FtpxdpMapNearlyFull":    true, // 64 of 64 pinholes
		"FtpxdpPinholesRefused":  true, // the 65th PORT
		"FtpxdpRejectSpike":      true, // the reject burst
		"FtpxdpCollectionErrors": false,
		"FtpxdpSweepFailing":     false,
	}
	promlab.CheckAlerts(t, prom, fires)

	// Take a program away: the interface carrying it goes.
	ns.MustIP(t, "link", "del", "out0")
	resp, err := promlab.Client(ns).Get("http://" + target + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz after detach: %s, want 503", resp.Status)
	}
	fires["FtpxdpProgramDetached"] = true
	promlab.CheckAlerts(t, prom, fires)
}

// rejectBurst is how many low-port PORTs rejectBurst sends.
const rejectBurst = 1000

// fillPinholes opens n pinholes from n control connections of the client,
// then announces one more, which the full map refuses.
func (l *lab) fillPinholes(n int) {
	l.t.Helper()
	for i := range n + 1 {
		ctrl := netip.AddrPortFrom(client, uint16(41000+i))
		l.command(ctrl, "PORT "+portArg(netip.AddrPortFrom(client, uint16(52000+i))))
	}
	if got := countPinholes(l.t, l.dp); got != n {
		l.t.Fatalf("%d pinholes after filling, want %d", got, n)
	}
}

// rejectBurst sends rejectBurst PORTs naming a port below --min-port.
func (l *lab) rejectBurst() {
	l.t.Helper()
	ctrl := netip.AddrPortFrom(client, 43000)
	low := "PORT " + portArg(netip.AddrPortFrom(client, 80))
	for range rejectBurst {
		l.command(ctrl, low)
	}
}

func countPinholes(t testing.TB, dp *loader.Datapath) int {
	t.Helper()
	n := 0
	for _, err := range dp.Pinholes() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}
