package lab

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

// recordings are the sessions `make captures` records into testdata/pcap
// for the replay tests: real servers and clients, small files.
var recordings = []struct {
	name   string
	server ServerKind
	client ClientKind
	mode   Mode
	family Family
}{
	{"vsftpd-lftp-active-v4", VSFTPD, LFTP, Active, IPv4},
	{"vsftpd-lftp-active-v6", VSFTPD, LFTP, Active, IPv6},
	{"vsftpd-lftp-pasv-v4", VSFTPD, LFTP, PASV, IPv4},
	{"vsftpd-curl-epsv-v4", VSFTPD, Curl, EPSV, IPv4},
	{"vsftpd-curl-pasv-v4", VSFTPD, Curl, PASV, IPv4},
	{"vsftpd-curl-epsv-v6", VSFTPD, Curl, EPSV, IPv6},
	{"vsftpd-curl-active-v6", VSFTPD, Curl, Active, IPv6},
	{"vsftpd-ftp-pasv-then-port-v4", VSFTPD, FTP, PASVThenPort, IPv4},
}

// TestRecordCaptures re-records testdata/pcap (make captures). Each file is
// one session through the client-side gateway with no filter, captured on
// the gateway's outside interface out0: the client is 10.0.1.2 /
// fd00:1::2 (inside), the server 10.0.2.2 / fd00:2::2 (outside).
func TestRecordCaptures(t *testing.T) {
	if os.Getenv("FTPXDP_RECORD_CAPTURES") != "1" {
		t.Skip("set FTPXDP_RECORD_CAPTURES=1 (make captures) to re-record testdata/pcap")
	}
	testutil.RequireKernel(t)
	requireLab(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata", "pcap")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l := New(t, ClientGateway, Options{})
	content := NewContent(t, 4<<10)
	servers := map[ServerKind]*Server{}
	for _, r := range recordings {
		if servers[r.server] == nil {
			if servers[r.server], err = StartServer(t, l.Server, r.server, content, ServerOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range recordings {
		t.Run(r.name, func(t *testing.T) {
			srv := servers[r.server]
			tmp := filepath.Join(dir, r.name+".pcap.tmp")
			c, err := StartCapture(t, l.Gateway, l.Outside, tmp)
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(tmp)
			res := Fetch(context.Background(), l.Client, content, Transfer{
				Client: r.client, Mode: r.mode, Server: netip.AddrPortFrom(l.ServerAddr(r.family), srv.Port), Dir: t.TempDir(),
			})
			n, err := c.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if res.Err != nil {
				t.Fatalf("transfer: %v\n%s", res.Err, res.Output)
			}
			if n < 10 {
				t.Fatalf("only %d packets captured", n)
			}
			if err := os.Rename(tmp, filepath.Join(dir, r.name+".pcap")); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s.pcap: %d packets", r.name, n)
		})
	}
}
