package metrics

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/metrics/promlab"
)

// get serves one request to h without a network.
func get(t testing.TB, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func newHandler(t testing.TB, c *Collector, opts HandlerOptions) http.Handler {
	t.Helper()
	h, err := NewHandler(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// gateway attaches a real gateway (XDP on out0 and in0) in a namespace of
// its own.
func gateway(t *testing.T) (*testutil.NetNS, *loader.Gateway) {
	t.Helper()
	testutil.RequireKernel(t)
	ns := testutil.NewNetNS(t)
	ns.Veth(t, "out0", "out0p", nil)
	ns.Veth(t, "in0", "in0p", nil)
	pin := filepath.Join(testutil.TempBPFFS(t), "ftpxdp")
	var gw *loader.Gateway
	err := ns.Do(func() (err error) {
		gw, err = loader.Start(loader.Setup{
			Config: labConfig(), Outside: []string{"out0"}, Inside: []string{"in0"},
			Mode: loader.AttachXDP, PinPath: pin,
		}, quietLog)
		return err
	})
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		gw.Close()
		ns.Do(func() error { return loader.Detach(pin) })
	})
	return ns, gw
}

// /healthz follows the real attachment: the gateway's check fails once an
// interface carrying a program is gone, and so does ftpxdp_attached.
func TestHandlerHealthzFollowsAttachment(t *testing.T) {
	ns, gw := gateway(t)
	c := NewCollector(gw.Datapath(), Options{Interfaces: gw.Interfaces(), Attached: gw.Healthy})
	h := newHandler(t, c, HandlerOptions{Log: quietLog})

	if w := get(t, h, "/healthz"); w.Code != http.StatusOK || w.Body.String() != "ok\n" {
		t.Fatalf("attached: /healthz %d %q, want 200 ok", w.Code, w.Body)
	}
	body := get(t, h, "/metrics").Body.String()
	for _, want := range []string{"\nftpxdp_attached 1\n", `interface="out0/ingress"`, `interface="in0/ingress"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	ns.MustIP(t, "link", "del", "out0") // detaches its XDP link
	w := get(t, h, "/healthz")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "out0") {
		t.Fatalf("detached: /healthz %d %q, want 503 naming out0", w.Code, w.Body)
	}
	if body := get(t, h, "/metrics").Body.String(); !strings.Contains(body, "\nftpxdp_attached 0\n") {
		t.Error("detached: /metrics lacks ftpxdp_attached 0")
	}
}

// blockingSource is a real datapath whose map-usage read (the collector's
// last read) waits until the test releases it: a scrape stuck in the
// kernel.
type blockingSource struct {
	*loader.Datapath
	release, done chan struct{}
}

func (s blockingSource) Usage() ([]loader.MapUsage, error) {
	<-s.release
	defer close(s.done)
	return s.Datapath.Usage()
}

func TestHandlerTimesOutSlowScrapes(t *testing.T) {
	l := newLab(t, labConfig())
	src := blockingSource{Datapath: l.dp, release: make(chan struct{}), done: make(chan struct{})}
	h := newHandler(t, NewCollector(src, Options{Log: quietLog}), HandlerOptions{Timeout: 50 * time.Millisecond, Log: quietLog})
	if w := get(t, h, "/metrics"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("slow scrape: %d, want 503", w.Code)
	}
	// The gathering goes on in the background: let it finish before the
	// datapath closes.
	close(src.release)
	<-src.done
}

// A datapath read that fails still serves the rest of the scrape, logs the
// error and counts it.
func TestHandlerContinuesOnError(t *testing.T) {
	l := newLab(t, labConfig())
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	h := newHandler(t, NewCollector(l.dp, Options{Interfaces: labInterfaces, Log: quietLog}), HandlerOptions{Log: log})
	l.dp.Close()

	w := get(t, h, "/metrics")
	if w.Code != http.StatusOK {
		t.Fatalf("partly failed scrape: %d, want 200", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{"\nftpxdp_collection_errors_total 3\n", "ftpxdp_build_info{", "go_goroutines "} {
		if !strings.Contains(body, want) {
			t.Errorf("partly failed scrape lacks %q", want)
		}
	}
	if !strings.Contains(logged.String(), "read counters") {
		t.Errorf("error log lacks the failure: %q", logged.String())
	}
}

func TestHandlerRoutes(t *testing.T) {
	l := newLab(t, labConfig())
	h := newHandler(t, NewCollector(l.dp, Options{}), HandlerOptions{})
	for path, code := range map[string]int{"/": 200, "/metrics": 200, "/healthz": 200, "/nope": 404} {
		if w := get(t, h, path); w.Code != code {
			t.Errorf("GET %s: %d, want %d", path, w.Code, code)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", w.Code)
	}
}

// promtool lints the live exposition, with every family present.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := promlab.RequireTool(t, "promtool")
	l := newLab(t, labConfig())
	h := newHandler(t, NewCollector(l.dp, Options{
		Interfaces: labInterfaces, Sweeps: &SweepStats{}, Attached: func() error { return nil },
	}), HandlerOptions{})
	l.scenario()
	w := get(t, h, "/metrics")
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", w.Code)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = io.NopCloser(bytes.NewReader(w.Body.Bytes()))
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
