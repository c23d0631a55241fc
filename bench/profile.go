package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ClassProfile is where ftpxdp's time goes for one class, from perf's
// cpu-clock samples of the thread that runs it.
type ClassProfile struct {
	Class   string        `json:"class"`
	Samples int           `json:"samples"`
	Symbols []SymbolShare `json:"symbols"`
}

// SymbolShare is one function's share of the samples.
type SymbolShare struct {
	Symbol  string  `json:"symbol"`
	Percent float64 `json:"percent"`
}

// profiledClasses are the classes worth a profile: the fast paths and the
// dearest control lines.
var profiledClasses = map[string]bool{
	"data-64": true, "syn-pinhole": true, "syn-none": true,
	"ctl-PORT": true, "ctl-227": true, "ctl-USER": true, "ctl-multiline": true,
}

// profileFor is how long each class runs under perf.
const profileFor = time.Second

// profile samples ftpxdp on each profiled class. The VM has no hardware
// counters, so perf samples the cpu-clock; BPF programs show up as
// bpf_prog_<tag>_<name>, their global functions separately. It returns a
// note instead when perf cannot run.
func (r *perPacketRig) profile(ctx context.Context, classes []packetClass, progress func(string)) ([]ClassProfile, string) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, "perf is not installed: no profile"
	}
	dir, err := os.MkdirTemp("", "ftpxdp-bench-perf-")
	if err != nil {
		return nil, fmt.Sprintf("no profile: %v", err)
	}
	defer os.RemoveAll(dir)
	var out []ClassProfile
	for _, c := range classes {
		if !profiledClasses[c.Name] || ctx.Err() != nil {
			continue
		}
		p, err := r.profileClass(c, filepath.Join(dir, c.Name+".data"))
		if err != nil {
			return out, fmt.Sprintf("profile of %s failed: %v", c.Name, err)
		}
		out = append(out, p)
		progress(fmt.Sprintf("profiled %s: %d samples", c.Name, p.Samples))
	}
	return out, ""
}

func (r *perPacketRig) profileClass(c packetClass, file string) (ClassProfile, error) {
	prof := ClassProfile{Class: c.Name}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	var stderr bytes.Buffer
	cmd := exec.Command("perf", "record", "-q", "-e", "cpu-clock", "-F", "10000",
		"-t", strconv.Itoa(tid), "-o", file)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return prof, fmt.Errorf("start perf: %w", err)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("perf did not stop within 30 s")
		}
	}
	defer stop()
	// perf writes its header once it has opened the events.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := os.Stat(file); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			return prof, fmt.Errorf("perf did not start within 10 s: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for t0 := time.Now(); time.Since(t0) < profileFor; {
		if _, err := r.run(progFtpxdp, c, 200000); err != nil {
			return prof, err
		}
	}
	if err := stop(); err != nil && !isInterrupt(err) {
		return prof, fmt.Errorf("perf record: %w: %s", err, stderr.String())
	}
	rep, err := exec.Command("perf", "report", "-i", file, "--stdio", "--sort", "sym", "-n", "-q").Output()
	if err != nil {
		return prof, fmt.Errorf("perf report: %w", err)
	}
	prof.Symbols, prof.Samples = parsePerfReport(rep, 2)
	return prof, nil
}

// isInterrupt reports whether perf exited because of our SIGINT.
func isInterrupt(err error) bool {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && (ws.Signaled() && ws.Signal() == syscall.SIGINT || ws.ExitStatus() == 130)
}

var (
	perfLine   = regexp.MustCompile(`^\s*([0-9.]+)%\s+(\d+)\s+\[[^\]]+\]\s+(.+?)\s*$`)
	bpfProgSym = regexp.MustCompile(`^bpf_prog_[0-9a-f]{16}_`)
)

// parsePerfReport reads `perf report --stdio --sort sym -n -q` lines such as
// "  41.20%  4120  [k] bpf_prog_3b185187f1855c4c_ftpxdp_xdp": the symbols
// of at least minPercent, and the samples of all.
func parsePerfReport(out []byte, minPercent float64) ([]SymbolShare, int) {
	var (
		s     []SymbolShare
		total int
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := perfLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pct, err1 := strconv.ParseFloat(m[1], 64)
		n, err2 := strconv.Atoi(m[2])
		if err1 != nil || err2 != nil {
			continue
		}
		total += n
		if pct < minPercent {
			continue
		}
		sym := m[3]
		if bpfProgSym.MatchString(sym) {
			sym = "bpf:" + bpfProgSym.ReplaceAllString(sym, "")
		}
		s = append(s, SymbolShare{Symbol: sym, Percent: pct})
	}
	return s, total
}
