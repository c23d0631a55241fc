package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BuildDaemon returns the path of an ftpxdp binary: $FTPXDP_BIN when set,
// else one built from this module's ./cmd/ftpxdp into a temporary
// directory (fast with a warm build cache).
func BuildDaemon(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("FTPXDP_BIN"); b != "" {
		return b
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ftpxdp")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ftpxdp")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ftpxdp: %v: %s", err, out)
	}
	return bin
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Daemon is `ftpxdp run` in a namespace, its state pinned on a private
// bpffs. Stop detaches it (it runs with --detach-on-exit).
type Daemon struct {
	Proc    *Proc
	Bin     string
	PinPath string
	ns      *NS
}

// StartDaemon runs `ftpxdp run args...` in ns with a private --pin-path
// and --ready-file, and waits for the ready file. It is stopped, and
// everything detached, in t.Cleanup.
func StartDaemon(t testing.TB, ns *NS, bin string, args ...string) (*Daemon, error) {
	t.Helper()
	dir := t.TempDir()
	fs := filepath.Join(dir, "bpffs")
	if err := os.Mkdir(fs, 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.Command("mount", "-t", "bpf", "bpf", fs).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mount bpffs on %s: %w: %s", fs, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", fs).Run() })
	d := &Daemon{Bin: bin, PinPath: filepath.Join(fs, "ftpxdp"), ns: ns}
	ready := filepath.Join(dir, "ready")
	full := append([]string{"run", "--pin-path", d.PinPath, "--ready-file", ready,
		"--web.listen-address", "", "--detach-on-exit"}, args...)
	p, err := startProc(t, "ftpxdp", ns.Command(context.Background(), bin, full...), filepath.Join(dir, "ftpxdp.log"))
	if err != nil {
		return nil, err
	}
	d.Proc = p
	// Registered after startProc's: runs first, so detach follows the stop.
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Logf("stop ftpxdp: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			return d, nil
		}
		if done, perr := p.Exited(); done {
			return nil, fmt.Errorf("ftpxdp run exited before ready: %v\n%s", perr, p.Tail())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("ftpxdp run not ready within 30s\n%s", p.Tail())
		}
		time.Sleep(20 * time.Millisecond) // poll interval for the ready file
	}
}

// Stop ends the daemon by its PID; with --detach-on-exit it removes its
// programs and pins. Whatever is left is detached with `ftpxdp detach`.
func (d *Daemon) Stop() error {
	err := d.Proc.Stop()
	if _, serr := os.Stat(d.PinPath); serr == nil {
		if out, derr := d.ns.Run(d.Bin, "detach", "--pin-path", d.PinPath); derr != nil {
			return errors.Join(err, fmt.Errorf("detach: %w: %s", derr, out))
		}
	}
	return err
}

// Counters returns the daemon's non-zero counters (`ftpxdp status --json`).
func (d *Daemon) Counters() (map[string]uint64, error) {
	out, err := d.ns.Command(context.Background(), d.Bin, "status", "--json", "--pin-path", d.PinPath).Output()
	if err != nil {
		return nil, fmt.Errorf("ftpxdp status: %w", err)
	}
	var s struct {
		Counters map[string]uint64 `json:"counters"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("ftpxdp status --json: %w", err)
	}
	return s.Counters, nil
}

// PinholeRow is one pinhole as `ftpxdp pinholes --json` prints it (the
// fields the lab reads).
type PinholeRow struct {
	Source          string  `json:"source"`
	DestAddress     string  `json:"destination_address"`
	DestPort        uint16  `json:"destination_port"`
	Mode            string  `json:"mode"`
	State           string  `json:"state"`
	TimeLeftSeconds float64 `json:"time_left_seconds"`
	Hits            uint32  `json:"hits"`
}

// Pinholes lists the daemon's pinholes (`ftpxdp pinholes --json`).
func (d *Daemon) Pinholes() ([]PinholeRow, error) {
	out, err := d.ns.Command(context.Background(), d.Bin, "pinholes", "--json", "--pin-path", d.PinPath).Output()
	if err != nil {
		return nil, fmt.Errorf("ftpxdp pinholes: %w", err)
	}
	var rows []PinholeRow
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("ftpxdp pinholes --json: %w: %s", err, out)
	}
	return rows, nil
}
