// Package server runs the application, probe and debug HTTP listeners: timeouts, middleware,
// health endpoints and the graceful shutdown sequence.
package server

import (
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Limits are the http.Server timeouts and header limit.
type Limits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

// NewHTTPServer returns an http.Server for h with every timeout set; its internal errors
// (TLS handshakes, superfluous WriteHeader calls, ...) are logged by log at warn level.
func NewHTTPServer(h http.Handler, l Limits, log *zap.Logger) *http.Server {
	errLog, err := zap.NewStdLogAt(log, zapcore.WarnLevel)
	if err != nil {
		errLog = zap.NewStdLog(log)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
}

// DebugLimits returns the limits of the debug listener: the same as the app's, except that
// binaries built with -tags pprof allow long enough writes for a 30-second CPU profile.
func DebugLimits(l Limits) Limits {
	l.WriteTimeout = debugWriteTimeout(l.WriteTimeout)
	return l
}

// Readiness is the state /readyz reports: ready while serving, not ready before the listeners
// run and from the first shutdown signal on.
type Readiness struct {
	ready atomic.Bool
}

// Set changes the state.
func (r *Readiness) Set(ready bool) { r.ready.Store(ready) }

// Ready reports the state.
func (r *Readiness) Ready() bool { return r.ready.Load() }

// ServeHTTP answers 200 when ready and 503 otherwise.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if r.Ready() {
		writeText(w, http.StatusOK, "ok\n")
		return
	}
	writeText(w, http.StatusServiceUnavailable, "not ready\n")
}

// Drain is the shutdown state that the application handler follows. From the first shutdown
// signal on it is draining: every app response carries "Connection: close", so keep-alive
// clients pinned to this process (kube-proxy keeps routing established connections to a
// terminating pod) move to a new connection, and /healthz answers 503. It is cut once the
// shutdown deadline passed and the remaining connections are being closed.
type Drain struct {
	draining atomic.Bool
	cut      atomic.Bool
	inFlight atomic.Int64
}

// Draining reports whether the shutdown sequence has started.
func (d *Drain) Draining() bool { return d.draining.Load() }

// Cut reports whether the shutdown deadline passed and open connections were closed.
func (d *Drain) Cut() bool { return d.cut.Load() }

// InFlight returns the number of business requests being served.
func (d *Drain) InFlight() int64 { return d.inFlight.Load() }

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body)) // the client went away; nothing to do
}

// Admin returns the read-only probe and scrape routes of the admin listener: /livez, /readyz
// and /metrics (GET and HEAD only). Nothing here changes the process: the admin port is
// reachable from the kubelet, Prometheus and, through the Service, possibly from other pods.
func Admin(ready *Readiness, metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	mux.Handle("GET /readyz", ready)
	mux.Handle("GET /metrics", metrics)
	return mux
}

// Debug returns the routes of the debug listener, which binds a loopback address only (reach
// it with kubectl port-forward): /loglevel (GET shows the level, PUT {"level":"debug"} or the
// form level=debug changes it) and, in binaries built with -tags pprof, /debug/pprof/.
func Debug(logLevel http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/loglevel", jsonResponse(logLevel))
	registerPprof(mux)
	return mux
}

// jsonResponse labels h's responses application/json: zap's level handler answers JSON without
// a Content-Type, which net/http would otherwise sniff as text/plain.
func jsonResponse(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
	})
}
