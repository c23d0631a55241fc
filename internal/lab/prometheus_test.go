package lab

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/metrics/promlab"
)

// A real Prometheus scrapes a real `ftpxdp run` on a gateway while real
// clients download through it: the counters move by exactly what the
// transfers did, every dashboard query returns data and no alert fires.
func TestPrometheusScrapesDaemonDuringTransfers(t *testing.T) {
	testutil.RequireKernel(t)
	promlab.RequireTool(t, "prometheus")
	bin := BuildDaemon(t)
	l := New(t, ClientGateway, Options{})
	content := NewContent(t, 64<<10)
	if _, err := StartServer(t, l.Server, VSFTPD, content, ServerOptions{}); err != nil {
		t.Fatal(err)
	}
	const target = "127.0.0.1:9464"
	if _, err := StartDaemon(t, l.Gateway, bin, "--outside", l.Outside, "--inside", l.Inside,
		"--web.listen-address", target, "--sweep-interval", "1s"); err != nil {
		t.Fatal(err)
	}
	prom := promlab.Start(t, &testutil.NetNS{Name: l.Gateway.Name}, []string{target}, promlab.AlertsFile)

	in, out := `interface="`+l.Inside+`/ingress"`, `interface="`+l.Outside+`/ingress"`
	exps := map[string]float64{
		// lftp's active session: a PORT before the listing and one before
		// the download, each admitting the server's SYN from outside.
		`ftpxdp_control_lines_total{` + in + `,kind="port"}`:                      2 * activeSessions,
		`ftpxdp_pinholes_created_total{` + in + `,mode="active",family="ipv4"}`:   2 * activeSessions,
		`ftpxdp_syns_total{` + out + `,decision="allowed_pinhole"}`:               2 * activeSessions,
		`ftpxdp_control_lines_total{` + out + `,kind="227"}`:                      2 * passiveSessions,
		`ftpxdp_pinholes_created_total{` + out + `,mode="passive",family="ipv4"}`: 2 * passiveSessions,
		`ftpxdp_pinhole_admission_wait_seconds_count`:                             2 * activeSessions,
		`sum(ftpxdp_rejects_total)`:                                               0,
		`ftpxdp_packets_total{` + out + `,verdict="drop"}`:                        0,
		`ftpxdp_collection_errors_total`:                                          0,
	}
	// The baseline, once Prometheus has scraped.
	base := map[string]float64{}
	promlab.Eventually(t, "first scrape", 30*time.Second, func() error {
		for e := range exps {
			v, err := prom.Scalar(e)
			if err != nil {
				return err
			}
			base[e] = v
		}
		return nil
	})

	for i, tr := range append(repeat(Transfer{Client: LFTP, Mode: Active}, activeSessions),
		repeat(Transfer{Client: LFTP, Mode: PASV}, passiveSessions)...) {
		tr.Server = netip.AddrPortFrom(l.ServerAddr(IPv4), 21)
		tr.Dir = t.TempDir()
		if r := Fetch(context.Background(), l.Client, content, tr); r.Err != nil {
			t.Fatalf("transfer %d (%s %s): %v\n%s", i, tr.Client, tr.Mode, r.Err, r.Output)
		}
	}

	promlab.Eventually(t, "counters moved by the transfers", 30*time.Second, func() error {
		for e, want := range exps {
			v, err := prom.Scalar(e)
			if err != nil {
				return err
			}
			if v-base[e] != want {
				return fmt.Errorf("%s moved by %v, want %v", e, v-base[e], want)
			}
		}
		return nil
	})
	promlab.CheckDashboard(t, prom, promlab.DashboardFile, target)
	promlab.CheckAlerts(t, prom, map[string]bool{
		"FtpxdpDown": false, "FtpxdpProgramDetached": false, "FtpxdpMapNearlyFull": false,
		"FtpxdpPinholesRefused": false, "FtpxdpRejectSpike": false, "FtpxdpCollectionErrors": false,
		"FtpxdpSweepFailing": false,
	})
}

const activeSessions, passiveSessions = 3, 2

func repeat(tr Transfer, n int) []Transfer {
	out := make([]Transfer, n)
	for i := range out {
		out[i] = tr
	}
	return out
}
