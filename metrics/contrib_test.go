package metrics

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ftpxdp/ftpxdp/metrics/promlab"
)

// The operator's files that use these metrics.
var (
	dashboardFile = promlab.DashboardFile
	alertsFile    = promlab.AlertsFile
	promDir       = filepath.Dir(alertsFile)
)

func readDashboard(t testing.TB) promlab.Dashboard {
	t.Helper()
	d, err := promlab.ReadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The dashboard imports as is: its data source is a variable, every query
// goes through it and selects by the instance variable.
func TestDashboardShape(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.SchemaVersion < 30 {
		t.Errorf("uid %q, schemaVersion %d: want a fixed uid and a current schema", d.UID, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Name == "instance" {
			if v.Datasource == nil || v.Datasource.UID != "${DS_PROMETHEUS}" || !v.Multi || !v.IncludeAll {
				t.Errorf("instance variable: want a multi-value query on ${DS_PROMETHEUS} with All, got %+v", v)
			}
		}
	}
	if vars["DS_PROMETHEUS"] != "datasource" || vars["instance"] != "query" {
		t.Fatalf("variables %v: want DS_PROMETHEUS (datasource) and instance (query)", vars)
	}

	ids := map[int]bool{}
	var walk func([]promlab.Panel)
	walk = func(ps []promlab.Panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("panel %q has no size", p.Title)
			}
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
					t.Errorf("panel %q: data source %+v, want ${DS_PROMETHEUS}", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != "${DS_PROMETHEUS}" {
					t.Errorf("panel %q query %s: data source %+v", p.Title, tg.RefID, tg.Datasource)
				}
				if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
					t.Errorf("panel %q query %s does not select $instance: %s", p.Title, tg.RefID, tg.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)

	// What the issue asks the dashboard to show.
	all := ""
	for _, q := range d.Queries() {
		all += q.Expr + "\n"
	}
	for _, want := range []string{
		"ftpxdp_pinholes_created_total", `decision="allowed_pinhole"`, "ftpxdp_pinholes_expired_total",
		`ftpxdp_map_max_entries{instance=~"$instance",map="pinholes"}`, "ftpxdp_syns_total",
		"ftpxdp_rejects_total", "ftpxdp_control_lines_total", "histogram_quantile(0.99",
		"ftpxdp_packets_would_drop_total",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel query uses %s", want)
		}
	}
}

var metricName = regexp.MustCompile(`\bftpxdp_[a-z0-9_]+`)

// describedNames lists the metric names the collector describes, with the
// series names of its histogram.
func describedNames(c *Collector) map[string]bool {
	ch := make(chan *prometheus.Desc, 100)
	go func() { c.Describe(ch); close(ch) }()
	names := map[string]bool{}
	for d := range ch {
		n := descName(d)
		names[n] = true
		if strings.HasSuffix(n, "_seconds") {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[n+s] = true
			}
		}
	}
	return names
}

// Every metric the dashboard and the alerts name is one the collector
// exports.
func TestContribNamesExportedMetrics(t *testing.T) {
	names := describedNames(NewCollector(nil, Options{Sweeps: &SweepStats{}, Attached: func() error { return nil }}))
	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	for file, text := range map[string]string{alertsFile: string(alerts), dashboardFile: string(dash)} {
		used := metricName.FindAllString(text, -1)
		if len(used) == 0 {
			t.Errorf("%s names no ftpxdp metric", file)
		}
		for _, n := range used {
			if !names[n] {
				t.Errorf("%s uses %s, which the collector does not export", file, n)
			}
		}
	}
}

// promtool checks the example configuration with its rule file, and runs
// the alerts' unit tests.
func TestPromtoolChecksRules(t *testing.T) {
	promtool := promlab.RequireTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", alertsFile},
		{"check", "config", filepath.Join(promDir, "prometheus.yml")},
		{"test", "rules", filepath.Join(promDir, "ftpxdp-alerts.test.yml")},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every alert has a unit test in ftpxdp-alerts.test.yml.
func TestEveryAlertHasAUnitTest(t *testing.T) {
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(promDir, "ftpxdp-alerts.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := alertNames(string(rules))
	if len(alerts) == 0 {
		t.Fatal("no alerts found")
	}
	tested := regexp.MustCompile(`alertname: (\S+)`).FindAllStringSubmatch(string(tests), -1)
	var names []string
	for _, m := range tested {
		names = append(names, m[1])
	}
	for _, a := range alerts {
		if !slices.Contains(names, a) {
			t.Errorf("alert %s has no unit test", a)
		}
	}
}

func alertNames(rules string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(rules, -1) {
		out = append(out, m[1])
	}
	return out
}
