package bench

import (
	"bufio"
	"os"
	"runtime"
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
}

// ThisMachine reads the machine's description.
func ThisMachine() Machine {
	m := Machine{Date: time.Now().UTC().Format(time.DateOnly), CPUs: runtime.NumCPU(), Go: runtime.Version()}
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
	return s + "; load average at start " + m.LoadAvg
}
