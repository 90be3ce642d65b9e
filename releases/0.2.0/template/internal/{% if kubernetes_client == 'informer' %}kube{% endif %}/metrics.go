package kube

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Reconcile outcomes, the values of the result label of app_reconcile_total.
const (
	resultSuccess = "success" // reconciled; the key's backoff is reset
	resultRetry   = "retry"   // failed; the key is queued again after its backoff
	resultDropped = "dropped" // failed maxRetries times; the key waits for its next change or resync
)

// Metrics are the informer's Prometheus metrics, in the service's registry next to the HTTP
// metrics: client-go's workqueue metrics under the names Kubernetes components and
// controller-runtime use (workqueue_*, label name = the queue), and the reconcile outcomes.
// Metrics is the queue's workqueue.MetricsProvider, so nothing goes through client-go's global
// provider.
type Metrics struct {
	depth        *prometheus.GaugeVec
	adds         *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	workDuration *prometheus.HistogramVec
	unfinished   *prometheus.GaugeVec
	longest      *prometheus.GaugeVec
	retries      *prometheus.CounterVec
	reconciles   *prometheus.CounterVec
}

// durationBuckets spans 10ns to 1000s: a queue wait or a reconcile can take either.
var durationBuckets = prometheus.ExponentialBuckets(10e-9, 10, 12)

// NewMetrics registers the metrics in reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_depth",
			Help: "Keys waiting in the workqueue.",
		}, []string{"name"}),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_adds_total",
			Help: "Keys added to the workqueue.",
		}, []string{"name"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workqueue_queue_duration_seconds",
			Help:    "Time a key waits in the workqueue before a worker takes it.",
			Buckets: durationBuckets,
		}, []string{"name"}),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workqueue_work_duration_seconds",
			Help:    "Time a worker takes to reconcile a key.",
			Buckets: durationBuckets,
		}, []string{"name"}),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_unfinished_work_seconds",
			Help: "Seconds of work in progress not yet observed by workqueue_work_duration_seconds; a steady rise means a stuck worker.",
		}, []string{"name"}),
		longest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_longest_running_processor_seconds",
			Help: "Seconds the longest-running reconcile has been running.",
		}, []string{"name"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_retries_total",
			Help: "Keys queued again after a failed reconcile (rate limited).",
		}, []string{"name"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "app_reconcile_total",
			Help: "Reconciles by queue and result: success, retry (failed, queued again after a backoff) or dropped (failed too often; the key waits for its next change or resync).",
		}, []string{"queue", "result"}),
	}
	for _, c := range []prometheus.Collector{m.depth, m.adds, m.latency, m.workDuration, m.unfinished, m.longest, m.retries, m.reconciles} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register informer metrics: %w", err)
		}
	}
	return m, nil
}

// outcome counts one reconcile of queue with its result.
func (m *Metrics) outcome(queue, result string) {
	m.reconciles.WithLabelValues(queue, result).Inc()
}

// initQueue creates every series of queue at zero, so that rates and alerts see the queue from
// the start rather than from its first failure.
func (m *Metrics) initQueue(queue string) {
	for _, r := range []string{resultSuccess, resultRetry, resultDropped} {
		m.reconciles.WithLabelValues(queue, r)
	}
	m.retries.WithLabelValues(queue)
}

// NewDepthMetric implements workqueue.MetricsProvider.
func (m *Metrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return m.depth.WithLabelValues(name)
}

// NewAddsMetric implements workqueue.MetricsProvider.
func (m *Metrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return m.adds.WithLabelValues(name)
}

// NewLatencyMetric implements workqueue.MetricsProvider.
func (m *Metrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return m.latency.WithLabelValues(name)
}

// NewWorkDurationMetric implements workqueue.MetricsProvider.
func (m *Metrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return m.workDuration.WithLabelValues(name)
}

// NewUnfinishedWorkSecondsMetric implements workqueue.MetricsProvider.
func (m *Metrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return m.unfinished.WithLabelValues(name)
}

// NewLongestRunningProcessorSecondsMetric implements workqueue.MetricsProvider.
func (m *Metrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return m.longest.WithLabelValues(name)
}

// NewRetriesMetric implements workqueue.MetricsProvider.
func (m *Metrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return m.retries.WithLabelValues(name)
}
