// Package promlab runs a real Prometheus server for tests: the Debian
// package's binary, in a test's network namespace, with its own storage,
// scraping the targets a test gives every second and evaluating rule files.
// It checks the operator files in contrib/ against it: every dashboard
// query and every alert expression.
package promlab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// Job is the scrape job name, as the contrib alerts expect.
const Job = "ftpxdp"

// RequireTool finds a program the Debian prometheus package installs. It
// skips the test when missing, and fails it under make test
// (FTPXDP_REQUIRE_KERNEL=1), which installs the package first.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("FTPXDP_REQUIRE_KERNEL") == "1" {
		t.Fatalf("%s not found: run make deps-prometheus", name)
	}
	t.Skipf("%s not found: run make deps-prometheus", name)
	return ""
}

// Server is a running Prometheus.
type Server struct {
	base   string
	client *http.Client
}

// Client returns an HTTP client whose connections are made inside ns.
func Client(ns *testutil.NetNS) *http.Client {
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
func freePort(ns *testutil.NetNS) (int, error) {
	var port int
	err := ns.Do(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		return ln.Close()
	})
	return port, err
}

// Start runs Prometheus in ns scraping targets (host:port in ns) every
// second as job "ftpxdp", evaluating ruleFiles every second, and waits until
// it is ready. t.Cleanup kills it by PID, and logs its output if the test
// failed.
func Start(t testing.TB, ns *testutil.NetNS, targets []string, ruleFiles ...string) *Server {
	t.Helper()
	bin := RequireTool(t, "prometheus")
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
	cfg.WriteString("rule_files:\n")
	for _, f := range ruleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "  - %q\n", abs)
	}
	fmt.Fprintf(&cfg, "scrape_configs:\n  - job_name: %s\n    static_configs:\n      - targets:\n", Job)
	for _, tg := range targets {
		fmt.Fprintf(&cfg, "          - %q\n", tg)
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := freePort(ns)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
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

	s := &Server{base: "http://" + addr, client: Client(ns)}
	Eventually(t, "prometheus ready", 30*time.Second, func() error {
		resp, err := s.client.Get(s.base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	return s
}

// Eventually polls check until it returns nil, failing the test with its
// last error at the deadline.
func Eventually(t testing.TB, what string, timeout time.Duration, check func() error) {
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

// API calls a Prometheus HTTP API endpoint and decodes its data into data.
func (s *Server) API(path string, params url.Values, data any) error {
	resp, err := s.client.Get(s.base + path + "?" + params.Encode())
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

// Sample is one series of an instant query's result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query evaluates expr now; an expression Prometheus cannot parse or
// evaluate is an error.
func (s *Server) Query(expr string) ([]Sample, error) {
	var d struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := s.API("/api/v1/query", url.Values{"query": {expr}}, &d); err != nil {
		return nil, err
	}
	if d.ResultType != "vector" {
		return nil, fmt.Errorf("%s: result type %s, want vector", expr, d.ResultType)
	}
	out := make([]Sample, 0, len(d.Result))
	for _, r := range d.Result {
		str, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %q: %w", expr, str, err)
		}
		out = append(out, Sample{r.Metric, v})
	}
	return out, nil
}

// Scalar evaluates an expression that selects exactly one series.
func (s *Server) Scalar(expr string) (float64, error) {
	r, err := s.Query(expr)
	if err != nil {
		return 0, err
	}
	if len(r) != 1 {
		return 0, fmt.Errorf("%s: %d series, want 1", expr, len(r))
	}
	return r[0].Value, nil
}

// Rule is an alerting rule as Prometheus evaluates it.
type Rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"`
}

// Rules lists the alerting rules Prometheus loaded.
func (s *Server) Rules() ([]Rule, error) {
	var d struct {
		Groups []struct {
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := s.API("/api/v1/rules", url.Values{"type": {"alert"}}, &d); err != nil {
		return nil, err
	}
	var out []Rule
	for _, g := range d.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// LabelValues lists the values of label on the series matching match.
func (s *Server) LabelValues(label, match string) ([]string, error) {
	var vs []string
	err := s.API("/api/v1/label/"+url.PathEscape(label)+"/values", url.Values{"match[]": {match}}, &vs)
	return vs, err
}
