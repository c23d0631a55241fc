package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Capture is tcpdump recording TCP on one interface of a lab namespace.
type Capture struct {
	Proc *Proc
	// Path is the pcap file being written.
	Path string
}

// StartCapture runs tcpdump on iface in ns, writing TCP packets to path,
// and waits until it listens. Stop it with Stop before reading the file.
func StartCapture(t testing.TB, ns *NS, iface, path string) (*Capture, error) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "tcpdump.log")
	// -Z root: tcpdump would otherwise write as its own user; immediate
	// mode hands over every packet at once instead of in blocks, which a
	// stop would discard.
	cmd := ns.Command(context.Background(), "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-Z", "root", "-w", path, "tcp")
	p, err := startProc(t, "tcpdump", cmd, log)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(log)
		if strings.Contains(string(b), "listening on") {
			return &Capture{Proc: p, Path: path}, nil
		}
		if done, perr := p.Exited(); done {
			return nil, fmt.Errorf("tcpdump exited: %v: %s", perr, b)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("tcpdump not listening after 10s: %s", b)
		}
		time.Sleep(20 * time.Millisecond) // poll interval for tcpdump's banner
	}
}

var capturedRe = regexp.MustCompile(`(\d+) packets? captured`)

// Stop waits until the file stops growing (the last packets of a session,
// its FINs, come just after the client exits), ends tcpdump with SIGINT and
// returns how many packets it wrote.
func (c *Capture) Stop() (int, error) {
	var last int64 = -1
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		st, err := os.Stat(c.Path)
		if err == nil && st.Size() == last {
			break
		}
		if err == nil {
			last = st.Size()
		}
		time.Sleep(200 * time.Millisecond) // quiet period that ends a capture
	}
	if err := c.Proc.Signal(syscall.SIGINT); err != nil {
		return 0, fmt.Errorf("stop tcpdump: %w", err)
	}
	if err := c.Proc.Wait(10 * time.Second); err != nil {
		return 0, err
	}
	m := capturedRe.FindStringSubmatch(c.Proc.Tail())
	if m == nil {
		return 0, fmt.Errorf("tcpdump did not report its count: %s", c.Proc.Tail())
	}
	return strconv.Atoi(m[1])
}
