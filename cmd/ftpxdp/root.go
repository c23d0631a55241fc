package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/ftpxdp/ftpxdp/loader"
)

// globals are the flags every subcommand shares.
type globals struct {
	pinPath string
	debug   bool
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "ftpxdp",
		Short: "FTP data-channel helper at XDP/TC speed, with no connection tracking",
		Long: `ftpxdp reads the FTP control channel in the kernel and opens a short-lived,
exact pinhole for the one data connection it announces (PORT/EPRT from a
client, 227/229 from a server). On the outside of a gateway it admits a new
TCP connection only through a static allow rule or a live pinhole, so active
and passive FTP work through a default-deny edge without conntrack.

The daemon is 'ftpxdp run'; 'pinholes' and 'status' read the pinned state
with or without it; 'detach' removes everything.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			level := slog.LevelInfo
			if g.debug {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	root.PersistentFlags().StringVar(&g.pinPath, "pin-path", loader.DefaultPinPath, "bpffs `DIR` of the pinned maps and links")
	root.PersistentFlags().BoolVar(&g.debug, "debug", false, "log debug messages")
	root.AddCommand(
		newRunCmd(g),
		newDetachCmd(g),
		newPinholesCmd(g),
		newStatusCmd(g),
		newReplayCmd(),
		newVersionCmd(),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: see '%s --help'", err, c.CommandPath())
	})
	registerCompletions(root)
	wrapFlagUsages(root)
	return root
}
