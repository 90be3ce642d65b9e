package kube

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// RegisterMetrics makes reg serve controller-runtime's metrics: its global registry holds the
// reconcile counts and durations (controller_runtime_*), the controller's queue (workqueue_*),
// the API client's requests (rest_client_*) and leader_election_master_status. The service's
// /metrics on the admin listener then has them next to its own; the manager serves nothing.
// Its go_* and process_* metrics are left out: the service's registry has the same process's.
func RegisterMetrics(reg prometheus.Registerer) error {
	if err := reg.Register(gathered{g: crmetrics.Registry, skip: []string{"go_", "process_"}}); err != nil {
		return fmt.Errorf("register controller-runtime metrics: %w", err)
	}
	return nil
}

// gathered collects whatever a Gatherer holds at scrape time. It describes nothing, so the
// registry treats it as an unchecked collector and checks the metrics only when gathering.
type gathered struct {
	g prometheus.Gatherer
	// skip leaves out the families whose names start with one of these prefixes.
	skip []string
}

// Describe implements prometheus.Collector (unchecked: no descriptors).
func (gathered) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c gathered) Collect(ch chan<- prometheus.Metric) {
	families, err := c.g.Gather()
	if err != nil {
		// Gather returns what it could gather along with the error; report both.
		ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(err), err)
	}
	for _, f := range families {
		if slices.ContainsFunc(c.skip, func(prefix string) bool { return strings.HasPrefix(f.GetName(), prefix) }) {
			continue
		}
		desc := prometheus.NewDesc(f.GetName(), f.GetHelp(), nil, nil)
		for _, m := range f.GetMetric() {
			ch <- gatheredMetric{desc: desc, m: m}
		}
	}
}

// gatheredMetric is one gathered sample, written back as it was gathered.
type gatheredMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

// Desc implements prometheus.Metric.
func (g gatheredMetric) Desc() *prometheus.Desc { return g.desc }

// Write implements prometheus.Metric.
func (g gatheredMetric) Write(out *dto.Metric) error {
	out.Label = g.m.GetLabel()
	out.Gauge = g.m.GetGauge()
	out.Counter = g.m.GetCounter()
	out.Summary = g.m.GetSummary()
	out.Untyped = g.m.GetUntyped()
	out.Histogram = g.m.GetHistogram()
	out.TimestampMs = g.m.TimestampMs
	return nil
}
