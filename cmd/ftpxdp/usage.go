package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpWidth is the column flag descriptions wrap at in --help.
const helpWidth = 80

// wrapFlagUsages makes --help wrap flag descriptions at helpWidth columns,
// aligned under each other, as a man page would.
func wrapFlagUsages(root *cobra.Command) {
	cobra.AddTemplateFunc("wrappedFlagUsages", func(fs *pflag.FlagSet) string {
		return fs.FlagUsagesWrapped(helpWidth)
	})
	t := root.UsageTemplate()
	t = strings.Replace(t, "{{.LocalFlags.FlagUsages", "{{wrappedFlagUsages .LocalFlags", 1)
	t = strings.Replace(t, "{{.InheritedFlags.FlagUsages", "{{wrappedFlagUsages .InheritedFlags", 1)
	root.SetUsageTemplate(t)
}
