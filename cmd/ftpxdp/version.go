package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// buildInfo returns the version, the VCS revision and the Go version.
func buildInfo() (ver, revision, goVersion string) {
	ver, revision = version, "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ver, revision, "unknown"
	}
	if ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return ver, revision, bi.GoVersion
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, revision and Go version",
		Long: `Prints the version of this binary, the VCS revision it was built from
and the Go version that built it. Release builds set the version with
-ldflags "-X main.version=v1.2.3"; 'go install' of a tagged module takes it
from the tag.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, r, g := buildInfo()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "ftpxdp %s (revision %s, %s)\n", v, r, g)
			return err
		},
	}
}
