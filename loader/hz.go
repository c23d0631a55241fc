package loader

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// nsPerJiffy is 1e9/CONFIG_HZ of the running kernel, read once from its
// config (/boot/config-RELEASE or /proc/config.gz), or 0 when neither is
// there: the program then reads the coarse clock instead of jiffies.
var nsPerJiffy = sync.OnceValue(func() uint64 {
	hz := kernelHZ()
	if hz == 0 {
		return 0
	}
	return 1_000_000_000 / hz
})

func kernelHZ() uint64 {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return 0
	}
	release := unix.ByteSliceToString(uts.Release[:])
	if f, err := os.Open("/boot/config-" + release); err == nil {
		defer f.Close()
		return parseHZ(f)
	}
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return 0
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return 0
	}
	return parseHZ(z)
}

func parseHZ(r io.Reader) uint64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			hz, err := strconv.ParseUint(v, 10, 64)
			if err == nil && hz >= 24 && hz <= 10000 {
				return hz
			}
		}
	}
	return 0
}
