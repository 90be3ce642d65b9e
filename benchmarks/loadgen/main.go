// Command loadgen sends HTTP GET (or, with -body, POST) requests to one URL, open loop (a constant rate) or closed loop
// (a fixed number of workers), and prints one JSON object with counts and latency percentiles.
//
// It stops issuing requests after -d, after -n requests, or on SIGINT/SIGTERM, then waits for the
// requests in flight. In open-loop mode latency is measured from each request's scheduled send
// time, so a stalled server cannot hide queueing (no coordinated omission).
//
// With -pinned, each of the -c workers is a keep-alive client pinned to one address, the way a
// client behind kube-proxy stays on a terminating pod: it keeps its connection, sends the next
// request 0 to -think after the previous response, opens a new connection to the same address
// only after a response with "Connection: close" (or a failed request), and stops when a new
// connection is refused. Every request written on an established connection that gets no
// complete response is lost. A reset of the first request on a fresh connection with nothing
// received is counted apart (listener_close_resets): the kernel completed that connection in the
// accept queue of a listener that then closed, which for the client is a refused connection.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type result struct {
	URL         string         `json:"url"`
	Mode        string         `json:"mode"`
	Sent        int64          `json:"sent"`
	OK          int64          `json:"ok"`
	Failed      int64          `json:"failed"`
	Status      map[string]int `json:"status"`
	Errors      map[string]int `json:"errors"`
	ElapsedS    float64        `json:"elapsed_s"`
	RPS         float64        `json:"rps"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	Maxms       float64        `json:"max_ms"`
	FirstFailAt float64        `json:"first_failure_unix"`
	LastFailAt  float64        `json:"last_failure_unix"`
	Pinned      *pinnedResult  `json:"pinned,omitempty"`
	// ByStatus holds the latency percentiles of the responses of each status code.
	ByStatus map[string]statusLatency `json:"by_status"`
}

// statusLatency is the latency of the responses of one status code.
type statusLatency struct {
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	Maxms float64 `json:"max_ms"`
}

// pinnedResult is what -pinned adds: how the pinned connections ended.
type pinnedResult struct {
	Completed          int64 `json:"completed"`             // requests with a complete response
	Lost               int64 `json:"lost"`                  // written on an established connection, no complete response
	ListenerCloseReset int64 `json:"listener_close_resets"` // reset on a fresh connection, nothing received
	Connections        int64 `json:"connections"`           // connections opened (workers + reconnects)
	Refused            int64 `json:"refused"`               // workers that stopped on a refused connection
}

type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	byStatus  map[string][]time.Duration
	status    map[string]int
	errs      map[string]int
	ok        int64
	failed    int64
	firstFail time.Time
	lastFail  time.Time
}

func (r *recorder) add(d time.Duration, code int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, d)
	switch {
	case err != nil:
		r.errs[classify(err)]++
	default:
		r.status[strconv.Itoa(code)]++
		if r.byStatus == nil {
			r.byStatus = map[string][]time.Duration{}
		}
		r.byStatus[strconv.Itoa(code)] = append(r.byStatus[strconv.Itoa(code)], d)
	}
	if err == nil && code < 400 {
		r.ok++
		return
	}
	r.failed++
	now := time.Now()
	if r.firstFail.IsZero() {
		r.firstFail = now
	}
	r.lastFail = now
}

func classify(err error) string {
	var nerr net.Error
	s := err.Error()
	switch {
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	case strings.Contains(s, "connection reset"):
		return "connection reset"
	case strings.Contains(s, "EOF"):
		return "EOF"
	default:
		return s
	}
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)-1) + 0.5)
	return float64(sorted[i].Microseconds()) / 1000
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "", "URL to GET (required)")
	rate := flag.Float64("rate", 0, "requests per second (open loop); 0 = closed loop with -c workers")
	conc := flag.Int("c", 16, "workers (closed loop) or the cap on requests in flight (open loop)")
	dur := flag.Duration("d", 10*time.Second, "how long to send; 0 = until -n or a signal")
	total := flag.Int64("n", 0, "stop after this many requests; 0 = no limit")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	bodySize := flag.Int("body", 0, "send POST requests with a body of this many bytes; 0 = GET")
	pinned := flag.Bool("pinned", false, "keep-alive clients pinned to one address (see the package comment)")
	think := flag.Duration("think", 2*time.Millisecond, "-pinned: the longest (uniformly random) pause between requests")
	flag.Parse()
	if *url == "" {
		return errors.New("-url is required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}

	tr := &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, IdleConnTimeout: 90 * time.Second}
	client := &http.Client{Transport: tr, Timeout: *timeout}
	rec := &recorder{status: map[string]int{}, errs: map[string]int{}}
	var sent atomic.Int64
	take := func() bool { return *total == 0 || sent.Add(1) <= *total }

	body := make([]byte, *bodySize)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	send := func() (*http.Response, error) {
		if *bodySize > 0 {
			return client.Post(*url, "application/octet-stream", bytes.NewReader(body))
		}
		return client.Get(*url)
	}
	do := func(scheduled time.Time) {
		resp, err := send()
		code := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			code = resp.StatusCode
		}
		rec.add(time.Since(scheduled), code, err)
	}

	start := time.Now()
	var wg sync.WaitGroup
	mode := "closed"
	var pin *pinnedStats
	if *pinned {
		mode = "pinned"
		c, err := newPinnedClient(*url, body, *think, *timeout)
		if err != nil {
			return err
		}
		pin = &pinnedStats{}
		for range *conc {
			wg.Go(func() { c.run(ctx, rec, pin, take) })
		}
	} else if *rate > 0 {
		mode = "open"
		sem := make(chan struct{}, *conc)
		interval := time.Duration(float64(time.Second) / *rate)
		next := start
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-time.After(time.Until(next)):
			}
			if !take() {
				break
			}
			scheduled := next
			next = next.Add(interval)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
			wg.Go(func() {
				defer func() { <-sem }()
				do(scheduled)
			})
		}
	} else {
		for range *conc {
			wg.Go(func() {
				for ctx.Err() == nil && take() {
					do(time.Now())
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)

	slices.Sort(rec.latencies)
	n := int64(len(rec.latencies))
	res := result{
		URL: *url, Mode: mode, Sent: n, OK: rec.ok, Failed: rec.failed, Status: rec.status, Errors: rec.errs,
		ElapsedS: elapsed.Seconds(), RPS: float64(n) / elapsed.Seconds(),
		P50ms: percentile(rec.latencies, 0.50), P90ms: percentile(rec.latencies, 0.90),
		P99ms: percentile(rec.latencies, 0.99), FirstFailAt: unix(rec.firstFail), LastFailAt: unix(rec.lastFail),
	}
	if n > 0 {
		res.Maxms = float64(rec.latencies[n-1].Microseconds()) / 1000
	}
	res.ByStatus = map[string]statusLatency{}
	for code, lat := range rec.byStatus {
		slices.Sort(lat)
		res.ByStatus[code] = statusLatency{P50ms: percentile(lat, 0.50), P99ms: percentile(lat, 0.99),
			Maxms: float64(lat[len(lat)-1].Microseconds()) / 1000}
	}
	if pin != nil {
		res.Pinned = &pinnedResult{
			Completed: pin.completed.Load(), Lost: pin.lost.Load(), ListenerCloseReset: pin.resets.Load(),
			Connections: pin.connections.Load(), Refused: pin.refused.Load(),
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// pinnedStats counts the outcomes of -pinned requests and connections.
type pinnedStats struct {
	completed, lost, resets, connections, refused atomic.Int64
}

// pinnedClient holds what every pinned worker sends where.
type pinnedClient struct {
	addr    string
	request []byte
	think   time.Duration
	timeout time.Duration
}

func newPinnedClient(raw string, body []byte, think, timeout time.Duration) (*pinnedClient, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return nil, fmt.Errorf("-pinned needs an http://host:port/... URL, got %q", raw)
	}
	method := http.MethodGet
	if len(body) > 0 {
		method = http.MethodPost
	}
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, u.RequestURI(), u.Host, len(body))
	if len(body) > 0 {
		head += "Content-Type: application/octet-stream\r\n"
	}
	req := append([]byte(head+"\r\n"), body...)
	return &pinnedClient{addr: u.Host, request: req, think: think, timeout: timeout}, nil
}

// run is one pinned worker: one connection at a time, to the same address, until ctx ends, -n
// is reached or a new connection is refused.
func (c *pinnedClient) run(ctx context.Context, rec *recorder, st *pinnedStats, take func() bool) {
	var conn net.Conn
	var br *bufio.Reader
	fresh := false
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	drop := func() {
		_ = conn.Close()
		conn = nil
	}
	for ctx.Err() == nil && take() {
		if conn == nil {
			d := net.Dialer{Timeout: c.timeout}
			nc, err := d.DialContext(ctx, "tcp", c.addr)
			if err != nil {
				if ctx.Err() == nil {
					st.refused.Add(1)
				}
				return
			}
			conn, br, fresh = nc, bufio.NewReader(nc), true
			st.connections.Add(1)
		}
		start := time.Now()
		_ = conn.SetDeadline(start.Add(c.timeout))
		code, closed, err := c.roundTrip(conn, br)
		switch {
		case err == nil:
			st.completed.Add(1)
			rec.add(time.Since(start), code, nil)
			if closed {
				drop()
			}
		case fresh && errors.Is(err, syscall.ECONNRESET):
			st.resets.Add(1)
			drop()
		default:
			st.lost.Add(1)
			rec.add(time.Since(start), 0, err)
			drop()
		}
		fresh = false
		if c.think > 0 {
			time.Sleep(rand.N(c.think))
		}
	}
}

// roundTrip writes the request and reads one complete response; it reports the status and
// whether the server closes the connection after it.
func (c *pinnedClient) roundTrip(conn net.Conn, br *bufio.Reader) (int, bool, error) {
	if _, err := conn.Write(c.request); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Close, err
}
