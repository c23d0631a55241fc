package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// activeCapture is a real lftp session in active mode against vsftpd
// (replay/testdata/record.sh): the client 10.78.1.2, the server
// 198.51.100.10; packet 31 is the PORT, 34 the server's data SYN.
var activeCapture = filepath.Join("..", "..", "replay", "testdata", "lftp-active.pcap")

func TestReplayHumanOutput(t *testing.T) {
	testutil.RequireKernel(t)
	r := ftpxdp(t, "replay", activeCapture).mustSucceed(t, "replay")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "#31 ") || !strings.Contains(lines[0], "pinhole opened    active   198.51.100.10 -> 10.78.1.2:55351  control 10.78.1.2:49922 -> 198.51.100.10:21  for 5m0s  \"PORT 10,78,1,2,216,55\"") ||
		!strings.HasPrefix(lines[1], "#34 ") || !strings.Contains(lines[1], "syn admitted      pinhole           198.51.100.10:20 -> 10.78.1.2:55351") ||
		lines[2] != "replayed 49 packets over 11ms (28 outside, 21 inside): 1 pinholes opened, 1 SYNs admitted, 0 SYNs dropped, 0 rejects" {
		t.Errorf("replay output:\n%s", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}

	r = ftpxdp(t, "replay", "--control-port", "2121", activeCapture).mustSucceed(t, "replay --control-port 2121")
	if lines := strings.Split(r.stdout, "\n"); !strings.Contains(lines[0], "syn dropped       no pinhole        198.51.100.10:20 -> 10.78.1.2:55351") ||
		!strings.Contains(r.stdout, "0 pinholes opened, 0 SYNs admitted, 1 SYNs dropped") {
		t.Errorf("replay --control-port 2121:\n%s", r.stdout)
	}
}

// --json prints one object per line with the documented fields, the
// summary last; '-' reads the capture from standard input.
func TestReplayJSONFromStdin(t *testing.T) {
	testutil.RequireKernel(t)
	f, err := os.Open(activeCapture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(binPath, "replay", "--json", "--inside-net", "10.78.1.0/24", "-")
	cmd.Stdin = f
	r := run(t, cmd).mustSucceed(t, "replay --json -")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 events and a summary:\n%s", r.stdout)
	}
	var opened, admitted map[string]any
	for i, v := range []*map[string]any{&opened, &admitted} {
		if err := json.Unmarshal([]byte(lines[i]), v); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
	if ts, _ := admitted["timestamp"].(string); !strings.HasPrefix(ts, "20") || !strings.HasSuffix(ts, "Z") {
		t.Errorf("timestamp %q is not RFC 3339 UTC", ts)
	}
	if sec, _ := admitted["time"].(float64); sec <= 0 || sec > 1 {
		t.Errorf("time %v: want seconds since the first packet", admitted["time"])
	}
	want := map[string]any{
		"packet": 31.0, "event": "pinhole_opened", "side": "inside", "verdict": "pass",
		"source": "10.78.1.2:49922", "destination": "198.51.100.10:21", "line": "PORT 10,78,1,2,216,55",
		"pinhole": map[string]any{
			"mode": "active", "source": "198.51.100.10", "destination_address": "10.78.1.2", "destination_port": 55351.0,
			"control_client": "10.78.1.2:49922", "control_server": "198.51.100.10:21", "time_left_seconds": 300.0,
		},
	}
	checkJSON(t, opened, want, "time", "timestamp")
	want = map[string]any{
		"packet": 34.0, "event": "syn_admitted", "reason": "pinhole", "side": "outside", "verdict": "pass",
		"source": "198.51.100.10:20", "destination": "10.78.1.2:55351",
	}
	checkJSON(t, admitted, want, "time", "timestamp")

	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &sum); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]float64{"packets": 49, "outside": 28, "inside": 21, "pinholes_opened": 1, "syns_admitted": 1, "syns_dropped": 0, "rejects": 0, "copies": 0} {
		if sum[k] != v {
			t.Errorf("summary %s = %v, want %v", k, sum[k], v)
		}
	}
	if sum["event"] != "summary" {
		t.Errorf("last line is not the summary: %s", lines[2])
	}
	if c, _ := sum["counters"].(map[string]any); c["pinhole_active_v4"] != 1.0 || c["syn_allowed_pinhole"] != 1.0 {
		t.Errorf("summary counters: %v", sum["counters"])
	}
}

// checkJSON compares an object with want, field by field, ignoring the
// named fields but requiring them.
func checkJSON(t *testing.T, got, want map[string]any, present ...string) {
	t.Helper()
	for _, k := range present {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %v", k, got)
		}
		delete(got, k)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("JSON event:\n got %s\nwant %s", g, w)
	}
}
