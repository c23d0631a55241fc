package metrics_test

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/metrics"
)

// How the daemon serves its metrics: the gateway names the slots and checks
// the attachment; the sweeper reports what it removed.
func ExampleNewHandler() {
	gw, err := loader.Start(loader.Setup{
		Config: loader.DefaultConfig(), Outside: []string{"eth0"}, Inside: []string{"eth1"},
		Mode: loader.AttachXDP, PinPath: "/sys/fs/bpf/ftpxdp",
	}, slog.Default())
	if err != nil {
		panic(err)
	}
	defer gw.Close()

	sweeps := &metrics.SweepStats{}
	c := metrics.NewCollector(gw.Datapath(), metrics.Options{
		Interfaces: gw.Interfaces(),
		Attached:   gw.Healthy,
		Sweeps:     sweeps,
	})
	h, err := metrics.NewHandler(c, metrics.HandlerOptions{Timeout: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:9464", Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.ListenAndServe()

	// Every sweep:
	r, err := gw.Datapath().Sweep(loader.KernelNow(), 10*time.Minute)
	sweeps.Observe(r, err)
}
