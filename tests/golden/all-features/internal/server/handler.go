package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/felixge/httpsnoop"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/acme/orders-api/internal/logging"
	"github.com/acme/orders-api/internal/metrics"
)

// AppOptions wire the application handler. A nil Log, Metrics or TracerProvider, or a zero
// HandlerTimeout, leaves that part out (the benchmarks measure each part this way).
type AppOptions struct {
	// Log writes the access log and panic lines, and is the request-scoped logger
	// (logging.FromContext) of the handlers.
	Log *zap.Logger
	// Metrics records the RED metrics.
	Metrics *metrics.Metrics
	// TracerProvider and Propagator configure the server spans.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// HandlerTimeout is the deadline of each business request.
	HandlerTimeout time.Duration
	// MaxBodyBytes limits the request body a business route may read: reading past it fails
	// with *http.MaxBytesError and the connection is closed after the response. 0 = no limit.
	MaxBodyBytes int64
	// Drain is the shutdown state shared with the Lifecycle; nil means never draining.
	Drain *Drain
	// MaxInFlight is the number of business requests served at once; the next one gets an
	// immediate 503 with Retry-After (load shedding). 0 = no limit. See InFlightLimit.
	MaxInFlight int
}

// App returns the application handler. /healthz is answered directly (200, or 503 once
// draining). Every other request gets, from the outside in:
//
//   - a server span from otelhttp (its parent taken from the incoming trace context and
//     baggage headers; the sampler sees the request attributes), named "{method} {route}", with
//     http.route and, for 5xx and aborted responses, error.type added;
//   - one access-log line and the RED metrics;
//   - panic recovery: a panic before the response started becomes a 500 and one error line
//     with the stack; after it started, the response is aborted as net/http aborts it
//     (panic(http.ErrAbortHandler)), and so is a handler's own http.ErrAbortHandler;
//   - the handler deadline: the handler's context is context.WithTimeout of the request's, and
//     a response that has not started at the deadline is answered 503 (see exchange);
//   - "Connection: close" on every response once draining.
//
// Before all of it, a request beyond o.MaxInFlight is shed: an immediate 503 with Retry-After,
// no span, one access-log line with shed=true and http_server_shed_requests_total (see shed.go).
// /healthz is never shed.
//
// Everything else is net/http's: the handler writes to net/http's writer through httpsnoop,
// which keeps its optional interfaces, so streaming, sendfile, hijacking and
// http.ResponseController work as without the middleware.
func App(routes *http.ServeMux, o AppOptions) http.Handler {
	s := &stack{routes: routes, drain: o.Drain, metrics: o.Metrics, timeout: o.HandlerTimeout, log: o.Log}
	if s.drain == nil {
		s.drain = &Drain{}
	}
	if s.metrics != nil {
		s.metrics.CountInFlight(s.drain.InFlight) // the gauge reads the drain's count
	}
	var h http.Handler = s
	if o.TracerProvider != nil {
		prop := o.Propagator
		if prop == nil {
			prop = propagation.TraceContext{}
		}
		h = otelhttp.NewHandler(s, "",
			otelhttp.WithTracerProvider(o.TracerProvider),
			otelhttp.WithPropagators(prop),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // RED metrics are package metrics'
		)
	}
	if o.MaxBodyBytes > 0 {
		// net/http's own limit, outermost: the reader gets the server's response writer, so
		// the server closes the connection after the response.
		h = http.MaxBytesHandler(h, o.MaxBodyBytes)
	}
	shed := newShedder(o.MaxInFlight, o.Log, o.Metrics)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			healthz(w, r, s.drain)
			return
		}
		if !shed.admit() {
			shed.refuse(w, r, s.drain)
			return
		}
		defer shed.release()
		h.ServeHTTP(w, r)
	})
}

// stack is the instrumented part of the application handler that App returns.
type stack struct {
	routes  *http.ServeMux
	drain   *Drain
	log     *zap.Logger // nil: no access log, no request-scoped logger
	metrics *metrics.Metrics
	timeout time.Duration
}

// Aborted reasons: the access log's aborted field and the span's error.type when the client
// received no complete response.
const (
	abortedClientGone       = "client_gone"       // the client closed the connection first
	abortedShutdownDeadline = "shutdown_deadline" // the shutdown deadline closed the connection
	abortedPanic            = "panic"             // the handler panicked after the response started
	abortedHandler          = "handler_aborted"   // the handler panicked with http.ErrAbortHandler
)

// ServeHTTP serves one business request. The route label is the matched pattern, e.g.
// /v1/hello/{name}, so labels stay low-cardinality.
func (s *stack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.drain.inFlight.Add(1)
	defer s.drain.inFlight.Add(-1)
	start := time.Now()
	e := &exchange{w: w, drain: s.drain}
	ctx := r.Context()
	if s.log != nil {
		ctx = logging.NewContext(ctx, s.log)
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
		e.arm(ctx, r.Context())
	}
	r2 := r.WithContext(ctx)
	returned := false
	defer s.end(ctx, e, r, r2, start, &returned)
	s.routes.ServeHTTP(httpsnoop.Wrap(w, e.hooks()), r2)
	returned = true
}

// end runs deferred when the handler returned (*returned) or panicked, and records the request:
// the span's route and errors, the metrics and the access line. ctx is the handler's context,
// r the request as net/http gave it and r2 the handler's copy. A client whose connection closed
// under the request shows as the end of r's own context. A panic before the response started
// becomes a 500; any other panic is re-raised as http.ErrAbortHandler, which makes net/http
// abort the response (the connection closes without completing it) without logging the panic
// again.
func (s *stack) end(ctx context.Context, e *exchange, r, r2 *http.Request, start time.Time, returned *bool) {
	var v any
	if !*returned {
		v = recover()
	}
	e.finish(*returned)
	r.Pattern = r2.Pattern // for otelhttp's span name: the routes set it on r2
	gone := r.Context().Err() != nil
	aborted := ""
	switch err, _ := v.(error); {
	case v == nil:
		if e.state.Load() != stateHijacked && gone && !e.delivered {
			aborted = abortedClientGone
			if s.drain.Cut() {
				aborted = abortedShutdownDeadline
			}
		}
	case errors.Is(err, http.ErrAbortHandler):
		aborted = abortedHandler
	default:
		s.logPanic(ctx, r, v)
		trace.SpanFromContext(ctx).RecordError(&panicError{value: v}, trace.WithStackTrace(true))
		if e.state.Load() != stateIdle {
			aborted = abortedPanic
			break
		}
		e.mu.Lock()
		e.respond(http.StatusInternalServerError, "internal server error\n", false)
		e.mu.Unlock()
		v = nil // answered: the panic ends here
	}
	status := e.code
	if aborted != "" {
		status = 0
	}
	elapsed := time.Since(start)
	rt := route(r.Pattern)
	if v != nil && rt != "" {
		// otelhttp names the span after the route only when the handler returns.
		trace.SpanFromContext(ctx).SetName(spanName(r.Method, rt))
	}
	s.annotateSpan(ctx, rt, status, aborted)
	label := rt
	if label == "" {
		label = "unmatched"
	}
	if s.metrics != nil {
		s.metrics.Observe(ctx, r.Method, label, status, elapsed)
	}
	if s.log != nil {
		s.accessLog(ctx, r, label, status, e.bytes, elapsed, aborted, e.state.Load() == stateHijacked)
	}
	if v != nil {
		panic(http.ErrAbortHandler)
	}
}

// annotateSpan adds to the server span what otelhttp does not: http.route, and error.type
// (semantic conventions) for 5xx and aborted responses, the latter with an error status and an
// exception event (otelhttp sets no status for a request that panicked, and none when the client
// got no response).
func (s *stack) annotateSpan(ctx context.Context, rt string, status int, aborted string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if rt != "" {
		span.SetAttributes(semconv.HTTPRoute(rt))
	}
	switch {
	case aborted != "":
		span.SetAttributes(semconv.ErrorTypeKey.String(aborted))
		span.SetStatus(codes.Error, aborted)
		span.RecordError(errors.New("request aborted: " + aborted))
	case status >= http.StatusInternalServerError:
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, "")
	}
}

// accessLog writes the request's access-log line: method, route, path, status, bytes,
// duration_ms, remote_addr, user_agent, aborted when the client got no complete response,
// hijacked when the handler took the connection over, and trace_id and span_id when the trace
// is sampled (see logging.TraceFields).
func (s *stack) accessLog(ctx context.Context, r *http.Request, rt string, status int, bytes int64, elapsed time.Duration, aborted string, hijacked bool) {
	fields := make([]zap.Field, 0, 12)
	fields = append(fields,
		zap.String("method", r.Method),
		zap.String("route", rt),
		zap.String("path", r.URL.Path),
		zap.Int("status", status),
		zap.Int64("bytes", bytes),
		zap.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		zap.String("remote_addr", r.RemoteAddr),
		zap.String("user_agent", r.UserAgent()),
	)
	if aborted != "" {
		fields = append(fields, zap.String("aborted", aborted))
	}
	if hijacked {
		fields = append(fields, zap.Bool("hijacked", true))
	}
	s.log.Info("request", logging.AppendTraceFields(ctx, fields)...)
}

// logPanic writes one error line with the panic value and the stack of the panicking handler
// (the deferred call runs on top of it).
func (s *stack) logPanic(ctx context.Context, r *http.Request, v any) {
	if s.log == nil {
		return
	}
	s.log.Error("panic serving request", logging.AppendTraceFields(ctx, []zap.Field{
		zap.String("panic", fmt.Sprint(v)),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Stack("stacktrace"),
	})...)
}

// panicError is the exception recorded on the span of a request whose handler panicked.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// healthz answers load balancers that check a path on the app port: 200, or 503 while
// draining, so that they stop routing here as early as the readiness probe does.
func healthz(w http.ResponseWriter, r *http.Request, drain *Drain) {
	draining := drain.Draining()
	if draining {
		w.Header().Set("Connection", "close")
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, http.StatusMethodNotAllowed, "method not allowed\n")
	case draining:
		writeText(w, http.StatusServiceUnavailable, "draining\n")
	default:
		writeText(w, http.StatusOK, "ok\n")
	}
}

// spanName is otelhttp's span name, "{method} {route}", with methods outside the standard ones
// named HTTP.
func spanName(method, rt string) string {
	switch method = strings.ToUpper(method); method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
	default:
		method = "HTTP"
	}
	return method + " " + rt
}

// route returns the path part of a pattern such as "GET /v1/hello/{name}", or "" when no
// route matched.
func route(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}
