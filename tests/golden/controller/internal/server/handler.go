package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/acme/widget-op/internal/logging"
	"github.com/acme/widget-op/internal/metrics"
)

// AppOptions wire the application handler. A nil Log, Metrics or TracerProvider, or a zero
// HandlerTimeout, leaves that part out (the benchmarks measure each part this way).
type AppOptions struct {
	// Log writes the access log and panic lines.
	Log *zap.Logger
	// Metrics records the RED metrics.
	Metrics *metrics.Metrics
	// TracerProvider and Propagator configure the server spans.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// HandlerTimeout is the deadline of each business request.
	HandlerTimeout time.Duration
	// Drain is the shutdown state shared with the Lifecycle; nil means never draining.
	Drain *Drain
}

// App returns the application handler. /healthz is answered directly (200, or 503 once
// draining); every other request goes through one middleware into routes: a server span
// (parent taken from the incoming headers), RED metrics and one access-log line per request,
// the handler deadline (503 when the response has not started by then) and panic recovery
// (500 and one error line with the stack). Once draining, every response carries
// "Connection: close". Handlers run on the server's goroutine and write straight to the
// connection, so they can stream (http.ResponseController.Flush).
func App(routes *http.ServeMux, o AppOptions) http.Handler {
	s := &stack{routes: routes, drain: o.Drain, metrics: o.Metrics, timeout: o.HandlerTimeout, log: zap.NewNop()}
	if s.drain == nil {
		s.drain = &Drain{}
	}
	if s.metrics != nil {
		s.metrics.CountInFlight(s.drain.InFlight) // the gauge reads the drain's count
	}
	if o.Log != nil {
		s.log = o.Log
		// The access line's caller is always the same: set it once instead of per request.
		s.accessLog = o.Log.WithOptions(zap.WithCaller(false))
	}
	if o.TracerProvider != nil {
		s.tracer = o.TracerProvider.Tracer(tracerName)
		s.propagator = o.Propagator
		if s.propagator == nil {
			s.propagator = propagation.TraceContext{}
		}
	}
	return s
}

// tracerName is the instrumentation scope of the server spans.
const tracerName = "github.com/acme/widget-op/internal/server"

// accessLogCaller is the caller field of every access-log line.
var accessLogCaller = zapcore.NewEntryCaller(runtime.Caller(0))

// stack is the application handler that App returns.
type stack struct {
	routes     *http.ServeMux
	drain      *Drain
	log        *zap.Logger // panic lines; a no-op logger when access logs are off
	accessLog  *zap.Logger // nil: no access log
	metrics    *metrics.Metrics
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	timeout    time.Duration
}

// Aborted reasons: the access log's aborted field and the span's error.type when the client
// received no response.
const (
	abortedClientGone       = "client_gone"
	abortedShutdownDeadline = "shutdown_deadline"
)

// ServeHTTP serves /healthz, or one business request with every layer. The route label is the
// matched pattern, e.g. /v1/hello/{name}, so labels stay low-cardinality. A request whose
// connection closed before it finished (the client went away, or the shutdown deadline cut it)
// is logged with status 0 and the reason in aborted: the client received no response.
func (s *stack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		healthz(w, r, s.drain)
		return
	}
	s.drain.inFlight.Add(1)
	defer s.drain.inFlight.Add(-1)
	start := time.Now()
	reqCtx := r.Context()
	ctx := reqCtx
	var span trace.Span
	if s.tracer != nil {
		ctx = s.propagator.Extract(ctx, headerCarrier(r.Header))
		ctx, span = s.tracer.Start(ctx, spanName(r.Method, ""), serverStart...)
	} else {
		span = trace.SpanFromContext(ctx)
	}
	var rctx *requestCtx
	if s.accessLog != nil || s.timeout > 0 {
		ctx, rctx = s.withRequestCtx(ctx, start)
	}
	rw := newResponseWriter(w, s.drain)
	defer rw.release()
	r2 := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		r2.Body = rw.wrapBody(r.Body)
	}
	if s.timeout > 0 {
		rw.arm(s.timeout, rctx)
	}
	panicked := s.serve(rw, r2)
	rw.finish()
	if rctx != nil {
		rctx.end()
	}
	elapsed := time.Since(start)

	status, aborted := rw.status(), ""
	if reqCtx.Err() != nil && !rw.cutRead && !rw.delivered {
		status, aborted = 0, abortedClientGone
		if s.drain.Cut() {
			aborted = abortedShutdownDeadline
		}
	}
	if span.IsRecording() {
		if r2.Pattern != "" {
			span.SetName(spanName(r.Method, r2.Pattern))
		}
		var read int64
		if rw.body != nil {
			read = rw.body.bytes
		}
		endSpan(span, r, r2.Pattern, status, aborted, panicked, read, rw.bytes)
	}
	span.End()
	rt := route(r2.Pattern)
	if rt == "" {
		rt = "unmatched"
	}
	if s.metrics != nil {
		s.metrics.Observe(ctx, r.Method, rt, status, elapsed)
	}
	if s.accessLog != nil {
		s.writeAccessLog(span.SpanContext(), rw, r, rt, status, aborted, elapsed)
	}
}

// withRequestCtx returns the handler's context: parent with the request-scoped logger and the
// handler deadline, counted from start.
func (s *stack) withRequestCtx(parent context.Context, start time.Time) (context.Context, *requestCtx) {
	c := &requestCtx{Context: parent}
	if s.accessLog != nil {
		c.log = s.log
	}
	if s.timeout > 0 {
		c.deadline = start.Add(s.timeout)
	}
	return c, c
}

// serve runs the routes and turns a panic into a 500 and one error line with the stack trace.
func (s *stack) serve(w *responseWriter, r *http.Request) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			s.handlePanic(w, r, v)
			panicked = true
		}
	}()
	s.routes.ServeHTTP(w, r)
	return false
}

// writeAccessLog writes the request's access-log line. The encoder takes its fields straight
// from the line (zap.Inline), which lives in w: no field slice is built or allocated.
func (s *stack) writeAccessLog(span trace.SpanContext, w *responseWriter, r *http.Request, rt string, status int, aborted string, elapsed time.Duration) {
	ce := s.accessLog.Check(zapcore.InfoLevel, "request")
	if ce == nil {
		return
	}
	ce.Caller = accessLogCaller
	w.line = accessLine{r: r, route: rt, status: status, bytes: w.bytes, elapsed: elapsed, aborted: aborted, span: span}
	w.lineField[0] = zap.Inline(&w.line)
	ce.Write(w.lineField[:]...)
	w.line, w.lineField[0] = accessLine{}, zap.Field{} // the pooled writer keeps nothing of this request
}

// accessLine is the access-log line of one request: method, route, path, status, bytes,
// duration_ms, remote_addr, user_agent, aborted when the client got no response, and trace_id
// and span_id when the trace is sampled (see logging.TraceFields).
type accessLine struct {
	r       *http.Request
	route   string
	status  int
	bytes   int64
	elapsed time.Duration
	aborted string
	span    trace.SpanContext
}

// MarshalLogObject adds the line's fields to the log entry (any zap encoder).
func (l *accessLine) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("method", l.r.Method)
	enc.AddString("route", l.route)
	enc.AddString("path", l.r.URL.Path)
	enc.AddInt("status", l.status)
	enc.AddInt64("bytes", l.bytes)
	enc.AddFloat64("duration_ms", l.durationMS())
	enc.AddString("remote_addr", l.r.RemoteAddr)
	enc.AddString("user_agent", l.userAgent())
	if l.aborted != "" {
		enc.AddString("aborted", l.aborted)
	}
	if l.sampled() {
		enc.AddString("trace_id", l.span.TraceID().String())
		enc.AddString("span_id", l.span.SpanID().String())
	}
	return nil
}

// AppendLogFields appends the same fields as JSON: the service's logger writes the line without
// zap's field encoder (logging.FieldAppender).
func (l *accessLine) AppendLogFields(b []byte) []byte {
	b = logging.AppendString(b, keyMethod, l.r.Method)
	b = logging.AppendString(b, keyRoute, l.route)
	b = logging.AppendString(b, keyPath, l.r.URL.Path)
	b = logging.AppendInt(b, keyStatus, int64(l.status))
	b = logging.AppendInt(b, keyBytes, l.bytes)
	b = logging.AppendFloat(b, keyDuration, l.durationMS())
	b = logging.AppendString(b, keyRemoteAddr, l.r.RemoteAddr)
	b = logging.AppendString(b, keyUserAgent, l.userAgent())
	if l.aborted != "" {
		b = logging.AppendString(b, keyAborted, l.aborted)
	}
	if l.sampled() {
		var id [32]byte
		tid, sid := l.span.TraceID(), l.span.SpanID()
		b = append(append(append(b, keyTraceID...), '"'), hex.AppendEncode(id[:0], tid[:])...)
		b = append(append(append(append(b, '"'), keySpanID...), '"'), hex.AppendEncode(id[:0], sid[:])...)
		b = append(b, '"')
	}
	return b
}

// The access line's keys, encoded once.
var (
	keyMethod, keyRoute, keyPath      = logging.NewKey("method"), logging.NewKey("route"), logging.NewKey("path")
	keyStatus, keyBytes, keyDuration  = logging.NewKey("status"), logging.NewKey("bytes"), logging.NewKey("duration_ms")
	keyRemoteAddr, keyUserAgent       = logging.NewKey("remote_addr"), logging.NewKey("user_agent")
	keyAborted, keyTraceID, keySpanID = logging.NewKey("aborted"), logging.NewKey("trace_id"), logging.NewKey("span_id")
)

func (l *accessLine) durationMS() float64 { return float64(l.elapsed.Microseconds()) / 1000 }

func (l *accessLine) sampled() bool { return l.span.IsValid() && l.span.IsSampled() }

// userAgent is r.UserAgent() without canonicalising the header name on every request.
func (l *accessLine) userAgent() string {
	if v := l.r.Header["User-Agent"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

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

// route returns the path part of a pattern such as "GET /v1/hello/{name}", or "" when no
// route matched.
func route(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// requestError is the exception recorded on the span of a 5xx or aborted request.
type requestError struct {
	status  int
	aborted string
}

func (e *requestError) Error() string {
	if e.aborted != "" {
		return "request aborted: " + e.aborted
	}
	return strconv.Itoa(e.status) + " " + http.StatusText(e.status)
}

// panicError is the exception recorded on the span of a request whose handler panicked.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// handlePanic runs in the deferred call of the panicking request: the stack still shows where
// the panic happened. The client gets a 500 unless the response had started.
func (s *stack) handlePanic(w *responseWriter, r *http.Request, v any) {
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		w.abandon() // the server drops the response: the deadline timer must not write to it
		panic(v)    // the server's own signal to abort the response silently
	}
	ctx := r.Context()
	trace.SpanFromContext(ctx).RecordError(&panicError{value: v}, trace.WithStackTrace(true))
	s.log.Error("panic serving request", logging.AppendTraceFields(ctx, []zap.Field{
		zap.String("panic", fmt.Sprint(v)),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Stack("stacktrace"),
	})...)
	http.Error(w, "internal server error", http.StatusInternalServerError)
}
