package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/metrics"
)

type runFlags struct {
	policy       policyFlags
	outside      []string
	inside       []string
	attach       string
	host         bool
	replace      bool
	listen       string
	readyFile    string
	sweepEvery   time.Duration
	controlIdle  time.Duration
	detachOnExit bool
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run --outside IFACE [--inside IFACE]... [flags]",
		Short: "Attach ftpxdp and run the daemon in the foreground",
		Long: `Loads the kernel program, attaches it to the interfaces, pins its maps and
links under --pin-path, serves Prometheus metrics and expires pinholes.

Interfaces are 'outside' (untrusted: a new inbound TCP connection needs an
--allow rule or a pinhole) or 'inside' (protected: control traffic is read,
nothing is dropped). Control traffic is read on every attached interface.

Stopping the daemon (SIGTERM, SIGINT) leaves the programs attached and the
pinholes pinned: a new 'run' with the same --pin-path picks them up and
replaces the programs in place (also to upgrade the binary). 'ftpxdp
detach' removes everything.

Examples:
  # client-side gateway: clients behind eth1, the Internet on eth0
  ftpxdp run --outside eth0 --inside eth1

  # gateway in front of an FTP server at 192.0.2.10
  ftpxdp run --outside eth0 --inside eth1 --allow tcp/21@192.0.2.10

  # an FTP server protecting itself
  ftpxdp run --attach tc --host --outside eth0 --allow tcp/21`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), g, f)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&f.outside, "outside", nil, "`IFACE` facing the untrusted side (repeatable; at least one)")
	fs.StringArrayVar(&f.inside, "inside", nil, "`IFACE` facing the protected side (repeatable)")
	fs.StringVar(&f.attach, "attach", "xdp", "attach `MODE`: xdp (native, generic as fallback) or tc (TCX)")
	fs.BoolVar(&f.host, "host", false, "this host is the FTP server or client: also read its own egress (needs --attach tc)")
	fs.BoolVar(&f.replace, "replace", false, "replace another XDP program found on an interface")
	fs.StringVar(&f.listen, "web.listen-address", "127.0.0.1:9464", "`ADDR` of /metrics and /healthz (empty: none)")
	fs.StringVar(&f.readyFile, "ready-file", "", "write `FILE` once attached and serving (for scripts and tests)")
	fs.DurationVar(&f.sweepEvery, "sweep-interval", 10*time.Second, "how often expired pinholes are removed")
	fs.DurationVar(&f.controlIdle, "control-idle", time.Hour, "forget a control connection silent for this long")
	fs.BoolVar(&f.detachOnExit, "detach-on-exit", false, "detach and unpin everything when the daemon stops")
	f.policy.register(fs)
	return cmd
}

func runDaemon(ctx context.Context, g *globals, f *runFlags) error {
	cfg, _, err := f.policy.config()
	if err != nil {
		return err
	}
	mode, err := loader.ParseAttachMode(f.attach)
	if err != nil {
		return err
	}
	if f.sweepEvery <= 0 {
		return fmt.Errorf("%w: --sweep-interval must be positive", loader.ErrInvalidConfig)
	}
	if err := checkPrivileges(); err != nil {
		return err
	}
	log := slog.Default()
	gw, err := loader.Start(loader.Setup{
		Config: cfg, Outside: f.outside, Inside: f.inside,
		Mode: mode, Host: f.host, Replace: f.replace, PinPath: g.pinPath,
	}, log)
	if err != nil {
		return err
	}
	defer func() {
		gw.Close()
		if f.detachOnExit {
			if err := loader.Detach(g.pinPath); err != nil {
				log.Error("detach on exit", "error", err)
			} else {
				log.Info("detached")
			}
		} else {
			log.Info("stopped; programs stay attached and pinholes pinned", "pin_path", g.pinPath)
		}
	}()

	sweeps := &metrics.SweepStats{}
	stopServer, err := serveMetrics(ctx, f.listen, gw, sweeps, log)
	if err != nil {
		return err
	}
	defer stopServer()

	if f.readyFile != "" {
		if err := writeReadyFile(f.readyFile); err != nil {
			return err
		}
		defer os.Remove(f.readyFile)
	}
	log.Info("running", "mode", mode, "observe", cfg.Observe, "outside", f.outside, "inside", f.inside, "pin_path", g.pinPath)

	t := time.NewTicker(f.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r, err := gw.Datapath().Sweep(loader.KernelNow(), f.controlIdle)
			sweeps.Observe(r, err)
			if err != nil {
				log.Error("sweep", "error", err)
				continue
			}
			if r != (loader.SweepResult{}) {
				log.Debug("swept", "expired_unused", r.ExpiredUnused, "expired_used", r.ExpiredUsed, "idle_controls", r.IdleControls)
			}
		}
	}
}

// writeReadyFile creates path atomically, so a waiter never reads half.
func writeReadyFile(path string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}
