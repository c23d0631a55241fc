package lab

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// cellFilter selects matrix cells and checks by name: the regular
// expression in $FTPXDP_LAB_CELLS, matched against names such as
// "client-gw/ftpxdp/vsftpd/v4/lftp/active" or "negative/third-host/v4/ftpxdp".
var cellFilter = sync.OnceValue(func() *regexp.Regexp {
	if s := os.Getenv("FTPXDP_LAB_CELLS"); s != "" {
		return regexp.MustCompile(s)
	}
	return nil
})

func selected(name string) bool {
	re := cellFilter()
	return re == nil || re.MatchString(name)
}

// outcome is one row of the report: a transfer or a check.
type outcome struct {
	Name    string
	Want    bool // the transfer should succeed (the check should hold)
	Err     error
	Elapsed time.Duration
	Detail  string // output kept for a mismatch
}

func (o outcome) ok() bool { return (o.Err == nil) == o.Want }

// symbol is the matrix cell: ok (worked, as expected), x (blocked, as
// expected), FAIL (should have worked), LEAK (should have been blocked).
func (o outcome) symbol() string {
	switch {
	case o.Err == nil && o.Want:
		return "ok"
	case o.Err != nil && !o.Want:
		return "x"
	case o.Err != nil:
		return "FAIL"
	}
	return "LEAK"
}

// report collects outcomes from every subtest and prints them at the end.
type report struct {
	mu   sync.Mutex
	rows []outcome
}

func (r *report) add(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, o)
}

// matrixColumns are the client/mode columns of the table.
var matrixColumns = func() []string {
	var cols []string
	for _, c := range Clients {
		for _, m := range c.Modes(IPv4) {
			cols = append(cols, string(c)+"/"+string(m))
		}
	}
	return cols
}()

// print writes the matrix (one line per topology/policy/server/family),
// the checks, the mismatches with their output, and the closing count.
func (r *report) print(w io.Writer) (passed, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	type line struct {
		key   string
		cells map[string]string
	}
	var lines []*line
	byKey := map[string]*line{}
	var checks, bad []outcome
	for _, o := range r.rows {
		if o.ok() {
			passed++
		} else {
			failed++
			bad = append(bad, o)
		}
		parts := strings.Split(o.Name, "/")
		if len(parts) != 6 {
			checks = append(checks, o)
			continue
		}
		key := strings.Join(parts[:4], " ")
		l := byKey[key]
		if l == nil {
			l = &line{key: key, cells: map[string]string{}}
			byKey[key] = l
			lines = append(lines, l)
		}
		l.cells[parts[4]+"/"+parts[5]] = o.symbol()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	if len(lines) > 0 {
		fmt.Fprintln(w, "\nFTP interoperability matrix (ok: transferred and verified, x: blocked as expected, FAIL/LEAK: wrong)")
		fmt.Fprint(tw, "TOPOLOGY\tPOLICY\tSERVER\tIP")
		for _, c := range matrixColumns {
			fmt.Fprint(tw, "\t"+shortColumn(c))
		}
		fmt.Fprintln(tw)
		for _, l := range lines {
			fmt.Fprint(tw, strings.ReplaceAll(l.key, " ", "\t"))
			for _, c := range matrixColumns {
				s, ok := l.cells[c]
				if !ok {
					s = "-"
				}
				fmt.Fprint(tw, "\t"+s)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	if len(checks) > 0 {
		fmt.Fprintln(w, "\nNegative cases and counter checks")
		fmt.Fprintln(tw, "CHECK\tWANT\tRESULT\tDETAIL")
		for _, o := range checks {
			res := "ok"
			if !o.ok() {
				res = "FAIL"
			}
			want := "pass"
			if !o.Want {
				want = "blocked"
			}
			msg := ""
			if o.Err != nil {
				msg = o.Err.Error()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Name, want, res, firstLine(msg))
		}
		tw.Flush()
	}
	for _, o := range bad {
		fmt.Fprintf(w, "\n%s: want success=%t, got %v (%s)\n%s\n", o.Name, o.Want, o.Err, o.Elapsed.Round(time.Millisecond), indent(o.Detail))
	}
	fmt.Fprintf(w, "\n%d passed, %d failed\n", passed, failed)
	return passed, failed
}

// shortColumn abbreviates a client/mode column header.
func shortColumn(c string) string {
	r := strings.NewReplacer("active", "act", "passive", "pasv", "pasv-then-port", "pasv+port", "ftplib", "py")
	if strings.HasSuffix(c, "/pasv-then-port") {
		return strings.TrimSuffix(c, "pasv-then-port") + "pasv+port"
	}
	return r.Replace(c)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func indent(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
