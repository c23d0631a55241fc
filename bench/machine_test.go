package bench

import (
	"strings"
	"testing"
	"time"
)

// The steal meter reads /proc/stat: a share between 0 and 1 over an
// interval with some CPU time in it, and a warning only above the line.
func TestStealMeter(t *testing.T) {
	_, w0, ok := cpuTimes()
	if !ok {
		t.Fatal("no cpu line in /proc/stat")
	}
	stolen := StealMeter()
	// Spin until the kernel has accounted some busy time (it does so per
	// tick), at most a second.
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		if _, w, _ := cpuTimes(); w > w0+2 {
			break
		}
	}
	if s := stolen(); s < 0 || s > 1 {
		t.Fatalf("steal share %v, want 0..1", s)
	}
	for _, tc := range []struct {
		steal float64
		warn  bool
	}{{-1, false}, {0, false}, {stealWarn - 0.01, false}, {stealWarn, true}, {0.4, true}} {
		m := Machine{Steal: tc.steal}
		if got := m.Disturbed() != ""; got != tc.warn {
			t.Errorf("steal %v: warning %v, want %v", tc.steal, got, tc.warn)
		}
		if has := strings.Contains(m.String(), "host steal"); has != (tc.steal >= 0) {
			t.Errorf("steal %v: machine line %q", tc.steal, m.String())
		}
	}
}
