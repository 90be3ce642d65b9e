// Package client calls other services over HTTP with the same observability as the server:
// every attempt gets an OpenTelemetry client span (W3C trace context and baggage injected into
// the request), a Prometheus histogram observation (http_client_request_duration_seconds) and a
// log line with trace_id and span_id. Each call has a deadline: the caller's remaining budget
// minus a margin, or the configured upstream timeout when that is sooner. Failed idempotent
// calls are retried with jittered backoff, within a retry budget and never past the deadline.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/acme/widget-op/internal/logging"
)

// Defaults of the retry policy.
const (
	DefaultMaxAttempts = 3
	DefaultRetryRatio  = 0.1 // at most ~10% extra load on the upstream
	DefaultBackoffBase = 25 * time.Millisecond
	DefaultBackoffMax  = time.Second
	// budgetCap bounds the retry tokens saved while the upstream is healthy, so that a burst of
	// failures after a quiet hour retries at most this many calls beyond the ratio.
	budgetCap = 10
)

// ErrNoBudget is returned, without calling, when the caller's deadline minus the margin has
// already passed.
var ErrNoBudget = errors.New("no time left for the upstream call")

// Recorder records the client metrics; *metrics.Metrics implements it.
type Recorder interface {
	ObserveClient(method, upstream string, code int, d time.Duration)
	ClientRetry(upstream, outcome string)
}

// Options configure a Client. Zero values take the defaults above; a nil Log, Metrics or
// TracerProvider leaves that part out.
type Options struct {
	// BaseURL is the upstream, e.g. http://orders.shop.svc:8080; Get resolves paths against it.
	BaseURL *url.URL
	// Name labels the upstream in metrics and logs; empty = the host of BaseURL.
	Name string
	// Timeout bounds each call (all attempts) even when the caller has more time.
	Timeout time.Duration
	// Margin is kept from the caller's remaining budget, to answer the caller after a cut call.
	Margin time.Duration
	// MaxAttempts bounds the attempts per call, the first included (1 = no retries).
	MaxAttempts int
	// RetryRatio is the share of calls that may be retried over time (the token bucket's rate).
	RetryRatio float64
	// BackoffBase and BackoffMax shape the jittered exponential backoff between attempts.
	BackoffBase, BackoffMax time.Duration
	// MaxIdleConnsPerHost sizes the connection pool (see PoolSize).
	MaxIdleConnsPerHost int
	// Transport is the transport under the instrumentation; nil = a pooled http.Transport.
	Transport      http.RoundTripper
	Log            *zap.Logger
	Metrics        Recorder
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Client calls one upstream. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	name    string
	timeout time.Duration
	margin  time.Duration
	o       Options
	http    *http.Client
	budget  *budget
}

// PoolSize returns the idle connections kept per upstream host: one per request that may be in
// flight (each makes at most one call at a time), at least 2 per GOMAXPROCS, at most 1024.
// Fewer would close and re-dial connections under steady load; the pool never limits how many
// connections are open (the in-flight limit of the server does).
func PoolSize(gomaxprocs, inFlight int) int {
	return min(max(inFlight, 2*gomaxprocs, 2), 1024)
}

// New returns a client of o.BaseURL.
func New(o Options) *Client {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.RetryRatio <= 0 {
		o.RetryRatio = DefaultRetryRatio
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = PoolSize(1, 0)
	}
	name := o.Name
	if name == "" && o.BaseURL != nil {
		name = o.BaseURL.Host
	}
	c := &Client{base: o.BaseURL, name: name, timeout: o.Timeout, margin: o.Margin, o: o,
		budget: &budget{tokens: budgetCap, ratio: o.RetryRatio}}
	rt := o.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = o.MaxIdleConnsPerHost
		t.MaxIdleConnsPerHost = o.MaxIdleConnsPerHost
		rt = t
	}
	rt = &observed{next: rt, c: c}
	if o.TracerProvider != nil {
		prop := o.Propagator
		if prop == nil {
			prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
		rt = otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(o.TracerProvider),
			otelhttp.WithPropagators(prop),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // the Prometheus histogram is ours
		)
	}
	c.http = &http.Client{Transport: rt}
	return c
}

// Name returns the upstream's label.
func (c *Client) Name() string { return c.name }

// Get calls GET path on the upstream with ctx's deadline and trace.
func (c *Client) Get(ctx context.Context, path string) (*http.Response, error) {
	u, err := c.base.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("upstream path %q: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("upstream request: %w", err)
	}
	return c.Do(req)
}

// Deadline returns the deadline of a call made at now under ctx: the caller's deadline minus
// the margin, or now + the upstream timeout when that is sooner.
func (c *Client) Deadline(ctx context.Context, now time.Time) time.Time {
	d := now.Add(c.timeout)
	if c.timeout <= 0 {
		d = time.Time{}
	}
	if caller, ok := ctx.Deadline(); ok {
		if cut := caller.Add(-c.margin); d.IsZero() || cut.Before(d) {
			d = cut
		}
	}
	return d
}

// Do sends req, retrying it when that is safe (see Retryable), and returns the last response.
// The call's deadline (see Deadline) holds until the response body is closed.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	deadline := c.Deadline(req.Context(), time.Now())
	ctx, cancel := req.Context(), context.CancelFunc(func() {})
	if !deadline.IsZero() {
		if time.Until(deadline) <= 0 {
			return nil, fmt.Errorf("call %s: %w", c.name, ErrNoBudget)
		}
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	retryable := Retryable(req)
	c.budget.deposit()
	for attempt := 1; ; attempt++ {
		r := req.Clone(ctx)
		if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				cancel()
				return nil, fmt.Errorf("call %s: replay body: %w", c.name, err)
			}
			r.Body = body
		}
		resp, err := c.http.Do(r)
		if !retryable || attempt >= c.o.MaxAttempts || !transient(ctx, resp, err) {
			return done(resp, err, cancel, c.name)
		}
		wait := c.backoff(attempt)
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = ra
			}
		}
		if !deadline.IsZero() && time.Now().Add(wait).After(deadline) {
			c.record("deadline")
			return done(resp, err, cancel, c.name)
		}
		if !c.budget.withdraw() {
			c.record("budget")
			return done(resp, err, cancel, c.name)
		}
		c.record("sent")
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
			_ = resp.Body.Close()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			cancel()
			return nil, fmt.Errorf("call %s: %w", c.name, ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Client) record(outcome string) {
	if c.o.Metrics != nil {
		c.o.Metrics.ClientRetry(c.name, outcome)
	}
}

// done returns the final result of a call; the deadline is released when the body is closed.
func done(resp *http.Response, err error, cancel context.CancelFunc, name string) (*http.Response, error) {
	if err != nil {
		cancel()
		return nil, fmt.Errorf("call %s: %w", name, err)
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases the call's deadline when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// backoff returns the wait before attempt+1: full jitter over base x 2^(attempt-1), at most max.
func (c *Client) backoff(attempt int) time.Duration {
	ceil := min(c.o.BackoffBase<<(attempt-1), c.o.BackoffMax)
	// Jitter needs no cryptographic randomness; +1 keeps the wait above zero.
	return rand.N(ceil) + 1 //nolint:gosec // G404: spreading retries out is not a security decision
}

// Retryable reports whether req may be sent twice: an idempotent method (RFC 9110 9.2.2) or an
// Idempotency-Key header, and a body that can be replayed.
func Retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	default:
		if req.Header.Get("Idempotency-Key") == "" {
			return false
		}
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// transient reports whether an attempt failed in a way another attempt may not: a connection
// error (not the call's own deadline), 429, 502, 503 or 504.
func transient(ctx context.Context, resp *http.Response, err error) bool {
	if err != nil {
		return ctx.Err() == nil
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date (RFC 9110 10.2.3).
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// budget is a token bucket of retries: each call adds ratio tokens (up to budgetCap), each
// retry takes one, so retries add at most ratio x calls (+ budgetCap) to the upstream's load.
type budget struct {
	mu     sync.Mutex
	tokens float64
	ratio  float64
}

func (b *budget) deposit() {
	b.mu.Lock()
	b.tokens = min(b.tokens+b.ratio, budgetCap)
	b.mu.Unlock()
}

func (b *budget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// observed records each attempt: the histogram and one log line with the client span's ids.
type observed struct {
	next http.RoundTripper
	c    *Client
}

func (o *observed) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := o.next.RoundTrip(req)
	elapsed := time.Since(start)
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	if o.c.o.Metrics != nil {
		o.c.o.Metrics.ObserveClient(req.Method, o.c.name, code, elapsed)
	}
	if o.c.o.Log != nil {
		fields := []zap.Field{
			zap.String("upstream", o.c.name),
			zap.String("method", req.Method),
			zap.String("path", req.URL.Path),
			zap.Int("status", code),
			zap.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		}
		if dl, ok := req.Context().Deadline(); ok {
			fields = append(fields, zap.Float64("budget_ms", float64(dl.Sub(start).Microseconds())/1000))
		}
		if err != nil {
			fields = append(fields, zap.String("error", errText(err)))
		}
		o.c.o.Log.Info("upstream request", logging.AppendTraceFields(req.Context(), fields)...)
	}
	return resp, err
}

// errText names timeouts plainly; other errors keep their text.
func errText(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "deadline exceeded"
	}
	return err.Error()
}
