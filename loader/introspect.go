package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
)

// programConfig reads the settings a loaded program was built with from its
// .rodata map, so status needs no state file beside the pins.
func programConfig(progID uint32) (ftpxdpConfig, error) {
	var cfg ftpxdpConfig
	spec, err := loadFtpxdp()
	if err != nil {
		return cfg, err
	}
	v := spec.Variables["cfg"]
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(progID))
	if err != nil {
		return cfg, fmt.Errorf("open program %d: %w", progID, err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return cfg, fmt.Errorf("read program %d: %w", progID, err)
	}
	if !strings.HasPrefix(info.Name, "ftpxdp_") {
		return cfg, fmt.Errorf("program %d (%s) is not ftpxdp's", progID, info.Name)
	}
	ids, _ := info.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		mi, err := m.Info()
		if err != nil || !strings.HasSuffix(mi.Name, ".rodata") {
			m.Close()
			continue
		}
		val := make([]byte, m.ValueSize())
		err = m.Lookup(uint32(0), &val)
		m.Close()
		if err != nil {
			return cfg, fmt.Errorf("read settings of program %d: %w", progID, err)
		}
		end := int(v.Offset) + binary.Size(cfg)
		if end > len(val) {
			return cfg, fmt.Errorf("settings of program %d are from another version", progID)
		}
		if err := binary.Read(bytes.NewReader(val[v.Offset:end]), binary.NativeEndian, &cfg); err != nil {
			return cfg, fmt.Errorf("decode settings of program %d: %w", progID, err)
		}
		return cfg, nil
	}
	return cfg, fmt.Errorf("program %d has no settings map", progID)
}

// fromKernel converts a program's settings back to a Config.
func fromKernel(k ftpxdpConfig) Config {
	c := Config{
		MinPort:        k.MinPort,
		MaxPerControl:  int(k.MaxPerControl),
		PinholeTimeout: durationNs(k.PinholeTimeoutNs),
		SYNGrace:       durationNs(k.SynGraceNs),
		RateWindow:     durationNs(k.RateWindowNs),
		RateBurst:      k.RateBurst,
		Observe:        k.Observe != 0,
		Loose:          k.Loose != 0,
		StrictSequence: k.StrictSeq != 0,
		RequireRequest: k.RequireRequest != 0,
	}
	for _, p := range k.CtrlPorts {
		if p != 0 {
			c.ControlPorts = append(c.ControlPorts, p)
		}
	}
	for _, p := range k.AllowAnyPorts {
		if p != 0 {
			c.Allow = append(c.Allow, AllowRule{Port: p})
		}
	}
	return c
}
