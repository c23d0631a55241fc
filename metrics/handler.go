package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultTimeout bounds one scrape: Prometheus' default scrape timeout.
const DefaultTimeout = 10 * time.Second

// HandlerOptions tunes the HTTP handler.
type HandlerOptions struct {
	// Timeout answers a scrape that takes longer with 503; 0 is
	// DefaultTimeout.
	Timeout time.Duration
	// Log receives the errors of failed scrapes; nil is slog.Default().
	Log *slog.Logger
}

// NewHandler serves c, with the Go runtime and process metrics, at
// /metrics, and its attachment check at /healthz: 200 while the programs
// are attached, 503 once one is not. A read that fails in one part of a
// scrape still serves the rest (and counts in
// ftpxdp_collection_errors_total); a scrape slower than the timeout is
// answered with 503.
func NewHandler(c *Collector, opts HandlerOptions) (http.Handler, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	metrics := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(opts.Log.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg,
		Timeout:             opts.Timeout,
		MaxRequestsInFlight: 4,
	}))

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := c.Healthy(); err != nil {
			http.Error(w, "not attached: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>ftpxdp</title></head><body><h1>ftpxdp</h1>`+
			`<p><a href="/metrics">metrics</a> <a href="/healthz">healthz</a></p></body></html>`+"\n")
	})
	return mux, nil
}
