package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ftpxdp/ftpxdp/loader"
)

func newDetachCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "detach",
		Short: "Detach the programs and remove every pin (pinholes are lost)",
		Long: `Detaches ftpxdp from every interface and removes the pinned maps and links
under --pin-path. Refuses while a daemon holds the state: stop it first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkPrivileges(); err != nil {
				return err
			}
			if err := loader.Detach(g.pinPath); err != nil {
				if errors.Is(err, loader.ErrNotLoaded) {
					return fmt.Errorf("%w: nothing to detach (give the --pin-path 'ftpxdp run' used)", err)
				}
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "detached; removed %s\n", g.pinPath)
			return err
		},
	}
}
