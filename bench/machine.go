package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Machine describes where the figures come from.
type Machine struct {
	Date    string `json:"date"`
	Kernel  string `json:"kernel"`
	CPU     string `json:"cpu"`
	CPUs    int    `json:"cpus"`
	Memory  string `json:"memory"`
	Go      string `json:"go"`
	LoadAvg string `json:"load_average"` // at the start: others share the machine
	Virtual bool   `json:"virtual"`
	// Steal is the share of the time this machine's CPUs wanted to run
	// that the host gave to others while the benchmark ran (/proc/stat
	// steal over busy plus steal: idle CPUs do not dilute it), -1 when
	// unknown.
	Steal float64 `json:"steal_share"`
}

// stealWarn is the steal share above which the figures are called
// disturbed: in VMs with this much taken, runs of the same code differ
// by tens of percent here.
const stealWarn = 0.10

// StealMeter returns a function that reports the share of wanted CPU time
// the host stole since StealMeter was called (steal over busy plus steal),
// or -1 when /proc/stat does not say.
func StealMeter() func() float64 {
	s0, t0, ok0 := cpuTimes()
	return func() float64 {
		s1, t1, ok1 := cpuTimes()
		if !ok0 || !ok1 || t1 <= t0 {
			return -1
		}
		return float64(s1-s0) / float64(t1-t0)
	}
}

// cpuTimes reads the steal time of all CPUs and the time they were busy
// or stolen from the first line of /proc/stat (user nice system idle
// iowait irq softirq steal ...): idle and iowait are left out.
func cpuTimes() (steal, wanted uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i := 1; i <= 8; i++ {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, 0, false
		}
		switch i {
		case 4, 5: // idle, iowait
		case 8:
			steal = v
			wanted += v
		default:
			wanted += v
		}
	}
	return steal, wanted, true
}

// ThisMachine reads the machine's description.
func ThisMachine() Machine {
	m := Machine{Date: time.Now().UTC().Format(time.DateOnly), CPUs: runtime.NumCPU(), Go: runtime.Version(), Steal: -1}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	m.CPU = firstField("/proc/cpuinfo", "model name")
	m.Virtual = strings.Contains(firstField("/proc/cpuinfo", "flags"), "hypervisor")
	m.Memory = firstField("/proc/meminfo", "MemTotal")
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// firstField returns the value of the first "key: value" line of file.
func firstField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// String is a one-line description.
func (m Machine) String() string {
	s := m.CPU + ", " + itoa(m.CPUs) + " CPUs, " + m.Memory + ", Linux " + m.Kernel + ", " + m.Go
	if m.Virtual {
		s += ", virtual machine"
	}
	s += "; load average at start " + m.LoadAvg
	if m.Steal >= 0 {
		s += fmt.Sprintf("; host steal %.0f%% of CPU time during the run", 100*m.Steal)
	}
	return s
}

// Disturbed is a warning when the host took enough CPU time from this
// machine during the run to distort the figures, else "".
func (m Machine) Disturbed() string {
	if m.Steal < stealWarn {
		return ""
	}
	return fmt.Sprintf("warning: the host took %.0f%% of this machine's CPU time during the run (steal): the figures are disturbed, run again when it is quieter", 100*m.Steal)
}
