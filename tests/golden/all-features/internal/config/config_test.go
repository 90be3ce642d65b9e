package config

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("the generated defaults do not validate: %v", err)
	}
	if c.HTTPAddr != ":8181" || c.AdminAddr != ":9191" || c.ServiceName != "orders-api" {
		t.Errorf("addresses/name = %q %q %q", c.HTTPAddr, c.AdminAddr, c.ServiceName)
	}
	for name, d := range map[string]time.Duration{
		"read_header_timeout": c.ReadHeaderTimeout, "read_timeout": c.ReadTimeout, "write_timeout": c.WriteTimeout,
		"idle_timeout": c.IdleTimeout, "handler_timeout": c.HandlerTimeout, "shutdown_timeout": c.ShutdownTimeout,
		"telemetry_flush_timeout": c.TelemetryFlushTimeout,
	} {
		if d <= 0 {
			t.Errorf("default %s = %s", name, d)
		}
	}
	if c.Settings.LogLevel != zapcore.InfoLevel || c.MaxHeaderBytes != 1<<20 || c.InKubernetes {
		t.Errorf("defaults = %+v", c)
	}
}

// TestRuntimeLimitDefaults: the policy and ratio default to the answers; 0 turns re-checking off.
func TestRuntimeLimitDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.GOMAXPROCSPolicy != "floor" || c.GOMEMLIMITRatio != "0.9" || c.LimitsRecheckInterval != 5*time.Second {
		t.Errorf("runtime limit defaults = %q %q %s", c.GOMAXPROCSPolicy, c.GOMEMLIMITRatio, c.LimitsRecheckInterval)
	}
	c, err = Load(env(map[string]string{"LIMITS_RECHECK_INTERVAL": "0s", "GOMEMLIMIT_RATIO": "0.95", "GOMAXPROCS_POLICY": "go"}))
	if err != nil || c.LimitsRecheckInterval != 0 {
		t.Errorf("LIMITS_RECHECK_INTERVAL=0s: %v, %s", err, c.LimitsRecheckInterval)
	}
}

func TestLoadOverrides(t *testing.T) {
	c, err := Load(env(map[string]string{
		"HTTP_ADDR": "0.0.0.0:8000", "ADMIN_ADDR": ":9000", "APP_ENV": "staging", "LOG_LEVEL": "debug",
		"READ_HEADER_TIMEOUT": "2s", "READ_TIMEOUT": "3s", "WRITE_TIMEOUT": "4s", "IDLE_TIMEOUT": "1m",
		"HANDLER_TIMEOUT": "1500ms", "DRAIN_DELAY": "0s", "SHUTDOWN_TIMEOUT": "7s", "TELEMETRY_FLUSH_TIMEOUT": "1s",
		"MAX_HEADER_BYTES": "8192", "MAX_BODY_BYTES": "2048", "OTEL_SERVICE_NAME": "other", "POD_NAME": "p", "POD_NAMESPACE": "ns",
		"GOMAXPROCS_POLICY": "ceil", "GOMEMLIMIT_RATIO": "0.75", "LIMITS_RECHECK_INTERVAL": "2s",
		"NODE_NAME": "n", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "GREETING": "Hi", "DEBUG_ADDR": "[::1]:6061",
		"UPSTREAM_URL": "http://orders.shop.svc:8080", "UPSTREAM_TIMEOUT": "1s", "UPSTREAM_MARGIN": "200ms",
		"MAX_IN_FLIGHT": "40", "SHED_TARGET_LATENCY": "20ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ServiceName: "other", HTTPAddr: "0.0.0.0:8000", AdminAddr: ":9000", DebugAddr: "[::1]:6061", Env: "staging",
		Durations: Durations{
			ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 4 * time.Second,
			IdleTimeout: time.Minute, HandlerTimeout: 1500 * time.Millisecond, DrainDelay: 0,
			ShutdownTimeout: 7 * time.Second, TelemetryFlushTimeout: time.Second,
			UpstreamTimeout: time.Second, UpstreamMargin: 200 * time.Millisecond,
		},
		UpstreamURL: "http://orders.shop.svc:8080", ShedTargetLatency: 20 * time.Millisecond,
		Requests: Requests{MaxHeaderBytes: 8192, MaxBodyBytes: 2048, MaxInFlight: 40}, GOMAXPROCSPolicy: "ceil", GOMEMLIMITRatio: "0.75", LimitsRecheckInterval: 2 * time.Second,
		PodName: "p", PodNamespace: "ns", NodeName: "n", InKubernetes: true,
		Settings: Settings{LogLevel: zapcore.DebugLevel, Greeting: "Hi"},
	}
	c.Kube = Kube{} // TestKube* cover it
	if c != want {
		t.Fatalf("Load =\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"duration syntax", map[string]string{"READ_TIMEOUT": "15"}, `READ_TIMEOUT: "15" is not a duration`},
		{"negative timeout", map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, "SHUTDOWN_TIMEOUT must be positive"},
		{"negative drain", map[string]string{"DRAIN_DELAY": "-1s"}, "DRAIN_DELAY must not be negative"},
		{"header above read", map[string]string{"READ_HEADER_TIMEOUT": "20s", "READ_TIMEOUT": "10s"}, "must not exceed READ_TIMEOUT"},
		{"handler not below write", map[string]string{"HANDLER_TIMEOUT": "5s", "WRITE_TIMEOUT": "5s"}, "must be below WRITE_TIMEOUT"},
		{"log level", map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL: "verbose"`},
		{"max header bytes syntax", map[string]string{"MAX_HEADER_BYTES": "1MB"}, "MAX_HEADER_BYTES"},
		{"max header bytes too small", map[string]string{"MAX_HEADER_BYTES": "10"}, "MAX_HEADER_BYTES must be at least"},
		{"max body bytes syntax", map[string]string{"MAX_BODY_BYTES": "1MiB"}, "MAX_BODY_BYTES"},
		{"max body bytes too small", map[string]string{"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES must be at least 1024"},
		{"address without port", map[string]string{"HTTP_ADDR": "localhost"}, "HTTP_ADDR"},
		{"bad port", map[string]string{"ADMIN_ADDR": ":99999"}, "ADMIN_ADDR"},
		{"same address", map[string]string{"HTTP_ADDR": ":7000", "ADMIN_ADDR": ":7000"}, "must differ"},
		{"loopback in kubernetes", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HTTP_ADDR": "127.0.0.1:8080"}, "loopback"},
		{"localhost in kubernetes", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "ADMIN_ADDR": "localhost:9000"}, "loopback"},
		{"ipv6 loopback in kubernetes", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "ADMIN_ADDR": "[::1]:9000"}, "loopback"},
		{"blank greeting", map[string]string{"GREETING": " "}, "GREETING"},
		{"unknown GOMAXPROCS policy", map[string]string{"GOMAXPROCS_POLICY": "round"}, `GOMAXPROCS_POLICY must be one of floor, ceil, go, got "round"`},
		{"GOMEMLIMIT ratio too high", map[string]string{"GOMEMLIMIT_RATIO": "0.99"}, "GOMEMLIMIT_RATIO must be between 0.5 and 0.95, got 0.99"},
		{"GOMEMLIMIT ratio syntax", map[string]string{"GOMEMLIMIT_RATIO": "90%"}, "GOMEMLIMIT_RATIO must be a decimal number"},
		{"GOMEMLIMIT ratio precision", map[string]string{"GOMEMLIMIT_RATIO": "0.9001"}, "GOMEMLIMIT_RATIO must have at most 3 decimals"},
		{"recheck interval too short", map[string]string{"LIMITS_RECHECK_INTERVAL": "1ms"}, "LIMITS_RECHECK_INTERVAL must be 0 (off) or at least 100ms"},
		{"recheck interval syntax", map[string]string{"LIMITS_RECHECK_INTERVAL": "5"}, "LIMITS_RECHECK_INTERVAL"},
		{"debug on all interfaces", map[string]string{"DEBUG_ADDR": ":6060"}, "DEBUG_ADDR"},
		{"debug on a pod address", map[string]string{"DEBUG_ADDR": "10.1.2.3:6060"}, "must bind a loopback address"},
		{"debug without port", map[string]string{"DEBUG_ADDR": "127.0.0.1"}, "DEBUG_ADDR"},
		{"upstream without scheme", map[string]string{"UPSTREAM_URL": "orders:8080"}, "UPSTREAM_URL"},
		{"upstream not http", map[string]string{"UPSTREAM_URL": "ftp://orders"}, "must be an http or https URL"},
		{"negative in-flight limit", map[string]string{"MAX_IN_FLIGHT": "-1"}, "MAX_IN_FLIGHT must be 0 (derive) or positive"},
		{"shed target zero", map[string]string{"SHED_TARGET_LATENCY": "0s"}, "SHED_TARGET_LATENCY must be positive"},
		{"upstream margin zero", map[string]string{"UPSTREAM_MARGIN": "0s"}, "UPSTREAM_MARGIN must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoopbackAllowedOutsideKubernetes(t *testing.T) {
	if _, err := Load(env(map[string]string{"HTTP_ADDR": "127.0.0.1:8080", "ADMIN_ADDR": "localhost:9000"})); err != nil {
		t.Fatal(err)
	}
}

// TestDebugListenerStaysOnLoopback: the default debug address is loopback, and loopback is
// accepted for it in Kubernetes too, where the app and admin listeners must not use it.
func TestDebugListenerStaysOnLoopback(t *testing.T) {
	c, err := Load(env(map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DebugAddr != "127.0.0.1:6060" {
		t.Errorf("DebugAddr = %q", c.DebugAddr)
	}
}

// TestOneMessagePerBadValue: a value that does not parse is reported once, not again through the
// zero value it leaves behind ("must be positive", "must be below WRITE_TIMEOUT").
func TestOneMessagePerBadValue(t *testing.T) {
	for _, name := range []string{"HANDLER_TIMEOUT", "READ_TIMEOUT", "WRITE_TIMEOUT", "SHUTDOWN_TIMEOUT", "MAX_HEADER_BYTES", "MAX_BODY_BYTES"} {
		_, err := Load(env(map[string]string{name: "abc"}))
		if err == nil {
			t.Fatalf("%s=abc: no error", name)
		}
		if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], name+": ") {
			t.Errorf("%s=abc: want one message about it, got %d:\n%v", name, len(lines), err)
		}
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	_, err := Load(env(map[string]string{"READ_TIMEOUT": "x", "LOG_LEVEL": "y"}))
	if err == nil || !strings.Contains(err.Error(), "READ_TIMEOUT") || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("err = %v, want both problems", err)
	}
}
