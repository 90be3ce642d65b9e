package telemetry

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// SpanCounts are the spans the exporter delivered and the ones it gave up on since the start.
type SpanCounts struct {
	Exported int64
	Failed   int64
}

// spanCounter counts the spans passed to an exporter by the outcome of each export call.
type spanCounter struct {
	exported atomic.Int64
	failed   atomic.Int64
}

// countingExporter wraps a SpanExporter and counts each batch as exported or failed.
type countingExporter struct {
	sdktrace.SpanExporter
	counts *spanCounter
}

// ExportSpans exports spans and counts them by the result.
func (e countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.counts.failed.Add(int64(len(spans)))
	} else {
		e.counts.exported.Add(int64(len(spans)))
	}
	return err
}

// collectors expose the counts as otel_spans_exported_total and otel_spans_failed_total.
func (c *spanCounter) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "otel_spans_exported_total",
			Help: "Spans the OTLP exporter delivered (the receiver accepted the batch).",
		}, func() float64 { return float64(c.exported.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "otel_spans_failed_total",
			Help: "Spans the OTLP exporter gave up on (the batch failed after the exporter's retries).",
		}, func() float64 { return float64(c.failed.Load()) }),
	}
}
