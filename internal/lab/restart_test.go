package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// portThenWait is a client that sends PORT, reports it, waits for a line on
// stdin, then fetches the file over the announced port and prints its hash.
const portThenWait = `
import ftplib, hashlib, socket, sys
host, me, name = sys.argv[1], sys.argv[2], sys.argv[3]
ftp = ftplib.FTP()
ftp.connect(host, 21, timeout=15)
ftp.login()
ftp.voidcmd('TYPE I')
ls = socket.socket(socket.AF_INET)
ls.bind((me, 0))
ls.listen(1)
ls.settimeout(15)
port = ls.getsockname()[1]
ftp.sendport(me, port)
print('PORTED', port, flush=True)
sys.stdin.readline()
ftp.putcmd('RETR ' + name)
ftp.getresp()
conn, _ = ls.accept()
h = hashlib.sha256()
while True:
    b = conn.recv(65536)
    if not b:
        break
    h.update(b)
conn.close()
ftp.voidresp()
print('SHA', h.hexdigest(), flush=True)
ftp.quit()
`

// The daemon is stopped and started again between a real PORT and the
// server's connection: the pinhole is still listed, still admits, and the
// download completes. Then detach leaves nothing attached or pinned.
func TestDaemonRestartKeepsRealPinhole(t *testing.T) {
	testutil.RequireKernel(t)
	bin := BuildDaemon(t)
	l := New(t, ClientGateway, Options{})
	content := NewContent(t, 256<<10)
	if _, err := StartServer(t, l.Server, VSFTPD, content, ServerOptions{}); err != nil {
		t.Fatal(err)
	}
	pin := filepath.Join(testutil.TempBPFFS(t), "ftpxdp")
	t.Cleanup(func() { l.Gateway.Run(bin, "detach", "--pin-path", pin) })
	start := func() *exec.Cmd {
		t.Helper()
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := l.Gateway.Command(context.Background(), bin, "run", "--outside", l.Outside, "--inside", l.Inside,
			"--pin-path", pin, "--ready-file", ready, "--web.listen-address", "")
		var log strings.Builder
		cmd.Stderr = &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("ftpxdp run:\n%s", log.String())
			}
		})
		waitFile(t, ready, cmd)
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("ftpxdp run after SIGTERM: %v", err)
		}
	}
	pinholes := func() []map[string]any {
		t.Helper()
		out, err := l.Gateway.Command(context.Background(), bin, "pinholes", "--json", "--pin-path", pin).Output()
		if err != nil {
			t.Fatalf("ftpxdp pinholes: %v", err)
		}
		var rows []map[string]any
		if err := json.Unmarshal(out, &rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}

	daemon := start()
	client := l.Client.Command(context.Background(), "python3", "-c", portThenWait,
		ServerAddr4.String(), ClientAddr4.String(), FileName)
	stdin, _ := client.StdinPipe()
	stdout, _ := client.StdoutPipe()
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Process.Kill(); client.Wait() })
	lines := bufio.NewScanner(stdout)
	var port int
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "PORTED ") {
		t.Fatalf("client did not send PORT: %q", lines.Text())
	}
	fmt.Sscan(strings.TrimPrefix(lines.Text(), "PORTED "), &port)

	want := fmt.Sprintf("%s:%d from %s, waiting", ClientAddr4, port, ServerAddr4)
	describe := func(rows []map[string]any) []string {
		var s []string
		for _, r := range rows {
			s = append(s, fmt.Sprintf("%s:%v from %s, %s", r["destination_address"], r["destination_port"], r["source"], r["state"]))
		}
		return s
	}
	if got := describe(pinholes()); len(got) != 1 || got[0] != want {
		t.Fatalf("pinholes after PORT = %v, want [%s]", got, want)
	}

	stop(daemon)
	if got := describe(pinholes()); len(got) != 1 || got[0] != want {
		t.Fatalf("pinholes with the daemon stopped = %v, want [%s]", got, want)
	}
	daemon = start()
	if got := describe(pinholes()); len(got) != 1 || got[0] != want {
		t.Fatalf("pinholes after the restart = %v, want [%s]", got, want)
	}

	io.WriteString(stdin, "go\n")
	if !lines.Scan() || lines.Text() != "SHA "+content.SHA256 {
		t.Fatalf("download through the restarted daemon: %q, want SHA %s", lines.Text(), content.SHA256)
	}
	if rows := pinholes(); len(rows) != 1 || rows[0]["state"] != "used" || rows[0]["hits"] != float64(1) {
		t.Fatalf("pinhole after the download = %v, want used with 1 hit", rows)
	}
	client.Wait()

	stop(daemon)
	if out, err := l.Gateway.Run(bin, "detach", "--pin-path", pin); err != nil {
		t.Fatalf("detach: %v: %s", err, out)
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Fatalf("pin path left after detach: %v", err)
	}
	for _, ifc := range []string{l.Outside, l.Inside} {
		out := l.Gateway.MustIP(t, "link", "show", ifc)
		if strings.Contains(out, " xdp") {
			t.Errorf("%s still has an XDP program after detach: %s", ifc, out)
		}
	}
}

// waitFile polls for path until the process exits or a deadline passes.
func waitFile(t *testing.T, path string, cmd *exec.Cmd) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}
