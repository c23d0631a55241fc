package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ClientKind is an FTP client program.
type ClientKind string

const (
	// LFTP is lftp.
	LFTP ClientKind = "lftp"
	// Curl is curl.
	Curl ClientKind = "curl"
	// FTPLib is Python's ftplib.
	FTPLib ClientKind = "ftplib"
	// FTP is the classic command-line client (Debian's ftp, i.e. tnftp).
	FTP ClientKind = "ftp"
)

// Clients lists every client kind, in matrix order.
var Clients = []ClientKind{LFTP, Curl, FTPLib, FTP}

// Mode is how a client asks for its data connections.
type Mode string

const (
	// Active: the client listens and names its port with PORT (IPv4) or
	// EPRT (IPv6; curl uses EPRT on IPv4 too); the server connects.
	Active Mode = "active"
	// EPSV: the client sends EPSV and connects to the port in the 229.
	EPSV Mode = "epsv"
	// PASV: the client sends PASV and connects to the port in the 227
	// (IPv4 only).
	PASV Mode = "pasv"
	// Passive is ftplib's passive mode: PASV on IPv4, EPSV on IPv6.
	Passive Mode = "passive"
	// PASVThenPort is the seed article's sequence with the classic client:
	// `quote PASV`, then an active-mode `ls`: the 227 is ignored, PORT
	// follows and the server connects.
	PASVThenPort Mode = "pasv-then-port"
)

// ServerConnects reports whether the server opens the data connection.
func (m Mode) ServerConnects() bool { return m == Active || m == PASVThenPort }

// Modes lists the modes client k supports over family f.
func (k ClientKind) Modes(f Family) []Mode {
	var ms []Mode
	switch k {
	case LFTP, Curl:
		ms = []Mode{Active, EPSV, PASV}
	case FTPLib:
		ms = []Mode{Active, Passive}
	case FTP:
		ms = []Mode{Active, EPSV, PASV, PASVThenPort}
	}
	if f == IPv6 {
		// PASV carries an IPv4 address: no IPv6 client sends it.
		out := ms[:0:0]
		for _, m := range ms {
			if m != PASV {
				out = append(out, m)
			}
		}
		ms = out
	}
	return ms
}

// Transfer is one client session: log in anonymously, list the root,
// download FileName, quit.
type Transfer struct {
	Client ClientKind
	Mode   Mode
	Server netip.AddrPort
	// Timeout bounds the whole session; the client is killed after it.
	Timeout time.Duration
	// Dir receives the listing and the download; a fresh temporary
	// directory is best.
	Dir string
}

// Result is what a Transfer got.
type Result struct {
	// Err is nil when the listing named FileName and the download had
	// the content's SHA-256.
	Err     error
	Output  string
	Elapsed time.Duration
}

// Fetch runs the transfer's client in ns and verifies what it got.
func Fetch(ctx context.Context, ns *NS, c *Content, tr Transfer) Result {
	if tr.Timeout == 0 {
		tr.Timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, tr.Timeout)
	defer cancel()
	list, out := filepath.Join(tr.Dir, "list.txt"), filepath.Join(tr.Dir, FileName)
	name, args, stdin, err := clientCommand(tr, list, out)
	if err != nil {
		return Result{Err: err}
	}
	cmd := ns.Command(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	// The client gets its own process group, killed whole on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	start := time.Now()
	b, runErr := cmd.CombinedOutput()
	r := Result{Output: string(b), Elapsed: time.Since(start)}
	switch {
	case ctx.Err() != nil:
		r.Err = fmt.Errorf("%s %s: no result within %s", tr.Client, tr.Mode, tr.Timeout)
	case runErr != nil:
		r.Err = fmt.Errorf("%s %s: %w", tr.Client, tr.Mode, runErr)
	default:
		r.Err = verify(c, list, out)
	}
	return r
}

// verify checks the listing names FileName and the download's checksum.
func verify(c *Content, list, out string) error {
	l, err := os.ReadFile(list)
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	if !strings.Contains(string(l), FileName) {
		return fmt.Errorf("listing does not name %s: %q", FileName, l)
	}
	return c.Check(out)
}

// clientCommand is the command line (and standard input) of a transfer.
func clientCommand(tr Transfer, list, out string) (name string, args []string, stdin string, err error) {
	if !slices.Contains(tr.Client.Modes(familyOf(tr.Server.Addr())), tr.Mode) {
		return "", nil, "", fmt.Errorf("%s has no %s mode over %s", tr.Client, tr.Mode, familyOf(tr.Server.Addr()))
	}
	host := tr.Server.Addr().String()
	url := "ftp://" + tr.Server.String()
	secs := fmt.Sprint(int(max(tr.Timeout/time.Second, 1)))
	switch tr.Client {
	case LFTP:
		set := []string{
			"set net:timeout " + secs, "set net:max-retries 1", "set net:persist-retries 0",
			"set net:reconnect-interval-base 1", "set cmd:fail-exit yes",
		}
		switch tr.Mode {
		case Active:
			set = append(set, "set ftp:passive-mode off", "set ftp:auto-passive-mode no")
		case EPSV:
			set = append(set, "set ftp:passive-mode on", "set ftp:prefer-epsv yes")
		case PASV:
			set = append(set, "set ftp:passive-mode on", "set ftp:prefer-epsv no")
		}
		script := strings.Join(set, "; ") + fmt.Sprintf("; open %s; cls -1 > %s; get %s -o %s; bye", url, list, FileName, out)
		return "lftp", []string{"-c", script}, "", nil
	case Curl:
		a := []string{"-sS", "--connect-timeout", "3", "--max-time", secs}
		switch tr.Mode {
		case Active:
			a = append(a, "--ftp-port", "-")
		case PASV:
			a = append(a, "--disable-epsv") // curl still sends EPSV over IPv6
		}
		a = append(a, "-o", list, url+"/", "-o", out, url+"/"+FileName)
		return "curl", a, "", nil
	case FTPLib:
		mode := "active"
		if tr.Mode == Passive {
			mode = "passive"
		}
		return "python3", []string{"-c", ftplibScript, host, fmt.Sprint(tr.Server.Port()), mode, list, out, secs}, "", nil
	case FTP:
		lines := []string{"user anonymous lab@ftpxdp.invalid", "binary"}
		switch tr.Mode {
		case Active:
			lines = append(lines, "epsv4 off", "passive off")
		case EPSV:
			lines = append(lines, "epsv4 on", "passive on")
		case PASV:
			lines = append(lines, "epsv4 off", "passive on")
		case PASVThenPort:
			lines = append(lines, "epsv4 off", "passive off", "quote PASV")
		}
		lines = append(lines, "ls . "+list, "get "+FileName+" "+out, "bye")
		// Over IPv6 the client always uses EPSV and EPRT (epsv6 stays on).
		return "ftp", []string{"-n", "-i", "-v", host, fmt.Sprint(tr.Server.Port())}, strings.Join(lines, "\n") + "\n", nil
	}
	return "", nil, "", errors.New("unknown client " + string(tr.Client))
}

// ftplibScript is the Python client: argv = host port mode list out timeout.
const ftplibScript = `
import ftplib, sys
host, port, mode, lst, out, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6])
f = ftplib.FTP(timeout=timeout)
f.connect(host, port)
f.login()
f.set_pasv(mode == "passive")
with open(lst, "w") as o:
    f.retrlines("LIST", lambda l: o.write(l + "\n"))
with open(out, "wb") as o:
    f.retrbinary("RETR file.bin", o.write)
f.quit()
`

func familyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return IPv4
	}
	return IPv6
}
