package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// gateway is a daemon attached to two veths in a namespace of the test's
// own, with its state on a private bpffs.
type gateway struct {
	ns     *testutil.NetNS
	pin    string
	cmd    *exec.Cmd
	exited chan error // receives the daemon's exit once, then is closed
	err    error      // the exit, after exited closed
}

// startGateway runs 'ftpxdp run' with outside out0 and inside in0 and
// waits for its ready file. Cleanup stops it by PID and detaches.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	ns := newNS(t)
	ns.Veth(t, "out0", "out1", nil)
	ns.Veth(t, "in0", "in1", nil)
	g := &gateway{ns: ns, pin: filepath.Join(testutil.TempBPFFS(t), "ftpxdp")}
	ready := filepath.Join(t.TempDir(), "ready")
	var stderr bytes.Buffer
	g.cmd = exec.Command("ip", "netns", "exec", ns.Name, binPath, "run",
		"--outside", "out0", "--inside", "in0", "--pin-path", g.pin,
		"--ready-file", ready, "--web.listen-address", "")
	g.cmd.Stderr = &stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.exited = make(chan error)
	go func() { g.err = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(20 * time.Second):
			g.cmd.Process.Kill()
			<-g.exited
		}
		if r := ftpxdp(t, "detach", "--pin-path", g.pin); r.code != 0 && !strings.Contains(r.stderr, "nothing pinned") {
			t.Errorf("detach: %s", r.stderr)
		}
	})
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(ready); err == nil {
			return g
		}
		select {
		case <-g.exited:
			t.Fatalf("daemon exited before it was ready: %v\n%s", g.err, stderr.String())
		case <-deadline:
			t.Fatalf("daemon not ready after 60s:\n%s", stderr.String())
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gateway) stop(t *testing.T) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop within 20s of SIGTERM")
	}
	if g.err != nil {
		t.Errorf("daemon exit: %v", g.err)
	}
}

// pinholeJSON is one row of 'pinholes --json', decoded strictly. A copy of
// pinholeRow on purpose: it pins the documented field names, so a renamed
// tag in pinholeRow fails here rather than in an operator's scripts.
type pinholeJSON struct {
	Protocol        string  `json:"protocol"`
	Family          string  `json:"family"`
	Source          string  `json:"source"`
	DestAddress     string  `json:"destination_address"`
	DestPort        uint16  `json:"destination_port"`
	Mode            string  `json:"mode"`
	ControlClient   string  `json:"control_client"`
	ControlServer   string  `json:"control_server"`
	AgeSeconds      float64 `json:"age_seconds"`
	TimeLeftSeconds float64 `json:"time_left_seconds"`
	State           string  `json:"state"`
	Hits            uint32  `json:"hits"`
}

func (g *gateway) pinholesJSON(t *testing.T, args ...string) []pinholeJSON {
	t.Helper()
	r := ftpxdp(t, append([]string{"pinholes", "--json", "--pin-path", g.pin}, args...)...).mustSucceed(t, "pinholes --json")
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	rows := []pinholeJSON{}
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("pinholes --json %v: %v\n%s", args, err, r.stdout)
	}
	return rows
}

// The three pinholes the test puts in the live map: an active IPv4 one
// waiting, a passive IPv6 one used twice, and one expired.
func livePinholes(now uint64) (waiting, used, expired pinhole.Pinhole) {
	s := uint64(time.Second)
	waiting = pinhole.Pinhole{
		Source: netip.MustParseAddr("198.51.100.10"), Dest: netip.MustParseAddrPort("10.0.0.5:40001"), Mode: pinhole.Active,
		Control:   pinhole.Control{Client: netip.MustParseAddrPort("10.0.0.5:40000"), Server: netip.MustParseAddrPort("198.51.100.10:21")},
		CreatedNs: now - 10*s, ExpiresNs: now + 290*s,
	}
	used = pinhole.Pinhole{
		Source: netip.MustParseAddr("2001:db8::7"), Dest: netip.MustParseAddrPort("[fd00::20]:50000"), Mode: pinhole.Passive,
		Control:   pinhole.Control{Client: netip.MustParseAddrPort("[2001:db8::7]:50123"), Server: netip.MustParseAddrPort("[fd00::20]:21")},
		CreatedNs: now - 100*s, ExpiresNs: now + 60*s, UsedNs: now - s, Hits: 2, UsedSourcePort: 50124,
	}
	expired = pinhole.Pinhole{
		Source: netip.MustParseAddr("203.0.113.9"), Dest: netip.MustParseAddrPort("10.0.0.6:40002"), Mode: pinhole.Active,
		Control:   pinhole.Control{Client: netip.MustParseAddrPort("10.0.0.6:40000"), Server: netip.MustParseAddrPort("203.0.113.9:21")},
		CreatedNs: now - 400*s, ExpiresNs: now - 100*s,
	}
	return waiting, used, expired
}

// 'pinholes --json' shows exactly the live map, field by field, and the
// filters, sorting, flush and status work on it.
func TestPinholesJSONAgainstLiveState(t *testing.T) {
	g := startGateway(t)
	dp, err := loader.Open(g.pin)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	now := loader.KernelNow()
	waiting, used, expired := livePinholes(now)
	for _, p := range []pinhole.Pinhole{waiting, used, expired} {
		if err := dp.PutPinhole(p); err != nil {
			t.Fatalf("put pinhole: %v", err)
		}
	}

	rows := g.pinholesJSON(t, "--sort", "left")
	if len(rows) != 2 {
		t.Fatalf("%d pinholes listed, want 2 (the expired one hidden): %+v", len(rows), rows)
	}
	// Times move on while the test runs: allow a minute.
	within := func(got, want float64) bool { return got >= want-60 && got <= want+60 }
	u, w := rows[0], rows[1] // --sort left: the used one expires first
	if u.Protocol != "tcp" || u.Family != "ipv6" || u.Source != "2001:db8::7" || u.DestAddress != "fd00::20" || u.DestPort != 50000 ||
		u.Mode != "passive" || u.ControlClient != "[2001:db8::7]:50123" || u.ControlServer != "[fd00::20]:21" ||
		u.State != "used" || u.Hits != 2 || !within(u.AgeSeconds, 100) || !within(u.TimeLeftSeconds, 60) || u.TimeLeftSeconds > 60 {
		t.Errorf("used pinhole listed as %+v", u)
	}
	if w.Protocol != "tcp" || w.Family != "ipv4" || w.Source != "198.51.100.10" || w.DestAddress != "10.0.0.5" || w.DestPort != 40001 ||
		w.Mode != "active" || w.ControlClient != "10.0.0.5:40000" || w.ControlServer != "198.51.100.10:21" ||
		w.State != "waiting" || w.Hits != 0 || !within(w.AgeSeconds, 10) || w.AgeSeconds < 10 || !within(w.TimeLeftSeconds, 290) || w.TimeLeftSeconds > 290 {
		t.Errorf("waiting pinhole listed as %+v", w)
	}

	all := g.pinholesJSON(t, "--all", "--sort", "age")
	if len(all) != 3 || all[0].Source != "203.0.113.9" || all[0].State != "expired" || all[0].TimeLeftSeconds != 0 ||
		all[1].Source != "2001:db8::7" || all[2].Source != "198.51.100.10" {
		t.Errorf("--all --sort age: %+v", all)
	}
	if h := g.pinholesJSON(t, "--sort", "hits"); len(h) != 2 || h[0].Hits != 2 {
		t.Errorf("--sort hits: %+v", h)
	}

	for _, tc := range []struct {
		addr string
		want []string // sources
	}{
		{"10.0.0.0/24", []string{"198.51.100.10"}}, // destination; the expired one stays hidden
		{"198.51.100.10", []string{"198.51.100.10"}},
		{"fd00::/8", []string{"2001:db8::7"}},
		{"2001:db8::7", []string{"2001:db8::7"}}, // source
		{"192.0.2.0/24", []string{}},
	} {
		got := []string{}
		for _, r := range g.pinholesJSON(t, "--addr", tc.addr) {
			got = append(got, r.Source)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("--addr %s: %v, want %v", tc.addr, got, tc.want)
		}
	}
	if r := ftpxdp(t, "pinholes", "--json", "--addr", "192.0.2.0/24", "--pin-path", g.pin).mustSucceed(t, "empty list"); r.stdout != "[]\n" {
		t.Errorf("an empty list prints %q, want []", r.stdout)
	}

	table := ftpxdp(t, "pinholes", "--pin-path", g.pin).mustSucceed(t, "pinholes").stdout
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "PROTO") ||
		!strings.Contains(table, "10.0.0.5:40000 -> 198.51.100.10:21") || !strings.Contains(table, "[fd00::20]:50000") {
		t.Errorf("table:\n%s", table)
	}

	status := g.status(t)
	if status.PinPath != g.pin || status.Mode != "enforce" || len(status.Hooks) != 2 {
		t.Errorf("status: %+v", status)
	}
	roles := map[string]string{}
	for _, h := range status.Hooks {
		roles[h.Interface] = h.Role
		if h.Hook != "xdp" || h.ProgramID == 0 || h.XDPMode != "native" {
			t.Errorf("hook %+v: want native xdp with a program id", h)
		}
	}
	if roles["out0"] != "outside" || roles["in0"] != "inside" {
		t.Errorf("status roles: %v", roles)
	}
	var families []string
	for _, m := range status.Maps {
		if m.Name == "pinholes" {
			families = append(families, m.Family)
		}
	}
	if !slices.Equal(families, []string{"ipv4", "ipv6"}) {
		t.Errorf("status lists pinhole maps for %v, want one per family", families)
	}
	if n := status.entries("pinholes"); n != 3 {
		t.Errorf("status: %d pinholes in the map, want 3", n)
	}

	r := ftpxdp(t, "pinholes", "flush", "--match", "10.0.0.0/24", "--pin-path", g.pin).mustSucceed(t, "flush --match")
	if r.stdout != "flushed 2 pinholes\n" {
		t.Errorf("flush --match: %q", r.stdout)
	}
	if rest := g.pinholesJSON(t, "--all"); len(rest) != 1 || rest[0].Source != "2001:db8::7" {
		t.Errorf("after flush --match: %+v", rest)
	}
	if n := g.status(t).entries("pinholes"); n != 1 {
		t.Errorf("status after flush: %d pinholes, want 1", n)
	}

	// Stopping the daemon leaves the state: the pinhole is still listed,
	// until detach removes everything.
	g.stop(t)
	if rest := g.pinholesJSON(t); len(rest) != 1 {
		t.Errorf("after the daemon stopped: %+v", rest)
	}
	if r := ftpxdp(t, "detach", "--pin-path", g.pin).mustSucceed(t, "detach"); r.stdout != "detached; removed "+g.pin+"\n" {
		t.Errorf("detach: %q", r.stdout)
	}
	ftpxdp(t, "pinholes", "--pin-path", g.pin).wantError(t, "pinholes after detach", "nothing pinned")
	if out := g.ns.MustIP(t, "link", "show", "out0"); strings.Contains(out, "xdp") {
		t.Errorf("out0 still has a program after detach:\n%s", out)
	}
}

// statusJSON is 'status --json', a copy of loader.HookStatus's fields on
// purpose, as pinholeJSON is.
type statusJSON struct {
	PinPath string `json:"pin_path"`
	Mode    string `json:"mode"`
	Hooks   []struct {
		Interface string `json:"interface"`
		Ifindex   int    `json:"ifindex"`
		Hook      string `json:"hook"`
		Direction string `json:"direction"`
		Role      string `json:"role"`
		Slot      uint8  `json:"slot"`
		XDPMode   string `json:"xdp_mode"`
		ProgramID uint32 `json:"program_id"`
		LinkID    uint32 `json:"link_id"`
	} `json:"hooks"`
	Maps []struct {
		Name     string `json:"name"`
		Family   string `json:"family"`
		Entries  int    `json:"entries"`
		Capacity uint32 `json:"capacity"`
	} `json:"maps"`
	Counters map[string]uint64 `json:"counters"`
}

// entries adds the entries of the maps called name (pinholes: one row per
// address family), -1 when there is none.
func (s statusJSON) entries(name string) int {
	n, found := 0, false
	for _, m := range s.Maps {
		if m.Name == name {
			n += m.Entries
			found = true
		}
	}
	if !found {
		return -1
	}
	return n
}

// status runs 'status --json' in the gateway's namespace, where its
// interfaces are.
func (g *gateway) status(t *testing.T) statusJSON {
	t.Helper()
	r := inNS(t, g.ns, "status", "--json", "--pin-path", g.pin).mustSucceed(t, "status --json")
	var s statusJSON
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	return s
}
