package promlab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Contrib returns the path of a file under the repository's contrib/.
func Contrib(parts ...string) string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(here), "..", "..", "contrib"}, parts...)...)
}

// The operator files the checks use.
var (
	DashboardFile = Contrib("grafana", "ftpxdp.json")
	AlertsFile    = Contrib("prometheus", "ftpxdp-alerts.yml")
)

// Dashboard is the part of a Grafana dashboard model the checks read.
type Dashboard struct {
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a dashboard template variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *Datasource     `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
}

// Datasource names a panel's or a query's data source.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a dashboard panel, or a row holding panels.
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *Datasource `json:"datasource"`
	} `json:"targets"`
	Panels []Panel `json:"panels"` // a collapsed row's
}

// ReadDashboard reads a dashboard model.
func ReadDashboard(path string) (Dashboard, error) {
	var d Dashboard
	b, err := os.ReadFile(path)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// PanelQuery is one query of one dashboard panel.
type PanelQuery struct{ Panel, RefID, Expr string }

// Queries lists every panel query of the dashboard, rows included.
func (d Dashboard) Queries() []PanelQuery {
	var out []PanelQuery
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, PanelQuery{p.Title, tg.RefID, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// GrafanaExpand replaces the dashboard's variables as Grafana would with
// one instance selected.
func GrafanaExpand(expr, instance string) string {
	return strings.NewReplacer(
		"$instance", instance,
		"$__rate_interval", "1m",
	).Replace(expr)
}

// CheckDashboard asserts that the dashboard's instance variable lists
// instance, and that every panel query, for that instance, parses and
// returns data.
func CheckDashboard(t testing.TB, s *Server, path, instance string) {
	t.Helper()
	d, err := ReadDashboard(path)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := s.LabelValues("instance", "ftpxdp_build_info")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range vs {
		found = found || v == instance
	}
	if !found {
		t.Errorf("instance variable values %v lack %s", vs, instance)
	}
	for _, q := range d.Queries() {
		expr := GrafanaExpand(q.Expr, instance)
		if strings.Contains(expr, "$") {
			t.Errorf("panel %q %s: unknown variable in %s", q.Panel, q.RefID, expr)
			continue
		}
		r, err := s.Query(expr)
		if err != nil {
			t.Errorf("panel %q %s: %v", q.Panel, q.RefID, err)
		} else if len(r) == 0 {
			t.Errorf("panel %q %s: no data for %s", q.Panel, q.RefID, expr)
		}
	}
}

// CheckAlerts waits until Prometheus has evaluated every alert rule without
// error, each rule's expression returns data exactly when fires says so,
// and the rule's state agrees (pending or firing, else inactive). A rule
// fires does not name fails the test.
func CheckAlerts(t testing.TB, s *Server, fires map[string]bool) {
	t.Helper()
	Eventually(t, "alert rules", 30*time.Second, func() error {
		rules, err := s.Rules()
		if err != nil {
			return err
		}
		if len(rules) == 0 {
			return fmt.Errorf("no alert rules loaded")
		}
		var bad []string
		for _, r := range rules {
			want, known := fires[r.Name]
			if !known {
				t.Fatalf("alert %s: the test does not say whether it should fire", r.Name)
			}
			if r.Health != "ok" {
				bad = append(bad, fmt.Sprintf("%s: health %q %s", r.Name, r.Health, r.LastError))
				continue
			}
			res, err := s.Query(r.Query)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", r.Name, err))
				continue
			}
			active := r.State == "pending" || r.State == "firing"
			if (len(res) > 0) != want || active != want {
				bad = append(bad, fmt.Sprintf("%s: %d series, state %s; want firing=%v", r.Name, len(res), r.State, want))
			}
		}
		if len(rules) != len(fires) {
			bad = append(bad, fmt.Sprintf("%d alert rules loaded, the test names %d", len(rules), len(fires)))
		}
		if bad != nil {
			return fmt.Errorf("\n%s", strings.Join(bad, "\n"))
		}
		return nil
	})
}
