package main

import (
	"net"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// registerCompletions teaches the shell completion (ftpxdp completion
// bash|zsh|fish) the values of the flags that have a closed set: interface
// names, attach modes, sort keys.
func registerCompletions(root *cobra.Command) {
	walk(root, func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			var fn cobra.CompletionFunc
			switch f.Name {
			case "outside", "inside":
				fn = completeInterfaces
			case "attach":
				fn = cobra.FixedCompletions([]string{"xdp\tXDP, native where the driver supports it", "tc\tTCX ingress (and egress with --host)"}, cobra.ShellCompDirectiveNoFileComp)
			case "sort":
				keys := make([]string, 0, len(sortKeys))
				for k := range sortKeys {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				fn = cobra.FixedCompletions(keys, cobra.ShellCompDirectiveNoFileComp)
			default:
				return
			}
			// Only fails for a flag already registered or unknown.
			_ = c.RegisterFlagCompletionFunc(f.Name, fn)
		})
	})
	if err := root.MarkPersistentFlagDirname("pin-path"); err != nil {
		panic(err)
	}
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// completeInterfaces lists the network interfaces of this host.
func completeInterfaces(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names := make([]string, 0, len(ifs))
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
