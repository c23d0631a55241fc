package loader

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

func TestProbeNamesMissingKernelFeature(t *testing.T) {
	probe := func(missing ebpf.ProgramType) func(ebpf.ProgramType) error {
		return func(pt ebpf.ProgramType) error {
			if pt == missing {
				return ebpf.ErrNotSupported
			}
			return nil
		}
	}
	for _, tc := range []struct {
		mode    AttachMode
		missing ebpf.ProgramType
		want    string
	}{
		{AttachXDP, ebpf.XDP, "XDP programs"},
		{AttachTC, ebpf.SchedCLS, "TC programs"},
	} {
		err := probeWith(probe(tc.missing), tc.mode)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s without %v: got %v, want ErrUnsupported naming %q", tc.mode, tc.missing, err, tc.want)
		}
		if err := probeWith(probe(ebpf.Tracing), tc.mode); err != nil {
			t.Errorf("%s with everything present: %v", tc.mode, err)
		}
	}
	// And the real kernel has what both modes need.
	for _, m := range []AttachMode{AttachXDP, AttachTC} {
		if err := probeKernel(m); err != nil {
			t.Errorf("this kernel, %s: %v", m, err)
		}
	}
}

func TestParseAttachMode(t *testing.T) {
	for in, want := range map[string]AttachMode{"xdp": AttachXDP, "tc": AttachTC} {
		if got, err := ParseAttachMode(in); err != nil || got != want {
			t.Errorf("ParseAttachMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAttachMode("skb"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseAttachMode(skb) = %v, want ErrInvalidConfig", err)
	}
}
