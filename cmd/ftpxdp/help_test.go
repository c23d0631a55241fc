package main

import (
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandPaths lists every subcommand, as words after "ftpxdp".
func commandPaths() [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(newRootCmd(), nil)
	// cobra adds these when the command runs.
	return append(out, []string{"completion"}, []string{"completion", "bash"}, []string{"help"})
}

// Every subcommand's --help runs, names its flags, and reads like a man
// page: a short line without a full stop, a description in lines that fit
// a terminal, flags described in lower case.
func TestHelpOfEverySubcommand(t *testing.T) {
	root := newRootCmd()
	for _, path := range commandPaths() {
		name := strings.Join(append([]string{"ftpxdp"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			r := ftpxdp(t, append(path, "--help")...).mustSucceed(t, name+" --help")
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
			if !strings.Contains(r.stdout, "Usage:\n  "+name) {
				t.Errorf("no usage line for %q:\n%s", name, r.stdout)
			}
			for _, line := range strings.Split(r.stdout, "\n") {
				if len(line) > 100 {
					t.Errorf("line of %d columns: %q", len(line), line)
				}
			}
			c, _, err := root.Find(path)
			if err != nil || c.Name() == "ftpxdp" && len(path) > 0 {
				return // added by cobra at run time: its own text
			}
			checkText(t, c)
			c.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden {
					return
				}
				if !strings.Contains(r.stdout, "--"+f.Name) {
					t.Errorf("help does not show --%s", f.Name)
				}
				if f.Name != "help" {
					checkUsage(t, f)
				}
			})
			c.InheritedFlags().VisitAll(func(f *pflag.Flag) {
				if !strings.Contains(r.stdout, "--"+f.Name) {
					t.Errorf("help does not show the global --%s", f.Name)
				}
			})
		})
	}
}

func checkText(t *testing.T, c *cobra.Command) {
	t.Helper()
	s := c.Short
	if s == "" || !unicode.IsUpper(rune(s[0])) || strings.HasSuffix(s, ".") || len(s) > 80 {
		t.Errorf("short help %q: want a capitalised phrase under 80 columns without a full stop", s)
	}
	if c.Long == "" {
		t.Errorf("no long description")
	}
	for _, line := range strings.Split(c.Long, "\n") {
		if len(line) > 80 && !strings.HasPrefix(line, "  ftpxdp ") { // examples may run long
			t.Errorf("description line of %d columns: %q", len(line), line)
		}
	}
}

func checkUsage(t *testing.T, f *pflag.Flag) {
	t.Helper()
	u := f.Usage
	if u == "" || unicode.IsUpper(rune(u[0])) && !strings.HasPrefix(u, "TCP") || strings.HasSuffix(u, ".") {
		t.Errorf("--%s: description %q: want a lower-case phrase without a full stop", f.Name, u)
	}
}

// The commands with more than one way to use them show examples.
func TestHelpExamples(t *testing.T) {
	for _, cmd := range []string{"run", "replay"} {
		r := ftpxdp(t, cmd, "--help").mustSucceed(t, cmd+" --help")
		if !strings.Contains(r.stdout, "Examples:\n  # ") || !strings.Contains(r.stdout, "\n  ftpxdp "+cmd+" ") {
			t.Errorf("%s --help has no examples:\n%s", cmd, r.stdout)
		}
	}
}

// replay documents every field of its JSON output.
func TestReplayHelpDocumentsJSONFields(t *testing.T) {
	r := ftpxdp(t, "replay", "--help").mustSucceed(t, "replay --help")
	for _, field := range []string{
		"packet", "time", "timestamp", "event", "reason", "side", "verdict", "source", "destination", "line", "pinhole",
		"mode", "destination_address", "destination_port", "control_client", "control_server", "time_left_seconds",
		"pinhole_opened", "pinhole_refreshed", "pinhole_replaced", "syn_admitted", "syn_dropped", "reject", "packet_dropped",
		"summary", "packets", "outside", "inside", "copies", "split", "truncated", "skipped", "duration",
		"pinholes_opened", "syns_admitted", "syns_dropped", "rejects", "counters",
	} {
		if !strings.Contains(r.stdout, field) {
			t.Errorf("replay --help does not document %q", field)
		}
	}
}
