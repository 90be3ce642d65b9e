package telemetry

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func TestPropagatorAcceptsB3(t *testing.T) {
	in := http.Header{}
	in.Set("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1")
	ctx := propagator().Extract(context.Background(), propagation.HeaderCarrier(in))
	sc := trace.SpanContextFromContext(ctx)
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsSampled() {
		t.Fatalf("B3 header not extracted: %+v", sc)
	}
	out := http.Header{}
	propagator().Inject(ctx, propagation.HeaderCarrier(out))
	if out.Get("X-B3-TraceId") != "4bf92f3577b34da6a3ce929d0e0e4736" || out.Get("traceparent") == "" {
		t.Fatalf("injected headers = %v", out)
	}
}
