package lab

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// TestDemo runs `make demo`'s script: the download fails through the
// stateless deny rule, works through ftpxdp, and the lab is gone after.
func TestDemo(t *testing.T) {
	testutil.RequireKernel(t)
	requireLab(t)
	bin := BuildDaemon(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "demo.sh"), bin).CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"425 Failed to establish connection.", "-> FAILED",
		"-> OK: 1048576 bytes, sha256 verified", "waiting", "dropped at the gateway",
		`ftpxdp_syns_total{decision="allowed_pinhole",interface="out0/ingress"} 2`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if ns, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(ns), "ftpxdp-demo-") {
		t.Errorf("demo left namespaces behind:\n%s", ns)
	}
}
