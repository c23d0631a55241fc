package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// NetNS is a network namespace a test made; it is deleted in t.Cleanup.
type NetNS struct {
	Name string
}

// NewNetNS creates an empty namespace named ftpxdp-t-<random> with its
// loopback up.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	n := &NetNS{Name: "ftpxdp-t-" + hex.EncodeToString(b)}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", n.Name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.Name).Run() })
	n.MustIP(t, "link", "set", "lo", "up")
	return n
}

// IP runs `ip -n NAME args...`.
func (n *NetNS) IP(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %w: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// MustIP is IP that fails the test on error.
func (n *NetNS) MustIP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.IP(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Exec runs a command inside the namespace and returns its combined output.
func (n *NetNS) Exec(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	return string(out), err
}

// Do runs fn on a thread switched into the namespace.
func (n *NetNS) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", n.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("enter netns %s: %w", n.Name, err)
	}
	defer netns.Set(orig)
	return fn()
}

// Veth creates a veth pair a (in n) and b (in peer, or n when peer is nil),
// both up.
func (n *NetNS) Veth(t testing.TB, a, b string, peer *NetNS) {
	t.Helper()
	target := n
	if peer != nil {
		target = peer
	}
	n.MustIP(t, "link", "add", a, "type", "veth", "peer", "name", b, "netns", target.Name)
	n.MustIP(t, "link", "set", a, "up")
	target.MustIP(t, "link", "set", b, "up")
}

// TempBPFFS mounts a private bpffs for a test and returns its path.
func TempBPFFS(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "bpf", "bpf", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount bpffs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}
