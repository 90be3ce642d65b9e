package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gosmith.invalid/module/internal/metrics"
)

// TestShedding: with limit requests in flight, every further business request gets an
// immediate 503 with Retry-After, counted and logged; /healthz on the app listener and the admin
// listener (probes, metrics) are never shed; once a slot frees, requests are admitted again.
func TestShedding(t *testing.T) {
	const limit, excess = 3, 2
	release := make(chan struct{})
	entered := make(chan struct{}, limit)
	routes := http.NewServeMux()
	routes.HandleFunc("GET /slow", func(http.ResponseWriter, *http.Request) {
		entered <- struct{}{}
		<-release
	})
	routes.HandleFunc("GET /fast", func(http.ResponseWriter, *http.Request) {})
	logs := &syncBuffer{}
	m := metrics.New(metrics.BuildInfo{})
	app := httptest.NewServer(App(routes, AppOptions{Log: testLogger(logs), Metrics: m, HandlerTimeout: 10 * time.Second, MaxInFlight: limit}))
	defer app.Close()
	ready := &Readiness{}
	ready.Set(true)
	admin := httptest.NewServer(Admin(ready, m.Handler()))
	defer admin.Close()

	var wg sync.WaitGroup
	defer wg.Wait()
	codes := make(chan int, limit)
	for range limit {
		wg.Go(func() {
			resp, err := http.Get(app.URL + "/slow")
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	for range limit {
		<-entered
	}
	for i := range excess {
		start := time.Now()
		resp, err := http.Get(app.URL + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("request %d beyond the limit: %d Retry-After %q (%s), want 503 with Retry-After 1", limit+i+1, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("shed answer took %s, want it at once", elapsed)
		}
	}
	for _, u := range []string{app.URL + "/healthz", admin.URL + "/readyz", admin.URL + "/livez", admin.URL + "/metrics"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s while shedding: %d, want 200", u, resp.StatusCode)
		}
	}
	close(release)
	for range limit {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("admitted request: %d, want 200", c)
		}
	}
	resp, err := http.Get(app.URL + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the load: %d, want 200", resp.StatusCode)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{"http_server_shed_requests_total 2\n", "http_server_in_flight_limit 3\n"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	shed := 0
	for _, l := range logLines(t, logs) {
		if l["shed"] == true {
			shed++
			if l["status"] != float64(503) || l["path"] != "/fast" {
				t.Errorf("shed line = %v", l)
			}
		}
	}
	if shed != excess {
		t.Errorf("%d shed log lines, want %d", shed, excess)
	}
}

func TestInFlightLimit(t *testing.T) {
	tests := []struct {
		name            string
		procs           int
		handler, target time.Duration
		want            int
	}{
		{"defaults on 2 cores", 2, 7500 * time.Millisecond, 100 * time.Millisecond, 150},
		{"rounded up", 1, time.Second, 300 * time.Millisecond, 4},
		{"never below GOMAXPROCS", 4, 100 * time.Millisecond, time.Second, 4},
		{"no target: no limit", 2, time.Second, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InFlightLimit(tt.procs, tt.handler, tt.target); got != tt.want {
				t.Fatalf("InFlightLimit = %d, want %d", got, tt.want)
			}
		})
	}
}
