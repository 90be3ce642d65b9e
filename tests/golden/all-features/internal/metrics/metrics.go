// Package metrics exposes Prometheus metrics on the admin listener: Go runtime and process
// collectors, a build-info gauge, the runtime limits the service derived from its cgroup, and RED
// metrics (rate, errors, duration) of the business routes.
package metrics

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
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
	inFlight prometheus.GaugeFunc
	active   atomic.Int64                 // requests in flight counted by Start and Finish
	counted  atomic.Pointer[func() int64] // or counted by the HTTP server (CountInFlight)
	routesMu sync.Mutex
	routes   atomic.Pointer[map[routeKey]*routeSeries] // replaced, never changed

	runtimeMu        sync.Mutex
	gomaxprocs       *prometheus.GaugeVec
	gomemlimit       *prometheus.GaugeVec
	cgroupCPU        prometheus.Gauge
	cgroupMemory     prometheus.Gauge
	gomaxprocsSource string
	gomemlimitSource string

	calls calls
}

// RuntimeLimits are the effective Go runtime limits, where each comes from (cgroup, env or
// default), and the cgroup limits seen (0 = no limit).
type RuntimeLimits struct {
	GOMAXPROCS       int
	GOMAXPROCSSource string
	// GOMEMLIMIT is in bytes; math.MaxInt64 means no soft limit, as in the Go runtime.
	GOMEMLIMIT       int64
	GOMEMLIMITSource string
	CPULimitCores    float64
	MemoryLimitBytes int64
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
		gomaxprocs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "app_runtime_gomaxprocs",
			Help: "Effective GOMAXPROCS; source is cgroup (set by the service from the CPU limit), env (GOMAXPROCS) or default (the Go runtime's own).",
		}, []string{"source"}),
		gomemlimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "app_runtime_gomemlimit_bytes",
			Help: "Effective GOMEMLIMIT in bytes (9223372036854775807 = none); source is cgroup (set by the service from the memory limit), env (GOMEMLIMIT) or default.",
		}, []string{"source"}),
		cgroupCPU: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "app_cgroup_cpu_limit_cores",
			Help: "CPU limit of the container's cgroup (CFS quota / period) in cores; 0 = no limit.",
		}),
		cgroupMemory: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "app_cgroup_memory_limit_bytes",
			Help: "Memory limit of the container's cgroup in bytes; 0 = no limit.",
		}),
	}
	m.inFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "http_server_requests_in_flight",
		Help: "Business requests being served right now.",
	}, func() float64 {
		if f := m.counted.Load(); f != nil {
			return float64((*f)())
		}
		return float64(m.active.Load())
	})
	m.routes.Store(&map[routeKey]*routeSeries{})
	m.calls = newCalls()
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
		m.gomaxprocs, m.gomemlimit, m.cgroupCPU, m.cgroupMemory,
	)
	m.registry.MustRegister(m.calls.collectors()...)
	return m
}

// Registry returns the registry, e.g. to register application metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus text format, or in OpenMetrics (with exemplars)
// when the scraper asks for it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// SetRuntimeLimits records the effective runtime limits and the cgroup limits seen. Each limit
// gauge keeps one series, labelled with the current source.
func (m *Metrics) SetRuntimeLimits(l RuntimeLimits) {
	m.runtimeMu.Lock()
	defer m.runtimeMu.Unlock()
	setSource(m.gomaxprocs, &m.gomaxprocsSource, l.GOMAXPROCSSource, float64(l.GOMAXPROCS))
	setSource(m.gomemlimit, &m.gomemlimitSource, l.GOMEMLIMITSource, float64(l.GOMEMLIMIT))
	m.cgroupCPU.Set(l.CPULimitCores)
	m.cgroupMemory.Set(float64(l.MemoryLimitBytes))
}

// setSource sets the series of source to v and then drops the series of the previous source,
// so a scrape never sees none.
func setSource(g *prometheus.GaugeVec, current *string, source string, v float64) {
	g.WithLabelValues(source).Set(v)
	if *current != "" && *current != source {
		g.DeleteLabelValues(*current)
	}
	*current = source
}

// CountInFlight makes the in-flight gauge report f, the number of requests in flight that the
// HTTP server counts anyway, so that a request costs no counting of its own: the server then
// calls Observe instead of Start and Finish.
func (m *Metrics) CountInFlight(f func() int64) {
	m.counted.Store(&f)
}

// Start counts a request as in flight; Finish ends it.
func (m *Metrics) Start() {
	m.active.Add(1)
}

// Finish ends a request counted by Start and records it (see Observe).
func (m *Metrics) Finish(ctx context.Context, method, route string, code int, d time.Duration) {
	m.active.Add(-1)
	m.Observe(ctx, method, route, code, d)
}

// Observe records one finished request. When ctx carries a sampled span its trace ID becomes an
// exemplar, so a latency spike on a dashboard links to a trace.
func (m *Metrics) Observe(ctx context.Context, method, route string, code int, d time.Duration) {
	s := m.route(normalizeMethod(method), route)
	counter, hist := s.counter(code), s.hist
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		ex := exemplarLabels.Get().(prometheus.Labels) // the exemplars copy it
		ex["trace_id"] = sc.TraceID().String()
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
		exemplarLabels.Put(ex)
		return
	}
	counter.Inc()
	hist.Observe(d.Seconds())
}

// exemplarLabels holds the label maps of exemplars between requests.
var exemplarLabels = sync.Pool{New: func() any { return prometheus.Labels{} }}

// routeKey names the series of one method and route.
type routeKey struct{ method, route string }

// routeSeries holds the resolved series of one method and route, so that a request looks its
// series up in a map read without a lock instead of hashing label values in the vectors.
type routeSeries struct {
	m      *Metrics
	key    routeKey
	hist   prometheus.Observer
	mu     sync.Mutex
	counts atomic.Pointer[map[int]prometheus.Counter] // by status code; replaced, never changed
}

// route returns the series of method and route, resolving them on first use. The maps are
// copied on write: routes and status codes are few, and reads are on every request.
func (m *Metrics) route(method, route string) *routeSeries {
	key := routeKey{method, route}
	if s, ok := (*m.routes.Load())[key]; ok {
		return s
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	old := *m.routes.Load()
	if s, ok := old[key]; ok {
		return s
	}
	s := &routeSeries{m: m, key: key, hist: m.duration.WithLabelValues(method, route)}
	s.counts.Store(&map[int]prometheus.Counter{})
	next := make(map[routeKey]*routeSeries, len(old)+1)
	maps.Copy(next, old)
	next[key] = s
	m.routes.Store(&next)
	return s
}

// counter returns the request counter of one status code.
func (s *routeSeries) counter(code int) prometheus.Counter {
	if c, ok := (*s.counts.Load())[code]; ok {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.counts.Load()
	if c, ok := old[code]; ok {
		return c
	}
	c := s.m.requests.WithLabelValues(s.key.method, s.key.route, strconv.Itoa(code))
	next := make(map[int]prometheus.Counter, len(old)+1)
	maps.Copy(next, old)
	next[code] = c
	s.counts.Store(&next)
	return c
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
