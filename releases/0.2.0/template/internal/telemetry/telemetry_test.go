package telemetry

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func shutdown(t *testing.T, tel *Telemetry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestSDKDisabled(t *testing.T) {
	tel, err := Setup(context.Background(), Options{ServiceName: "svc", Getenv: env(map[string]string{"OTEL_SDK_DISABLED": "true"})})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tel)
	if tel.Exporter != "disabled" {
		t.Errorf("Exporter = %q", tel.Exporter)
	}
	if _, ok := tel.TracerProvider.(*sdktrace.TracerProvider); ok {
		t.Fatal("OTEL_SDK_DISABLED=true still built an SDK tracer provider")
	}
	_, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "op")
	defer span.End()
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("a disabled provider must not record spans")
	}
}

func TestExporterChoice(t *testing.T) {
	tests := []struct {
		name, exporter string
		wantErr        bool
	}{
		{"default is otlp", "", false},
		{"explicit otlp", "otlp", false},
		{"none keeps trace ids", "none", false},
		{"unsupported", "zipkin", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := Setup(context.Background(), Options{
				ServiceName: "svc",
				Getenv:      env(map[string]string{"OTEL_TRACES_EXPORTER": tt.exporter, "OTEL_TRACES_SAMPLER": "always_on"}),
			})
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(t, tel)
			want := exporterName
			if tt.exporter == "none" {
				want = "none"
			}
			if tel.Exporter != want {
				t.Errorf("Exporter = %q, want %q", tel.Exporter, want)
			}
			if tt.exporter != "none" {
				return // no span: nothing must try to reach a collector in a unit test
			}
			_, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "op")
			span.End()
			if !span.SpanContext().IsSampled() {
				t.Error("always_on sampler from the environment was ignored")
			}
		})
	}
}

func TestProtocolMismatchIsAnError(t *testing.T) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		_, err := Setup(context.Background(), Options{ServiceName: "svc", Getenv: env(map[string]string{name: "json"})})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=json: err = %v", name, err)
		}
		tel, err := Setup(context.Background(), Options{ServiceName: "svc", Getenv: env(map[string]string{name: exporterProtocol})})
		if err != nil {
			t.Fatalf("%s=%s: %v", name, exporterProtocol, err)
		}
		shutdown(t, tel)
	}
}

func TestDefaultSampler(t *testing.T) {
	tests := []struct {
		arg, want string
		wantErr   bool
	}{
		{"", "ParentBased{root:TraceIDRatioBased{0.1}", false},
		{"1", "ParentBased{root:TraceIDRatioBased{1}", false},
		{"0", "ParentBased{root:TraceIDRatioBased{0}", false},
		{"0.25", "ParentBased{root:TraceIDRatioBased{0.25}", false},
		{"2", "", true},
		{"abc", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			s, err := defaultSampler(tt.arg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !strings.HasPrefix(s.Description(), tt.want) {
				t.Errorf("Description() = %q, want prefix %q", s.Description(), tt.want)
			}
		})
	}
}

func TestResource(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=payments")
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	res, err := newResource(context.Background(), Options{
		ServiceName: "svc", ServiceVersion: "v1.2.3", Env: "staging",
		PodName: "svc-abc", PodNamespace: "shop", NodeName: "node-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[attribute.Key]string{
		"service.name":                "from-env",
		"service.version":             "v1.2.3",
		"deployment.environment.name": "staging",
		"k8s.pod.name":                "svc-abc",
		"k8s.namespace.name":          "shop",
		"k8s.node.name":               "node-1",
		"team":                        "payments",
		"telemetry.sdk.language":      "go",
	}
	got := attrMap(res)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func attrMap(res *resource.Resource) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range res.Attributes() {
		m[kv.Key] = kv.Value.String()
	}
	return m
}

func TestPropagatorCarriesTraceContextAndBaggage(t *testing.T) {
	p := propagator()
	in := http.Header{}
	in.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	in.Set("baggage", "tenant=acme")
	ctx := p.Extract(context.Background(), propagation.HeaderCarrier(in))
	out := http.Header{}
	p.Inject(ctx, propagation.HeaderCarrier(out))
	if got := out.Get("traceparent"); got != in.Get("traceparent") {
		t.Errorf("traceparent = %q", got)
	}
	if got := out.Get("baggage"); got != "tenant=acme" {
		t.Errorf("baggage = %q", got)
	}
}

func TestOTLPEnvNormalisesAndRejects(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantURL string // "" means: the exporter reads the variables itself
		wantErr string
		warns   int
	}{
		{"unset", nil, "", "", 0},
		{"with scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:" + exporterPort}, "", "", 0},
		{"no scheme, insecure", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:" + exporterPort, "OTEL_EXPORTER_OTLP_INSECURE": "true"}, "http://127.0.0.1:" + exporterPort + signalPath, "", 1},
		{"no scheme, secure", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:" + exporterPort}, "https://collector:" + exporterPort + signalPath, "", 1},
		{"traces endpoint kept as is", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "10.0.0.1:" + exporterPort + "/x", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true", "OTEL_EXPORTER_OTLP_INSECURE": "false"}, "http://10.0.0.1:" + exporterPort + "/x", "", 1},
		{"traces endpoint wins", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://a:" + exporterPort, "OTEL_EXPORTER_OTLP_ENDPOINT": "b:" + exporterPort}, "", "", 0},
		{"other protocol's port", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:" + otherProtocolPort}, "", "", 1},
		{"unknown scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector:4317"}, "", `OTEL_EXPORTER_OTLP_ENDPOINT="grpc://collector:4317": scheme "grpc"`, 0},
		{"unknown scheme on the shadowed variable", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_ENDPOINT": "unix:///run/otel.sock"}, "", "OTEL_EXPORTER_OTLP_ENDPOINT", 0},
		{"no host", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://:4317"}, "", "no host", 0},
		{"bad port", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:99999"}, "", "invalid", 0},
		{"headers ok", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=shop, authorization=Bearer%20t0ken,"}, "", "", 0},
		{"header without =", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=shop,Bearer s3cret"}, "", "OTEL_EXPORTER_OTLP_HEADERS: entry 2 of 2 has no '='", 0},
		{"header bad name", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x tenant=shop"}, "", "OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 1 of 1", 0},
		{"header bad escape", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%zzs3cret"}, "", "not percent-encoded", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readOTLPEnv(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error quotes a header value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.endpointURL != tt.wantURL || len(got.warnings) != tt.warns {
				t.Fatalf("got %q %q, want %q and %d warnings", got.endpointURL, got.warnings, tt.wantURL, tt.warns)
			}
		})
	}
}

func TestSetupFailsOnABadEndpoint(t *testing.T) {
	_, err := Setup(context.Background(), Options{ServiceName: "svc", Getenv: env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "tcp://collector:4317"})})
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Fatalf("err = %v", err)
	}
}
