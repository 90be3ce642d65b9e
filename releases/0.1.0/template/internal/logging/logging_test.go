package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
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
}
