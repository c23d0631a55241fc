package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ftpxdp/ftpxdp/loader"
)

// sweepTotals accumulates what the sweeper removed, for the metrics.
type sweepTotals struct {
	mu    sync.Mutex
	total loader.SweepResult
}

func (s *sweepTotals) add(r loader.SweepResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.ExpiredUnused += r.ExpiredUnused
	s.total.ExpiredUsed += r.ExpiredUsed
	s.total.IdleControls += r.IdleControls
	s.total.RateEntries += r.RateEntries
}

// Totals returns what all sweeps so far removed.
func (s *sweepTotals) Totals() loader.SweepResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// serveMetrics serves /healthz (and /metrics) on listen until stop is
// called. An empty listen address serves nothing.
func serveMetrics(ctx context.Context, listen string, gw *loader.Gateway, sweeps *sweepTotals, log *slog.Logger) (stop func(), err error) {
	if listen == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := gw.Healthy(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on --web.listen-address %s: %w", listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Info("serving metrics", "address", ln.Addr().String())
	return func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
	}, nil
}
