package lab

import (
	"bufio"
	"embed"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// ServerKind is an FTP server program from Debian.
type ServerKind string

const (
	// VSFTPD is vsftpd, installed by apt.
	VSFTPD ServerKind = "vsftpd"
	// ProFTPD is proftpd, unpacked under LabRoot().
	ProFTPD ServerKind = "proftpd"
	// PureFTPd is pure-ftpd, unpacked under LabRoot().
	PureFTPd ServerKind = "pure-ftpd"
)

// Servers lists every server kind, in matrix order.
var Servers = []ServerKind{VSFTPD, ProFTPD, PureFTPd}

// LabRoot is where scripts/lab-deps.sh unpacks the servers that conflict
// with vsftpd: $FTPXDP_LAB_ROOT, by default /var/lib/ftpxdp-lab.
func LabRoot() string {
	if r := os.Getenv("FTPXDP_LAB_ROOT"); r != "" {
		return r
	}
	return "/var/lib/ftpxdp-lab"
}

// Binary is the server's executable.
func (k ServerKind) Binary() string {
	switch k {
	case ProFTPD:
		return filepath.Join(LabRoot(), "usr/sbin/proftpd")
	case PureFTPd:
		return filepath.Join(LabRoot(), "usr/sbin/pure-ftpd")
	}
	return "/usr/sbin/vsftpd"
}

// ServerOptions change a server's configuration.
type ServerOptions struct {
	// Port is the control port; 21 when zero.
	Port uint16
	// Promiscuous lets the server connect to any address and port a PORT
	// or EPRT names (vsftpd port_promiscuous, proftpd AllowForeignAddress):
	// for the negative tests, where the helper, not the server, must refuse.
	Promiscuous bool
	// ConnectTimeout bounds the server's active-mode connect; 3s when zero.
	ConnectTimeout time.Duration
}

// Server is a running FTP server serving a Content anonymously.
type Server struct {
	Kind    ServerKind
	Port    uint16
	Content *Content
	Proc    *Proc
	// Dir holds the generated configuration and the server's logs.
	Dir string
}

//go:embed conf/*.tmpl
var confFS embed.FS

var confTemplates = template.Must(template.ParseFS(confFS, "conf/*.tmpl"))

// StartServer starts a server of kind k in ns serving content, and waits
// until it greets on IPv4 and IPv6. It is stopped in t.Cleanup.
func StartServer(t testing.TB, ns *NS, k ServerKind, content *Content, o ServerOptions) (*Server, error) {
	t.Helper()
	if o.Port == 0 {
		o.Port = 21
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 3 * time.Second
	}
	if _, err := os.Stat(k.Binary()); err != nil {
		return nil, fmt.Errorf("%s not installed (run make deps-lab): %w", k, err)
	}
	s := &Server{Kind: k, Port: o.Port, Content: content, Dir: t.TempDir()}
	data := map[string]any{
		"Port": o.Port, "Root": content.Root, "Dir": s.Dir, "Promiscuous": o.Promiscuous,
		"ConnectTimeout": int(o.ConnectTimeout.Seconds()),
	}
	var argv []string
	switch k {
	case VSFTPD:
		conf, err := writeConf(s.Dir, "vsftpd.conf", data)
		if err != nil {
			return nil, err
		}
		argv = inNS(ns, k.Binary(), conf)
	case ProFTPD:
		conf, err := writeConf(s.Dir, "proftpd.conf", data)
		if err != nil {
			return nil, err
		}
		argv = inNS(ns, k.Binary(), "--nodaemon", "--config", conf)
	case PureFTPd:
		argv = pureFTPdArgs(ns, s, o)
	default:
		return nil, fmt.Errorf("unknown server %q", k)
	}
	// A PID namespace of its own: the servers fork a process per session,
	// some in sessions of their own, and a session still connecting to a
	// blocked client would outlive its master. Killing the namespace's
	// first process, a shell that waits for the server (vsftpd itself
	// does not survive being that process), ends them all.
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", "--kill-child=SIGKILL",
		"sh", "-c", `"$@" & wait $!`, "sh"}, argv...)...)
	p, err := startProc(t, string(k), cmd, filepath.Join(s.Dir, "stdout.log"))
	if err != nil {
		return nil, err
	}
	p.pidNS = true
	s.Proc = p
	addrs := []netip.AddrPort{netip.AddrPortFrom(ServerAddr4, o.Port), netip.AddrPortFrom(ServerAddr6, o.Port)}
	if err := waitGreeting(ns, p, addrs, 10*time.Second); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", k, err, p.Tail())
	}
	return s, nil
}

// inNS is the command line that runs a program in ns.
func inNS(ns *NS, args ...string) []string {
	return append([]string{"ip", "netns", "exec", ns.Name}, args...)
}

// pureFTPdArgs runs pure-ftpd anonymous-only. Its anonymous root is the
// home of the user ftp, so it runs in a private mount namespace where
// Content.Root is bind-mounted on that home: parallel servers never share.
func pureFTPdArgs(ns *NS, s *Server, o ServerOptions) []string {
	args := []string{
		"-S", "," + strconv.Itoa(int(o.Port)), // all addresses, both families
		"-e", // anonymous only
		"-i", // anonymous cannot upload
		"-H", // no reverse DNS
		"-A", // chroot everyone
		"-g", filepath.Join(s.Dir, "pure-ftpd.pid"),
		"-O", "clf:" + filepath.Join(s.Dir, "xferlog"),
	}
	script := `set -e; home=$(getent passwd ftp | cut -d: -f6); mount --bind "$1" "$home"; shift; exec "$@"`
	return append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", s.Content.Root},
		inNS(ns, append([]string{PureFTPd.Binary()}, args...)...)...)
}

// LogTail returns the end of the server's own log (vsftpd and proftpd
// keep one; pure-ftpd logs to syslog) and of its standard error.
func (s *Server) LogTail() string {
	out := s.Proc.Tail()
	if b, err := os.ReadFile(filepath.Join(s.Dir, string(s.Kind)+".log")); err == nil {
		l := strings.TrimSpace(string(b))
		if len(l) > 3000 {
			l = "..." + l[len(l)-3000:]
		}
		out = l + "\n" + out
	}
	return strings.TrimSpace(out)
}

// Stop ends the server and every session it forked.
func (s *Server) Stop() error { return s.Proc.Stop() }

// writeConf renders conf/NAME.tmpl into dir/NAME.
func writeConf(dir, name string, data any) (string, error) {
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	defer f.Close()
	if err := confTemplates.ExecuteTemplate(f, name+".tmpl", data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return path, f.Close()
}

// waitGreeting polls every address until an FTP server sends its 220
// greeting there, or the process exits, or d passes.
func waitGreeting(ns *NS, p *Proc, addrs []netip.AddrPort, d time.Duration) error {
	deadline := time.Now().Add(d)
	for _, a := range addrs {
		for {
			err := greeting(ns, a)
			if err == nil {
				break
			}
			if done, perr := p.Exited(); done {
				return fmt.Errorf("exited before greeting on %s: %v", a, perr)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no greeting on %s within %s: %w", a, d, err)
			}
			time.Sleep(20 * time.Millisecond) // poll interval, not a wait for readiness
		}
	}
	return nil
}

// greeting connects to a from ns and reads the server's first reply line.
func greeting(ns *NS, a netip.AddrPort) error {
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", a.String(), time.Second)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("greeting %q is not 220", strings.TrimSpace(line))
	}
	c.Write([]byte("QUIT\r\n"))
	return nil
}
