package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var contrib = filepath.Join("..", "..", "contrib")

// The systemd unit passes systemd's own checks, with no warning.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile(filepath.Join(contrib, "systemd", "ftpxdp.service"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := filepath.Abs(filepath.Join(contrib, "systemd", "ftpxdp.env"))
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the binary and the environment file to exist.
	text := strings.Replace(string(unit), "ExecStart=/usr/local/bin/ftpxdp", "ExecStart="+binPath, 1)
	text = strings.Replace(text, "EnvironmentFile=/etc/default/ftpxdp", "EnvironmentFile="+env, 1)
	path := filepath.Join(t.TempDir(), "ftpxdp.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, exec.Command(analyze, "verify", "--man=no", path))
	if r.code != 0 || r.stderr != "" || r.stdout != "" {
		t.Errorf("systemd-analyze verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The unit grants exactly what the daemon checks for, and no more than it
// needs; it runs 'ftpxdp run' with the arguments of the environment file.
func TestSystemdUnitCapabilities(t *testing.T) {
	unit := readUnit(t)
	want := []string{"CAP_SYS_RESOURCE"} // memlock on kernels before 5.11
	for _, c := range neededCaps {
		want = append(want, c.name)
	}
	slices.Sort(want)
	for _, key := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		got := strings.Fields(unit[key])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s=%v, want %v", key, got, want)
		}
	}
	for key, want := range map[string]string{
		"ExecStart":       "/usr/local/bin/ftpxdp run $FTPXDP_ARGS",
		"EnvironmentFile": "/etc/default/ftpxdp",
		"Type":            "simple",
		"Restart":         "on-failure",
		"NoNewPrivileges": "yes",
		"ProtectSystem":   "strict",
		"ReadWritePaths":  "/sys/fs/bpf",
		"ProtectHome":     "yes",
		"PrivateTmp":      "yes",
	} {
		if unit[key] != want {
			t.Errorf("%s=%q, want %q", key, unit[key], want)
		}
	}
}

// readUnit returns the unit's settings (the last value of each key).
func readUnit(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(contrib, "systemd", "ftpxdp.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// Every example in the environment file, commented out or not, is a valid
// command line: run as a user without privileges, the daemon gets as far
// as the privilege check, past every flag and value check.
func TestSystemdEnvExamplesAreValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(contrib, "systemd", "ftpxdp.env"))
	if err != nil {
		t.Fatal(err)
	}
	examples := regexp.MustCompile(`(?m)^#?FTPXDP_ARGS="([^"]*)"$`).FindAllStringSubmatch(string(b), -1)
	if len(examples) < 3 {
		t.Fatalf("%d examples in ftpxdp.env, want at least 3", len(examples))
	}
	for _, ex := range examples {
		t.Run(ex[1], func(t *testing.T) {
			// systemd splits an unquoted $VAR at whitespace.
			args := append([]string{"run", "--pin-path", "/nonexistent/ftpxdp"}, strings.Fields(ex[1])...)
			unprivileged(t, args...).wantError(t, "run "+ex[1], "missing privileges")
		})
	}
}
