package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Verdict is what the program did with one packet.
type Verdict uint8

// Verdicts.
const (
	Pass Verdict = iota
	Drop
)

// String returns "pass" or "drop".
func (v Verdict) String() string {
	if v == Drop {
		return "drop"
	}
	return "pass"
}

// Kernel return codes of the two program types.
const (
	xdpDrop     = 1
	xdpPass     = 2
	tcActUnspec = 0xffffffff // -1: next program
	tcActShot   = 2
)

// Run sends one Ethernet frame through the program with BPF_PROG_TEST_RUN,
// exactly as if it had arrived on an attached interface.
func (i *Instance) Run(frame []byte) (Verdict, error) {
	ret, err := i.Program.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return Pass, fmt.Errorf("test run: %w", err)
	}
	switch {
	case i.Hook == HookXDP && ret == xdpPass, i.Hook == HookTC && ret == tcActUnspec:
		return Pass, nil
	case i.Hook == HookXDP && ret == xdpDrop, i.Hook == HookTC && ret == tcActShot:
		return Drop, nil
	}
	return Pass, fmt.Errorf("%s program returned unexpected code %d", i.Hook, int32(ret))
}
