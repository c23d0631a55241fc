package testutil

import (
	"os"
	"testing"

	"github.com/cilium/ebpf/rlimit"
)

// RequireKernel skips a test that needs root and BPF, with the reason; under
// `make test` (FTPXDP_REQUIRE_KERNEL=1) it fails instead, so CI never
// passes by skipping the kernel tests.
func RequireKernel(t testing.TB) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root for BPF (run as root, or via make test)"
	} else if err := rlimit.RemoveMemlock(); err != nil {
		reason = "cannot lift memlock rlimit: " + err.Error()
	}
	if reason == "" {
		return
	}
	if os.Getenv("FTPXDP_REQUIRE_KERNEL") == "1" {
		t.Fatalf("kernel test cannot run: %s", reason)
	}
	t.Skip(reason)
}
