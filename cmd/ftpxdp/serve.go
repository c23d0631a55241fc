package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/metrics"
)

// serveMetrics serves /metrics and /healthz on listen until stop is called.
// An empty listen address serves nothing.
func serveMetrics(ctx context.Context, listen string, gw *loader.Gateway, sweeps *metrics.SweepStats, log *slog.Logger) (stop func(), err error) {
	if listen == "" {
		return func() {}, nil
	}
	ver, _, _ := buildInfo()
	c := metrics.NewCollector(gw.Datapath(), metrics.Options{
		Interfaces: gw.Interfaces(),
		Attached:   gw.Healthy,
		Sweeps:     sweeps,
		Version:    ver,
		Log:        log,
	})
	h, err := metrics.NewHandler(c, metrics.HandlerOptions{Log: log})
	if err != nil {
		return nil, fmt.Errorf("metrics handler: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on --web.listen-address %s: %w (pick a free address, or \"\" for none)", listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
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
