package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ftpxdp/ftpxdp/loader"
)

// statusReport is what `status --json` prints.
type statusReport struct {
	PinPath  string              `json:"pin_path"`
	Mode     string              `json:"mode"` // enforce or observe
	Hooks    []loader.HookStatus `json:"hooks"`
	Maps     []mapReport         `json:"maps"`
	Counters map[string]uint64   `json:"counters"`
}

type mapReport struct {
	Name     string `json:"name"`
	Family   string `json:"family,omitempty"` // pinholes: one map per address family
	Entries  int    `json:"entries"`
	Capacity uint32 `json:"capacity"`
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show where ftpxdp is attached, how full its maps are and its counters",
		Long: `Reads the pinned state: the attached interfaces with their hook, role, XDP
mode and program ids; enforce or observe; the entries of the pinhole maps
(per family), ctrl_conns and rate_limit against their capacity; and the
counters that are not zero, summed over interfaces.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := readStatus(g.pinPath)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return printStatus(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (field names are stable)")
	return cmd
}

func readStatus(pinPath string) (statusReport, error) {
	dp, err := loader.Open(pinPath) // first: its error says how to fix the pin path
	if err != nil {
		return statusReport{}, err
	}
	defer dp.Close()
	hooks, err := loader.Hooks(pinPath)
	if err != nil {
		return statusReport{}, err
	}
	usage, err := dp.Usage()
	if err != nil {
		return statusReport{}, err
	}
	c, err := dp.Counters()
	if err != nil {
		return statusReport{}, err
	}
	r := statusReport{PinPath: pinPath, Mode: "enforce", Hooks: hooks, Counters: c.NonZero()}
	sort.Slice(r.Hooks, func(i, j int) bool { return r.Hooks[i].Slot < r.Hooks[j].Slot })
	for _, h := range hooks {
		if h.Config.Observe {
			r.Mode = "observe"
		}
	}
	for _, u := range usage {
		r.Maps = append(r.Maps, mapReport{Name: u.Name, Family: u.Family, Entries: u.Entries, Capacity: u.Capacity})
	}
	return r, nil
}

func printStatus(w io.Writer, r statusReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "pin path:\t%s\nmode:\t%s\n\n", r.PinPath, r.Mode)
	fmt.Fprintln(tw, "INTERFACE\tHOOK\tDIRECTION\tROLE\tXDP MODE\tPROGRAM\tLINK\tSLOT")
	for _, h := range r.Hooks {
		xm := h.XDPMode
		if xm == "" {
			xm = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", h.Interface, h.Hook, h.Direction, h.Role, xm, h.ProgramID, h.LinkID, h.Slot)
	}
	if len(r.Hooks) > 0 {
		c := r.Hooks[0].Config
		fmt.Fprintf(tw, "\nsettings:\tcontrol ports %v, min port %d, timeout %s, %d per control, loose %t\n",
			c.ControlPorts, c.MinPort, c.PinholeTimeout, c.MaxPerControl, c.Loose)
	}
	fmt.Fprintln(tw, "\nMAP\tENTRIES\tCAPACITY\tFILL")
	for _, m := range r.Maps {
		name := m.Name
		if m.Family != "" {
			name += " (" + m.Family + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\n", name, m.Entries, m.Capacity, 100*float64(m.Entries)/float64(max(m.Capacity, 1)))
	}
	fmt.Fprintln(tw, "\nCOUNTER\tTOTAL")
	names := make([]string, 0, len(r.Counters))
	for n := range r.Counters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t%d\n", strings.ReplaceAll(n, "_", " "), r.Counters[n])
	}
	return tw.Flush()
}
