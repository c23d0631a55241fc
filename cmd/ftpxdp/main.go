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
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ftpxdp: "+err.Error())
		os.Exit(1)
	}
}
