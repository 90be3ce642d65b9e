package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

func scrape(t *testing.T, h http.Handler, accept string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape status %d", rec.Code)
	}
	body, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestExposition(t *testing.T) {
	m := New(BuildInfo{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.99"})
	m.Start()
	text := scrape(t, m.Handler(), "")
	if !strings.Contains(text, "http_server_requests_in_flight 1") {
		t.Errorf("in-flight gauge not 1 during a request:\n%s", text)
	}
	m.Finish(context.Background(), http.MethodGet, "/v1/hello/{name}", 200, 30*time.Millisecond)
	m.Observe(context.Background(), "BREW", "unmatched", 404, time.Millisecond)
	text = scrape(t, m.Handler(), "")
	for _, want := range []string{
		`http_server_requests_total{code="200",method="GET",route="/v1/hello/{name}"} 1`,
		`http_server_requests_total{code="404",method="_OTHER",route="unmatched"} 1`,
		`http_server_request_duration_seconds_bucket{method="GET",route="/v1/hello/{name}",le="0.05"} 1`,
		`http_server_request_duration_seconds_count{method="GET",route="/v1/hello/{name}"} 1`,
		"http_server_requests_in_flight 0",
		`app_build_info{commit="abc",goversion="go1.99",version="v1.2.3"} 1`,
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

func TestCountInFlight(t *testing.T) {
	m := New(BuildInfo{})
	n := int64(3)
	m.CountInFlight(func() int64 { return n })
	if text := scrape(t, m.Handler(), ""); !strings.Contains(text, "http_server_requests_in_flight 3") {
		t.Errorf("in-flight gauge does not report the server's count:\n%s", text)
	}
}

func TestExemplarsInOpenMetrics(t *testing.T) {
	m := New(BuildInfo{Version: "v", Commit: "c", GoVersion: "g"})
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	m.Observe(ctx, http.MethodGet, "/r", 200, 20*time.Millisecond)

	om := scrape(t, m.Handler(), "application/openmetrics-text; version=1.0.0")
	if !strings.Contains(om, `# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"}`) {
		t.Errorf("OpenMetrics scrape has no trace_id exemplar:\n%s", om)
	}
	if !strings.HasSuffix(strings.TrimSpace(om), "# EOF") {
		t.Error("OpenMetrics scrape does not end with # EOF")
	}
	text := scrape(t, m.Handler(), "text/plain")
	if strings.Contains(text, "trace_id") {
		t.Error("the classic text format must not carry exemplars")
	}
}

func TestRuntimeLimits(t *testing.T) {
	m := New(BuildInfo{})
	m.SetRuntimeLimits(RuntimeLimits{
		GOMAXPROCS: 1, GOMAXPROCSSource: "cgroup", GOMEMLIMIT: 460 << 20, GOMEMLIMITSource: "cgroup",
		CPULimitCores: 0.5, MemoryLimitBytes: 512 << 20,
	})
	text := scrape(t, m.Handler(), "")
	for _, want := range []string{
		`app_runtime_gomaxprocs{source="cgroup"} 1`,
		`app_runtime_gomemlimit_bytes{source="cgroup"} 4.8234496e+08`,
		"app_cgroup_cpu_limit_cores 0.5",
		"app_cgroup_memory_limit_bytes 5.36870912e+08",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	m.SetRuntimeLimits(RuntimeLimits{
		GOMAXPROCS: 2, GOMAXPROCSSource: "default", GOMEMLIMIT: 1<<63 - 1, GOMEMLIMITSource: "default",
	})
	text = scrape(t, m.Handler(), "")
	for _, want := range []string{
		`app_runtime_gomaxprocs{source="default"} 2`,
		`app_runtime_gomemlimit_bytes{source="default"} 9.223372036854776e+18`,
		"app_cgroup_cpu_limit_cores 0",
		"app_cgroup_memory_limit_bytes 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if strings.Contains(text, `source="cgroup"`) {
		t.Errorf("the series of the previous source is still exported:\n%s", text)
	}
}
