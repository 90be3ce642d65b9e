package kube

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestGatheredMetricsKeepTheirTypeAndLabels: a registry with the bridge serves the gathered
// registry's counters, gauges and histograms unchanged, next to its own metrics, without the
// skipped families.
func TestGatheredMetricsKeepTheirTypeAndLabels(t *testing.T) {
	inner := prometheus.NewRegistry()
	total := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconcile_total", Help: "Reconciles."}, []string{"controller", "result"})
	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queue_depth", Help: "Depth."})
	took := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "reconcile_seconds", Help: "Time.", Buckets: []float64{0.1, 1}})
	inner.MustRegister(total, depth, took)
	total.WithLabelValues("widget", "success").Add(3)
	total.WithLabelValues("widget", "error").Inc()
	depth.Set(2)
	took.Observe(0.5)

	outer := prometheus.NewRegistry()
	own := prometheus.NewCounter(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests."})
	outer.MustRegister(own, gathered{g: inner, skip: []string{"go_", "process_"}})
	inner.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_goroutines", Help: "Skipped."}))
	own.Inc()

	want := `
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total 1
# HELP queue_depth Depth.
# TYPE queue_depth gauge
queue_depth 2
# HELP reconcile_seconds Time.
# TYPE reconcile_seconds histogram
reconcile_seconds_bucket{le="0.1"} 0
reconcile_seconds_bucket{le="1"} 1
reconcile_seconds_bucket{le="+Inf"} 1
reconcile_seconds_sum 0.5
reconcile_seconds_count 1
# HELP reconcile_total Reconciles.
# TYPE reconcile_total counter
reconcile_total{controller="widget",result="error"} 1
reconcile_total{controller="widget",result="success"} 3
`
	if err := testutil.GatherAndCompare(outer, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
