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
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"gosmith.invalid/module/internal/logging"
	"gosmith.invalid/module/internal/metrics"
)

// The differential conformance suite: every case serves one handler twice, through the
// service's stack (A: NewHTTPServer(App(...))) and through plain net/http with the standard
// handler deadline and otelhttp (B, the reference), and compares what the client sees byte for
// byte: status line, headers (the Date value normalised, the lines sorted), body, how the
// stream ended and whether the connection is reused. It then checks A's own records: the access line, the RED counter and
// the span (against otelhttp's). Where the stack deliberately differs from net/http the case
// says so in its compare or equiv function, and asserts the difference:
//   - handler deadline before the response started: 503 "handler timeout\n" at the deadline,
//     Connection: close, none of the handler's headers; the handler's writes then fail with
//     http.ErrHandlerTimeout (net/http answers whatever the handler does when it returns);
//   - panic before the response started: the 500 a handler would have written (net/http
//     closes the connection without a response);
//   - while draining: Connection: close on every response.
//
// Cases that fail name the contract they check: plain, head, content-length, 1xx, hijack,
// panic, abort, proxy, deadline, body, controller, writer, isolation, drain, h2, trace,
// sampler, client gone, shutdown.

const (
	// confHost is the Host of every raw request: the span's server.address is then the same
	// for both servers, and there is no server.port.
	confHost = "conformance.test"
	// confDeadline is the handler deadline of the cases that do not test it.
	confDeadline = 5 * time.Second
	// shortDeadline is the handler deadline of the deadline cases; slowReturn is how long
	// their handlers keep working, well past it.
	shortDeadline = 200 * time.Millisecond
	slowReturn    = 3 * shortDeadline
	// confWait bounds every wait of the suite: a response, a record, a handler's goroutine.
	confWait = 5 * time.Second
)

// confLimits are the http.Server limits of both servers.
var confLimits = Limits{ReadHeaderTimeout: confWait, IdleTimeout: confWait, MaxHeaderBytes: 1 << 20}

// conformanceCase is one handler behaviour.
type conformanceCase struct {
	name string
	// pattern is the route of handler ("/c" when empty); extra registers more routes.
	pattern string
	handler func(t *testing.T, p *probe) http.HandlerFunc
	extra   func(p *probe, mux *http.ServeMux)
	// deadline is the handler deadline (confDeadline when zero).
	deadline time.Duration
	// reqs are the raw requests, sent in order, each once the previous response was read
	// (one GET of the pattern's path when empty). exchange replaces the raw client.
	reqs     []confReq
	exchange func(t *testing.T, s *confServer) clientView
	// h2 serves over TLS with HTTP/2 and uses an http.Client.
	h2       bool
	draining bool
	sampler  sdktrace.Sampler
	// equiv, when set, is what net/http must be given to answer as A does (a deliberate
	// difference): A's exchange and span are compared with those of a third server, the
	// reference running equiv instead of handler; checkB asserts what net/http does with
	// handler itself.
	equiv  func(t *testing.T, p *probe) http.HandlerFunc
	checkB func(t *testing.T, b clientView)
	// compare replaces the byte comparison of A and B (deliberate differences).
	compare func(t *testing.T, a, b clientView, pa, pb *probe)
	// check runs after the comparison: what the handlers noted.
	check func(t *testing.T, a, b clientView, pa, pb *probe)
	// rec is A's access line for the first request; span what A's span has unlike B's.
	rec  record
	span spanWant
}

// confReq is one raw request; newConn sends it on a new connection.
type confReq struct {
	raw     string
	newConn bool
	// body is written by its own goroutine after raw (large bodies), delay after it.
	body  []byte
	delay time.Duration
}

// record is the access line expected for the first request (and the RED counter's code).
type record struct {
	status   int // anyStatus: not checked
	aborted  string
	hijacked bool
	bytes    int64 // anyBytes: not checked
	route    string
	unsample bool // the span is not sampled: no trace_id
}

const (
	anyStatus = -1
	anyBytes  = -1
)

// spanWant is how A's span differs from B's: attrs overrides (value "" means absent, "*" not
// checked), status when not B's, and whether A records an exception event.
type spanWant struct {
	attrs        map[string]string
	status       codes.Code
	setStatus    bool
	exception    bool
	anyException bool
}

// probe is shared by the handlers of one server and the case: notes, and the goroutines the
// handlers start (waited for before the case ends).
type probe struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	notes map[string]string
	// second signals that the second request's handler runs; stale that the first request's
	// goroutine is done with what it kept (isolation cases, one signal per round).
	second, stale chan struct{}
	started       chan struct{}
}

func newProbe() *probe {
	return &probe{notes: map[string]string{}, second: make(chan struct{}, 1), stale: make(chan struct{}, 1), started: make(chan struct{})}
}

func (p *probe) note(k, v string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notes[k] = v
}

// add appends v to the note k.
func (p *probe) add(k, v string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notes[k] += v
}

func (p *probe) get(k string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notes[k]
}

// goStale runs f in a goroutine owned by the probe once the second request's handler runs,
// then lets that handler go on. A panic in f (a stale pooled object) is noted, not fatal.
func (p *probe) goStale(f func() string) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-p.second:
		case <-time.After(confWait):
			p.add("stale", "|second request never came")
			return
		}
		defer func() {
			if v := recover(); v != nil {
				p.add("stale", fmt.Sprint("|panic: ", v))
			}
			select {
			case p.stale <- struct{}{}:
			default:
			}
		}()
		p.add("stale", "|saw: "+f())
	}()
}

// confServer is one of the two servers of a case.
type confServer struct {
	ts      *httptest.Server
	probe   *probe
	logs    *confBuffer
	spans   *tracetest.SpanRecorder
	metrics http.Handler // nil for B
	drain   *Drain       // nil for B
}

func (s *confServer) addr() string { return s.ts.Listener.Addr().String() }

// newConfServer starts one server: the stack (A) when stack is true, else the reference (B).
func newConfServer(t *testing.T, c conformanceCase, handler func(*testing.T, *probe) http.HandlerFunc, stack bool) *confServer {
	t.Helper()
	s := &confServer{probe: newProbe(), logs: &confBuffer{}, spans: tracetest.NewSpanRecorder()}
	mux := http.NewServeMux()
	pattern := c.pattern
	if pattern == "" {
		pattern = "/c"
	}
	mux.HandleFunc(pattern, handler(t, s.probe))
	mux.HandleFunc("GET /next", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "next") })
	if c.extra != nil {
		c.extra(s.probe, mux)
	}
	sampler := c.sampler
	if sampler == nil {
		sampler = sdktrace.AlwaysSample()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	deadline := c.deadline
	if deadline == 0 {
		deadline = confDeadline
	}
	log := logging.New(s.logs, zap.NewAtomicLevelAt(zap.InfoLevel), "svc", "v", "test").Named("http")
	var h http.Handler
	if stack {
		m := metrics.New(metrics.BuildInfo{Version: "v", Commit: "c", GoVersion: "g"})
		s.metrics = m.Handler()
		s.drain = &Drain{}
		s.drain.draining.Store(c.draining)
		h = App(mux, AppOptions{Log: log, Metrics: m, TracerProvider: tp, Propagator: prop, HandlerTimeout: deadline, Drain: s.drain})
	} else {
		h = reference(mux, deadline, tp, prop)
	}
	s.ts = httptest.NewUnstartedServer(h)
	s.ts.Config = NewHTTPServer(h, confLimits, zap.NewNop()) // the stdlib logs panics; not checked
	if c.h2 {
		s.ts.EnableHTTP2 = true
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	t.Cleanup(s.ts.Close)
	t.Cleanup(s.probe.wg.Wait) // runs before Close
	return s
}

// reference is B: mux under the standard handler deadline and otelhttp. The route is looked up
// before the span starts (as a router that sets r.Pattern does), so that otelhttp names the
// span and sets http.route at its start, as the stack does.
func reference(mux *http.ServeMux, d time.Duration, tp trace.TracerProvider, prop propagation.TextMapPropagator) http.Handler {
	traced := otelhttp.NewHandler(mux, "", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		r = r.WithContext(ctx)
		_, r.Pattern = mux.Handler(r)
		traced.ServeHTTP(w, r)
	})
}

// clientView is what a client saw: the responses of its requests and whether the connection
// served one more request afterwards.
type clientView struct {
	resps  []rawResp
	reused bool
}

// rawResp is one response as read from the wire.
type rawResp struct {
	raw    string // every byte read for it, 1xx responses included, Date normalised
	status int    // of the final response; 0 when none arrived
	header http.Header
	body   string
	end    string    // complete, unexpected EOF, reset, timeout, no response
	at     time.Time // when the final response's header arrived
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)

// headerBlock is a status line and its header lines.
var headerBlock = regexp.MustCompile(`HTTP/1\.1 \d{3}[^\r]*\r\n((?:[!-9;-~]+: [^\r]*\r\n)*)\r\n`)

// normalise replaces the Date header's value and sorts the header lines of every header block:
// their order carries no meaning (net/http sorts the handler's headers and appends its own).
func normalise(raw string) string {
	raw = dateLine.ReplaceAllString(raw, "Date: <date>\r")
	return headerBlock.ReplaceAllStringFunc(raw, func(block string) string {
		m := headerBlock.FindStringSubmatch(block)
		lines := strings.SplitAfter(m[1], "\r\n")
		slices.Sort(lines)
		return strings.TrimSuffix(block, m[1]+"\r\n") + strings.Join(lines, "") + "\r\n"
	})
}

// teeConn records what is read from a connection.
type teeConn struct {
	net.Conn
	buf bytes.Buffer
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.buf.Write(p[:n])
	return n, err
}

// rawExchange sends c's requests over raw HTTP/1.1 connections to s.
func rawExchange(t *testing.T, c conformanceCase, s *confServer) clientView {
	t.Helper()
	reqs := c.reqs
	if len(reqs) == 0 {
		reqs = one(rawGet(strings.TrimPrefix(c.pattern, "GET ")))
	}
	var ex clientView
	var conn *teeConn
	var br *bufio.Reader
	var writers sync.WaitGroup
	defer writers.Wait()
	for i, rq := range reqs {
		if conn == nil || rq.newConn {
			nc, err := net.Dial("tcp", s.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			conn = &teeConn{Conn: nc}
			br = bufio.NewReader(conn)
		}
		_ = conn.SetDeadline(time.Now().Add(confWait))
		if _, err := io.WriteString(conn, rq.raw); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if rq.body != nil {
			writers.Add(1)
			go func(w io.Writer, body []byte, delay time.Duration) {
				defer writers.Done()
				time.Sleep(delay)
				_, _ = w.Write(body) // the server may close without reading it all
			}(conn.Conn, rq.body, rq.delay)
		}
		ex.resps = append(ex.resps, readRaw(t, conn, br, rq.raw))
	}
	last := ex.resps[len(ex.resps)-1]
	if last.end == "complete" {
		_ = conn.SetDeadline(time.Now().Add(confWait))
		if _, err := io.WriteString(conn, rawGet("/next")); err == nil {
			next := readRaw(t, conn, br, rawGet("/next"))
			ex.reused = next.status == http.StatusOK && next.body == "next"
		}
	}
	return ex
}

// get is a raw GET request of path.
func rawGet(path string) string {
	if path == "" || path == "/" {
		path = "/c"
	}
	return "GET " + path + " HTTP/1.1\r\nHost: " + confHost + "\r\nUser-Agent: conformance\r\n\r\n"
}

// post is a raw request with a Content-Length body.
func post(path, body string, header ...string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: " + confHost + "\r\nUser-Agent: conformance\r\n" + strings.Join(header, "") +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// readRaw reads one response (after any 1xx) of the request raw and classifies its end.
func readRaw(t *testing.T, conn *teeConn, br *bufio.Reader, raw string) (r rawResp) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("bad raw request %q: %v", raw, err)
	}
	conn.buf.Reset()
	defer func() { r.raw = normalise(conn.buf.String()) }()
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			r.end = endOf(err)
			if r.end == "complete" || (r.end == "unexpected EOF" && conn.buf.Len() == 0) {
				r.end = "no response"
			}
			return r
		}
		if resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			_ = resp.Body.Close() // a 1xx has none
			continue
		}
		r.at, r.status, r.header = time.Now(), resp.StatusCode, resp.Header
		var body []byte
		if resp.StatusCode == http.StatusSwitchingProtocols {
			body, err = io.ReadAll(br) // the upgraded stream, until the handler closes it
		} else {
			body, err = io.ReadAll(resp.Body)
		}
		_ = resp.Body.Close()
		r.body, r.end = string(body), endOf(err)
		return r
	}
}

// endOf names how a stream ended.
func endOf(err error) string {
	var ne net.Error
	switch {
	case err == nil || errors.Is(err, io.EOF):
		return "complete"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return err.Error()
}

// h2Exchange sends GETs of path over HTTP/2 with TLS, then one more to see the connection
// reused. The "raw" response is the protocol, status, sorted headers and body.
func h2Exchange(t *testing.T, path string, s *confServer) clientView {
	t.Helper()
	client := s.ts.Client()
	defer client.CloseIdleConnections()
	var ex clientView
	resp, err := client.Get(s.ts.URL + path)
	var r rawResp
	if err != nil {
		r.end = "error"
		ex.resps = append(ex.resps, r)
		return ex
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	r.status, r.header, r.body, r.end = resp.StatusCode, resp.Header, string(body), "complete"
	if err != nil {
		r.end = "stream error"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d\n", resp.Proto, resp.StatusCode)
	for _, h := range []http.Header{resp.Header, resp.Trailer} {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range h {
				if k != "Date" && !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(h[k], ", "))
		}
		b.WriteString("\n")
	}
	b.WriteString(r.body)
	r.raw = b.String()
	ex.resps = append(ex.resps, r)
	reused := false
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.ts.URL+"/next", nil)
	if resp, err := client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		ex.reused = reused && resp.StatusCode == http.StatusOK
	}
	return ex
}

// TestConformance runs every case of conformanceCases against the stack and net/http.
func TestConformance(t *testing.T) {
	if len(conformanceCases) < 40 {
		t.Fatalf("only %d cases", len(conformanceCases))
	}
	for _, c := range conformanceCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runConformance(t, c)
		})
	}
}

// runConformance serves c on the stack and on the reference (and on a reference running
// c.equiv), compares what the clients saw, then checks the stack's records.
func runConformance(t *testing.T, c conformanceCase) {
	a := newConfServer(t, c, c.handler, true)
	b := newConfServer(t, c, c.handler, false)
	ref := b
	if c.equiv != nil {
		ref = newConfServer(t, c, c.equiv, false)
	}
	run := func(s *confServer) clientView {
		switch {
		case c.exchange != nil:
			return c.exchange(t, s)
		case c.h2:
			return h2Exchange(t, "/c", s)
		}
		return rawExchange(t, c, s)
	}
	ea, eb := run(a), run(b)
	eref := eb
	if c.equiv != nil {
		eref = run(ref)
		if c.checkB != nil {
			c.checkB(t, eb)
		}
	}
	if c.compare != nil {
		c.compare(t, ea, eb, a.probe, b.probe)
	} else {
		sameExchange(t, ea, eref)
	}
	if c.check != nil {
		c.check(t, ea, eb, a.probe, b.probe)
	}
	checkRecords(t, c, a, ref)
}

// sameExchange fails unless the stack's client saw exactly what net/http's did.
func sameExchange(t *testing.T, a, b clientView) {
	t.Helper()
	if len(a.resps) != len(b.resps) {
		t.Fatalf("stack: %d responses, net/http: %d", len(a.resps), len(b.resps))
	}
	for i := range a.resps {
		ra, rb := a.resps[i], b.resps[i]
		if ra.raw != rb.raw {
			t.Errorf("response %d differs:\nstack:    %q\nnet/http: %q", i, ra.raw, rb.raw)
		}
		if ra.end != rb.end {
			t.Errorf("response %d: stack's stream ended %s, net/http's %s", i, ra.end, rb.end)
		}
	}
	if a.reused != b.reused {
		t.Errorf("connection reused: stack %v, net/http %v", a.reused, b.reused)
	}
}

// checkRecords checks A's access line, RED counter and span for the case's first request.
func checkRecords(t *testing.T, c conformanceCase, a, ref *confServer) {
	t.Helper()
	method, path := "GET", "/c"
	if len(c.reqs) > 0 {
		f := strings.Fields(c.reqs[0].raw)
		method, path = f[0], f[1]
	}
	sent := 1 // requests of method and path: one access line and one count each
	if len(c.reqs) > 0 {
		sent = 0
		for _, rq := range c.reqs {
			sent += strings.Count(strings.SplitN(rq.raw, "\r\n", 2)[0], method+" "+path+" ")
		}
	}
	var line map[string]any
	eventually(t, fmt.Sprintf("%d access line(s) for %s", sent, path), func() bool {
		var n int
		for _, l := range confLines(t, a.logs) {
			if l["msg"] == "request" && l["path"] == path {
				line = l
				n++
			}
		}
		return n == sent
	})
	rt := c.rec.route
	if rt == "" {
		rt = route(c.pattern)
		if rt == "" {
			rt = "/c"
		}
	}
	want := map[string]any{"logger": "http", "method": method, "route": rt}
	if c.rec.status != anyStatus {
		want["status"] = float64(c.rec.status)
	}
	if c.rec.bytes != anyBytes {
		want["bytes"] = float64(c.rec.bytes)
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access line %s = %v, want %v (%v)", k, line[k], v, line)
		}
	}
	if got, _ := line["aborted"].(string); got != c.rec.aborted {
		t.Errorf("access line aborted = %q, want %q (%v)", got, c.rec.aborted, line)
	}
	if got, _ := line["hijacked"].(bool); got != c.rec.hijacked {
		t.Errorf("access line hijacked = %v, want %v", got, c.rec.hijacked)
	}
	for _, k := range []string{"duration_ms", "remote_addr", "user_agent"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access line lacks %s: %v", k, line)
		}
	}
	for _, k := range []string{"trace_id", "span_id"} {
		if _, ok := line[k]; ok == c.rec.unsample {
			t.Errorf("access line %s present = %v, want %v", k, ok, !c.rec.unsample)
		}
	}
	if c.rec.status != anyStatus {
		counts := redCounts(t, a.metrics, method, rt)
		if counts[c.rec.status] != sent || len(counts) != 1 {
			t.Errorf("RED counter of %s %s by code = %v, want %d with code %d", method, rt, counts, sent, c.rec.status)
		}
	}
	checkSpan(t, c, path, a, ref)
}

// eventually polls cond until it holds or confWait passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(confWait); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

var redLine = regexp.MustCompile(`^http_server_requests_total\{(.*)\} (\S+)$`)

// redCounts scrapes the RED request counter of method and route, by code.
func redCounts(t *testing.T, h http.Handler, method, rt string) map[int]int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	counts := map[int]int{}
	for l := range strings.Lines(rec.Body.String()) {
		m := redLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil || !strings.Contains(m[1], `method="`+method+`"`) || !strings.Contains(m[1], `route="`+rt+`"`) {
			continue
		}
		code := regexp.MustCompile(`code="(\d+)"`).FindStringSubmatch(m[1])
		n, _ := strconv.ParseFloat(m[2], 64)
		if code != nil && n > 0 {
			c, _ := strconv.Atoi(code[1])
			counts[c] = int(n)
		}
	}
	return counts
}

// spanOf waits for the ended span of path (nil when sampledWant is false: none may appear).
func spanOf(t *testing.T, s *confServer, path string, sampled bool) sdktrace.ReadOnlySpan {
	t.Helper()
	find := func() sdktrace.ReadOnlySpan {
		for _, sp := range s.spans.Ended() {
			if confAttr(sp, "url.path") == path {
				return sp
			}
		}
		return nil
	}
	if !sampled {
		if sp := find(); sp != nil {
			t.Errorf("span %q was sampled", sp.Name())
		}
		return nil
	}
	var sp sdktrace.ReadOnlySpan
	eventually(t, "the span of "+path, func() bool { sp = find(); return sp != nil })
	return sp
}

// checkSpan compares A's span with the reference's, apart from c.span's differences.
func checkSpan(t *testing.T, c conformanceCase, path string, a, ref *confServer) {
	t.Helper()
	bs := spanOf(t, ref, path, !c.rec.unsample)
	as := spanOf(t, a, path, !c.rec.unsample)
	if as == nil || bs == nil {
		return
	}
	if bs.Name() != as.Name() {
		t.Errorf("span name: stack %q, otelhttp %q", as.Name(), bs.Name())
	}
	if as.SpanKind() != bs.SpanKind() {
		t.Errorf("span kind: stack %v, otelhttp %v", as.SpanKind(), bs.SpanKind())
	}
	if as.Parent().TraceID() != bs.Parent().TraceID() || as.Parent().SpanID() != bs.Parent().SpanID() {
		t.Errorf("span parent: stack %v, otelhttp %v", as.Parent(), bs.Parent())
	}
	want, got := spanAttrs(bs), spanAttrs(as)
	// Deliberate: the stack adds error.type (the status code) to the span of a 5xx response, as
	// the HTTP semantic conventions ask of server spans; otelhttp v0.72 sets only the status.
	if code, _ := strconv.Atoi(want["http.response.status_code"]); code >= http.StatusInternalServerError && want["error.type"] == "" {
		want["error.type"] = strconv.Itoa(code)
	}
	for k, v := range c.span.attrs {
		switch v {
		case "":
			delete(want, k)
		case "*":
			want[k] = got[k]
		default:
			want[k] = v
		}
	}
	for k := range mergeKeys(want, got) {
		if want[k] != got[k] {
			t.Errorf("span attribute %s: stack %q, want %q", k, got[k], want[k])
		}
	}
	wantStatus := bs.Status()
	if c.span.setStatus {
		wantStatus.Code = c.span.status
	}
	if as.Status().Code != wantStatus.Code {
		t.Errorf("span status: stack %v, want %v", as.Status(), wantStatus)
	}
	hasException := slices.ContainsFunc(as.Events(), func(e sdktrace.Event) bool { return e.Name == "exception" })
	if hasException != c.span.exception && !c.span.anyException {
		t.Errorf("span exception event: %v, want %v", hasException, c.span.exception)
	}
}

// spanAttrs are a span's attributes as strings; the peer's and the server's ports differ
// between the two servers and are only noted as present.
func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	for _, k := range []string{"network.peer.port", "server.port"} {
		if _, ok := m[k]; ok {
			m[k] = "<port>"
		}
	}
	return m
}

func mergeKeys(a, b map[string]string) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

// --- the deliberate differences, asserted ---

// timeoutResponse asserts A's handler-deadline answer: 503, "handler timeout\n", text/plain,
// Connection: close and none of the handler's headers, sent at the deadline, before the
// handler returned. Why: a client waiting for a handler that ignores its context would
// otherwise wait as long as the handler runs.
func timeoutResponse(t *testing.T, r rawResp, p *probe, handlerHeaders ...string) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.body != timeoutBody || r.end != "complete" {
		t.Fatalf("stack: got %d %q (%s), want the deadline's 503", r.status, r.body, r.end)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("503 Content-Type %q", ct)
	}
	if !strings.Contains(r.raw, "\r\nConnection: close\r\n") {
		t.Errorf("503 without Connection: close: %q", r.raw)
	}
	for _, h := range handlerHeaders {
		if v, ok := r.header[h]; ok {
			t.Errorf("503 carries the handler's %s: %v", h, v)
		}
	}
	eventually(t, "the handler's return", func() bool { return p.get("returned") != "" })
	returned, _ := time.Parse(time.RFC3339Nano, p.get("returned"))
	if !r.at.Before(returned) {
		t.Errorf("503 arrived at %v, after the handler returned at %v: not at the deadline", r.at, returned)
	}
}

// returned notes when a handler returned.
func returned(p *probe) { p.note("returned", time.Now().Format(time.RFC3339Nano)) }

// errString is err's text, "<nil>" for nil.
func errString(err error) string { return fmt.Sprint(err) }

// spanAborted is the span of a request that the client got no complete response to: status
// Error, error.type the reason, an exception event. otelhttp's span ended mid-panic, with the
// attributes it started with; the body sizes are not part of the contract then.
func spanAborted(reason string) spanWant {
	return spanWant{
		attrs:  map[string]string{"error.type": reason, "http.request.body.size": "*", "http.response.body.size": "*"},
		status: codes.Error, setStatus: true, exception: true,
	}
}

// spanGone is the span of a request whose connection closed under a handler that then
// returned: error.type the reason, status Error, an exception event. otelhttp records the
// handler's status (200 when it wrote none); the status code is not checked.
func spanGone(reason string) spanWant {
	return spanWant{attrs: map[string]string{"error.type": reason, "http.response.status_code": "*"}, status: codes.Error, setStatus: true, exception: true}
}

// spanPanic500 is the span of a panic before the response: the 500's span, with error.type
// "500" and the panic's exception event.
var spanPanic500 = spanWant{attrs: map[string]string{"error.type": "500"}, exception: true}

// spanTimeout is the span of the deadline's 503: otelhttp's span of a 503 the handler wrote
// (the stack may add error.type and an exception).
func spanTimeout() spanWant {
	return spanWant{
		attrs:  map[string]string{"http.response.status_code": "503", "http.response.body.size": "16", "error.type": "*"},
		status: codes.Error, setStatus: true, anyException: true,
	}
}

// uncountedReadFrom: otelhttp v0.72 does not count the bytes sent through ReadFrom (httpsnoop
// passes it through unhooked); the stack does, so its body size is not compared.
var uncountedReadFrom = spanWant{attrs: map[string]string{"http.response.body.size": "*"}}

// --- handlers used by several cases ---

func writeString(s string) func(*testing.T, *probe) http.HandlerFunc {
	return func(*testing.T, *probe) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, s) }
	}
}

func serverError(*testing.T, *probe) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "internal server error", http.StatusInternalServerError)
	}
}

func flush(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() }

// ctxReport writes the handler context's Err and Cause, and notes them (the client may not
// get them).
func ctxReport(ctx context.Context, w io.Writer, p *probe) {
	s := fmt.Sprintf("err=%v cause=%v", ctx.Err(), context.Cause(ctx))
	p.note("ctx", s)
	_, _ = io.WriteString(w, s)
}

// sameCtx asserts that the handler saw the same Err and Cause on both servers.
func sameCtx(t *testing.T, _, _ clientView, pa, pb *probe) {
	t.Helper()
	if pa.get("ctx") != pb.get("ctx") {
		t.Errorf("handler context: stack %q, WithTimeout %q", pa.get("ctx"), pb.get("ctx"))
	}
}

// secondHandler is the isolation cases' second request: it runs while the first request's
// goroutine uses what it kept, then answers with its own body and headers.
func secondHandler(p *probe, mux *http.ServeMux) {
	mux.HandleFunc("POST /second", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-User", "user2")
		p.second <- struct{}{}
		select {
		case <-p.stale:
		case <-time.After(confWait):
		}
		body, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "body=%s err=%v user=%s", body, err, r.Header.Get("X-User"))
	})
}

// isolation returns the requests of an isolation case: the first user's, then the second
// user's on the same connection or a new one; four rounds, so that a pooled object that is
// reused only some of the time (sync.Pool drops some under -race) is caught.
func isolation(newConn bool) []confReq {
	var reqs []confReq
	for range 4 {
		reqs = append(reqs,
			confReq{raw: post("/c", "user1-secret", "X-User: user1\r\n")},
			confReq{raw: post("/second", "user2-secret", "X-User: user2\r\n"), newConn: newConn})
	}
	return reqs
}

// staleIsOwn asserts that what the first request's goroutine saw after its handler returned
// belongs to the first request, never to the second.
func staleIsOwn(t *testing.T, _, _ clientView, pa, pb *probe) {
	t.Helper()
	for name, p := range map[string]*probe{"stack": pa, "net/http": pb} {
		eventually(t, "the stale goroutines", func() bool { return strings.Count(p.get("stale"), "|") == 4 })
		for _, s := range strings.Split(p.get("stale"), "|")[1:] {
			if strings.Contains(s, "user2") || !strings.HasPrefix(s, "saw: ") {
				t.Errorf("%s: a first request's goroutine: %q", name, s)
			}
		}
	}
}

// sampleOnPath samples exactly the GET requests of /c, deciding on the start attributes.
type sampleOnPath struct{}

func (sampleOnPath) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	var path, method string
	for _, kv := range p.Attributes {
		switch kv.Key {
		case "url.path":
			path = kv.Value.AsString()
		case "http.request.method":
			method = kv.Value.AsString()
		}
	}
	d := sdktrace.Drop
	if path == "/c" && method == http.MethodGet {
		d = sdktrace.RecordAndSample
	}
	return sdktrace.SamplingResult{Decision: d, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}

func (sampleOnPath) Description() string { return "sampleOnPath" }

// tempFile writes n bytes to a file of the test's temporary directory.
func tempFile(t *testing.T, n int) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, bytes.Repeat([]byte("0123456789abcdef"), n/16), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// interfaces notes in headers whether w is an io.ReaderFrom and an io.StringWriter, as
// net/http's writer is (io.Copy of a file then uses sendfile).
func interfaces(w http.ResponseWriter) {
	_, rf := w.(io.ReaderFrom)
	_, sw := w.(io.StringWriter)
	w.Header().Set("X-Reader-From", strconv.FormatBool(rf))
	w.Header().Set("X-String-Writer", strconv.FormatBool(sw))
}

// one is a single raw request.
func one(raw string) []confReq {
	r := confReq{raw: raw}
	return []confReq{r}
}

// slowBody is a POST whose body ends well after the short deadline.
var slowBody = confReq{
	raw:  "POST /c HTTP/1.1\r\nHost: " + confHost + "\r\nUser-Agent: conformance\r\nContent-Length: 8\r\n\r\nfirst",
	body: []byte("end"), delay: 3 * shortDeadline,
}

// chunked is a raw POST with a chunked body.
func chunked(path string, chunks ...string) string {
	var b strings.Builder
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: " + confHost + "\r\nUser-Agent: conformance\r\nTransfer-Encoding: chunked\r\n\r\n")
	for _, c := range chunks {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// largePost is a POST of n bytes whose body a goroutine writes.
func largePost(path string, n int) confReq {
	return confReq{raw: "POST " + path + " HTTP/1.1\r\nHost: " + confHost + "\r\nUser-Agent: conformance\r\nContent-Length: " + strconv.Itoa(n) + "\r\n\r\n", body: bytes.Repeat([]byte("x"), n)}
}

// backend starts a plain server for a ReverseProxy case.
func backend(t *testing.T, h http.HandlerFunc) *url.URL {
	t.Helper()
	ts := httptest.NewServer(h)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	return u
}

// proxyTo is a ReverseProxy handler to u.
func proxyTo(u *url.URL) http.HandlerFunc {
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorLog = log.New(io.Discard, "", 0)
	return p.ServeHTTP
}

// shutdownCut sends a request, waits until the handler runs, and closes the server's
// connections as the Lifecycle does once the shutdown deadline passed.
func shutdownCut(t *testing.T, s *confServer) clientView {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, rawGet("/c"))
	select {
	case <-s.probe.started:
	case <-time.After(confWait):
		t.Error("the handler never ran")
	}
	if s.drain != nil {
		s.drain.draining.Store(true)
		s.drain.cut.Store(true)
	}
	s.ts.CloseClientConnections()
	_ = conn.SetDeadline(time.Now().Add(confWait))
	b, err := io.ReadAll(conn)
	eventually(t, "the handler's return", func() bool { return s.probe.get("returned") != "" })
	r := rawResp{raw: string(b), end: endOf(err)}
	return clientView{resps: []rawResp{r}}
}

// clientGone sends a request, waits until the handler runs, and closes the connection.
func clientGone(t *testing.T, s *confServer) clientView {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, rawGet("/c"))
	select {
	case <-s.probe.started:
	case <-time.After(confWait):
		t.Error("the handler never ran")
	}
	_ = conn.Close()
	eventually(t, "the handler's return", func() bool { return s.probe.get("returned") != "" })
	r := rawResp{end: "closed by the client"}
	return clientView{resps: []rawResp{r}}
}

var traceHeaders = "Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nBaggage: user=alice,tier=gold\r\nBaggage: region=eu\r\n"

// conformanceCases is the suite. Names say which contract a failure broke.
var conformanceCases = []conformanceCase{
	// Plain responses.
	{
		name:    "plain/small body is sent with its Content-Length",
		handler: writeString("hello"),
		rec:     record{status: 200, bytes: 5},
	},
	{
		name: "plain/status and headers set by the handler",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Add("X-Multi", "a")
				w.Header().Add("X-Multi", "b")
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, "{}")
			}
		},
		rec: record{status: 201, bytes: 2},
	},
	{
		name:    "plain/empty handler is an implicit 200",
		handler: func(*testing.T, *probe) http.HandlerFunc { return func(http.ResponseWriter, *http.Request) {} },
		rec:     record{status: 200, bytes: 0},
	},
	{
		name:    "plain/large body is chunked",
		handler: writeString(strings.Repeat("0123456789abcdef", 4096)),
		rec:     record{status: 200, bytes: 65536},
	},
	{
		name:    "plain/unmatched path is a 404 with route unmatched",
		handler: writeString("never"),
		reqs:    one(rawGet("/nope")),
		rec:     record{status: 404, bytes: 19, route: "unmatched"},
	},
	{
		name:    "plain/wrong method is a 405 with route unmatched",
		pattern: "GET /c",
		handler: writeString("never"),
		reqs:    one(post("/c", "")),
		rec:     record{status: 405, bytes: 19, route: "unmatched"},
	},
	{
		name: "plain/trailers declared before and set after the body",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Trailer", "X-Sum")
				_, _ = io.WriteString(w, "data")
				w.Header().Set("X-Sum", "42")
				w.Header().Set(http.TrailerPrefix+"X-Late", "1")
			}
		},
		rec: record{status: 200, bytes: 4},
	},
	{
		name: "plain/superfluous WriteHeader is ignored",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusAccepted)
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, "x")
			}
		},
		rec: record{status: 202, bytes: 1},
	},
	{
		name: "plain/204 refuses a body",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNoContent)
				_, err := io.WriteString(w, "x")
				w.Header().Set("X-Ignored", errString(err)) // too late: not sent
			}
		},
		rec: record{status: 204, bytes: 0},
	},
	{
		name: "plain/304 Not Modified",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("ETag", `"v1"`)
				w.WriteHeader(http.StatusNotModified)
			}
		},
		rec: record{status: 304, bytes: 0},
	},
	{
		name:    "plain/http.Error 500 is an error span",
		handler: serverError,
		rec:     record{status: 500, bytes: 22}, // otelhttp: status Error, no error.type, no exception
	},

	// HEAD.
	{
		name:    "head/small body: Content-Length, no body",
		pattern: "GET /c",
		handler: writeString("hello"),
		reqs:    one(strings.Replace(rawGet("/c"), "GET", "HEAD", 1)),
		rec:     record{status: 200, bytes: 5},
	},
	{
		name:    "head/large body: no body, no Content-Length",
		pattern: "GET /c",
		handler: writeString(strings.Repeat("x", 65536)),
		reqs:    one(strings.Replace(rawGet("/c"), "GET", "HEAD", 1)),
		rec:     record{status: 200, bytes: 65536},
	},

	// Content-Length mismatches. The contract names no aborted reason for a handler that
	// breaks its own framing, so the status is not checked; the client's view is.
	{
		name: "content-length/fewer bytes than declared ends the stream early",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "10")
				_, _ = io.WriteString(w, "hello")
			}
		},
		rec: record{status: anyStatus, bytes: 5},
	},
	{
		name: "content-length/more bytes than declared fail with ErrContentLength",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "3")
				n, err := io.WriteString(w, "hello")
				p.note("write", fmt.Sprint(n, err))
			}
		},
		check: func(t *testing.T, _, _ clientView, pa, pb *probe) {
			if pa.get("write") != pb.get("write") {
				t.Errorf("write: stack %q, net/http %q", pa.get("write"), pb.get("write"))
			}
		},
		rec: record{status: anyStatus, bytes: 0},
	},

	// 1xx.
	{
		name: "1xx/103 Early Hints: headers deleted after it do not reach the 200",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Link", "</style.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				w.Header().Set("X-Final", "1")
				_, _ = io.WriteString(w, "ok")
			}
		},
		rec: record{status: 200, bytes: 2},
	},
	{
		name: "1xx/two 103 responses accumulate headers",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Add("Link", "</a.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Add("Link", "</b.js>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				_, _ = io.WriteString(w, "ok")
			}
		},
		rec: record{status: 200, bytes: 2},
	},
	{
		name:     "1xx/deadline 503 after a 103 carries none of the handler's headers (deliberate)",
		deadline: shortDeadline,
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				defer returned(p)
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Link", "</a.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				time.Sleep(slowReturn) // ignores its context
				_, err := io.WriteString(w, "late")
				p.note("write", errString(err))
			}
		},
		compare: func(t *testing.T, a, b clientView, pa, _ *probe) {
			// The 103 went out before the deadline: the same bytes on both.
			hints := func(r rawResp) string { head, _, _ := strings.Cut(r.raw, "\r\n\r\n"); return head }
			if hints(a.resps[0]) != hints(b.resps[0]) {
				t.Errorf("103: stack %q, net/http %q", hints(a.resps[0]), hints(b.resps[0]))
			}
			timeoutResponse(t, a.resps[0], pa, "Cache-Control", "Link")
			if pa.get("write") != http.ErrHandlerTimeout.Error() {
				t.Errorf("write after the 503: %q, want http.ErrHandlerTimeout", pa.get("write"))
			}
		},
		rec:  record{status: 503, bytes: 16},
		span: spanTimeout(),
	},
	{
		name: "1xx/101 Switching Protocols, then hijack: logged 101 and hijacked",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Connection", "Upgrade")
				w.Header().Set("Upgrade", "conformance")
				w.WriteHeader(http.StatusSwitchingProtocols)
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					p.note("hijack", err.Error())
					return
				}
				defer conn.Close()
				_, _ = brw.WriteString("upgraded stream\n")
				_ = brw.Flush()
			}
		},
		reqs: one(strings.Replace(rawGet("/c"), "\r\n\r\n", "\r\nConnection: Upgrade\r\nUpgrade: conformance\r\n\r\n", 1)),
		rec:  record{status: 101, hijacked: true, bytes: 0},
		span: spanWant{attrs: map[string]string{"http.response.status_code": "101"}},
	},
	{
		name: "hijack/raw response without WriteHeader: logged 0 and hijacked",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
				_ = brw.Flush()
			}
		},
		rec:  record{status: 0, hijacked: true, bytes: 0},
		span: spanWant{attrs: map[string]string{"http.response.status_code": "*"}},
	},

	// Panics and aborts.
	{
		name: "panic/before the response: 500, connection kept as for a written 500 (deliberate)",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(http.ResponseWriter, *http.Request) { panic("boom") }
		},
		// net/http closes the connection without a response; the stack answers the 500 a
		// handler would have written, so that clients get an answer they can retry on.
		equiv:  serverError,
		checkB: noResponse,
		rec:    record{status: 500, bytes: 22},
		span:   spanPanic500,
	},
	{
		name: "panic/before the response with an unread body: 500, connection kept",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(http.ResponseWriter, *http.Request) { panic("boom") }
		},
		reqs:   one(post("/c", strings.Repeat("b", 100))),
		equiv:  serverError,
		checkB: noResponse,
		rec:    record{status: 500, bytes: 22},
		span:   spanPanic500,
	},
	{
		name: "panic/after a flush aborts the response like net/http",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "partial")
				flush(w)
				panic("boom")
			}
		},
		rec:  record{status: 0, aborted: "panic", bytes: 7},
		span: spanAborted("panic"),
	},
	{
		name: "panic/after WriteHeader, before any flush: nothing is sent",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusAccepted)
				panic("boom")
			}
		},
		rec:  record{status: 0, aborted: "panic", bytes: 0},
		span: spanAborted("panic"),
	},
	{
		name: "panic/after a buffered write: nothing is sent",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "buffered")
				panic("boom")
			}
		},
		rec:  record{status: 0, aborted: "panic", bytes: 8},
		span: spanAborted("panic"),
	},
	{
		name: "abort/ErrAbortHandler before the response is logged handler_aborted",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }
		},
		rec:  record{status: 0, aborted: "handler_aborted", bytes: 0},
		span: spanAborted("handler_aborted"),
	},
	{
		name: "abort/ErrAbortHandler after a flush is logged handler_aborted",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "partial")
				flush(w)
				panic(http.ErrAbortHandler)
			}
		},
		rec:  record{status: 0, aborted: "handler_aborted", bytes: 7},
		span: spanAborted("handler_aborted"),
	},
	{
		name: "abort/ReverseProxy to a backend failing mid-body is logged handler_aborted",
		handler: func(t *testing.T, _ *probe) http.HandlerFunc {
			return proxyTo(backend(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "100")
				_, _ = io.WriteString(w, "0123456789")
				flush(w)
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					_ = conn.Close()
				}
			}))
		},
		rec:  record{status: 0, aborted: "handler_aborted", bytes: 10},
		span: spanAborted("handler_aborted"),
	},
	{
		name: "proxy/ReverseProxy to a refused backend is a 502",
		handler: func(t *testing.T, _ *probe) http.HandlerFunc {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			u := &url.URL{Scheme: "http", Host: ln.Addr().String()}
			_ = ln.Close()
			return proxyTo(u)
		},
		rec: record{status: 502, bytes: 0}, // otelhttp: status Error, no error.type, no exception
	},

	// The handler deadline.
	{
		name:     "deadline/complete response, then a slow return: the client gets its 200",
		deadline: shortDeadline,
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "done")
				time.Sleep(slowReturn)
			}
		},
		rec: record{status: 200, bytes: 4},
	},
	{
		name:     "deadline/writes across the deadline reach the client (started: no 503)",
		deadline: shortDeadline,
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "a")
				flush(w)
				time.Sleep(slowReturn)
				_, _ = io.WriteString(w, "b")
			}
		},
		rec: record{status: 200, bytes: 2},
	},
	{
		name:     "deadline/flushes across the deadline: logged 200, never client_gone",
		deadline: shortDeadline,
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "a")
				flush(w)
				time.Sleep(slowReturn)
				_, _ = io.WriteString(w, "b")
				flush(w) // a write failing here would be the server's doing, not the client's
				_, _ = io.WriteString(w, "c")
			}
		},
		rec: record{status: 200, bytes: 3},
	},
	{
		name:     "deadline/handler ignoring its context: 503 at the deadline, its writes fail (deliberate)",
		deadline: shortDeadline,
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				defer returned(p)
				w.Header().Set("X-Handler", "1")
				time.Sleep(slowReturn)
				ctxReport(r.Context(), io.Discard, p)
				_, err := io.WriteString(w, "late")
				p.note("write", errString(err))
			}
		},
		compare: func(t *testing.T, a, b clientView, pa, pb *probe) {
			timeoutResponse(t, a.resps[0], pa, "X-Handler")
			sameCtx(t, a, b, pa, pb) // the 503 does not change what the handler's context says
			if pa.get("write") != http.ErrHandlerTimeout.Error() {
				t.Errorf("write after the 503: %q, want http.ErrHandlerTimeout", pa.get("write"))
			}
			if b.resps[0].status != 200 || b.resps[0].body != "late" {
				t.Errorf("net/http: %d %q, want the handler's late 200", b.resps[0].status, b.resps[0].body)
			}
		},
		rec:  record{status: 503, bytes: 16},
		span: spanTimeout(),
	},
	{
		name:     "deadline/handler returning at Done: 503, never client_gone (deliberate)",
		deadline: shortDeadline,
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				defer returned(p)
				<-r.Context().Done()
				time.Sleep(shortDeadline) // the 503 went out at the deadline, before the return
				_, _ = io.WriteString(w, "late")
			}
		},
		compare: func(t *testing.T, a, _ clientView, pa, _ *probe) { timeoutResponse(t, a.resps[0], pa) },
		rec:     record{status: 503, bytes: 16},
		span:    spanTimeout(),
	},
	{
		name:     "deadline/unread request body: 503, never client_gone (deliberate)",
		deadline: shortDeadline,
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(http.ResponseWriter, *http.Request) {
				defer returned(p)
				time.Sleep(slowReturn)
			}
		},
		reqs:    one(post("/c", strings.Repeat("b", 1000))),
		compare: func(t *testing.T, a, _ clientView, pa, _ *probe) { timeoutResponse(t, a.resps[0], pa) },
		rec:     record{status: 503, bytes: 16},
		span:    spanTimeout(),
	},
	{
		name:     "deadline/Err and Cause are DeadlineExceeded at Done, as with WithTimeout",
		deadline: shortDeadline,
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				flush(w)
				<-r.Context().Done()
				ctxReport(r.Context(), w, p)
			}
		},
		check: sameCtx,
		rec:   record{status: 200, bytes: anyBytes},
	},
	{
		name:     "deadline/Err and Cause agree after sleeping past the deadline",
		deadline: shortDeadline,
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				flush(w)
				time.Sleep(slowReturn)
				ctxReport(r.Context(), w, p)
			}
		},
		check: sameCtx,
		rec:   record{status: 200, bytes: anyBytes},
	},
	{
		name:     "deadline/Err and Cause agree with an unread request body",
		deadline: shortDeadline,
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				flush(w)
				time.Sleep(slowReturn)
				ctxReport(r.Context(), w, p)
			}
		},
		reqs:  one(post("/c", strings.Repeat("b", 1000))),
		check: sameCtx,
		rec:   record{status: 200, bytes: anyBytes},
	},
	{
		name:     "deadline/Err and Cause agree in a body read across the deadline",
		deadline: shortDeadline,
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				flush(w)
				b, err := io.ReadAll(r.Body) // the rest of the body comes after the deadline
				fmt.Fprintf(w, "%s %v ", b, err)
				ctxReport(r.Context(), w, p)
			}
		},
		reqs:  []confReq{slowBody},
		check: sameCtx,
		rec:   record{status: 200, bytes: anyBytes},
	},

	// Request bodies.
	{
		name:    "body/unread small body: early response keeps the connection",
		handler: writeString("early"),
		reqs:    one(post("/c", strings.Repeat("b", 100))),
		rec:     record{status: 200, bytes: 5},
	},
	{
		name: "body/partly read body: the connection is kept",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				buf := make([]byte, 10)
				n, _ := io.ReadFull(r.Body, buf)
				_, _ = w.Write(buf[:n])
			}
		},
		reqs: one(post("/c", strings.Repeat("0123456789", 100))),
		rec:  record{status: 200, bytes: 10},
	},
	{
		name: "body/chunked body read to the end",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s %v", b, err)
			}
		},
		reqs: one(chunked("/c", "one,", "two,", "three")),
		rec:  record{status: 200, bytes: 19},
	},
	{
		name:    "body/chunked body unread: the connection is kept",
		handler: writeString("early"),
		reqs:    one(chunked("/c", "one,", "two,", "three")),
		rec:     record{status: 200, bytes: 5},
	},
	{
		name:    "body/unread body over 256 KiB closes the connection",
		handler: writeString("early"),
		reqs:    []confReq{largePost("/c", 300<<10)},
		rec:     record{status: 200, bytes: 5},
	},
	{
		name: "body/body over 256 KiB read to the end keeps the connection",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				fmt.Fprintf(w, "%d %v", n, err)
			}
		},
		reqs: []confReq{largePost("/c", 300<<10)},
		rec:  record{status: 200, bytes: 12},
	},
	{
		name: "body/Expect 100-continue: 100 when the handler reads",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				_, _ = w.Write(b)
			}
		},
		reqs: one(post("/c", "0123456789", "Expect: 100-continue\r\n")),
		rec:  record{status: 200, bytes: 10},
	},
	{
		name:    "body/Expect 100-continue: no 100 when the handler does not read",
		handler: writeString("early"),
		reqs:    one(post("/c", "0123456789", "Expect: 100-continue\r\n")),
		rec:     record{status: 200, bytes: 5},
	},

	// http.ResponseController and the writer's interfaces.
	{
		name: "controller/Flush streams each part",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				rc := http.NewResponseController(w)
				for _, s := range []string{"one\n", "two\n", "three\n"} {
					_, _ = io.WriteString(w, s)
					_ = rc.Flush()
				}
			}
		},
		rec: record{status: 200, bytes: 14},
	},
	{
		name: "controller/SetReadDeadline and SetWriteDeadline are supported",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				rc := http.NewResponseController(w)
				r := rc.SetReadDeadline(time.Now().Add(confWait))
				wr := rc.SetWriteDeadline(time.Now().Add(confWait))
				fmt.Fprintf(w, "read=%v write=%v", r, wr)
			}
		},
		rec: record{status: 200, bytes: 22},
	},
	{
		name: "controller/EnableFullDuplex: write while reading the body",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				err := rc.EnableFullDuplex()
				buf := make([]byte, 4)
				_, _ = io.ReadFull(r.Body, buf)
				fmt.Fprintf(w, "duplex=%v first=%s\n", err, buf)
				_ = rc.Flush()
				rest, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "rest=%s\n", rest)
			}
		},
		reqs: one(post("/c", "pingpong")),
		rec:  record{status: 200, bytes: 34},
	},
	{
		name: "writer/io.Copy of a file goes through io.ReaderFrom (sendfile) and is counted",
		handler: func(t *testing.T, _ *probe) http.HandlerFunc {
			name := tempFile(t, 100<<10)
			return func(w http.ResponseWriter, _ *http.Request) {
				interfaces(w)
				f, err := os.Open(name)
				if err != nil {
					return
				}
				defer f.Close()
				_, _ = io.Copy(w, f)
			}
		},
		rec:  record{status: 200, bytes: 100 << 10},
		span: uncountedReadFrom,
	},
	{
		name: "writer/ServeContent of a file range is a counted 206",
		handler: func(t *testing.T, _ *probe) http.HandlerFunc {
			name := tempFile(t, 4096)
			return func(w http.ResponseWriter, r *http.Request) {
				interfaces(w)
				f, err := os.Open(name)
				if err != nil {
					return
				}
				defer f.Close()
				http.ServeContent(w, r, "f.txt", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), f)
			}
		},
		reqs: one(strings.Replace(rawGet("/c"), "\r\n\r\n", "\r\nRange: bytes=10-19\r\n\r\n", 1)),
		rec:  record{status: 206, bytes: 10},
		span: uncountedReadFrom,
	},
	{
		name: "writer/io.WriteString goes through io.StringWriter and is counted",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				interfaces(w)
				_, _ = io.WriteString(w, "hello")
				_, _ = io.WriteString(w, "world")
			}
		},
		rec: record{status: 200, bytes: 10},
	},

	// Isolation: what a handler keeps after it returned never reaches another request.
	{
		name: "isolation/r.Body read after return, next request on the same connection",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body) // keep-alive does not depend on the unread-body rule
				body := r.Body
				p.goStale(func() string { b, err := io.ReadAll(body); return fmt.Sprintf("%s %v", b, err) })
			}
		},
		extra: secondHandler,
		reqs:  isolation(false),
		check: staleIsOwn,
		rec:   record{status: 200, bytes: 0},
	},
	{
		name: "isolation/r.Body read after return, next request on another connection",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) {
				body := r.Body
				p.goStale(func() string { b, err := io.ReadAll(body); return fmt.Sprintf("%s %v", b, err) })
			}
		},
		extra: secondHandler,
		reqs:  isolation(true),
		check: staleIsOwn,
		rec:   record{status: 200, bytes: 0},
	},
	{
		name: "isolation/w.Header() mutated after return, next request on the same connection",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				h := w.Header()
				h.Set("X-User", "user1")
				p.goStale(func() string {
					seen := h.Get("X-User")
					h.Set("X-Leak", "user1")
					h.Set("Set-Cookie", "session=user1")
					return seen
				})
			}
		},
		extra: secondHandler,
		reqs:  isolation(false),
		check: staleIsOwn,
		rec:   record{status: 200, bytes: 0},
	},
	{
		name: "isolation/w.Header() mutated after return, next request on another connection",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				h := w.Header()
				h.Set("X-User", "user1")
				p.goStale(func() string {
					seen := h.Get("X-User")
					h.Set("X-Leak", "user1")
					return seen
				})
			}
		},
		extra: secondHandler,
		reqs:  isolation(true),
		check: staleIsOwn,
		rec:   record{status: 200, bytes: 0},
	},
	{
		name: "isolation/w kept: its Header() after return is never the next response's",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				w.Header().Set("X-User", "user1")
				p.goStale(func() string {
					seen := w.Header().Get("X-User")
					w.Header().Set("X-Leak", "user1")
					return seen
				})
			}
		},
		extra: secondHandler,
		reqs:  isolation(false),
		check: staleIsOwn,
		rec:   record{status: 200, bytes: 0},
	},
	{
		name: "isolation/r kept: its headers and URL after return are its own",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				p.goStale(func() string {
					return fmt.Sprintf("%s %s %s", r.Header.Get("X-User"), r.URL.Path, r.Method)
				})
			}
		},
		extra: secondHandler,
		reqs:  isolation(true),
		check: staleIsOwn,
		rec:   record{status: 200, bytes: 0},
	},

	// Draining, HTTP/2, tracing.
	{
		name:     "drain/responses carry Connection: close while draining (deliberate)",
		draining: true,
		handler:  writeString("hello"),
		// Keep-alive clients pinned to a terminating pod must move to another one.
		compare: func(t *testing.T, a, b clientView, _, _ *probe) {
			want := normalise(strings.Replace(b.resps[0].raw, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1))
			if a.resps[0].raw != want || a.reused {
				t.Errorf("stack while draining: %q (reused %v), want %q", a.resps[0].raw, a.reused, want)
			}
		},
		rec: record{status: 200, bytes: 5},
	},
	{
		name:    "h2/HTTP/2 over TLS: same response and connection reuse",
		h2:      true,
		handler: writeString("hello over h2"),
		rec:     record{status: 200, bytes: 13},
	},
	{
		name: "h2/HTTP/2 over TLS: streamed body with trailers",
		h2:   true,
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Trailer", "X-Sum")
				_, _ = io.WriteString(w, "part1")
				flush(w)
				_, _ = io.WriteString(w, "part2")
				w.Header().Set("X-Sum", "2")
			}
		},
		rec: record{status: 200, bytes: 10},
	},
	{
		name: "h2/HTTP/2 over TLS: panic after the response started resets the stream",
		h2:   true,
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "partial")
				flush(w)
				panic("boom")
			}
		},
		rec:  record{status: 0, aborted: "panic", bytes: 7},
		span: spanAborted("panic"),
	},
	{
		name: "trace/traceparent continued and two baggage lines merged",
		handler: func(*testing.T, *probe) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				var members []string
				for _, m := range baggage.FromContext(r.Context()).Members() {
					members = append(members, m.Key()+"="+m.Value())
				}
				sort.Strings(members)
				fmt.Fprintf(w, "trace=%s baggage=%s", trace.SpanContextFromContext(r.Context()).TraceID(), strings.Join(members, ","))
			}
		},
		reqs: one(strings.Replace(rawGet("/c"), "\r\n\r\n", "\r\n"+traceHeaders+"\r\n", 1)),
		rec:  record{status: 200, bytes: 77},
	},
	{
		name:    "sampler/decides on the request attributes: sampled",
		sampler: sampleOnPath{},
		handler: writeString("hello"),
		rec:     record{status: 200, bytes: 5},
	},
	{
		name:    "sampler/decides on the request attributes: dropped",
		sampler: sampleOnPath{},
		pattern: "/d",
		handler: writeString("hello"),
		reqs:    one(rawGet("/d")),
		rec:     record{status: 200, bytes: 5, unsample: true},
	},
	{
		name: "client gone/handler waiting on its context is logged client_gone",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) {
				defer returned(p)
				close(p.started)
				select {
				case <-r.Context().Done():
				case <-time.After(confWait):
				}
			}
		},
		exchange: clientGone,
		rec:      record{status: 0, aborted: "client_gone", bytes: 0},
		span:     spanGone("client_gone"),
	},
	{
		name: "shutdown/connection cut at the shutdown deadline is logged shutdown_deadline",
		handler: func(_ *testing.T, p *probe) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) {
				defer returned(p)
				close(p.started)
				select {
				case <-r.Context().Done():
				case <-time.After(confWait):
				}
			}
		},
		exchange: shutdownCut,
		rec:      record{status: 0, aborted: "shutdown_deadline", bytes: 0},
		span:     spanGone("shutdown_deadline"),
	},
}

// noResponse asserts that net/http closed the connection without a response.
func noResponse(t *testing.T, b clientView) {
	t.Helper()
	if r := b.resps[0]; r.end != "no response" {
		t.Errorf("net/http: %q (%s), want the connection closed without a response", r.raw, r.end)
	}
}

// confBuffer is a buffer the servers' loggers and the test share.
type confBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *confBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// confLines are the JSON log lines written so far.
func confLines(t *testing.T, b *confBuffer) []map[string]any {
	t.Helper()
	b.mu.Lock()
	raw := b.buf.String()
	b.mu.Unlock()
	var out []map[string]any
	for l := range strings.Lines(raw) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// confAttr is the value of a span's attribute key, "" when absent.
func confAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}
