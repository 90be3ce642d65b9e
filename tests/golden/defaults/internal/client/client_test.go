package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"example.com/golden-svc/internal/client"
	"example.com/golden-svc/internal/logging"
	"example.com/golden-svc/internal/metrics"
	"example.com/golden-svc/internal/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// syncBuffer is a log sink shared by the handlers' goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// service is one instrumented service (server.App, as the binary wires it) on httptest.
type service struct {
	srv     *httptest.Server
	metrics *metrics.Metrics
}

func newService(t *testing.T, tp trace.TracerProvider, log *zap.Logger, timeout time.Duration, routes *http.ServeMux) *service {
	t.Helper()
	m := metrics.New(metrics.BuildInfo{Version: "test"})
	h := server.App(routes, server.AppOptions{Log: log, Metrics: m, TracerProvider: tp, Propagator: prop, HandlerTimeout: timeout})
	s := &service{srv: httptest.NewServer(h), metrics: m}
	t.Cleanup(s.srv.Close)
	return s
}

func newClient(t *testing.T, base string, o client.Options) *client.Client {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	o.BaseURL = u
	if o.Transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		o.Transport = tr
	}
	return client.New(o)
}

// relayRoutes is A: GET /a calls B's /b with the client.
func relayRoutes(c *client.Client) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) {
		resp, err := c.Get(r.Context(), "/b")
		if err != nil {
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	return mux
}

// TestTraceAndBaggageCrossTheCall: A's server span -> A's client span -> B's server span, the
// baggage the caller sent arrives at B, and A's client log line carries the client span's ids.
func TestTraceAndBaggageCrossTheCall(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	logs := &syncBuffer{}
	log := logging.New(logs, zap.NewAtomicLevelAt(zap.InfoLevel), "a", "test", "test")

	gotBaggage := make(chan string, 1)
	bRoutes := http.NewServeMux()
	bRoutes.HandleFunc("GET /b", func(w http.ResponseWriter, r *http.Request) {
		gotBaggage <- baggage.FromContext(r.Context()).Member("tenant").Value()
		_, _ = io.WriteString(w, "ok")
	})
	b := newService(t, tp, nil, time.Second, bRoutes)
	m := metrics.New(metrics.BuildInfo{Version: "test"})
	c := newClient(t, b.srv.URL, client.Options{Name: "b", Timeout: time.Second, Margin: 10 * time.Millisecond,
		Log: log, Metrics: m, TracerProvider: tp, Propagator: prop})
	a := newService(t, tp, nil, time.Second, relayRoutes(c))

	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/a", nil)
	req.Header.Set("baggage", "tenant=acme")
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if got := <-gotBaggage; got != "acme" {
		t.Fatalf("baggage tenant at B = %q, want acme", got)
	}

	byKind := map[trace.SpanKind][]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		byKind[s.SpanKind()] = append(byKind[s.SpanKind()], s)
	}
	if len(byKind[trace.SpanKindServer]) != 2 || len(byKind[trace.SpanKindClient]) != 1 {
		t.Fatalf("spans: %d server, %d client; want 2 and 1", len(byKind[trace.SpanKindServer]), len(byKind[trace.SpanKindClient]))
	}
	cs := byKind[trace.SpanKindClient][0]
	var aSrv, bSrv sdktrace.ReadOnlySpan
	for _, s := range byKind[trace.SpanKindServer] {
		if s.Name() == "GET /a" {
			aSrv = s
		} else {
			bSrv = s
		}
	}
	if aSrv == nil || bSrv == nil {
		t.Fatalf("server spans %q, %q", byKind[trace.SpanKindServer][0].Name(), byKind[trace.SpanKindServer][1].Name())
	}
	if cs.Parent().SpanID() != aSrv.SpanContext().SpanID() {
		t.Errorf("client span's parent = %s, want A's server span %s", cs.Parent().SpanID(), aSrv.SpanContext().SpanID())
	}
	if bSrv.Parent().SpanID() != cs.SpanContext().SpanID() || !bSrv.Parent().IsRemote() {
		t.Errorf("B's server span's parent = %s (remote %v), want A's client span %s", bSrv.Parent().SpanID(), bSrv.Parent().IsRemote(), cs.SpanContext().SpanID())
	}
	if bSrv.SpanContext().TraceID() != aSrv.SpanContext().TraceID() {
		t.Error("A and B are in different traces")
	}

	var line map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "upstream request" {
			line = l
		}
	}
	if line == nil {
		t.Fatalf("no upstream request line in %v", logs.lines(t))
	}
	if line["trace_id"] != cs.SpanContext().TraceID().String() || line["span_id"] != cs.SpanContext().SpanID().String() {
		t.Errorf("log ids %v/%v, want the client span's %s/%s", line["trace_id"], line["span_id"], cs.SpanContext().TraceID(), cs.SpanContext().SpanID())
	}
	if line["upstream"] != "b" || line["status"] != float64(200) || line["method"] != "GET" {
		t.Errorf("log line = %v", line)
	}
	if got := scrape(t, m, `http_client_request_duration_seconds_count{code="200",method="GET",upstream="b"}`); got != 1 {
		t.Errorf("client histogram count = %v, want 1", got)
	}
}

// TestDeadlineCutsTheCall: B is slower than A's budget: the call ends at A's deadline minus the
// margin (not at the longer upstream timeout, nor at A's own deadline), and B's handler context is
// canceled. The margin is half the budget, so a busy machine's late timers cannot blur the two.
func TestDeadlineCutsTheCall(t *testing.T) {
	const budget, margin = 2 * time.Second, time.Second
	bCanceled := make(chan struct{})
	bRoutes := http.NewServeMux()
	bRoutes.HandleFunc("GET /b", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(bCanceled)
		case <-time.After(10 * time.Second):
		}
	})
	b := newService(t, nil, nil, 20*time.Second, bRoutes)
	c := newClient(t, b.srv.URL, client.Options{Timeout: 10 * time.Second, Margin: margin})

	type result struct {
		elapsed, left time.Duration
		err           error
	}
	results := make(chan result, 1)
	aRoutes := http.NewServeMux()
	aRoutes.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) {
		deadline, _ := r.Context().Deadline()
		start := time.Now()
		resp, err := c.Get(r.Context(), "/b")
		if err == nil {
			_ = resp.Body.Close()
		}
		results <- result{time.Since(start), time.Until(deadline), err}
		w.WriteHeader(http.StatusGatewayTimeout)
	})
	a := newService(t, nil, nil, budget, aRoutes)
	resp, err := a.srv.Client().Get(a.srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	r := <-results
	if r.err == nil {
		t.Fatal("the call to the slow upstream succeeded")
	}
	// The call ends when the deadline (A's deadline - margin) fires: never before, and with about
	// the margin left for A to answer.
	if r.left < margin/2 || r.left > margin {
		t.Errorf("A's budget left after the call = %s, want about the margin %s (call took %s)", r.left, margin, r.elapsed)
	}
	select {
	case <-bCanceled:
	case <-time.After(5 * time.Second):
		t.Fatal("B's handler context was not canceled when the call was cut")
	}
	t.Logf("call cut after %s with %s of A's %s budget left", r.elapsed, r.left, budget)
}

// TestDeadlineIsTheSoonerOfBudgetAndTimeout checks Deadline's formula directly.
func TestDeadlineIsTheSoonerOfBudgetAndTimeout(t *testing.T) {
	now := time.Now()
	c := newClient(t, "http://127.0.0.1:1", client.Options{Timeout: time.Second, Margin: 100 * time.Millisecond})
	tests := []struct {
		name   string
		caller time.Duration // 0 = no caller deadline
		want   time.Duration
	}{
		{"no caller deadline: the timeout", 0, time.Second},
		{"caller has longer: the timeout", 5 * time.Second, time.Second},
		{"caller has less: its budget minus the margin", 500 * time.Millisecond, 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.caller > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tt.caller))
				defer cancel()
			}
			if got := c.Deadline(ctx, now).Sub(now); got != tt.want {
				t.Fatalf("deadline in %s, want %s", got, tt.want)
			}
		})
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(50*time.Millisecond))
	defer cancel()
	resp, err := c.Get(ctx, "/")
	if err == nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, client.ErrNoBudget) {
		t.Fatalf("call with less budget than the margin: err = %v, want ErrNoBudget", err)
	}
}

// flaky is B answering half of its requests 503, at random (a fixed seed: the calls are
// sequential, so every run sees the same answers).
type flaky struct {
	n   atomic.Int64
	mu  sync.Mutex
	rnd *rand.Rand
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.n.Add(1)
	f.mu.Lock()
	fail := f.rnd.IntN(2) == 0
	f.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// TestRetriesRaiseSuccessWithinTheBudget: B fails half of its requests; retries raise the
// success rate, and the extra load on B stays within the retry budget (10% + the bucket).
func TestRetriesRaiseSuccessWithinTheBudget(t *testing.T) {
	const calls = 400
	run := func(attempts int) (ok int, sent int64) {
		b := &flaky{rnd: rand.New(rand.NewPCG(1, 2))}
		srv := httptest.NewServer(b)
		defer srv.Close()
		m := metrics.New(metrics.BuildInfo{})
		c := newClient(t, srv.URL, client.Options{Timeout: 5 * time.Second, MaxAttempts: attempts,
			BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond, Metrics: m})
		for range calls {
			resp, err := c.Get(context.Background(), "/")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok++
			}
		}
		return ok, b.n.Load()
	}
	baseOK, baseSent := run(1)
	ok, sent := run(3)
	extra := sent - calls
	maxExtra := int64(calls*client.DefaultRetryRatio) + 10 // the ratio plus the bucket's initial tokens
	t.Logf("without retries %d/%d ok (%d sent); with retries %d/%d ok (%d sent, %d extra, budget %d)", baseOK, calls, baseSent, ok, calls, sent, extra, maxExtra)
	if baseSent != calls {
		t.Fatalf("without retries B got %d requests, want %d", baseSent, calls)
	}
	if extra <= 0 || extra > maxExtra {
		t.Fatalf("retries added %d requests, want 1..%d (10%% of %d calls + 10)", extra, maxExtra, calls)
	}
	if ok < baseOK+int(extra)/4 { // each retry succeeds with probability 1/2
		t.Fatalf("retries raised successes only from %d to %d with %d retries", baseOK, ok, extra)
	}
}

// TestOnlyIdempotentRequestsAreRetried: a POST is retried only with an Idempotency-Key.
func TestOnlyIdempotentRequestsAreRetried(t *testing.T) {
	tests := []struct {
		name   string
		method string
		key    string
		want   int64
	}{
		{"POST without Idempotency-Key: once", http.MethodPost, "", 1},
		{"POST with Idempotency-Key: retried", http.MethodPost, "k-1", 3},
		{"PUT: retried", http.MethodPut, "", 3},
		{"PATCH without key: once", http.MethodPatch, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			var bodies sync.Map
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				bodies.Store(n.Add(1), string(body))
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, client.Options{Timeout: 5 * time.Second, BackoffBase: time.Millisecond})
			req, _ := http.NewRequest(tt.method, srv.URL+"/orders", strings.NewReader(`{"id":1}`))
			if tt.key != "" {
				req.Header.Set("Idempotency-Key", tt.key)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if got := n.Load(); got != tt.want {
				t.Fatalf("B got %d requests, want %d", got, tt.want)
			}
			bodies.Range(func(k, v any) bool {
				if v != `{"id":1}` {
					t.Errorf("attempt %v sent body %q", k, v)
				}
				return true
			})
		})
	}
}

// TestRetryAfterIsHonouredButNeverPastTheDeadline: Retry-After sets the wait; a wait that would
// end after the call's deadline is not taken.
func TestRetryAfterIsHonouredButNeverPastTheDeadline(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	m := metrics.New(metrics.BuildInfo{})
	c := newClient(t, srv.URL, client.Options{Timeout: 5 * time.Second, BackoffBase: time.Millisecond, Metrics: m, Name: "b"})

	start := time.Now()
	resp, err := c.Get(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if elapsed := time.Since(start); resp.StatusCode != http.StatusOK || elapsed < time.Second {
		t.Fatalf("status %d after %s, want 200 after the 1s Retry-After", resp.StatusCode, elapsed)
	}

	n.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start = time.Now()
	resp, err = c.Get(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || n.Load() != 1 || elapsed > 400*time.Millisecond {
		t.Fatalf("with 500ms left: status %d, %d requests, %s; want the 503 at once, 1 request", resp.StatusCode, n.Load(), elapsed)
	}
	if got := scrape(t, m, `http_client_retries_total{outcome="deadline",upstream="b"}`); got != 1 {
		t.Fatalf("retries skipped for the deadline = %v, want 1", got)
	}
}

func TestPoolSize(t *testing.T) {
	tests := []struct{ procs, inFlight, want int }{
		{1, 0, 2},
		{2, 150, 150},
		{8, 4, 16},
		{4, 100000, 1024},
	}
	for _, tt := range tests {
		if got := client.PoolSize(tt.procs, tt.inFlight); got != tt.want {
			t.Errorf("PoolSize(%d, %d) = %d, want %d", tt.procs, tt.inFlight, got, tt.want)
		}
	}
}

// scrape returns the value of one series from the metrics handler (-1 when absent).
func scrape(t *testing.T, m *metrics.Metrics, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return -1
}
