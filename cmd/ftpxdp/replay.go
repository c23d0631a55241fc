package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ftpxdp/ftpxdp/replay"
)

type replayFlags struct {
	policy     policyFlags
	json       bool
	insideNets []string
}

func newReplayCmd() *cobra.Command {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Run a packet capture through the kernel program and show what it would do",
		Long: `Runs every packet of a capture through the real kernel program with
BPF_PROG_TEST_RUN, with no interface attached and nothing pinned, and prints
each pinhole opened (and by which packet), each SYN admitted or dropped, and
each rejected PORT, EPRT, 227 or 229 with its reason. Use it to check your own
traffic against a policy before deploying it: the policy flags are those of
'ftpxdp run'.

FILE is a pcap or pcapng capture ('-' reads standard input) of Ethernet,
Linux cooked (tcpdump -i any), raw IP or loopback packets. Packets run in
capture order and their timestamps drive the program's clock, so pinholes
expire as they would have; expired pinholes are swept every 10s of capture
time, as the daemon does. A packet whose source address is in an
--inside-net goes through the inside program, any other through the outside
program, which alone filters SYNs. Copies of a packet captured on two
interfaces are run once, and segments merged by GRO/TSO on the capturing
host are cut back to 1448-byte segments.

Output is one line per event, then a summary. With --json it is one JSON
object per line (field names are stable):
  packet         number of the packet in the capture, from 1 (as tcpdump -#)
  time           seconds since the first packet
  timestamp      capture time (RFC 3339)
  event          pinhole_opened, pinhole_refreshed, pinhole_replaced,
                 syn_admitted, syn_dropped, reject or packet_dropped
  reason         syn_admitted: pinhole, retransmit or allow_rule;
                 syn_dropped: no_pinhole, expired_pinhole or consumed_pinhole;
                 reject: the kernel's reject counter without 'reject_'
                 (address_mismatch, low_port, no_pending, ...)
  side           outside or inside: the program the packet went through
  verdict        pass or drop (an observed drop passes)
  source, destination   the packet's address:port
  line           the packet's first control line (pinhole and reject events)
  pinhole        pinhole events: mode, source, destination_address,
                 destination_port, control_client, control_server,
                 time_left_seconds (as 'ftpxdp pinholes --json')
The last object has "event": "summary": packets, outside, inside, copies,
split, truncated, skipped, duration, pinholes_opened, syns_admitted,
syns_dropped, rejects and counters (the kernel counters that moved).

Needs CAP_BPF and CAP_NET_ADMIN (to load the program), not an interface.

Examples:
  # a client-side gateway: the clients are in 192.168.1.0/24
  ftpxdp replay --inside-net 192.168.1.0/24 ftp.pcap

  # would a server on port 2121 work with the stock policy? and with it?
  ftpxdp replay --inside-net 10.0.0.20 --allow tcp/2121@10.0.0.20 server.pcapng
  ftpxdp replay --inside-net 10.0.0.20 --allow tcp/2121@10.0.0.20 --control-port 2121 server.pcapng`,
		Args: exactArgs(1, "a capture file (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd, f, args[0])
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&f.json, "json", false, "print one JSON object per event, then a summary (field names above)")
	fs.StringArrayVar(&f.insideNets, "inside-net", nil,
		"packets from this `CIDR` come from the inside (repeatable; default: the private ranges 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and fc00::/7)")
	f.policy.register(fs)
	return cmd
}

func runReplay(cmd *cobra.Command, f *replayFlags, path string) error {
	cfg, _, err := f.policy.config()
	if err != nil {
		return err
	}
	nets, err := replay.ParseInsideNets(f.insideNets)
	if err != nil {
		return fmt.Errorf("--inside-net: %w", err)
	}
	in, err := openInput(cmd, path)
	if err != nil {
		return err
	}
	defer in.Close()
	capture, err := replay.OpenCapture(in)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := checkCaps(replayCaps); err != nil {
		return err
	}
	r, err := replay.New(replay.Options{Config: cfg, InsideNets: nets})
	if err != nil {
		return err
	}
	defer r.Close()

	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	var print func(any) error
	if f.json {
		enc := json.NewEncoder(out)
		print = func(v any) error { return enc.Encode(v) }
	} else {
		print = func(v any) error { _, err := fmt.Fprintln(out, v); return err }
	}
	sum, err := r.Run(capture, func(e replay.Event) error { return print(e) })
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return print(sum)
}

func openInput(cmd *cobra.Command, path string) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(cmd.InOrStdin()), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	return f, nil
}

// exactArgs wants n arguments and says which when they are missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s wants %s, got %d arguments: see '%s --help'", cmd.Name(), what, len(args), cmd.CommandPath())
		}
		return nil
	}
}
