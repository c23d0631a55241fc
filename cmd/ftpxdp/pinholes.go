package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftpxdp/ftpxdp/loader"
	"github.com/ftpxdp/ftpxdp/pinhole"
)

// pinholeRow is one pinhole as `pinholes --json` prints it. The field names
// are a stable interface, documented in the README.
type pinholeRow struct {
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

// destination is "addr:port", bracketed for IPv6.
func (r pinholeRow) destination() string {
	if r.Family == "ipv6" {
		return "[" + r.DestAddress + "]:" + strconv.Itoa(int(r.DestPort))
	}
	return r.DestAddress + ":" + strconv.Itoa(int(r.DestPort))
}

func rowOf(p pinhole.Pinhole, now uint64) pinholeRow {
	fam := "ipv6"
	if p.Source.Is4() {
		fam = "ipv4"
	}
	return pinholeRow{
		Protocol: "tcp", Family: fam, Source: p.Source.String(),
		DestAddress: p.Dest.Addr().String(), DestPort: p.Dest.Port(), Mode: p.Mode.String(),
		ControlClient: p.Control.Client.String(), ControlServer: p.Control.Server.String(),
		AgeSeconds: p.Age(now).Seconds(), TimeLeftSeconds: p.TimeLeft(now).Seconds(),
		State: p.State(now), Hits: p.Hits,
	}
}

// addrFilter matches a pinhole naming an address or a prefix anywhere.
type addrFilter struct{ prefix netip.Prefix }

func parseAddrFilter(s string) (addrFilter, error) {
	if s == "" {
		return addrFilter{}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return addrFilter{}, fmt.Errorf("%w: address filter %q: want an address or a prefix", loader.ErrInvalidConfig, s)
		}
		return addrFilter{p.Masked()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return addrFilter{}, fmt.Errorf("%w: address filter %q: want an address or a prefix", loader.ErrInvalidConfig, s)
	}
	a = a.Unmap()
	return addrFilter{netip.PrefixFrom(a, a.BitLen())}, nil
}

func (f addrFilter) match(p pinhole.Pinhole) bool {
	if !f.prefix.IsValid() {
		return true
	}
	for _, a := range []netip.Addr{p.Source, p.Dest.Addr(), p.Control.Client.Addr(), p.Control.Server.Addr()} {
		if f.prefix.Contains(a) {
			return true
		}
	}
	return false
}

type listFlags struct {
	json     bool
	watch    bool
	interval time.Duration
	sortBy   string
	addr     string
	all      bool
}

var sortKeys = map[string]func(a, b pinholeRow) int{
	"age":         func(a, b pinholeRow) int { return cmp.Compare(b.AgeSeconds, a.AgeSeconds) },
	"left":        func(a, b pinholeRow) int { return cmp.Compare(a.TimeLeftSeconds, b.TimeLeftSeconds) },
	"source":      func(a, b pinholeRow) int { return cmp.Compare(a.Source, b.Source) },
	"destination": func(a, b pinholeRow) int { return cmp.Compare(a.DestAddress, b.DestAddress) },
	"hits":        func(a, b pinholeRow) int { return cmp.Compare(b.Hits, a.Hits) },
}

func newPinholesCmd(g *globals) *cobra.Command {
	f := &listFlags{}
	cmd := &cobra.Command{
		Use:   "pinholes",
		Short: "List the live pinholes (reads the pinned maps; no daemon needed)",
		Long: `Lists the pinholes: for each, the expected source address, the destination
address and port, the mode (active: PORT/EPRT from the client; passive:
227/229 from the server), the control connection that announced it, its age,
the time it has left, its state (waiting for its SYN, or used) and the SYNs it
admitted. Expired pinholes, which the kernel no longer honours, are hidden
unless --all.

Without --sort the list streams in map order, in constant memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, ok := sortKeys[f.sortBy]; f.sortBy != "" && !ok {
				return fmt.Errorf("%w: --sort %q: use one of age, left, source, destination, hits", loader.ErrInvalidConfig, f.sortBy)
			}
			filter, err := parseAddrFilter(f.addr)
			if err != nil {
				return err
			}
			if f.watch && f.interval <= 0 {
				return fmt.Errorf("%w: --interval must be positive", loader.ErrInvalidConfig)
			}
			dp, err := loader.Open(g.pinPath)
			if err != nil {
				return err
			}
			defer dp.Close()
			out := cmd.OutOrStdout()
			if !f.watch {
				return listPinholes(out, dp, f, filter)
			}
			return watch(cmd.Context(), out, f.interval, func(w io.Writer) error { return listPinholes(w, dp, f, filter) })
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&f.json, "json", false, "print a JSON array (field names are stable)")
	fs.BoolVarP(&f.watch, "watch", "w", false, "refresh in place until interrupted")
	fs.DurationVar(&f.interval, "interval", time.Second, "refresh interval of --watch")
	fs.StringVar(&f.sortBy, "sort", "", "sort by `KEY`: age, left, source, destination or hits (buffers the list)")
	fs.StringVar(&f.addr, "addr", "", "only pinholes naming this `ADDR` or prefix as source, destination or control")
	fs.BoolVar(&f.all, "all", false, "include expired pinholes not yet swept")
	cmd.AddCommand(newFlushCmd(g))
	return cmd
}

func listPinholes(out io.Writer, dp *loader.Datapath, f *listFlags, filter addrFilter) error {
	// One write per 64 KiB, not one per row or cell: a million rows
	// otherwise cost a million syscalls.
	w := bufio.NewWriterSize(out, 64<<10)
	defer w.Flush()
	now := loader.KernelNow()
	var sink rowSink
	if f.json {
		sink = newJSONSink(w)
	} else {
		sink = newTableSink(w)
	}
	var buf []pinholeRow
	for p, err := range dp.Pinholes() {
		if err != nil {
			return err
		}
		if (!f.all && p.Expired(now)) || !filter.match(p) {
			continue
		}
		r := rowOf(p, now)
		if f.sortBy != "" {
			buf = append(buf, r)
			continue
		}
		if err := sink.add(r); err != nil {
			return err
		}
	}
	if f.sortBy != "" {
		slices.SortStableFunc(buf, sortKeys[f.sortBy])
		for _, r := range buf {
			if err := sink.add(r); err != nil {
				return err
			}
		}
	}
	if err := sink.close(); err != nil {
		return err
	}
	return w.Flush()
}

// rowSink prints rows as they come.
type rowSink interface {
	add(pinholeRow) error
	close() error
}

type jsonSink struct {
	w     io.Writer
	enc   *json.Encoder
	first bool
}

func newJSONSink(w io.Writer) *jsonSink { return &jsonSink{w: w, enc: json.NewEncoder(w), first: true} }

func (s *jsonSink) add(r pinholeRow) error {
	sep := ","
	if s.first {
		sep, s.first = "[", false
	}
	if _, err := io.WriteString(s.w, sep); err != nil {
		return err
	}
	return s.enc.Encode(r)
}

func (s *jsonSink) close() error {
	end := "]\n"
	if s.first {
		end = "[]\n"
	}
	_, err := io.WriteString(s.w, end)
	return err
}

// tableSink aligns columns block by block, so memory stays bounded.
type tableSink struct {
	tw *tabwriter.Writer
	n  int
}

const tableBlock = 1000

func newTableSink(w io.Writer) *tableSink {
	s := &tableSink{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(s.tw, "PROTO\tFAMILY\tSOURCE\tDESTINATION\tMODE\tCONTROL\tAGE\tLEFT\tSTATE\tHITS")
	return s
}

func (s *tableSink) add(r pinholeRow) error {
	_, err := fmt.Fprintf(s.tw, "%s\t%s\t%s\t%s\t%s\t%s -> %s\t%s\t%s\t%s\t%d\n",
		r.Protocol, r.Family, r.Source, r.destination(), r.Mode, r.ControlClient, r.ControlServer,
		round(r.AgeSeconds), round(r.TimeLeftSeconds), r.State, r.Hits)
	if s.n++; s.n%tableBlock == 0 {
		return s.tw.Flush()
	}
	return err
}

func (s *tableSink) close() error { return s.tw.Flush() }

func round(sec float64) time.Duration {
	return time.Duration(sec * float64(time.Second)).Round(time.Second)
}

// watch redraws print every interval until ctx ends.
func watch(ctx context.Context, w io.Writer, interval time.Duration, print func(io.Writer) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var b strings.Builder
		if err := print(&b); err != nil {
			return err
		}
		fmt.Fprintf(w, "\033[H\033[2J%s  every %s\n\n%s", time.Now().Format(time.TimeOnly), interval, b.String())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func newFlushCmd(g *globals) *cobra.Command {
	var match string
	cmd := &cobra.Command{
		Use:   "flush",
		Short: "Remove pinholes (all, or those naming --match)",
		Long: `Removes pinholes from the kernel maps at once: all of them, or those naming the
address or prefix given with --match (as source, destination or control).
Their data connections are refused from then on, unless announced again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := parseAddrFilter(match)
			if err != nil {
				return err
			}
			dp, err := loader.Open(g.pinPath)
			if err != nil {
				return err
			}
			defer dp.Close()
			n, err := dp.DeletePinholes(filter.match)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "flushed %d pinholes\n", n)
			return err
		},
	}
	cmd.Flags().StringVar(&match, "match", "", "only pinholes naming this `ADDR` or prefix as source, destination or control")
	return cmd
}
