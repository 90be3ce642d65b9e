package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

var tsPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, raw := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", raw, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestLineFields(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, zap.NewAtomicLevelAt(zapcore.InfoLevel), "svc", "v1.0.0", "staging").Named("main")
	log.Info("hello", zap.Duration("timeout", 1500*time.Millisecond))
	log.Debug("hidden")
	lines := decodeLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1 (debug must be filtered)", len(lines))
	}
	line := lines[0]
	want := map[string]any{
		"level": "info", "msg": "hello", "logger": "main",
		"service": "svc", "version": "v1.0.0", "env": "staging", "timeout": "1.5s",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	ts, _ := line["ts"].(string)
	if !tsPattern.MatchString(ts) {
		t.Errorf("ts %q is not RFC 3339 UTC with microseconds", ts)
	}
	caller, _ := line["caller"].(string)
	if !regexp.MustCompile(`^logging/logging_test\.go:\d+$`).MatchString(caller) {
		t.Errorf("caller = %q", caller)
	}
}

func TestLevelChangesAtRuntime(t *testing.T) {
	var buf bytes.Buffer
	level := zap.NewAtomicLevelAt(zapcore.WarnLevel)
	log := New(&buf, level, "svc", "v", "e").Named("main")
	log.Info("dropped")
	level.SetLevel(zapcore.DebugLevel)
	log.Debug("kept")
	lines := decodeLines(t, &buf)
	if len(lines) != 1 || lines[0]["msg"] != "kept" || lines[0]["level"] != "debug" {
		t.Fatalf("lines = %v", lines)
	}
}

func TestTraceFields(t *testing.T) {
	if f := TraceFields(context.Background()); f != nil {
		t.Fatalf("fields without a span = %v", f)
	}
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	var buf bytes.Buffer
	log := New(&buf, zap.NewAtomicLevel(), "svc", "v", "e").Named("http")
	reqLog := log.With(TraceFields(ctx)...)
	FromContext(NewContext(ctx, reqLog)).Info("request")
	line := decodeLines(t, &buf)[0]
	if line["trace_id"] != tid.String() || line["span_id"] != sid.String() {
		t.Fatalf("line = %v", line)
	}
	unsampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	if f := TraceFields(unsampled); f != nil {
		t.Fatalf("fields of an unsampled span = %v, want none (its trace is never exported)", f)
	}
}

func TestLogSinkWritesFlatJSON(t *testing.T) {
	var buf bytes.Buffer
	root := New(&buf, zap.NewAtomicLevelAt(zapcore.InfoLevel), "svc", "v1", "prod").Named("otel")
	l := NewLogr(root).WithName("sdk").WithValues("component", "exporter")
	l.V(1).Info("retrying", "attempt", 2, "delay", 1500*time.Millisecond, "config", struct{ A, B int }{1, 2})
	l.V(4).Info("hidden at info level")
	l.Error(errors.New("boom"), "export failed", "odd")
	lines := decodeLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %v", len(lines), lines)
	}
	warn, errLine := lines[0], lines[1]
	if warn["level"] != "warn" || warn["logger"] != "otel.sdk" || warn["component"] != "exporter" ||
		warn["attempt"] != float64(2) || warn["delay"] != "1.5s" || warn["config"] != "{A:1 B:2}" {
		t.Errorf("V(1) line = %v", warn)
	}
	if errLine["level"] != "error" || errLine["error"] != "boom" || errLine["odd"] != "(missing value)" {
		t.Errorf("error line = %v", errLine)
	}
	for _, line := range lines {
		for k, v := range line {
			switch v.(type) {
			case map[string]any, []any:
				t.Errorf("key %s is nested: %v", k, v)
			}
		}
		if c, _ := line["caller"].(string); !strings.HasPrefix(c, "logging/logging_test.go") {
			t.Errorf("caller = %q, want the logr call site", c)
		}
	}
}

func TestAppendTimestampMatchesTheLayout(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 27, 4, 5, 6, 7_891_234, time.UTC),
		time.Date(1999, 1, 2, 23, 59, 59, 999_999_999, time.FixedZone("x", -7*3600)),
		time.Date(2030, 12, 31, 0, 0, 0, 0, time.Local),
		time.Date(12345, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Now(),
	} {
		if got, want := string(AppendTimestamp(nil, tm)), tm.UTC().Format(TimeLayout); got != want {
			t.Errorf("AppendTimestamp(%v) = %q, want %q", tm, got, want)
		}
	}
}

func TestCallerIsCachedPerCallSite(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, zap.NewAtomicLevelAt(zapcore.InfoLevel), "svc", "v", "e").Named("main")
	for range 3 {
		log.Info("a")
		log.Info("b")
	}
	lines := decodeLines(t, &buf)
	callers := map[string]int{}
	for _, l := range lines {
		callers[l["caller"].(string)]++
	}
	if len(callers) != 2 {
		t.Fatalf("callers %v, want two call sites three times each", callers)
	}
	for c, n := range callers {
		if n != 3 || !regexp.MustCompile(`^logging/logging_test\.go:\d+$`).MatchString(c) {
			t.Errorf("caller %q seen %d times", c, n)
		}
	}
}

func BenchmarkLine(b *testing.B) {
	log := New(io.Discard, zap.NewAtomicLevelAt(zapcore.InfoLevel), "svc", "v", "e").Named("http")
	b.ReportAllocs()
	for b.Loop() {
		log.Info("request", zap.String("method", "GET"), zap.String("route", "/v1/hello/{name}"),
			zap.Int("status", 200), zap.Float64("duration_ms", 0.123))
	}
}
