// Package metrics exposes Prometheus metrics on the admin listener: Go runtime and process
// collectors, a build-info gauge and RED metrics (rate, errors, duration) of the business routes.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
)

// Metrics owns the registry and the HTTP server metrics.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// BuildInfo labels the app_build_info gauge.
type BuildInfo struct {
	Version   string
	Commit    string
	GoVersion string
}

// New returns metrics registered in a fresh registry (not the global one).
func New(info BuildInfo) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_server_requests_total",
			Help: "HTTP requests served by the business routes, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_server_request_duration_seconds",
			Help:    "Latency of the business routes, by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_server_requests_in_flight",
			Help: "Business requests being served right now.",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "app_build_info",
		Help:        "Always 1; the labels describe the running binary.",
		ConstLabels: prometheus.Labels{"version": info.Version, "commit": info.Commit, "goversion": info.GoVersion},
	})
	build.Set(1)
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build, m.requests, m.duration, m.inFlight,
	)
	return m
}

// Registry returns the registry, e.g. to register application metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus text format, or in OpenMetrics (with exemplars)
// when the scraper asks for it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Start counts a request as in flight; call the returned function when it is done.
func (m *Metrics) Start() func() {
	m.inFlight.Inc()
	return m.inFlight.Dec
}

// Observe records one finished request. When ctx carries a sampled span its trace ID becomes an
// exemplar, so a latency spike on a dashboard links to a trace.
func (m *Metrics) Observe(ctx context.Context, method, route string, code int, d time.Duration) {
	method = normalizeMethod(method)
	counter := m.requests.WithLabelValues(method, route, strconv.Itoa(code))
	hist := m.duration.WithLabelValues(method, route)
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		ex := prometheus.Labels{"trace_id": sc.TraceID().String()}
		if c, ok := counter.(prometheus.ExemplarAdder); ok {
			c.AddWithExemplar(1, ex)
		} else {
			counter.Inc()
		}
		if h, ok := hist.(prometheus.ExemplarObserver); ok {
			h.ObserveWithExemplar(d.Seconds(), ex)
		} else {
			hist.Observe(d.Seconds())
		}
		return
	}
	counter.Inc()
	hist.Observe(d.Seconds())
}

// normalizeMethod bounds the method label to the standard methods.
func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}
