package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// calls are the metrics of outbound calls (internal/client) and of load shedding.
type calls struct {
	clientDuration *prometheus.HistogramVec
	clientRetries  *prometheus.CounterVec
	shed           prometheus.Counter
	inFlightLimit  prometheus.Gauge
}

func newCalls() calls {
	return calls{
		clientDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_client_request_duration_seconds",
			Help:    "Latency of each outbound attempt to an upstream, by method, status code (0 = no response) and upstream.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "code", "upstream"}),
		clientRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_client_retries_total",
			Help: "Outbound retries by upstream and outcome: sent, or skipped because of the retry budget (budget) or the caller's deadline (deadline).",
		}, []string{"upstream", "outcome"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "http_server_shed_requests_total",
			Help: "Business requests refused with 503 because the in-flight limit was reached (load shedding).",
		}),
		inFlightLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_server_in_flight_limit",
			Help: "In-flight business requests admitted before shedding starts; 0 = no limit.",
		}),
	}
}

func (c calls) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.clientDuration, c.clientRetries, c.shed, c.inFlightLimit}
}

// ObserveClient records one outbound attempt; code 0 means no response (a transport error).
func (m *Metrics) ObserveClient(method, upstream string, code int, d time.Duration) {
	m.calls.clientDuration.WithLabelValues(normalizeMethod(method), strconv.Itoa(code), upstream).Observe(d.Seconds())
}

// ClientRetry counts a retry decision: outcome is sent, budget or deadline.
func (m *Metrics) ClientRetry(upstream, outcome string) {
	m.calls.clientRetries.WithLabelValues(upstream, outcome).Inc()
}

// Shed counts one request refused by load shedding.
func (m *Metrics) Shed() { m.calls.shed.Inc() }

// SetInFlightLimit records the in-flight limit of the load shedder.
func (m *Metrics) SetInFlightLimit(n int) { m.calls.inFlightLimit.Set(float64(n)) }
