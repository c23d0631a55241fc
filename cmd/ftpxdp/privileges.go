package main

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// errPrivilege is returned when the process lacks a needed capability.
var errPrivilege = errors.New("missing privileges")

type capability struct {
	cap  int
	name string
}

// neededCaps are what run and detach use: loading programs (BPF), attaching
// them (NET_ADMIN), mounting bpffs and reading programs by id (SYS_ADMIN).
var neededCaps = []capability{
	{unix.CAP_BPF, "CAP_BPF"},
	{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"},
	{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
}

// replayCaps are what replay uses: loading an XDP program and its maps.
var replayCaps = neededCaps[:2]

func checkPrivileges() error { return checkCaps(neededCaps) }

// checkCaps names the capabilities of caps the process lacks.
func checkCaps(caps []capability) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	var missing []string
	for _, c := range caps {
		if data[c.cap/32].Effective&(1<<(uint(c.cap)%32)) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s: run as root, or grant them (AmbientCapabilities= in the systemd unit)",
			errPrivilege, strings.Join(missing, ", "))
	}
	return nil
}
