package bench

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is the kernel's struct ethtool_value, the argument of the
// legacy one-feature ethtool commands.
type ethtoolValue struct {
	Cmd, Data uint32
}

// ifreqData is struct ifreq with ifr_data set.
type ifreqData struct {
	Name [unix.IFNAMSIZ]byte
	Data unsafe.Pointer
	_    [16]byte // the rest of the union
}

// ethtool issues one legacy ethtool command (SIOCETHTOOL) on ifname in the
// namespace and returns the value it reads back.
func (n *netNS) ethtool(ifname string, cmd, data uint32) (uint32, error) {
	v := &ethtoolValue{Cmd: cmd, Data: data}
	err := n.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		req := &ifreqData{Data: unsafe.Pointer(v)}
		copy(req.Name[:], ifname)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(req)))
		runtime.KeepAlive(req)
		if errno != 0 {
			return fmt.Errorf("ethtool command %#x on %s in %s: %w", cmd, ifname, n.Name, errno)
		}
		return nil
	})
	return v.Data, err
}

// setGRO turns generic receive offload on or off.
func (n *netNS) setGRO(ifname string, on bool) error {
	var d uint32
	if on {
		d = 1
	}
	_, err := n.ethtool(ifname, unix.ETHTOOL_SGRO, d)
	return err
}

// offloads lists the segmentation and receive offloads that are on.
func (n *netNS) offloads(ifname string) (string, error) {
	var on []string
	for _, f := range []struct {
		name string
		cmd  uint32
	}{{"tso", unix.ETHTOOL_GTSO}, {"gso", unix.ETHTOOL_GGSO}, {"gro", unix.ETHTOOL_GGRO}} {
		v, err := n.ethtool(ifname, f.cmd, 0)
		if err != nil {
			return "", err
		}
		if v != 0 {
			on = append(on, f.name)
		}
	}
	if len(on) == 0 {
		return "none", nil
	}
	return strings.Join(on, ","), nil
}
