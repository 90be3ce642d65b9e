// Command loadgen sends HTTP GET (or, with -body, POST) requests to one URL, open loop (a constant rate) or closed loop
// (a fixed number of workers), and prints one JSON object with counts and latency percentiles.
//
// It stops issuing requests after -d, after -n requests, or on SIGINT/SIGTERM, then waits for the
// requests in flight. In open-loop mode latency is measured from each request's scheduled send
// time, so a stalled server cannot hide queueing (no coordinated omission).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
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
}

type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
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
	if *rate > 0 {
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
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
