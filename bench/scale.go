package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// ScaleOptions size the pinhole-table benchmark.
type ScaleOptions struct {
	// Pinholes is how many live pinholes fill the table.
	Pinholes int
	// Capacity is the table's size (loader.Config.MaxPinholes).
	Capacity uint32
	// Lookups is how many distinct pinholes the cold-lookup test opens.
	Lookups int
	// Ftpxdp is the ftpxdp binary whose `pinholes` command is timed; when
	// empty, the listing iterates Datapath.Pinholes in process instead.
	Ftpxdp string
}

// ScaleResult is the outcome of the pinhole-table benchmark.
type ScaleResult struct {
	Pinholes     int    `json:"pinholes"`
	Capacity     uint32 `json:"capacity"`
	MemlockBytes uint64 `json:"memlock_bytes"`

	InsertWall time.Duration `json:"insert_wall_ns"`
	InsertCPU  time.Duration `json:"insert_cpu_ns"`

	// Kernel SYN cost in a table of Lookups pinholes and of Pinholes: the
	// first SYN of a distinct pinhole each time, in random order (repeat 1,
	// so the lookup may miss the cache), less the floor program's run on the
	// same frame. Lookups is the smaller table's size.
	Lookups         int     `json:"lookups"`
	FirstSYNSmallNs float64 `json:"first_syn_small_ns"`
	FirstSYNFullNs  float64 `json:"first_syn_full_ns"`
	// The same SYN repeated (cache-hot, retransmission path).
	HotSYNSmallNs float64 `json:"hot_syn_small_ns"`
	HotSYNFullNs  float64 `json:"hot_syn_full_ns"`

	SweepAPI     string        `json:"sweep_api"`
	SweepWall    time.Duration `json:"sweep_wall_ns"`
	SweepCPU     time.Duration `json:"sweep_cpu_ns"`
	SweepSys     time.Duration `json:"sweep_sys_ns"` // of SweepCPU, in the kernel
	SweepRemoved int           `json:"sweep_removed"`

	// Listings of the full table; the first is the plain table.
	Listings []Listing `json:"listings"`
	// ListSmallRSSKiB is the plain listing's peak memory with one pinhole:
	// the same at a million entries means it streams.
	ListSmallRSSKiB int64 `json:"list_small_max_rss_kib"`
}

// Listing is one timed listing of the table.
type Listing struct {
	Command string        `json:"command"`
	Wall    time.Duration `json:"wall_ns"`
	CPU     time.Duration `json:"cpu_ns"`
	RSSKiB  int64         `json:"max_rss_kib"`
	Rows    int           `json:"rows"`
}

// BytesPerPinhole is the IPv4 table's memory per pinhole of capacity (it
// is preallocated: memory follows capacity, not use).
func (s ScaleResult) BytesPerPinhole() float64 {
	return float64(s.MemlockBytes) / float64(s.Capacity)
}

// scalePinhole is the i-th pinhole of the fill: distinct sources in
// 100.64.0.0/10, one server.
func scalePinhole(i int, now uint64) pinhole.Pinhole {
	src := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16&0x3f), byte(i >> 8), byte(i)})
	dst := netip.AddrPortFrom(insideServer, uint16(1024+i%60000))
	return pinhole.Pinhole{
		Source: src, Dest: dst, Mode: pinhole.Passive,
		Control:   pinhole.Control{Client: netip.AddrPortFrom(src, 40000), Server: netip.AddrPortFrom(insideServer, 21)},
		CreatedNs: now, ExpiresNs: now + uint64(time.Hour),
	}
}

// synTo is the first SYN of pinhole p's data connection.
func synTo(p pinhole.Pinhole) []byte {
	return testutil.TCP{Src: netip.AddrPortFrom(p.Source, 50123), Dst: p.Dest, SYN: true, Seq: 1}.Frame()
}

// RunScale fills a table of opts.Capacity with opts.Pinholes live
// pinholes and measures memory, insertion, the kernel's SYN lookups at that
// size, a sweep that expires all of them, and listing them.
func RunScale(ctx context.Context, opts ScaleOptions, progress func(string)) (res ScaleResult, err error) {
	res = ScaleResult{Pinholes: opts.Pinholes, Capacity: opts.Capacity, Lookups: opts.Lookups}
	dir, err := os.MkdirTemp("", "ftpxdp-bench-bpffs-")
	if err != nil {
		return res, err
	}
	defer os.Remove(dir)
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		return res, fmt.Errorf("mount a private bpffs on %s: %w", dir, err)
	}
	defer func() { err = errors.Join(err, unix.Unmount(dir, unix.MNT_DETACH)) }()
	if err := os.Mkdir(filepath.Join(dir, "maps"), 0o700); err != nil {
		return res, err
	}
	cfg := benchConfig()
	cfg.MaxPinholes = opts.Capacity
	big, err := loader.New(cfg, loader.Options{PinPath: filepath.Join(dir, "maps")})
	if err != nil {
		return res, fmt.Errorf("load the %d-pinhole table: %w", opts.Capacity, err)
	}
	defer big.Close()
	if res.MemlockBytes, err = pinnedMemlock(filepath.Join(dir, "maps", "pintab4")); err != nil {
		return res, err
	}

	// An empty table first: the listing's memory with one pinhole.
	now := loader.KernelNow()
	if err := big.PutPinhole(scalePinhole(0, now)); err != nil {
		return res, err
	}
	if opts.Ftpxdp != "" {
		small, err := listPinned(ctx, opts.Ftpxdp, dir)
		if err != nil {
			return res, err
		}
		res.ListSmallRSSKiB = small.RSSKiB
	}

	res.InsertWall, res.InsertCPU, err = fill(ctx, big, opts.Pinholes, now)
	if err != nil {
		return res, err
	}
	progress(fmt.Sprintf("scale: %d pinholes inserted in %s (%.0f ns each)", opts.Pinholes,
		res.InsertWall.Round(time.Millisecond), float64(res.InsertWall.Nanoseconds())/float64(opts.Pinholes)))

	if err := measureLookups(&res, big, opts, now); err != nil {
		return res, err
	}
	progress(fmt.Sprintf("scale: first SYN %0.f ns at %d pinholes, %0.f ns at %d", res.FirstSYNSmallNs, opts.Lookups, res.FirstSYNFullNs, opts.Pinholes))

	// List the full table (before the sweep empties it).
	if opts.Ftpxdp != "" {
		for _, extra := range [][]string{nil, {"--json"}} {
			l, err := listPinned(ctx, opts.Ftpxdp, dir, extra...)
			if err != nil {
				return res, err
			}
			res.Listings = append(res.Listings, l)
			progress(fmt.Sprintf("scale: %s listed %d rows in %s", l.Command, l.Rows, l.Wall.Round(time.Millisecond)))
		}
	} else {
		l := Listing{Command: "Datapath.Pinholes (in process: no ftpxdp binary given)"}
		c0 := cpuTime()
		t0 := time.Now()
		for _, err := range big.Pinholes() {
			if err != nil {
				return res, err
			}
			l.Rows++
		}
		l.Wall, l.CPU = time.Since(t0), cpuTime()-c0
		res.Listings = append(res.Listings, l)
	}

	// Sweep: every pinhole is past its expiry an hour from now.
	res.SweepAPI = "loader.Datapath.Sweep"
	s0 := sysTime()
	c0 := cpuTime()
	t0 := time.Now()
	sr, err := big.Sweep(now+uint64(2*time.Hour), time.Hour)
	res.SweepWall, res.SweepCPU, res.SweepSys = time.Since(t0), cpuTime()-c0, sysTime()-s0
	if err != nil {
		return res, err
	}
	res.SweepRemoved = sr.ExpiredUnused + sr.ExpiredUsed
	progress(fmt.Sprintf("scale: swept %d in %s (%s CPU)", res.SweepRemoved, res.SweepWall.Round(time.Millisecond), res.SweepCPU.Round(time.Millisecond)))
	return res, nil
}

// fill inserts pinholes 1..n-1 (0 is in already) and returns the wall and
// CPU time taken.
func fill(ctx context.Context, dp *loader.Datapath, n int, now uint64) (time.Duration, time.Duration, error) {
	c0 := cpuTime()
	t0 := time.Now()
	for i := 1; i < n; i++ {
		if i%65536 == 0 && ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if err := dp.PutPinhole(scalePinhole(i, now)); err != nil {
			return 0, 0, fmt.Errorf("insert pinhole %d: %w", i, err)
		}
	}
	return time.Since(t0), cpuTime() - c0, nil
}

// measureLookups times the kernel's SYN path against the full table and
// against a table holding only the pinholes being looked up.
func measureLookups(res *ScaleResult, big *loader.Datapath, opts ScaleOptions, now uint64) error {
	small, err := loader.New(benchConfig(), loader.Options{})
	if err != nil {
		return err
	}
	defer small.Close()
	var fl floorObjects
	if err := loadFloorObjects(&fl, nil); err != nil {
		return fmt.Errorf("load floor program: %w", err)
	}
	defer fl.Close()
	// Distinct pinholes, so that each SYN is the first of its pinhole.
	picks := rand.New(rand.NewPCG(1, 2)).Perm(opts.Pinholes - 1)[:min(opts.Lookups, opts.Pinholes-1)]
	for _, x := range []struct {
		dp    *loader.Datapath
		first *float64
		hot   *float64
	}{{small, &res.FirstSYNSmallNs, &res.HotSYNSmallNs}, {big, &res.FirstSYNFullNs, &res.HotSYNFullNs}} {
		in, err := x.dp.Instance(loader.HookXDP, loader.Outside, 0)
		if err != nil {
			return err
		}
		if x.dp == small {
			// The small table holds just the pinholes looked up.
			for _, i := range picks {
				if err := small.PutPinhole(scalePinhole(1+i, now)); err != nil {
					in.Close()
					return err
				}
			}
		}
		var diffs []float64
		for _, i := range picks {
			frame := synTo(scalePinhole(1+i, now))
			ret, d, err := in.Program.Benchmark(frame, 1, nil)
			if err != nil {
				in.Close()
				return err
			}
			if ret != xdpPass {
				in.Close()
				return fmt.Errorf("a SYN to a live pinhole was dropped (%d): the lookup test is broken", ret)
			}
			_, f, err := fl.FloorXdp.Benchmark(frame, 1, nil)
			if err != nil {
				in.Close()
				return err
			}
			diffs = append(diffs, float64(d-f))
		}
		*x.first = median(diffs)
		if x.dp == big {
			// The looked-up pinholes are used now, and expire after the
			// SYN grace: make them fresh again, so the table stays at
			// Pinholes live ones for the listing and the sweep.
			for _, i := range picks {
				if err := big.PutPinhole(scalePinhole(1+i, now)); err != nil {
					in.Close()
					return err
				}
			}
		}
		// The last pinhole again, repeated: its retransmission path, hot.
		p := scalePinhole(opts.Pinholes/2, now)
		p.CreatedNs, p.ExpiresNs = loader.KernelNow(), loader.KernelNow()+uint64(time.Hour)
		if err := x.dp.PutPinhole(p); err != nil {
			in.Close()
			return err
		}
		_, d, err := in.Program.Benchmark(synTo(p), 1000000, nil)
		in.Close()
		if err != nil {
			return err
		}
		*x.hot = float64(d.Nanoseconds())
		if x.dp == big {
			// Put it back as the fill made it, so the sweep sees the same.
			if err := big.PutPinhole(scalePinhole(opts.Pinholes/2, now)); err != nil {
				return err
			}
		}
	}
	return nil
}

// pinnedMemlock reads the kernel's memory charge of a pinned map (the
// memlock line of its fdinfo).
func pinnedMemlock(path string) (uint64, error) {
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		return 0, fmt.Errorf("map info of %s: %w", path, err)
	}
	ml, ok := info.Memlock()
	if !ok {
		return 0, fmt.Errorf("kernel reports no memlock for %s", path)
	}
	return ml, nil
}

// listPinned runs `ftpxdp pinholes` on the pinned state, counting the
// rows as they stream (a JSON listing has one per line between brackets).
func listPinned(ctx context.Context, bin, pinPath string, extra ...string) (Listing, error) {
	args := append([]string{"--pin-path", pinPath, "pinholes"}, extra...)
	l := Listing{Command: strings.Join(append([]string{"ftpxdp"}, args[2:]...), " ")}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return l, err
	}
	var stderr bufferTail
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return l, fmt.Errorf("start %s: %w", l.Command, err)
	}
	sc := bufio.NewScanner(out)
	lines := 0
	for sc.Scan() {
		lines++
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return l, fmt.Errorf("%s: %w: %s", l.Command, err, stderr.String())
	}
	l.Wall = time.Since(t0)
	l.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		l.RSSKiB = ru.Maxrss
	}
	l.Rows = max(lines-1, 0) // the table's header, or JSON's closing bracket
	return l, nil
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sysTime is this process's system CPU time so far.
func sysTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Stime.Nano())
}

// bufferTail keeps the last few KiB written to it (a child's stderr).
type bufferTail struct{ b []byte }

func (t *bufferTail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *bufferTail) String() string { return string(t.b) }
