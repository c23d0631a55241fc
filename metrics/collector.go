// Package metrics exports the datapath to Prometheus: a collector that reads
// the kernel's counters and maps at scrape time (nothing polls in between),
// and the HTTP handler that serves it with a health check.
package metrics

import (
	"fmt"
	"log/slog"
	"maps"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ftpxdp/ftpxdp/loader"
)

// namespace prefixes every metric name.
const namespace = "ftpxdp"

// Source is what the collector reads at scrape time. *loader.Datapath is
// one; the collector never touches map or link handles itself.
type Source interface {
	// Counters returns the per-CPU counters summed, per counter slot.
	Counters() (loader.Counters, error)
	// AdmitWait returns the pinhole admission-wait histogram.
	AdmitWait() (loader.WaitHistogram, error)
	// Usage returns the entries and capacity of the state maps.
	Usage() ([]loader.MapUsage, error)
}

// Options is what the collector knows besides the datapath.
type Options struct {
	// Interfaces names the program instance of each counter slot (the
	// interface label). A slot missing here is reported as "slot<N>", and
	// only once it counted something.
	Interfaces map[uint8]string
	// Attached reports an error once a program is no longer attached where
	// the daemon put it. Nil: no attachment gauge, and /healthz always
	// succeeds.
	Attached func() error
	// Sweeps is where the daemon's sweeper records what it removed. Nil: no
	// sweeper metrics.
	Sweeps *SweepStats
	// Version overrides the module version in ftpxdp_build_info.
	Version string
	// Log receives collection errors; nil is slog.Default().
	Log *slog.Logger
}

// Collector is a prometheus.Collector reading a Source at scrape time.
type Collector struct {
	src      Source
	opts     Options
	families []family
	build    prometheus.Metric

	attached        *prometheus.Desc
	mapEntries      *prometheus.Desc
	mapMaxEntries   *prometheus.Desc
	admitWait       *prometheus.Desc
	pinholesExpired *prometheus.Desc
	controlsExpired *prometheus.Desc
	ratesExpired    *prometheus.Desc
	sweeps          *prometheus.Desc
	sweepErrors     *prometheus.Desc

	collectionErrors prometheus.Counter
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector for src. Register it with a
// prometheus.Registry, or serve it with NewHandler.
func NewCollector(src Source, opts Options) *Collector {
	opts.Interfaces = maps.Clone(opts.Interfaces)
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	name := func(n string) string { return namespace + "_" + n }
	ver, rev, gover := buildInfo(opts.Version)
	buildDesc := prometheus.NewDesc(name("build_info"),
		"A metric with a constant 1 labelled by the version, VCS revision and Go version ftpxdp was built with.",
		nil, prometheus.Labels{"version": ver, "revision": rev, "goversion": gover})
	return &Collector{
		src:      src,
		opts:     opts,
		families: families(),
		build:    prometheus.MustNewConstMetric(buildDesc, prometheus.GaugeValue, 1),
		attached: prometheus.NewDesc(name("attached"),
			"1 while every program is attached where the daemon put it, 0 once one is not.", nil, nil),
		mapEntries: prometheus.NewDesc(name("map_entries"),
			"Entries in a state map (pinholes: one map per address family, with the expired ones the sweeper has not removed yet).",
			[]string{"map", "family"}, nil),
		mapMaxEntries: prometheus.NewDesc(name("map_max_entries"),
			"Capacity of a state map, in entries (pinholes: of each address family's map).", []string{"map", "family"}, nil),
		admitWait: prometheus.NewDesc(name("pinhole_admission_wait_seconds"),
			"Time from a pinhole's creation to the first SYN it admitted.", nil, nil),
		pinholesExpired: prometheus.NewDesc(name("pinholes_expired_total"),
			"Expired pinholes the sweeper removed, by state: unused (no SYN came) or used (consumed by its SYN).",
			[]string{"state"}, nil),
		controlsExpired: prometheus.NewDesc(name("control_connections_expired_total"),
			"Idle control-connection states the sweeper removed.", nil, nil),
		ratesExpired: prometheus.NewDesc(name("rate_limit_entries_expired_total"),
			"Per-source rate-limit windows the sweeper removed.", nil, nil),
		sweeps: prometheus.NewDesc(name("sweeps_total"),
			"Sweeps of the state maps the daemon ran.", nil, nil),
		sweepErrors: prometheus.NewDesc(name("sweep_errors_total"),
			"Sweeps that failed.", nil, nil),
		collectionErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "collection_errors_total",
			Help:      "Times reading the datapath for a scrape failed.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.build.Desc()
	for _, f := range c.families {
		ch <- f.desc
	}
	ch <- c.mapEntries
	ch <- c.mapMaxEntries
	ch <- c.admitWait
	if c.opts.Attached != nil {
		ch <- c.attached
	}
	if c.opts.Sweeps != nil {
		ch <- c.pinholesExpired
		ch <- c.controlsExpired
		ch <- c.ratesExpired
		ch <- c.sweeps
		ch <- c.sweepErrors
	}
	c.collectionErrors.Describe(ch)
}

// Collect implements prometheus.Collector: it reads the datapath now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	// Last, so that it counts this scrape's errors.
	defer c.collectionErrors.Collect(ch)

	ch <- c.build
	c.collectCounters(ch)
	c.collectAdmitWait(ch)
	c.collectUsage(ch)
	c.collectSweeps(ch)
	if c.opts.Attached != nil {
		v := 1.0
		if c.opts.Attached() != nil {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(c.attached, prometheus.GaugeValue, v)
	}
}

// Healthy reports the Attached check's error, nil without one.
func (c *Collector) Healthy() error {
	if c.opts.Attached == nil {
		return nil
	}
	return c.opts.Attached()
}

// fail counts and logs a failed read, and hands the registry an invalid
// metric so that the scrape reports the error too.
func (c *Collector) fail(ch chan<- prometheus.Metric, desc *prometheus.Desc, err error) {
	c.collectionErrors.Inc()
	c.opts.Log.Error("collect metrics", "error", err)
	ch <- prometheus.NewInvalidMetric(desc, err)
}

// batchCounters is a Source that reads all slots' counters with one system
// call (*loader.Datapath does), where Counters makes two per entry: 1 ms
// instead of 14 for the 64 slots.
type batchCounters interface {
	SlotCounters(n int) (loader.Counters, error)
}

func (c *Collector) readCounters() (loader.Counters, error) {
	if b, ok := c.src.(batchCounters); ok {
		return b.SlotCounters(loader.MaxInstances)
	}
	return c.src.Counters()
}

func (c *Collector) collectCounters(ch chan<- prometheus.Metric) {
	cs, err := c.readCounters()
	if err != nil {
		c.fail(ch, c.families[0].desc, err)
		return
	}
	// Each counter name goes to the first family that takes it.
	type target struct {
		fam    *family
		labels []string
	}
	targets := make([]target, len(cs.Names))
	for i, n := range cs.Names {
		for j := range c.families {
			if l, ok := c.families[j].match(n); ok {
				targets[i] = target{&c.families[j], l}
				break
			}
		}
	}
	for slot, vals := range cs.Values {
		iface, named := c.opts.Interfaces[uint8(slot)]
		if !named {
			if !anyNonZero(vals) {
				continue
			}
			iface = fmt.Sprintf("slot%d", slot)
		}
		for i, v := range vals {
			if i >= len(targets) || targets[i].fam == nil {
				continue
			}
			t := targets[i]
			labels := append([]string{iface}, t.labels...)
			ch <- prometheus.MustNewConstMetric(t.fam.desc, prometheus.CounterValue, float64(v), labels...)
		}
	}
}

func anyNonZero(vs []uint64) bool {
	for _, v := range vs {
		if v != 0 {
			return true
		}
	}
	return false
}

func (c *Collector) collectAdmitWait(ch chan<- prometheus.Metric) {
	h, err := c.src.AdmitWait()
	if err != nil {
		c.fail(ch, c.admitWait, err)
		return
	}
	// The kernel counts each bucket apart; Prometheus buckets are
	// cumulative, and the count includes the waits past the last bound.
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[b.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.admitWait, cum+h.Inf, h.Sum.Seconds(), buckets)
}

func (c *Collector) collectUsage(ch chan<- prometheus.Metric) {
	us, err := c.src.Usage()
	if err != nil {
		c.fail(ch, c.mapEntries, err)
		return
	}
	for _, u := range us {
		ch <- prometheus.MustNewConstMetric(c.mapEntries, prometheus.GaugeValue, float64(u.Entries), u.Name, u.Family)
		ch <- prometheus.MustNewConstMetric(c.mapMaxEntries, prometheus.GaugeValue, float64(u.Capacity), u.Name, u.Family)
	}
}

func (c *Collector) collectSweeps(ch chan<- prometheus.Metric) {
	if c.opts.Sweeps == nil {
		return
	}
	r, n, errs := c.opts.Sweeps.Totals()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	counter(c.pinholesExpired, float64(r.ExpiredUnused), "unused")
	counter(c.pinholesExpired, float64(r.ExpiredUsed), "used")
	counter(c.controlsExpired, float64(r.IdleControls))
	counter(c.ratesExpired, float64(r.RateEntries))
	counter(c.sweeps, float64(n))
	counter(c.sweepErrors, float64(errs))
}
