package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// newNS creates an empty network namespace named ftpxdp-cli-<random>, this
// package's own, with its loopback up; it is deleted in t.Cleanup.
func newNS(t *testing.T) *testutil.NetNS {
	t.Helper()
	testutil.RequireKernel(t)
	b := make([]byte, 4)
	rand.Read(b)
	ns := &testutil.NetNS{Name: "ftpxdp-cli-" + hex.EncodeToString(b)}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns.Name).Run() })
	ns.MustIP(t, "link", "set", "lo", "up")
	return ns
}

// inNS runs the binary inside ns.
func inNS(t *testing.T, ns *testutil.NetNS, args ...string) result {
	t.Helper()
	return run(t, exec.Command("ip", append([]string{"netns", "exec", ns.Name, binPath}, args...)...))
}

// unprivileged runs the binary as nobody with no capabilities at all.
func unprivileged(t *testing.T, args ...string) result {
	t.Helper()
	testutil.RequireKernel(t) // setpriv needs root
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	base := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", binPath}
	cmd := exec.Command("setpriv", append(base, args...)...)
	cmd.Stdin = bytes.NewReader(emptyPcap)
	return run(t, cmd)
}

// emptyPcap is an Ethernet pcap file with no packets.
var emptyPcap = []byte{
	0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0xff, 0xff, 0, 0, 1, 0, 0, 0,
}
