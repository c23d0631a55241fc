package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// Bad input gets one line naming the cause and the fix, and a non-zero
// exit, before anything is loaded or attached.
func TestInvalidFlagValues(t *testing.T) {
	notCapture := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notCapture, []byte("220 not a capture\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := []string{"run", "--outside", "lo", "--pin-path", "/nonexistent/ftpxdp", "--web.listen-address", ""}
	for _, tc := range []struct {
		args  []string
		words []string
	}{
		{append(run, "--control-port", "0"), []string{"--control-port 0", "1-65535"}},
		{append(run, "--control-port", "70000"), []string{"--control-port 70000", "1-65535"}},
		{append(run, "--control-port", "21,2121,990,8021,10021"), []string{"--control-port", "at most 4"}},
		{append(run, "--min-port", "0"), []string{"--min-port 0", "1-65535"}},
		{append(run, "--pinhole-timeout", "0"), []string{"--pinhole-timeout 0s", "positive", "5m"}},
		{append(run, "--pinhole-timeout", "-1m"), []string{"--pinhole-timeout -1m0s", "positive"}},
		{append(run, "--pinhole-timeout", "5"), []string{`"5"`, "--pinhole-timeout", "missing unit", "ftpxdp run --help"}},
		{append(run, "--max-per-control", "9"), []string{"--max-per-control 9", "1 to 8"}},
		{append(run, "--max-per-control", "0"), []string{"--max-per-control 0", "1 to 8"}},
		{append(run, "--attach", "foo"), []string{`attach mode "foo"`, "xdp or tc"}},
		{append(run, "--allow", "udp/53"), []string{"--allow", "udp/53", "tcp/PORT"}},
		{append(run, "--allow", "tcp/0"), []string{"--allow", "1-65535"}},
		{append(run, "--rate-burst", "0"), []string{"--rate-burst", "--rate-window 0"}},
		{append(run, "--bogus"), []string{"unknown flag: --bogus", "ftpxdp run --help"}},
		{[]string{"rnu"}, []string{`unknown command "rnu"`, "Did you mean this? run"}},
		{[]string{"nosuchcommand"}, []string{`unknown command "nosuchcommand"`, "ftpxdp --help"}},
		{[]string{"pinholes", "--sort", "bad"}, []string{`--sort "bad"`, "age, left, source, destination, hits"}},
		{[]string{"pinholes", "--addr", "10.0.0.0/33"}, []string{"10.0.0.0/33", "address or a prefix"}},
		{[]string{"pinholes", "flush", "--match", "nonsense"}, []string{"nonsense", "address or a prefix"}},
		{[]string{"pinholes", "--watch", "--interval", "0s"}, []string{"--interval", "positive"}},
		{[]string{"replay"}, []string{"replay wants a capture file", "ftpxdp replay --help"}},
		{[]string{"replay", "--inside-net", "10.0/8", notCapture}, []string{"--inside-net", "10.0/8", "10.0.0.0/8"}},
		{[]string{"replay", "--max-per-control", "9", notCapture}, []string{"--max-per-control 9"}},
		{[]string{"replay", notCapture}, []string{notCapture, "not a pcap or pcapng capture"}},
		{[]string{"replay", "/nonexistent.pcap"}, []string{"/nonexistent.pcap", "no such file"}},
	} {
		t.Run(joinArgs(tc.args), func(t *testing.T) {
			ftpxdp(t, tc.args...).wantError(t, "ftpxdp "+joinArgs(tc.args), tc.words...)
		})
	}
}

func joinArgs(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		if a == "" {
			a = `""`
		}
		s += a
	}
	return s
}

// Faults of the environment, each in a namespace of the test's own so
// nothing can touch the host's interfaces.
func TestEnvironmentFaults(t *testing.T) {
	ns := newNS(t)
	bpffs := testutil.TempBPFFS(t)
	pin := filepath.Join(bpffs, "ftpxdp")
	daemon := func(args ...string) []string {
		return append([]string{"run", "--web.listen-address", ""}, args...)
	}

	inNS(t, ns, daemon("--outside", "nosuch0", "--pin-path", pin)...).
		wantError(t, "unknown interface", "interface not found: nosuch0", "ip link")
	inNS(t, ns, daemon("--inside", "lo", "--pin-path", pin)...).
		wantError(t, "no outside interface", "--outside")

	plain := t.TempDir()
	inNS(t, ns, daemon("--outside", "lo", "--pin-path", filepath.Join(plain, "ftpxdp"))...).
		wantError(t, "pin path on tmpfs", "not on a bpf filesystem", plain, "mount -t bpf bpf")

	ftpxdp(t, "detach", "--pin-path", pin).wantError(t, "detach with nothing pinned", "nothing pinned at "+pin, "--pin-path")
	ftpxdp(t, "pinholes", "--pin-path", pin).wantError(t, "pinholes with nothing pinned", "nothing pinned at "+pin, "--pin-path")
	ftpxdp(t, "status", "--pin-path", pin).wantError(t, "status with nothing pinned", "nothing pinned at "+pin, "--pin-path")
	entries, _ := os.ReadDir(bpffs)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".debug" { // the kernel's bpf_preload iterators
			t.Errorf("failed commands left %s on the bpffs", e.Name())
		}
	}
}

// Without CAP_BPF and CAP_NET_ADMIN the commands that load programs say
// which capabilities are missing and how to get them.
func TestMissingPrivileges(t *testing.T) {
	for _, tc := range []struct {
		args []string
		caps string
	}{
		{[]string{"run", "--outside", "lo", "--pin-path", "/nonexistent/ftpxdp", "--web.listen-address", ""}, "CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN"},
		{[]string{"detach", "--pin-path", "/nonexistent/ftpxdp"}, "CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN"},
		{[]string{"replay", "-"}, "CAP_BPF, CAP_NET_ADMIN:"}, // an empty capture on stdin
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			unprivileged(t, tc.args...).wantError(t, tc.args[0]+" as nobody", "missing privileges: "+tc.caps, "run as root", "AmbientCapabilities")
		})
	}
}
