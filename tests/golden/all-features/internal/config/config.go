// Package config loads the service configuration from environment variables.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/acme/orders-api/internal/limits"
)

// Defaults chosen when the project was generated (gosmith derives the durations from the answers).
// Each one can be overridden at run time with the environment variable named in Load.
const (
	defaultServiceName = "orders-api"
	defaultHTTPAddr    = ":8181"
	defaultAdminAddr   = ":9191"
	defaultDebugAddr   = "127.0.0.1:6060"
	defaultEnv         = "production"
	defaultGreeting    = "Hello"
	maxGreetingLen     = 200
)

// Defaults and limits of the settings below, from gosmith's rule table; each can be overridden
// with the variable named where it is read.
const (
	defaultLogLevel          = "info"
	defaultShedTargetLatency = "100ms"
)

// Runtime limits: internal/limits applies these to the cgroup limits the service runs under,
// at start and again every LIMITS_RECHECK_INTERVAL (an in-place pod resize is followed).
const (
	// The answer gomaxprocs_policy: floor, ceil or go (see limits.GOMAXPROCS).
	defaultGOMAXPROCSPolicy = "floor"
	// The answer gomemlimit_ratio: GOMEMLIMIT = ratio x memory limit, at most limit - 32MiB.
	defaultGOMEMLIMITRatio = "0.9"
	// Cheap (a few small files); the Go runtime re-reads the CPU limit about once a second.
	defaultLimitsRecheckInterval = "5s"
	minLimitsRecheckInterval     = 100 * time.Millisecond
)

// Config is the whole service configuration. Load fills it from the environment.
type Config struct {
	// ServiceName is the service name in logs and traces (OTEL_SERVICE_NAME).
	ServiceName string
	// HTTPAddr is the listen address of the application listener (HTTP_ADDR).
	HTTPAddr string
	// AdminAddr is the listen address of the admin listener: probes and metrics (ADMIN_ADDR).
	AdminAddr string
	// DebugAddr is the listen address of the debug listener: log level and pprof. It must be a
	// loopback address, so only kubectl port-forward or the pod itself reach it (DEBUG_ADDR).
	DebugAddr string
	// Env names the deployment environment, e.g. production or staging (APP_ENV).
	Env string
	// Durations is the time budget: server timeouts, drain, shutdown and flush (durations.go,
	// generated from gosmith's rule table).
	Durations
	// Requests are the request limits of the app listener (requests.go, generated from gosmith's
	// rule table).
	Requests
	// UpstreamURL is the base URL of the service the relay route calls; empty = none (UPSTREAM_URL).
	UpstreamURL string
	// ShedTargetLatency is the CPU time a typical request needs on one core (SHED_TARGET_LATENCY).
	ShedTargetLatency time.Duration
	// GOMAXPROCSPolicy derives GOMAXPROCS from the cgroup CPU limit: floor, ceil or go
	// (GOMAXPROCS_POLICY). An explicit GOMAXPROCS variable wins.
	GOMAXPROCSPolicy string
	// GOMEMLIMITRatio is the share of the cgroup memory limit used as GOMEMLIMIT, a decimal
	// from 0.5 to 0.95 (GOMEMLIMIT_RATIO). An explicit GOMEMLIMIT variable wins.
	GOMEMLIMITRatio string
	// LimitsRecheckInterval is how often the cgroup limits are re-read; 0 = only at start
	// (LIMITS_RECHECK_INTERVAL).
	LimitsRecheckInterval time.Duration
	// PodName, PodNamespace and NodeName come from the Kubernetes Downward API
	// (POD_NAME, POD_NAMESPACE, NODE_NAME) and end up as trace resource attributes.
	PodName      string
	PodNamespace string
	NodeName     string
	// InKubernetes reports whether KUBERNETES_SERVICE_HOST is set.
	InKubernetes bool
	// ConfigFile is an optional JSON settings file that is re-read when it changes (CONFIG_FILE).
	ConfigFile string
	// Kube configures the Kubernetes API client and the informer (KUBECONFIG, WATCH_*, KUBE_*).
	Kube Kube
	// Settings can change at run time (log level, application settings).
	Settings Settings
}

// Settings are the values that may change while the service runs.
type Settings struct {
	// LogLevel is the minimum level logged (LOG_LEVEL: debug, info, warn, error).
	LogLevel zapcore.Level
	// Greeting is the word the hello route greets with (GREETING).
	Greeting string
}

// Validate reports why s is unusable.
func (s Settings) Validate() error {
	if strings.TrimSpace(s.Greeting) == "" || len(s.Greeting) > maxGreetingLen {
		return fmt.Errorf("greeting must have 1 to %d characters", maxGreetingLen)
	}
	return nil
}

// Load reads the configuration from getenv and validates it; the error lists every bad variable.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		ServiceName:           p.str("OTEL_SERVICE_NAME", defaultServiceName),
		HTTPAddr:              p.str("HTTP_ADDR", defaultHTTPAddr),
		AdminAddr:             p.str("ADMIN_ADDR", defaultAdminAddr),
		DebugAddr:             p.str("DEBUG_ADDR", defaultDebugAddr),
		Env:                   p.str("APP_ENV", defaultEnv),
		Durations:             p.durations(),
		Requests:              p.requests(),
		UpstreamURL:           p.str("UPSTREAM_URL", ""),
		ShedTargetLatency:     p.duration("SHED_TARGET_LATENCY", defaultShedTargetLatency),
		GOMAXPROCSPolicy:      p.str("GOMAXPROCS_POLICY", defaultGOMAXPROCSPolicy),
		GOMEMLIMITRatio:       p.str("GOMEMLIMIT_RATIO", defaultGOMEMLIMITRatio),
		LimitsRecheckInterval: p.duration("LIMITS_RECHECK_INTERVAL", defaultLimitsRecheckInterval),
		PodName:               getenv("POD_NAME"),
		PodNamespace:          getenv("POD_NAMESPACE"),
		NodeName:              getenv("NODE_NAME"),
		InKubernetes:          getenv("KUBERNETES_SERVICE_HOST") != "",
		ConfigFile:            getenv("CONFIG_FILE"),
		Kube:                  p.kube(),
		Settings: Settings{
			LogLevel: p.level("LOG_LEVEL", defaultLogLevel),
			Greeting: p.str("GREETING", defaultGreeting),
		},
	}
	if err := errors.Join(append(p.errs, p.unrelated(c.problems())...)...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every inconsistent field.
func (c Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems returns one error per inconsistent field.
func (c Config) problems() []error {
	var errs []error
	if err := c.validAddr(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("HTTP_ADDR: %w", err))
	}
	if err := c.validAddr(c.AdminAddr); err != nil {
		errs = append(errs, fmt.Errorf("ADMIN_ADDR: %w", err))
	}
	if err := validDebugAddr(c.DebugAddr); err != nil {
		errs = append(errs, fmt.Errorf("DEBUG_ADDR: %w", err))
	}
	if c.HTTPAddr == c.AdminAddr && !strings.HasSuffix(c.HTTPAddr, ":0") {
		errs = append(errs, fmt.Errorf("HTTP_ADDR and ADMIN_ADDR must differ (both %q)", c.HTTPAddr))
	}
	errs = append(errs, c.Durations.problems()...)
	if c.ReadHeaderTimeout > c.ReadTimeout {
		errs = append(errs, fmt.Errorf("READ_HEADER_TIMEOUT (%s) must not exceed READ_TIMEOUT (%s)", c.ReadHeaderTimeout, c.ReadTimeout))
	}
	if c.HandlerTimeout >= c.WriteTimeout {
		errs = append(errs, fmt.Errorf("HANDLER_TIMEOUT (%s) must be below WRITE_TIMEOUT (%s), or the 503 cannot be written", c.HandlerTimeout, c.WriteTimeout))
	}
	if err := validUpstreamURL(c.UpstreamURL); err != nil {
		errs = append(errs, fmt.Errorf("UPSTREAM_URL: %w", err))
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("MAX_IN_FLIGHT must be 0 (derive) or positive, got %d", c.MaxInFlight))
	}
	if c.ShedTargetLatency <= 0 {
		errs = append(errs, fmt.Errorf("SHED_TARGET_LATENCY must be positive, got %s", c.ShedTargetLatency))
	}
	if !limits.ValidPolicy(c.GOMAXPROCSPolicy) {
		errs = append(errs, fmt.Errorf("GOMAXPROCS_POLICY must be one of %s, got %q", strings.Join(limits.Policies, ", "), c.GOMAXPROCSPolicy))
	}
	if _, err := limits.ParseRatio(c.GOMEMLIMITRatio); err != nil {
		errs = append(errs, fmt.Errorf("GOMEMLIMIT_RATIO %w", err))
	}
	if c.LimitsRecheckInterval != 0 && c.LimitsRecheckInterval < minLimitsRecheckInterval {
		errs = append(errs, fmt.Errorf("LIMITS_RECHECK_INTERVAL must be 0 (off) or at least %s, got %s", minLimitsRecheckInterval, c.LimitsRecheckInterval))
	}
	errs = append(errs, c.Requests.problems()...)
	if strings.TrimSpace(c.ServiceName) == "" {
		errs = append(errs, errors.New("OTEL_SERVICE_NAME must not be blank"))
	}
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("GREETING: %w", err))
	}
	if err := c.Kube.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (c Config) validAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	if c.InKubernetes && isLoopback(host) {
		return fmt.Errorf("%q binds a loopback address, so the pod would be unreachable through its Service; bind all interfaces (e.g. %q) in Kubernetes", addr, ":"+port)
	}
	return nil
}

// validUpstreamURL accepts "" (no upstream) or an absolute http or https URL with a host.
func validUpstreamURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q must be an http or https URL with a host, e.g. http://orders.shop.svc:8080", s)
	}
	return nil
}

// validDebugAddr accepts loopback addresses only: the debug listener changes the process
// (log level) and exposes its internals (pprof), so it must never be reachable from other
// pods; there is no override.
func validDebugAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	if !isLoopback(host) {
		return fmt.Errorf("%q must bind a loopback address such as %q (reach it with kubectl port-forward)", addr, "127.0.0.1:"+port)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parser reads typed environment variables and collects every error.
type parser struct {
	getenv func(string) string
	errs   []error
	bad    map[string]bool // variables whose value did not parse
}

// fail records that variable name holds a value that does not parse.
func (p *parser) fail(name string, err error) {
	if p.bad == nil {
		p.bad = map[string]bool{}
	}
	p.bad[name] = true
	p.errs = append(p.errs, err)
}

// unrelated drops the problems that name a variable which did not parse: its zero value would
// only report the same mistake again in other words (HANDLER_TIMEOUT=abc is one message, not a
// second "HANDLER_TIMEOUT must be positive").
func (p *parser) unrelated(problems []error) []error {
	var out []error
	for _, err := range problems {
		words := strings.FieldsFunc(err.Error(), func(r rune) bool {
			return r != '_' && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
		})
		named := false
		for _, w := range words {
			named = named || p.bad[w]
		}
		if !named {
			out = append(out, err)
		}
	}
	return out
}

func (p *parser) str(name, def string) string {
	if v := p.getenv(name); v != "" {
		return v
	}
	return def
}

func (p *parser) duration(name, def string) time.Duration {
	v := p.str(name, def)
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, fmt.Errorf("%s: %q is not a duration like 5s or 1500ms", name, v))
	}
	return d
}

func (p *parser) integer(name string, def int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, fmt.Errorf("%s: %q is not an integer", name, v))
	}
	return n
}

func (p *parser) level(name, def string) zapcore.Level {
	v := p.str(name, def)
	l, err := zapcore.ParseLevel(v)
	if err != nil {
		p.fail(name, fmt.Errorf("%s: %q is not one of debug, info, warn, error", name, v))
	}
	return l
}
