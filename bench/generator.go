package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// xdpMd is the kernel's struct xdp_md, the context of a test run: it names
// the interface a live frame is sent from.
type xdpMd struct {
	Data, DataEnd, DataMeta      uint32
	IngressIfindex, RxQueueIndex uint32
	EgressIfindex                uint32
}

// generator sends a fixed number of copies of a frame from the client's
// veth with BPF_PROG_TEST_RUN in live-frame mode: each repeat is a real
// XDP_TX to the gateway, as a NIC would receive it.
type generator struct {
	objs trafficgenObjects
	lab  *lab
}

// hdrLen is the Ethernet, IPv4 and TCP headers the generator rewrites.
const hdrLen = 54

// newGenerator loads the generator for frames with the headers of frame
// (IPv4, TCP without options); with span > 0 the TCP source port of each
// frame walks base .. base+span-1.
func newGenerator(l *lab, frame []byte, base, span uint16) (*generator, error) {
	if len(frame) < hdrLen {
		return nil, fmt.Errorf("generator frame of %d bytes is shorter than its headers", len(frame))
	}
	spec, err := loadTrafficgen()
	if err != nil {
		return nil, fmt.Errorf("read generator program: %w", err)
	}
	var tmpl [14]uint32
	var b [56]byte
	copy(b[:], frame[:hdrLen])
	for i := range tmpl {
		tmpl[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	if err := spec.Variables["tmpl"].Set(tmpl); err != nil {
		return nil, fmt.Errorf("set the header template: %w", err)
	}
	if err := spec.Variables["sport_base"].Set(base); err != nil {
		return nil, fmt.Errorf("set sport_base: %w", err)
	}
	if err := spec.Variables["sport_span"].Set(span); err != nil {
		return nil, fmt.Errorf("set sport_span: %w", err)
	}
	g := &generator{lab: l}
	if err := spec.LoadAndAssign(&g.objs, nil); err != nil {
		return nil, fmt.Errorf("load generator program: %w", err)
	}
	return g, nil
}

// Close unloads the generator.
func (g *generator) Close() error { return g.objs.Close() }

// genBatch is how many frames the kernel sends per batch; below the veth's
// ring of 256 so that a batch never overflows it.
const genBatch = 64

// progRunAttr is the kernel's BPF_PROG_TEST_RUN attribute (union
// bpf_attr, the test member): cilium/ebpf's Run drops the kernel's
// duration, and Benchmark takes no flags, so the live run is made here.
type progRunAttr struct {
	ProgFd, Retval           uint32
	DataSizeIn, DataSizeOut  uint32
	DataIn, DataOut          unsafe.Pointer // 64-bit pointers: amd64, arm64
	Repeat, Duration         uint32
	CtxSizeIn, CtxSizeOut    uint32
	CtxIn, CtxOut            unsafe.Pointer
	Flags, CPU, BatchSize, _ uint32
}

// send transmits n copies of frame (the generator's MACs already set) and
// returns the kernel's time for it: the live-frame loop, which runs the
// gateway's and the receiver's softirq work inline when each batch ends,
// with the time the thread yielded the CPU to others left out.
func (g *generator) send(frame []byte, n uint32) (time.Duration, error) {
	ctx := xdpMd{DataEnd: uint32(len(frame)), IngressIfindex: uint32(g.lab.clientIfindex)}
	var cbuf bytes.Buffer
	if err := binary.Write(&cbuf, binary.NativeEndian, ctx); err != nil {
		return 0, err
	}
	cb := cbuf.Bytes()
	attr := progRunAttr{
		ProgFd:     uint32(g.objs.TrafficgenXdp.FD()),
		DataSizeIn: uint32(len(frame)),
		DataIn:     unsafe.Pointer(&frame[0]),
		Repeat:     n,
		CtxSizeIn:  uint32(len(cb)),
		CtxIn:      unsafe.Pointer(&cb[0]),
		Flags:      unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		BatchSize:  genBatch,
	}
	var total time.Duration
	err := g.lab.client.Do(func() error {
		for {
			_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
			runtime.KeepAlive(frame)
			runtime.KeepAlive(cb)
			if errno == unix.EINTR {
				continue // interrupted before the end: run again
			}
			if errno != 0 {
				return fmt.Errorf("live-frame run: %w", errno)
			}
			total = time.Duration(uint64(attr.Duration) * uint64(n))
			return nil
		}
	})
	return total, err
}
