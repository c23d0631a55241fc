package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// 'go install ./cmd/ftpxdp' needs no clang and no C compiler: the kernel
// program is built into the committed loader/*_bpfel.{go,o}. The build
// runs with a PATH holding nothing but go and git, cgo off and no module
// proxy, and the installed binary loads the embedded program.
func TestGoInstallWithoutClang(t *testing.T) {
	tools := t.TempDir()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		t.Skipf("no go binary in GOROOT: %v", err)
	}
	if err := os.Symlink(gobin, filepath.Join(tools, "go")); err != nil {
		t.Fatal(err)
	}
	if git, err := exec.LookPath("git"); err == nil { // for the VCS stamp
		if err := os.Symlink(git, filepath.Join(tools, "git")); err != nil {
			t.Fatal(err)
		}
	}
	for _, cc := range []string{"clang", "gcc", "cc", "llc"} {
		if _, err := os.Stat(filepath.Join(tools, cc)); err == nil {
			t.Fatalf("%s in the test PATH", cc)
		}
	}
	bin := t.TempDir()
	cmd := exec.Command(filepath.Join(tools, "go"), "install", "./cmd/ftpxdp")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(filteredEnv("PATH", "GOBIN", "CGO_ENABLED", "GOPROXY", "GOFLAGS", "CC"),
		"PATH="+tools, "GOBIN="+bin, "CGO_ENABLED=0", "GOPROXY=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install without clang: %v\n%s", err, out)
	}
	installed := filepath.Join(bin, "ftpxdp")
	r := run(t, exec.Command(installed, "version")).mustSucceed(t, "installed ftpxdp version")
	if !strings.HasPrefix(r.stdout, "ftpxdp ") {
		t.Errorf("version: %q", r.stdout)
	}
	if os.Geteuid() == 0 {
		cmd := exec.Command(installed, "replay", "-")
		cmd.Stdin = strings.NewReader(string(emptyPcap))
		r := run(t, cmd).mustSucceed(t, "installed ftpxdp replay (loads the embedded program)")
		if !strings.HasPrefix(r.stdout, "replayed 0 packets") {
			t.Errorf("replay of an empty capture: %q", r.stdout)
		}
	}
}

// filteredEnv is the environment without the named variables.
func filteredEnv(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			keep = keep && k != d
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
