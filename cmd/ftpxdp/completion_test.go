package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Each shell gets a completion script, and the copies in contrib/completion
// are what the binary generates (make completion refreshes them).
func TestCompletionScripts(t *testing.T) {
	for shell, tc := range map[string]struct {
		marker, file string
	}{
		"bash": {"# bash completion V2 for ftpxdp", "ftpxdp.bash"},
		"zsh":  {"#compdef ftpxdp", "_ftpxdp"},
		"fish": {"complete -c ftpxdp", "ftpxdp.fish"},
	} {
		t.Run(shell, func(t *testing.T) {
			r := ftpxdp(t, "completion", shell).mustSucceed(t, "completion "+shell)
			if !strings.Contains(r.stdout, tc.marker) || !strings.Contains(r.stdout, "__complete") {
				t.Errorf("completion %s: no %q script:\n%.300s", shell, tc.marker, r.stdout)
			}
			if sh, err := exec.LookPath(shell); err == nil && shell != "fish" {
				cmd := exec.Command(sh, "-n")
				cmd.Stdin = strings.NewReader(r.stdout)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s -n: %v\n%s", shell, err, out)
				}
			}
			committed, err := os.ReadFile(filepath.Join("..", "..", "contrib", "completion", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if string(committed) != r.stdout {
				t.Errorf("contrib/completion/%s is stale: run 'make completion'", tc.file)
			}
		})
	}
}

// complete asks the binary, as the shell scripts do, for the completions
// of the last word of args, and returns them without the directive line.
func complete(r result) (words []string, directive string) {
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	for _, l := range lines[:len(lines)-1] {
		words = append(words, strings.SplitN(l, "\t", 2)[0])
	}
	return words, lines[len(lines)-1]
}

// --outside and --inside complete the interfaces of the namespace the
// command runs in; closed sets complete their values; none offers files.
func TestCompletionValues(t *testing.T) {
	ns := newNS(t)
	ns.Veth(t, "cmpl0", "cmpl1", nil)
	for _, flag := range []string{"--outside", "--inside"} {
		words, dir := complete(inNS(t, ns, "__complete", "run", "--outside", "cmpl0", flag, "").mustSucceed(t, "complete "+flag))
		slices.Sort(words)
		if strings.Join(words, " ") != "cmpl0 cmpl1 lo" || dir != ":4" {
			t.Errorf("%s completes %v %s, want the namespace's interfaces without files (:4)", flag, words, dir)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--attach", ""}, "xdp tc"},
		{[]string{"pinholes", "--sort", ""}, "age destination hits left source"},
		{[]string{"pinholes", ""}, "flush"},
	} {
		words, dir := complete(ftpxdp(t, append([]string{"__complete"}, tc.args...)...).mustSucceed(t, "complete"))
		if strings.Join(words, " ") != tc.want || dir != ":4" {
			t.Errorf("%v completes %v %s, want %s :4", tc.args, words, dir, tc.want)
		}
	}
}
