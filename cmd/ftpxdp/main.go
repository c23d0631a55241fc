// Command ftpxdp runs and inspects the ftpxdp FTP data-channel helper.
//
// The daemon (`ftpxdp run`) loads the kernel program, attaches it, pins its
// state and expires pinholes; the read-only commands (`pinholes`, `status`)
// read the pinned maps and work with or without the daemon.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ftpxdp: "+oneLine(err.Error()))
		os.Exit(1)
	}
}

// oneLine folds a message onto one line: cobra's own errors (an unknown
// command with its suggestions) span several.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.HasPrefix(s, "unknown command") && !strings.Contains(s, "Did you mean") {
		s += ": see 'ftpxdp --help'"
	}
	return s
}
