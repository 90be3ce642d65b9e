package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"gosmith.invalid/module/internal/metrics"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture is an application handler with in-memory logs, metrics and spans.
type fixture struct {
	handler http.Handler
	logs    *syncBuffer
	spans   *tracetest.SpanRecorder
	metrics http.Handler
	drain   *Drain
}

func newFixture(t *testing.T, routes *http.ServeMux, timeout time.Duration) *fixture {
	t.Helper()
	return newSampledFixture(t, routes, timeout, sdktrace.AlwaysSample())
}

func newSampledFixture(t *testing.T, routes *http.ServeMux, timeout time.Duration, sampler sdktrace.Sampler) *fixture {
	t.Helper()
	f := &fixture{logs: &syncBuffer{}, spans: tracetest.NewSpanRecorder(), drain: &Drain{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.spans), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m := metrics.New(metrics.BuildInfo{Version: "v", Commit: "c", GoVersion: "g"})
	f.metrics = m.Handler()
	f.handler = App(routes, AppOptions{
		Log:            testLogger(f.logs),
		Metrics:        m,
		TracerProvider: tp,
		Propagator:     propagation.TraceContext{},
		HandlerTimeout: timeout,
		Drain:          f.drain,
	})
	return f
}

// syncBuffer is a bytes.Buffer that a server goroutine and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(buf io.Writer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{MessageKey: "msg", LevelKey: "level", NameKey: "logger", EncodeLevel: zapcore.LowercaseLevelEncoder})
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(buf), zapcore.DebugLevel)).Named("http")
}

func logLines(t *testing.T, buf *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, raw := range bytes.Split(bytes.TrimSpace([]byte(buf.String())), []byte("\n")) {
		if len(raw) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		out = append(out, m)
	}
	return out
}

func testRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "item "+r.PathValue("id"))
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a well-behaved handler stops at the deadline
		_, _ = io.WriteString(w, "too late")
	})
	return mux
}

// TestAppLimitsBodies: with MaxBodyBytes a route reads at most that many bytes; a larger body
// fails the read with *http.MaxBytesError (the route answers 413), net/http closes the
// connection after the response (also behind the tracing wrapper), and the route still sees its
// matched pattern. 0 = no limit.
func TestAppLimitsBodies(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		_, _ = io.WriteString(w, strconv.Itoa(len(body))+" "+r.Pattern)
	})
	for _, tt := range []struct {
		name     string
		limit    int64
		size     int
		wantCode int
		wantBody string
	}{
		{"at the limit", 8, 8, http.StatusOK, "8 POST /upload/{id}"},
		{"over the limit", 8, 9, http.StatusRequestEntityTooLarge, "too large\n"},
		{"no limit", 0, 4096, http.StatusOK, "4096 POST /upload/{id}"},
	} {
		for _, traced := range []bool{false, true} {
			o := AppOptions{MaxBodyBytes: tt.limit}
			if traced {
				o.TracerProvider = sdktrace.NewTracerProvider()
			}
			t.Run(fmt.Sprintf("%s traced=%v", tt.name, traced), func(t *testing.T) {
				srv := httptest.NewServer(App(mux, o))
				defer srv.Close()
				resp, err := srv.Client().Post(srv.URL+"/upload/1", "application/octet-stream", strings.NewReader(strings.Repeat("x", tt.size)))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tt.wantCode || string(body) != tt.wantBody {
					t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantCode, tt.wantBody)
				}
				if resp.Close != (tt.wantCode == http.StatusRequestEntityTooLarge) {
					t.Fatalf("connection closed after the response = %v, want it only after 413", resp.Close)
				}
			})
		}
	}
}

func TestAppRoutes(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantCode           int
		wantBody           string
	}{
		{"healthz", http.MethodGet, "/healthz", http.StatusOK, "ok\n"},
		{"healthz head", http.MethodHead, "/healthz", http.StatusOK, "ok\n"},
		{"healthz wrong method", http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method not allowed\n"},
		{"business route", http.MethodGet, "/items/42", http.StatusOK, "item 42"},
		{"unknown path", http.MethodGet, "/nope", http.StatusNotFound, "404 page not found\n"},
		{"panic", http.MethodGet, "/panic", http.StatusInternalServerError, "internal server error\n"},
		{"handler deadline", http.MethodGet, "/slow", http.StatusServiceUnavailable, "handler timeout\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testRoutes(), 50*time.Millisecond)
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestAccessLogAndSpan(t *testing.T) {
	f := newFixture(t, testRoutes(), time.Second)
	req := httptest.NewRequest(http.MethodGet, "/items/7", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.RemoteAddr = "192.0.2.1:1234"
	f.handler.ServeHTTP(httptest.NewRecorder(), req)

	spans := f.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	span := spans[0]
	if span.Name() != "GET /items/{id}" {
		t.Errorf("span name = %q", span.Name())
	}
	if span.Parent().SpanID().String() != "00f067aa0ba902b7" || span.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("span does not continue the incoming trace: parent %s trace %s", span.Parent().SpanID(), span.SpanContext().TraceID())
	}
	attrs := map[string]string{}
	for _, kv := range span.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	for k, v := range map[string]string{"http.route": "/items/{id}", "http.request.method": "GET", "http.response.status_code": "200"} {
		if attrs[k] != v {
			t.Errorf("span attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}

	lines := logLines(t, f.logs)
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1: %v", len(lines), lines)
	}
	line := lines[0]
	want := map[string]any{
		"msg": "request", "logger": "http", "method": "GET", "route": "/items/{id}", "path": "/items/7",
		"status": float64(200), "bytes": float64(len("item 7")), "remote_addr": "192.0.2.1:1234",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": span.SpanContext().SpanID().String(),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms missing or not a number: %v", line["duration_ms"])
	}
}

func TestHealthIsNotInstrumented(t *testing.T) {
	f := newFixture(t, testRoutes(), time.Second)
	f.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if n := len(f.spans.Ended()); n != 0 {
		t.Errorf("/healthz produced %d spans", n)
	}
	if f.logs.Len() != 0 {
		t.Errorf("/healthz was access-logged: %s", f.logs)
	}
	rec := httptest.NewRecorder()
	f.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if strings.Contains(rec.Body.String(), "healthz") {
		t.Error("/healthz shows up in the RED metrics")
	}
}

// TestHealthSkipsHandlerDeadline gives business routes a deadline that has passed before the
// handler can run: they answer 503 (the handler waits on its context, which is done at once),
// while /healthz, which must not go through the deadline, still answers 200 every time.
func TestHealthSkipsHandlerDeadline(t *testing.T) {
	f := newFixture(t, testRoutes(), time.Nanosecond)
	business := 0
	for range 200 {
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("/healthz = %d %q under an expired handler deadline", rec.Code, rec.Body)
		}
		rec = httptest.NewRecorder()
		f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/slow", nil))
		if rec.Code == http.StatusServiceUnavailable {
			business++
		}
	}
	if business == 0 {
		t.Fatal("the expired deadline never cut a business request: the test cannot tell health from business routes")
	}
}

func TestPanicLogsOneErrorLineWithStack(t *testing.T) {
	f := newFixture(t, testRoutes(), time.Second)
	f.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/panic", nil))
	var errorsSeen int
	for _, line := range logLines(t, f.logs) {
		if line["level"] != "error" {
			continue
		}
		errorsSeen++
		if line["panic"] != "boom" || !strings.Contains(line["stacktrace"].(string), "server_test.go") {
			t.Errorf("panic line lacks the value or the stack of the panicking handler: %v", line)
		}
	}
	if errorsSeen != 1 {
		t.Fatalf("got %d error lines, want 1:\n%s", errorsSeen, f.logs)
	}
}

func TestREDMetrics(t *testing.T) {
	f := newFixture(t, testRoutes(), 50*time.Millisecond)
	for _, p := range []string{"/items/1", "/items/2", "/panic", "/slow", "/nope"} {
		f.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	rec := httptest.NewRecorder()
	f.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`http_server_requests_total{code="200",method="GET",route="/items/{id}"} 2`,
		`http_server_requests_total{code="500",method="GET",route="/panic"} 1`,
		`http_server_requests_total{code="503",method="GET",route="/slow"} 1`,
		`http_server_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`http_server_request_duration_seconds_count{method="GET",route="/items/{id}"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestInFlightGauge: the in-flight gauge counts the business requests being served (the drain's
// count) and not /healthz.
func TestInFlightGauge(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	routes := testRoutes()
	routes.HandleFunc("GET /block", func(http.ResponseWriter, *http.Request) {
		entered <- struct{}{}
		<-release
	})
	f := newFixture(t, routes, time.Minute)
	scrape := func() string {
		rec := httptest.NewRecorder()
		f.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return rec.Body.String()
	}
	done := make(chan struct{})
	for range 2 {
		go func() {
			f.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/block", nil))
			done <- struct{}{}
		}()
		<-entered
	}
	f.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if text := scrape(); !strings.Contains(text, "http_server_requests_in_flight 2") {
		t.Errorf("two blocked requests, gauge:\n%s", text)
	}
	close(release)
	<-done
	<-done
	if text := scrape(); !strings.Contains(text, "http_server_requests_in_flight 0") {
		t.Errorf("no request in flight, gauge:\n%s", text)
	}
}

func TestAdmin(t *testing.T) {
	ready := &Readiness{}
	mux := Admin(ready, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics") }))
	do := func(method, path, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec
	}
	if rec := do(http.MethodGet, "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before start = %d", rec.Code)
	}
	ready.Set(true)
	if rec := do(http.MethodGet, "/readyz", ""); rec.Code != http.StatusOK {
		t.Errorf("/readyz when ready = %d", rec.Code)
	}
	if rec := do(http.MethodGet, "/livez", ""); rec.Code != http.StatusOK {
		t.Errorf("/livez = %d", rec.Code)
	}
	if rec := do(http.MethodGet, "/metrics", ""); rec.Body.String() != "metrics" {
		t.Errorf("/metrics = %q", rec.Body)
	}
	// Read-only: nothing on the admin port changes the process.
	for _, c := range []struct{ method, path string }{
		{http.MethodPut, "/loglevel"}, {http.MethodGet, "/loglevel"}, {http.MethodPost, "/metrics"},
		{http.MethodPut, "/readyz"}, {http.MethodGet, "/debug/pprof/"},
	} {
		if rec := do(c.method, c.path, `{"level":"debug"}`); rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s on the admin mux = %d, want 404 or 405", c.method, c.path, rec.Code)
		}
	}
}

func TestDebug(t *testing.T) {
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	mux := Debug(level)
	do := func(method, path, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec
	}
	if rec := do(http.MethodGet, "/loglevel", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "info") {
		t.Errorf("GET /loglevel = %d %q", rec.Code, rec.Body)
	}
	for _, c := range []struct{ method, body string }{
		{http.MethodGet, ""},
		{http.MethodPut, `{"level":"info"}`},
		{http.MethodPut, `{"level":"loud"}`},
	} {
		if ct := do(c.method, "/loglevel", c.body).Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s /loglevel %q: Content-Type %q, want application/json (the body is JSON)", c.method, c.body, ct)
		}
	}
	if rec := do(http.MethodPut, "/loglevel", `{"level":"debug"}`); rec.Code != http.StatusOK || level.Level() != zapcore.DebugLevel {
		t.Errorf("PUT /loglevel = %d, level now %s", rec.Code, level.Level())
	}
	if rec := do(http.MethodPut, "/loglevel", `{"level":"loud"}`); rec.Code != http.StatusBadRequest || level.Level() != zapcore.DebugLevel {
		t.Errorf("bad PUT /loglevel = %d, level now %s", rec.Code, level.Level())
	}
	if rec := do(http.MethodGet, "/metrics", ""); rec.Code != http.StatusNotFound {
		t.Errorf("/metrics on the debug mux = %d", rec.Code)
	}
}

// lifecycleFixture runs a Lifecycle on loopback listeners.
type lifecycleFixture struct {
	lc        *Lifecycle
	appURL    string
	adminURL  string
	debugURL  string
	cancel    context.CancelFunc
	finished  chan struct{} // closed when Run returned; err is its result
	err       error
	cancelled time.Time
}

func startLifecycle(t *testing.T, app http.Handler, drain, shutdown time.Duration) *lifecycleFixture {
	t.Helper()
	return startLifecycleWith(t, app, &Drain{}, drain, shutdown)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	var lcfg net.ListenConfig
	ln, err := lcfg.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startLifecycleWith runs app under a Lifecycle that shares d (pass the Drain given to App).
func startLifecycleWith(t *testing.T, app http.Handler, d *Drain, drain, shutdown time.Duration) *lifecycleFixture {
	t.Helper()
	appLn, adminLn, debugLn := listen(t), listen(t), listen(t)
	ready := &Readiness{}
	limits := Limits{ReadHeaderTimeout: time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, MaxHeaderBytes: 1 << 16}
	log := zap.NewNop()
	f := &lifecycleFixture{
		lc: &Lifecycle{
			App: NewHTTPServer(app, limits, log), AppListener: appLn,
			Admin: NewHTTPServer(Admin(ready, http.NotFoundHandler()), limits, log), AdminListener: adminLn,
			Debug: NewHTTPServer(Debug(zap.NewAtomicLevel()), limits, log), DebugListener: debugLn,
			Ready: ready, Drain: d, DrainDelay: drain, ShutdownTimeout: shutdown, Log: log,
		},
		appURL:   "http://" + appLn.Addr().String(),
		adminURL: "http://" + adminLn.Addr().String(),
		debugURL: "http://" + debugLn.Addr().String(),
		finished: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = func() { f.cancelled = time.Now(); cancel() }
	go func() {
		defer close(f.finished)
		f.err = f.lc.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.finished:
		case <-time.After(10 * time.Second):
			t.Error("Lifecycle.Run did not return")
		}
	})
	waitStatus(t, f.adminURL+"/readyz", http.StatusOK)
	return f
}

func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, err := get(context.Background(), url); err == nil && code == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d", url, want)
}

func TestDrainSequence(t *testing.T) {
	const drain = 300 * time.Millisecond
	started := make(chan struct{})
	release := make(chan struct{})
	app := http.NewServeMux()
	app.HandleFunc("GET /fast", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "fast") })
	app.HandleFunc("GET /inflight", func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	f := startLifecycle(t, app, drain, 5*time.Second)

	inflight := make(chan string, 1)
	go func() {
		_, body, err := get(context.Background(), f.appURL+"/inflight")
		if err != nil {
			body = err.Error()
		}
		inflight <- body
	}()
	<-started
	f.cancel()

	// Readiness flips at once, but the app keeps serving new connections during the drain delay.
	waitStatus(t, f.adminURL+"/readyz", http.StatusServiceUnavailable)
	if time.Since(f.cancelled) > time.Second {
		t.Errorf("readiness took %s to flip", time.Since(f.cancelled))
	}
	if code, body, err := get(context.Background(), f.appURL+"/fast"); err != nil || code != http.StatusOK || body != "fast" {
		t.Fatalf("request during the drain delay: %d %q %v", code, body, err)
	}
	select {
	case <-f.finished:
		t.Fatalf("Run returned during the drain delay: %v", f.err)
	case <-time.After(drain):
	}
	// After the drain delay Shutdown waits for the in-flight request and refuses new connections.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, _, err := get(context.Background(), f.appURL+"/fast"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the app listener still accepts connections after the drain delay")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if since := time.Since(f.cancelled); since < drain {
		t.Errorf("connections refused after %s, before the drain delay %s", since, drain)
	}
	close(release)
	if body := <-inflight; body != "finished" {
		t.Fatalf("in-flight request got %q", body)
	}
	<-f.finished
	if f.err != nil {
		t.Fatalf("Run = %v, want nil", f.err)
	}
}

func TestShutdownIsBounded(t *testing.T) {
	const shutdown = 200 * time.Millisecond
	started := make(chan struct{})
	stuck := make(chan struct{})
	defer close(stuck)
	app := http.NewServeMux()
	app.HandleFunc("GET /stuck", func(http.ResponseWriter, *http.Request) {
		close(started)
		<-stuck
	})
	f := startLifecycle(t, app, 0, shutdown)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		_, _, _ = get(ctx, f.appURL+"/stuck")
	}()
	<-started
	f.cancel()
	select {
	case <-f.finished:
		if !errors.Is(f.err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want a deadline error", f.err)
		}
		if took := time.Since(f.cancelled); took > shutdown+time.Second {
			t.Errorf("Run took %s, want about %s", took, shutdown)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown is not bounded by ShutdownTimeout")
	}
	cancel()
	<-clientDone
}

func TestDebugLimitsKeepTheTimeoutsWithoutPprof(t *testing.T) {
	l := Limits{ReadHeaderTimeout: 1, ReadTimeout: 2, WriteTimeout: 3, IdleTimeout: 4, MaxHeaderBytes: 5}
	if got := DebugLimits(l); got.ReadHeaderTimeout != 1 || got.ReadTimeout != 2 || got.IdleTimeout != 4 || got.MaxHeaderBytes != 5 || got.WriteTimeout < 3 {
		t.Fatalf("DebugLimits(%+v) = %+v", l, got)
	}
}

func TestNewHTTPServerSetsLimits(t *testing.T) {
	l := Limits{ReadHeaderTimeout: 1, ReadTimeout: 2, WriteTimeout: 3, IdleTimeout: 4, MaxHeaderBytes: 5}
	srv := NewHTTPServer(http.NotFoundHandler(), l, zap.NewNop())
	got := Limits{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes}
	if got != l || srv.ErrorLog == nil {
		t.Fatalf("server limits = %+v, want %+v (ErrorLog set: %v)", got, l, srv.ErrorLog != nil)
	}
}

func TestHealthzAndConnectionCloseWhileDraining(t *testing.T) {
	f := newFixture(t, testRoutes(), time.Second)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/items/1", nil))
	if rec.Header().Get("Connection") != "" {
		t.Fatalf("Connection: %q before draining", rec.Header().Get("Connection"))
	}
	f.drain.draining.Store(true)
	for path, want := range map[string]int{"/healthz": http.StatusServiceUnavailable, "/items/1": http.StatusOK, "/nope": http.StatusNotFound} {
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want || rec.Header().Get("Connection") != "close" {
			t.Errorf("%s while draining = %d, Connection %q; want %d and close", path, rec.Code, rec.Header().Get("Connection"), want)
		}
	}
}

// TestKeepAliveConnectionsMoveOffWhileDraining: a keep-alive client reusing one connection gets
// "Connection: close" on the first response after the shutdown signal and reconnects; an idle
// keep-alive connection is closed after the drain delay, once it has been idle for idleQuiet.
func TestKeepAliveConnectionsMoveOffWhileDraining(t *testing.T) {
	const drain = 400 * time.Millisecond
	f := newFixture(t, testRoutes(), time.Second)
	lf := startLifecycleWith(t, f.handler, f.drain, drain, 2*time.Second)
	addr := strings.TrimPrefix(lf.appURL, "http://")

	var d net.Dialer
	idle, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = idle.Close() }()
	idleReader := bufio.NewReader(idle)
	// roundTrip sends one request and returns the status and whether the server closes the connection.
	roundTrip := func(conn net.Conn, r *bufio.Reader) (int, bool) {
		t.Helper()
		if _, err := io.WriteString(conn, "GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Close
	}
	if _, closed := roundTrip(idle, idleReader); closed {
		t.Fatal("Connection: close before the shutdown signal")
	}
	pinned, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pinned.Close() }()
	pinnedReader := bufio.NewReader(pinned)
	roundTrip(pinned, pinnedReader)

	lf.cancel()
	waitStatus(t, lf.adminURL+"/readyz", http.StatusServiceUnavailable)
	if status, closed := roundTrip(pinned, pinnedReader); status != http.StatusOK || !closed {
		t.Fatalf("response on a pinned connection while draining: %d, close=%v", status, closed)
	}
	_ = pinned.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := pinnedReader.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the server kept the connection open after Connection: close: %v", err)
	}
	// The idle connection stays open during the drain delay and is closed once it has been idle
	// for idleQuiet (its last request came just before the signal).
	_ = idle.SetReadDeadline(time.Now().Add(max(drain, idleQuiet) + 2*time.Second))
	_, err = idleReader.ReadByte()
	closedAfter := time.Since(lf.cancelled)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if closedAfter < drain || closedAfter > max(drain, idleQuiet)+time.Second {
		t.Errorf("idle connection closed %s after the signal, want after the %s drain delay and about %s of idleness",
			closedAfter, drain, idleQuiet)
	}
	<-lf.finished
	if lf.err != nil {
		t.Fatal(lf.err)
	}
}

// TestShutdownKeepsRecentlyUsedConnectionsUntilQuiet: without a drain delay (drain_mode prestop)
// the listener closes at the signal, but a keep-alive connection used just before it is not
// closed under its client's next request: that request, sent within idleQuiet, is served with
// "Connection: close". Connections idle for longer are closed when nothing is left to serve.
func TestShutdownKeepsRecentlyUsedConnectionsUntilQuiet(t *testing.T) {
	f := newFixture(t, testRoutes(), time.Second)
	lf := startLifecycleWith(t, f.handler, f.drain, 0, 5*time.Second)
	addr := strings.TrimPrefix(lf.appURL, "http://")
	var d net.Dialer
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		conn, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn, bufio.NewReader(conn)
	}
	roundTrip := func(conn net.Conn, r *bufio.Reader) (int, bool, error) {
		if _, err := io.WriteString(conn, "GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return 0, false, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return 0, false, err
		}
		defer func() { _ = resp.Body.Close() }()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Close, nil
	}
	old, oldReader := dial()
	if _, _, err := roundTrip(old, oldReader); err != nil {
		t.Fatal(err)
	}
	time.Sleep(idleQuiet + 200*time.Millisecond)
	recent, recentReader := dial()
	if _, closed, err := roundTrip(recent, recentReader); err != nil || closed {
		t.Fatalf("before the signal: close=%v, %v", closed, err)
	}

	lf.cancel()
	// The recently used connection still serves its client's next request, and then closes.
	time.Sleep(idleQuiet / 3)
	status, closed, err := roundTrip(recent, recentReader)
	if err != nil || status != http.StatusOK || !closed {
		t.Fatalf("request on a recently used connection %s after the signal: %d close=%v %v; want 200 and close",
			idleQuiet/3, status, closed, err)
	}
	// The long-idle one is closed once nothing is left to serve, and Run returns.
	_ = old.SetReadDeadline(time.Now().Add(idleQuiet + time.Second))
	if _, err := oldReader.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("connection idle before the signal: %v, want EOF", err)
	}
	<-lf.finished
	if lf.err != nil {
		t.Fatal(lf.err)
	}
	if took := time.Since(lf.cancelled); took > idleQuiet+time.Second {
		t.Errorf("Run returned %s after the signal, want within about %s", took, idleQuiet)
	}
}

// TestShutdownCutIsLoggedAsAborted: a request still running at the shutdown deadline is cut;
// its client gets no response, and the access log says so (status 0, aborted) instead of the
// 503 the deadline handler wrote to the closed connection.
func TestShutdownCutIsLoggedAsAborted(t *testing.T) {
	routes := testRoutes()
	started := make(chan struct{})
	routes.HandleFunc("GET /wait", func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	f := newFixture(t, routes, 10*time.Second)
	lf := startLifecycleWith(t, f.handler, f.drain, 0, 200*time.Millisecond)
	clientErr := make(chan error, 1)
	go func() {
		_, _, err := get(context.Background(), lf.appURL+"/wait")
		clientErr <- err
	}()
	<-started
	lf.cancel()
	<-lf.finished
	if err := <-clientErr; err == nil {
		t.Fatal("the cut request got a response")
	}
	lines := logLines(t, f.logs)
	if len(lines) != 1 {
		t.Fatalf("want one access-log line, got %v", lines)
	}
	if lines[0]["status"] != float64(0) || lines[0]["aborted"] != "shutdown_deadline" {
		t.Fatalf("cut request logged as %v", lines[0])
	}
	spans := f.spans.Ended()
	if len(spans) != 1 || spanAttr(spans[0], "error.type") != "shutdown_deadline" {
		t.Fatalf("span of the cut request lacks error.type: %v", spans)
	}
}

// TestSlowUploadGetsItsTimeoutResponse: a client sending a small body slowly gets the 503 at
// the handler deadline, long before the read timeout, and the connection is closed.
func TestSlowUploadGetsItsTimeoutResponse(t *testing.T) {
	routes := http.NewServeMux()
	routes.HandleFunc("POST /upload", func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // stops when the connection or the deadline ends it
	})
	f := newFixture(t, routes, 200*time.Millisecond)
	lf := startLifecycleWith(t, f.handler, f.drain, 0, time.Second) // read timeout 5s
	var d net.Dialer
	conn, err := d.DialContext(context.Background(), "tcp", strings.TrimPrefix(lf.appURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to the slow upload within 3s (read timeout 5s): %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close || time.Since(start) > 2*time.Second {
		t.Fatalf("slow upload: %d close=%v after %s; want 503, Connection: close, at the 200ms deadline", resp.StatusCode, resp.Close, time.Since(start))
	}
	lf.cancel()
	<-lf.finished
	// Cutting the body read makes net/http cancel the request's context; the client still got
	// the 503, and the access log says so.
	lines := logLines(t, f.logs)
	if len(lines) != 1 || lines[0]["status"] != float64(http.StatusServiceUnavailable) || lines[0]["aborted"] != nil {
		t.Fatalf("slow upload logged as %v", lines)
	}
}

// TestDeadlineAnswersAHandlerIgnoringItsContext: a handler that ignores its context and does no
// I/O cannot hold its client: the deadline timer sends the 503 while the handler still runs, the
// handler's late writes fail, and the access log, metrics and span record the 503. The handler
// stays blocked until the client has its answer (or 10x the deadline), so a response that waits
// for the handler fails the bound; the bound itself (deadline + 1s) is far above the timer's
// latency, so that a loaded machine cannot make the test flake.
func TestDeadlineAnswersAHandlerIgnoringItsContext(t *testing.T) {
	const deadline = 200 * time.Millisecond
	release := make(chan struct{})
	lateWrite := make(chan error, 1)
	routes := http.NewServeMux()
	routes.HandleFunc("GET /stuck", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Stuck", "yes")
		select { // ignores its context
		case <-release:
		case <-time.After(10 * deadline):
		}
		_, err := io.WriteString(w, "too late")
		lateWrite <- err
	})
	f := newFixture(t, routes, deadline)
	srv := httptest.NewServer(f.handler)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/stuck", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err != nil {
		close(release)
		t.Fatalf("no response from a handler ignoring its context: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	_ = resp.Body.Close()
	close(release)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || string(body) != timeoutBody {
		t.Fatalf("got %d %q (%v), want 503 %q", resp.StatusCode, body, err, timeoutBody)
	}
	if took > deadline+time.Second {
		t.Fatalf("the 503 came %s after the request, want it at the %s deadline", took, deadline)
	}
	if !resp.Close || resp.Header.Get("X-Stuck") != "" {
		t.Errorf("503 headers: close=%v %v; want Connection: close and none of the handler's", resp.Close, resp.Header)
	}
	if err := <-lateWrite; !errors.Is(err, http.ErrHandlerTimeout) {
		t.Errorf("the handler's write after the 503 = %v, want http.ErrHandlerTimeout", err)
	}
	srv.Close() // waits for the handler to return: its log line, metrics and span are written
	lines := logLines(t, f.logs)
	if len(lines) != 1 || lines[0]["status"] != float64(http.StatusServiceUnavailable) || lines[0]["aborted"] != nil {
		t.Fatalf("access log of the cut request: %v", lines)
	}
	rec := httptest.NewRecorder()
	f.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `http_server_requests_total{code="503",method="GET",route="/stuck"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %q", want)
	}
	if spans := f.spans.Ended(); len(spans) != 1 || spanAttr(spans[0], "error.type") != "503" {
		t.Errorf("span of the cut request: %v", spans)
	}
}

// TestAbortHandlerStopsTheDeadline: a handler that panics with http.ErrAbortHandler (the
// server's own way to drop a response) leaves no deadline timer behind to write to the response
// after the server dropped it.
func TestAbortHandlerStopsTheDeadline(t *testing.T) {
	const deadline = 50 * time.Millisecond
	routes := testRoutes()
	routes.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	f := newFixture(t, routes, deadline)
	srv := httptest.NewServer(f.handler)
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if _, _, err := get(context.Background(), srv.URL+"/abort"); err == nil {
		t.Fatal("the aborted request got a response")
	}
	time.Sleep(4 * deadline) // the deadline of the aborted request passes
	if code, body, err := get(context.Background(), srv.URL+"/items/1"); err != nil || code != http.StatusOK || body != "item 1" {
		t.Fatalf("next request: %d %q %v", code, body, err)
	}
}

// TestTraceIDsOnlyWhenSampled: log lines carry trace_id and span_id exactly when the trace is
// sampled, so every id in the logs can lead to an exported trace.
func TestTraceIDsOnlyWhenSampled(t *testing.T) {
	f := newSampledFixture(t, testRoutes(), time.Second, sdktrace.ParentBased(sdktrace.NeverSample()))
	for _, flags := range []string{"01", "00", ""} {
		req := httptest.NewRequest(http.MethodGet, "/items/1", nil)
		if flags != "" {
			req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"+flags)
		}
		f.handler.ServeHTTP(httptest.NewRecorder(), req)
	}
	lines := logLines(t, f.logs)
	if len(lines) != 3 {
		t.Fatalf("got %d lines", len(lines))
	}
	if lines[0]["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || lines[0]["span_id"] == nil {
		t.Errorf("sampled request lacks its ids: %v", lines[0])
	}
	for _, line := range lines[1:] {
		if _, ok := line["trace_id"]; ok {
			t.Errorf("unsampled request logged a trace_id: %v", line)
		}
		if _, ok := line["span_id"]; ok {
			t.Errorf("unsampled request logged a span_id: %v", line)
		}
	}
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestErrorSpans: 5xx responses and panics set error.type and an error status; a panic also
// records one exception event with the stack (otelhttp records none for a plain 5xx);
// successful requests have none of them.
func TestErrorSpans(t *testing.T) {
	f := newFixture(t, testRoutes(), 50*time.Millisecond)
	for _, p := range []string{"/items/1", "/slow", "/panic"} {
		f.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	spans := f.spans.Ended()
	if len(spans) != 3 {
		t.Fatalf("got %d spans", len(spans))
	}
	ok, slow, panicked := spans[0], spans[1], spans[2]
	if spanAttr(ok, "error.type") != "" || len(ok.Events()) != 0 || ok.Status().Code == codes.Error {
		t.Errorf("successful request marked as an error: %v %v", ok.Attributes(), ok.Events())
	}
	for _, c := range []struct {
		span      sdktrace.ReadOnlySpan
		errorType string
		stack     bool
	}{
		{slow, "503", false},
		{panicked, "500", true},
	} {
		if got := spanAttr(c.span, "error.type"); got != c.errorType || c.span.Status().Code != codes.Error {
			t.Errorf("%s: error.type %q status %v, want %q and Error", c.span.Name(), got, c.span.Status(), c.errorType)
		}
		events := c.span.Events()
		if !c.stack {
			if len(events) != 0 {
				t.Errorf("%s: events %v, want none", c.span.Name(), events)
			}
			continue
		}
		if len(events) != 1 || events[0].Name != "exception" {
			t.Fatalf("%s: events %v, want one exception", c.span.Name(), events)
		}
		attrs := map[string]string{}
		for _, kv := range events[0].Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		if attrs["exception.message"] == "" || attrs["exception.type"] == "" {
			t.Errorf("%s: exception event attributes %v", c.span.Name(), attrs)
		}
		if hasStack := strings.Contains(attrs["exception.stacktrace"], "server_test.go"); hasStack != c.stack {
			t.Errorf("%s: stack trace present %v, want %v", c.span.Name(), hasStack, c.stack)
		}
	}
}
