package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/acme/widget-op/internal/config"
)

func TestMain(m *testing.M) {
	helperProcess() // a replica of the service for TestLeaderHandoverOnSIGTERM: runs it and exits
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
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
	for _, raw := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if raw == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		out = append(out, m)
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// waitReady polls /readyz until it answers 200: readiness turns true once the listeners serve
// (and whatever the service waits for before taking traffic is there).
func waitReady(t *testing.T, admin string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, admin+"/readyz")
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q after 30s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunServesAndStops wires the whole service on loopback ports, serves the app and admin
// routes, and shuts down cleanly when the context is cancelled.
func TestRunServesAndStops(t *testing.T) {
	vars := map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "DEBUG_ADDR": "127.0.0.1:0", "DRAIN_DELAY": "50ms",
		"SHUTDOWN_TIMEOUT": "2s", "OTEL_TRACES_EXPORTER": "none",
	}
	for k, v := range kubeTestEnv(t) { // a real API server; skips without KUBEBUILDER_ASSETS
		vars[k] = v
	}
	getenv := func(k string) string { return vars[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, getenv, &out) }()

	var app, admin string
	deadline := time.Now().Add(10 * time.Second)
	for app == "" {
		if time.Now().After(deadline) {
			t.Fatal("no startup line")
		}
		for _, line := range out.lines(t) {
			if line["msg"] == "starting" {
				app, admin = "http://"+line["http_addr"].(string), "http://"+line["admin_addr"].(string)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitReady(t, admin)
	for _, c := range []struct {
		url, body string
		code      int
	}{
		{app + "/healthz", "ok\n", http.StatusOK},
		{app + "/v1/hello/go", "{\"message\":\"Hello, go!\"}\n", http.StatusOK},
		{admin + "/livez", "ok\n", http.StatusOK},
		{admin + "/readyz", "ok\n", http.StatusOK},
	} {
		if code, body := get(t, c.url); code != c.code || body != c.body {
			t.Errorf("GET %s = %d %q, want %d %q", c.url, code, body, c.code, c.body)
		}
	}
	if _, body := get(t, admin+"/metrics"); !strings.Contains(body, `http_server_requests_total{code="200",method="GET",route="/v1/hello/{name}"} 1`) {
		t.Errorf("metrics do not count the request:\n%s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	var msgs []string
	for _, line := range out.lines(t) {
		if line["logger"] == "main" {
			msgs = append(msgs, line["msg"].(string))
		}
	}
	want := []string{"starting", "shutdown signal received, draining", "shutting down", "stopped"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("lifecycle lines = %q, want %q", msgs, want)
	}
}
