package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// DefaultPrefix starts the name of every namespace a Lab makes, unless
// Options.Prefix says otherwise.
const DefaultPrefix = "ftpxdp-lab-"

// NS is a network namespace made by the lab, deleted in t.Cleanup.
type NS struct {
	// Name is the namespace's name under /var/run/netns.
	Name string
}

// newNS creates namespace name with its loopback up.
func newNS(t testing.TB, name string) *NS {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	// `ip netns exec` puts /etc/netns/NAME/resolv.conf in place of the
	// machine's: name lookups in the lab (servers resolve their host name)
	// fail at once on the loopback instead of waiting for a name server
	// the lab cannot reach, and no query ever leaves the namespace.
	etc := filepath.Join("/etc/netns", name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n.MustIP(t, "link", "set", "lo", "up")
	return n
}

// randomTag returns n random bytes in hex, to keep parallel labs apart.
func randomTag(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// IP runs `ip -n NAME args...` and returns its output.
func (n *NS) IP(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %w: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// MustIP is IP that fails the test on error.
func (n *NS) MustIP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.IP(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Command returns a command that runs inside the namespace (through
// `ip netns exec`, which execs it: the process's PID is the command's).
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command inside the namespace and returns its combined output.
func (n *NS) Run(name string, args ...string) (string, error) {
	out, err := n.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), n.Name, err, out)
	}
	return string(out), nil
}

// Sysctl sets key=value inside the namespace.
func (n *NS) Sysctl(key, value string) error {
	_, err := n.Run("sysctl", "-qw", key+"="+value)
	return err
}

// Do runs fn on an OS thread switched into the namespace, for sockets
// opened from Go (listeners and dialers of the negative tests). Sockets
// keep their namespace after fn returns. The thread is never switched back:
// it ends with its goroutine, so no other goroutine ever runs in the lab.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		target, err := netns.GetFromName(n.Name)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", n.Name, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
