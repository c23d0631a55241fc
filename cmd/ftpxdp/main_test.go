package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI tests run the built binary, as an operator or a script would:
// exit codes, stdout and stderr are the interface under test.

// binPath is the ftpxdp binary TestMain builds.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ftpxdp-cli-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// World-readable, so the unprivileged-user test can run it.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binPath = filepath.Join(dir, "ftpxdp")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build ftpxdp: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// ftpxdp runs the binary with args.
func ftpxdp(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, exec.Command(binPath, args...))
}

// run runs cmd and collects its output and exit code.
func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", strings.Join(cmd.Args, " "), err)
	}
	return r
}

// mustSucceed fails the test unless the run exited 0.
func (r result) mustSucceed(t *testing.T, what string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
	return r
}

// wantError asserts the run failed with exactly one line on stderr, the
// "ftpxdp: " prefix, and every one of the words (the cause, the fix).
func (r result) wantError(t *testing.T, what string, words ...string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("%s: exit 0, want failure (stdout %q)", what, r.stdout)
		return
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ftpxdp: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("%s: stderr is not one 'ftpxdp: ' line:\n%s", what, r.stderr)
		return
	}
	for _, w := range words {
		if !strings.Contains(lines[0], w) {
			t.Errorf("%s: error %q does not say %q", what, lines[0], w)
		}
	}
	if r.stdout != "" {
		t.Errorf("%s: stdout on failure: %q", what, r.stdout)
	}
}
