package telemetry

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
			delivered := len(mem.GetSpans()) // the in-memory exporter forgets them on Shutdown
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := tel.SpanCounts()
			if got.Exported != tt.wantExported || got.Failed != tt.wantFail {
				t.Errorf("SpanCounts = %+v, want exported %d failed %d", got, tt.wantExported, tt.wantFail)
			}
			if !tt.fail && int64(delivered) != got.Exported {
				t.Errorf("the inner exporter got %d spans, counted %d", delivered, got.Exported)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(tel.Collectors()...)
			if got := gathered(t, reg); got["otel_spans_exported_total"] != float64(tt.wantExported) ||
				got["otel_spans_failed_total"] != float64(tt.wantFail) {
				t.Errorf("scraped %v, want exported %d failed %d", got, tt.wantExported, tt.wantFail)
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
	want := map[string]float64{"otel_spans_exported_total": 0, "otel_spans_failed_total": 0}
	if got := gathered(t, reg); len(got) != 2 || got["otel_spans_exported_total"] != 0 || got["otel_spans_failed_total"] != 0 {
		t.Errorf("scraped %v, want %v", got, want)
	}
}

// gathered returns the value of each counter in reg by metric name.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			out[f.GetName()] += m.GetCounter().GetValue()
		}
	}
	return out
}
