package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
)

// promServer is a real Prometheus server, run from the Debian package in a
// test's namespace with its own storage.
type promServer struct {
	base   string
	client *http.Client
}

// nsClient is an HTTP client whose connections are made inside ns.
func nsClient(ns *testutil.NetNS) *http.Client {
	var d net.Dialer
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = ns.Do(func() error { c, err = d.DialContext(ctx, network, addr); return err })
			return c, err
		}},
	}
}

// freePort returns a loopback port nothing listens on in ns: the namespace
// is the test's own, so nothing takes it before Prometheus does.
func freePort(t testing.TB, ns *testutil.NetNS) int {
	t.Helper()
	var port int
	err := ns.Do(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		return ln.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startPrometheus runs Prometheus in ns scraping target every second and
// evaluating ruleFile, and waits until it is ready. t.Cleanup kills it.
func startPrometheus(t *testing.T, ns *testutil.NetNS, target, ruleFile string) *promServer {
	t.Helper()
	bin := requireTool(t, "prometheus")
	dir := t.TempDir()
	rules, err := filepath.Abs(ruleFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: ftpxdp
    static_configs:
      - targets: ['%s']
`, rules, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, ns))
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns.Name, bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // ip netns exec execs Prometheus: this PID is Prometheus
		cmd.Wait()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})

	p := &promServer{base: "http://" + addr, client: nsClient(ns)}
	eventually(t, "prometheus ready", 30*time.Second, func() error {
		resp, err := p.client.Get(p.base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	return p
}

// eventually polls check until it returns nil, failing the test with its
// last error at the deadline.
func eventually(t testing.TB, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		<-tick.C
	}
}

func (p *promServer) api(path string, params url.Values, data any) error {
	resp, err := p.client.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s %v: %s: %s", path, params, r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, data)
}

type sample struct {
	labels map[string]string
	value  float64
}

// query evaluates expr now; an expression Prometheus cannot parse or
// evaluate is an error.
func (p *promServer) query(expr string) ([]sample, error) {
	var d struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.api("/api/v1/query", url.Values{"query": {expr}}, &d); err != nil {
		return nil, err
	}
	if d.ResultType != "vector" {
		return nil, fmt.Errorf("%s: result type %s, want vector", expr, d.ResultType)
	}
	out := make([]sample, 0, len(d.Result))
	for _, r := range d.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %q: %w", expr, s, err)
		}
		out = append(out, sample{r.Metric, v})
	}
	return out, nil
}

// scalar evaluates an expression that selects one series.
func (p *promServer) scalar(expr string) (float64, error) {
	s, err := p.query(expr)
	if err != nil {
		return 0, err
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("%s: %d series, want 1", expr, len(s))
	}
	return s[0].value, nil
}

type rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"`
}

func (p *promServer) rules() ([]rule, error) {
	var d struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.api("/api/v1/rules", url.Values{"type": {"alert"}}, &d); err != nil {
		return nil, err
	}
	var out []rule
	for _, g := range d.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

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
	requireTool(t, "prometheus")
	ns, gw := gateway(t)
	l := labOn(t, gw.Datapath(), labOutSlot, labInSlot)
	ifaces := gw.Interfaces()
	ifaces[labOutSlot], ifaces[labInSlot] = "lab-outside", "lab-inside"
	stats := &SweepStats{}
	c := NewCollector(gw.Datapath(), Options{Interfaces: ifaces, Attached: gw.Healthy, Sweeps: stats, Log: quietLog})
	target := serveIn(t, ns, newHandler(t, c, HandlerOptions{Timeout: time.Second, Log: quietLog}))
	prom := startPrometheus(t, ns, target, alertsFile)

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
		{`ftpxdp_map_entries{map="pinholes"}`, 64, false},
		{`ftpxdp_map_max_entries{map="pinholes"}`, 64, false},
		{`ftpxdp_attached`, 1, false},
		{`up{job="ftpxdp"}`, 1, false},
	}

	// A first scrape, before any packet: the baseline.
	base := map[string]float64{}
	eventually(t, "first scrape", 30*time.Second, func() error {
		for _, e := range exps {
			v, err := prom.scalar(e.expr)
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

	eventually(t, "counters reach Prometheus", 30*time.Second, func() error {
		var bad []string
		for _, e := range exps {
			v, err := prom.scalar(e.expr)
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
		d := readDashboard(t)
		var labels []string
		if err := prom.api("/api/v1/label/instance/values", url.Values{"match[]": {"ftpxdp_build_info"}}, &labels); err != nil {
			t.Fatal(err)
		}
		if len(labels) != 1 || labels[0] != target {
			t.Errorf("instance variable values %v, want [%s]", labels, target)
		}
		for _, q := range d.queries() {
			expr := grafanaExpand(q.expr, target)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q %s: unknown variable in %s", q.panel, q.refID, expr)
				continue
			}
			s, err := prom.query(expr)
			if err != nil {
				t.Errorf("panel %q %s: %v", q.panel, q.refID, err)
			} else if len(s) == 0 {
				t.Errorf("panel %q %s: no data for %s", q.panel, q.refID, expr)
			}
		}
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
	checkAlerts(t, prom, fires)

	// Take a program away: the interface carrying it goes.
	ns.MustIP(t, "link", "del", "out0")
	resp, err := nsClient(ns).Get("http://" + target + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz after detach: %s, want 503", resp.Status)
	}
	fires["FtpxdpProgramDetached"] = true
	checkAlerts(t, prom, fires)
}

// checkAlerts waits until Prometheus has evaluated every alert rule without
// error, each rule's expression returns data exactly when fires says so,
// and the rule's state agrees.
func checkAlerts(t *testing.T, prom *promServer, fires map[string]bool) {
	t.Helper()
	eventually(t, "alert rules", 30*time.Second, func() error {
		rules, err := prom.rules()
		if err != nil {
			return err
		}
		if len(rules) != len(fires) {
			return fmt.Errorf("%d alert rules loaded, the test knows %d", len(rules), len(fires))
		}
		var bad []string
		for _, r := range rules {
			want, known := fires[r.Name]
			if !known {
				t.Fatalf("alert %s: the test does not say whether it should fire", r.Name)
			}
			if r.Health != "ok" {
				bad = append(bad, fmt.Sprintf("%s: health %q %s", r.Name, r.Health, r.LastError))
				continue
			}
			s, err := prom.query(r.Query)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", r.Name, err))
				continue
			}
			active := r.State == "pending" || r.State == "firing"
			if (len(s) > 0) != want || active != want {
				bad = append(bad, fmt.Sprintf("%s: %d series, state %s; want firing=%v", r.Name, len(s), r.State, want))
			}
		}
		if bad != nil {
			return fmt.Errorf("\n%s", strings.Join(bad, "\n"))
		}
		return nil
	})
}

// grafanaExpand replaces the dashboard's variables as Grafana would for
// one selected instance.
func grafanaExpand(expr, instance string) string {
	return strings.NewReplacer(
		"$instance", instance,
		"$__rate_interval", "1m",
	).Replace(expr)
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
