package telemetry

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// failingExporter stands in for an unreachable collector: the SDK's exporters return the
// transport's error from ExportSpans, which is all countingExporter looks at.
type failingExporter struct{ sdktrace.SpanExporter }

func (failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("collector unreachable")
}

func TestCountingExporter(t *testing.T) {
	tests := []struct {
		name                   string
		fail                   bool
		spans                  int
		wantExported, wantFail int64
	}{
		{"delivered spans count as exported", false, 7, 7, 0},
		{"a failed export counts its spans as failed", true, 5, 0, 5},
		{"nothing exported", false, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := tracetest.NewInMemoryExporter()
			var inner sdktrace.SpanExporter = mem
			if tt.fail {
				inner = failingExporter{mem}
			}
			tel := &Telemetry{counts: &spanCounter{}, shutdown: func(context.Context) error { return nil }}
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithSampler(sdktrace.AlwaysSample()),
				sdktrace.WithSyncer(countingExporter{SpanExporter: inner, counts: tel.counts}),
			)
			for range tt.spans {
				_, span := tp.Tracer("t").Start(context.Background(), "op")
				span.End()
			}
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := tel.SpanCounts()
			if got.Exported != tt.wantExported || got.Failed != tt.wantFail {
				t.Errorf("SpanCounts = %+v, want exported %d failed %d", got, tt.wantExported, tt.wantFail)
			}
			if !tt.fail && int64(len(mem.GetSpans())) != got.Exported {
				t.Errorf("the inner exporter got %d spans, counted %d", len(mem.GetSpans()), got.Exported)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(tel.Collectors()...)
			want := "# HELP otel_spans_exported_total Spans the OTLP exporter delivered (the receiver accepted the batch).\n" +
				"# TYPE otel_spans_exported_total counter\n" +
				"otel_spans_exported_total " + strconv.FormatInt(tt.wantExported, 10) + "\n" +
				"# HELP otel_spans_failed_total Spans the OTLP exporter gave up on (the batch failed after the exporter's retries).\n" +
				"# TYPE otel_spans_failed_total counter\n" +
				"otel_spans_failed_total " + strconv.FormatInt(tt.wantFail, 10) + "\n"
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSetupRegistersCountersWhenDisabled(t *testing.T) {
	tel, err := Setup(context.Background(), Options{ServiceName: "svc", Getenv: env(map[string]string{"OTEL_SDK_DISABLED": "true"})})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tel)
	reg := prometheus.NewRegistry()
	reg.MustRegister(tel.Collectors()...)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 2 {
		t.Errorf("GatherAndCount = %d, %v; want the two span counters at 0", n, err)
	}
}
