// Package app wires the service together: logger, telemetry, metrics, routes, listeners and the
// shutdown sequence.
package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.uber.org/zap"

	"gosmith.invalid/module/internal/api"
	"gosmith.invalid/module/internal/buildinfo"
	"gosmith.invalid/module/internal/client"
	"gosmith.invalid/module/internal/config"
	"gosmith.invalid/module/internal/logging"
	"gosmith.invalid/module/internal/metrics"
	"gosmith.invalid/module/internal/server"
	"gosmith.invalid/module/internal/telemetry"
)

// Run starts the service and blocks until ctx is cancelled and the shutdown sequence is done:
// drain, server shutdown, telemetry flush, the "stopped" line, logger sync.
func Run(ctx context.Context, cfg config.Config, getenv func(string) string, stdout io.Writer) (err error) {
	info := buildinfo.Get()
	level := zap.NewAtomicLevelAt(cfg.Settings.LogLevel)
	root := logging.New(stdout, level, cfg.ServiceName, info.Version, cfg.Env)
	log := root.Named("main")
	defer func() { _ = root.Sync() }() // syncing a pipe or terminal may fail; there is nothing left to do
	tuner, runtimeLimits := applyRuntimeLimits(cfg, getenv, root.Named("limits"))

	telLog := root.Named("otel")
	otel.SetLogger(logging.NewLogr(telLog))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { telLog.Warn("opentelemetry error", zap.String("error", err.Error())) }))
	tel, err := telemetry.Setup(ctx, telemetry.Options{
		ServiceName:    cfg.ServiceName,
		ServiceVersion: info.Version,
		Env:            cfg.Env,
		PodName:        cfg.PodName,
		PodNamespace:   cfg.PodNamespace,
		NodeName:       cfg.NodeName,
		Getenv:         getenv,
		Log:            telLog,
	})
	if err != nil {
		return fmt.Errorf("set up telemetry: %w", err)
	}
	flush := sync.OnceFunc(func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.TelemetryFlushTimeout)
		defer cancel()
		if ferr := tel.Shutdown(fctx); ferr != nil {
			log.Warn("telemetry flush failed", zap.String("error", ferr.Error()), zap.Duration("telemetry_flush_timeout", cfg.TelemetryFlushTimeout))
		}
	})
	defer flush() // early returns; the normal path flushes before logging "stopped"
	otel.SetTracerProvider(tel.TracerProvider)
	otel.SetTextMapPropagator(tel.Propagator)

	var settings atomic.Pointer[config.Settings]
	current := cfg.Settings
	settings.Store(&current)
	apply := func(s config.Settings) {
		level.SetLevel(s.LogLevel)
		settings.Store(&s)
	}
	stopReload, err := startReload(ctx, cfg, apply, root.Named("config"))
	if err != nil {
		return err
	}
	defer stopReload()

	m := metrics.New(metrics.BuildInfo{Version: info.Version, Commit: info.Commit, GoVersion: info.GoVersion})
	m.Registry().MustRegister(tel.Collectors()...)
	stopLimits := watchRuntimeLimits(ctx, tuner, runtimeLimits, cfg.LimitsRecheckInterval, m)
	defer stopLimits()
	kc, err := startKube(ctx, cfg, getenv, m.Registry(), tel.TracerProvider, root.Named("kube"))
	if err != nil {
		return err
	}
	defer kc.stop() // early returns; the normal path stops it after the listeners
	limits := server.Limits{
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
	}
	httpLog := root.Named("http")
	drain := &server.Drain{}
	inFlight, inFlightSource := cfg.MaxInFlight, "env"
	if inFlight == 0 {
		inFlight, inFlightSource = server.InFlightLimit(runtime.GOMAXPROCS(0), cfg.HandlerTimeout, cfg.ShedTargetLatency), "derived"
	}
	var upstream *client.Client
	if cfg.UpstreamURL != "" {
		base, perr := url.Parse(cfg.UpstreamURL) // Validate checked it
		if perr != nil {
			return fmt.Errorf("parse UPSTREAM_URL: %w", perr)
		}
		upstream = client.New(client.Options{
			BaseURL:             base,
			Timeout:             cfg.UpstreamTimeout,
			Margin:              cfg.UpstreamMargin,
			MaxIdleConnsPerHost: client.PoolSize(runtime.GOMAXPROCS(0), inFlight),
			Log:                 root.Named("client"),
			Metrics:             m,
			TracerProvider:      tel.TracerProvider,
			Propagator:          tel.Propagator,
		})
	}
	appHandler := server.App(api.Routes(func() string { return settings.Load().Greeting }, upstream), server.AppOptions{
		Log:            httpLog,
		Metrics:        m,
		TracerProvider: tel.TracerProvider,
		Propagator:     tel.Propagator,
		HandlerTimeout: cfg.HandlerTimeout,
		MaxBodyBytes:   int64(cfg.MaxBodyBytes),
		Drain:          drain,
		MaxInFlight:    inFlight,
	})
	ready := &server.Readiness{}
	adminHandler := kc.gateReadiness(server.Admin(ready, m.Handler()))
	debugHandler := server.Debug(level)

	var lc net.ListenConfig
	appLn, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR: %w", err)
	}
	adminLn, err := lc.Listen(ctx, "tcp", cfg.AdminAddr)
	if err != nil {
		_ = appLn.Close()
		return fmt.Errorf("listen on ADMIN_ADDR: %w", err)
	}
	debugLn, err := lc.Listen(ctx, "tcp", cfg.DebugAddr)
	if err != nil {
		_ = appLn.Close()
		_ = adminLn.Close()
		// A fixed default port: a second service on the same machine finds it taken. Say what to do.
		return fmt.Errorf("listen on DEBUG_ADDR %s (give each service on this machine its own loopback port; "+
			"make run derives one): %w", cfg.DebugAddr, err)
	}

	log.Info("starting",
		zap.String("commit", info.Commit),
		zap.String("build_date", info.Date),
		zap.String("go_version", info.GoVersion),
		zap.Inline(runtimeLimits), // gomaxprocs, gomemlimit, their sources and the cgroup limits
		zap.String("gomaxprocs_policy", cfg.GOMAXPROCSPolicy),
		zap.String("gomemlimit_ratio", cfg.GOMEMLIMITRatio),
		zap.String("http_addr", appLn.Addr().String()),
		zap.String("admin_addr", adminLn.Addr().String()),
		zap.String("debug_addr", debugLn.Addr().String()),
		zap.Duration("read_header_timeout", cfg.ReadHeaderTimeout),
		zap.Duration("read_timeout", cfg.ReadTimeout),
		zap.Duration("write_timeout", cfg.WriteTimeout),
		zap.Duration("idle_timeout", cfg.IdleTimeout),
		zap.Duration("handler_timeout", cfg.HandlerTimeout),
		zap.Duration("drain_delay", cfg.DrainDelay),
		zap.Duration("shutdown_timeout", cfg.ShutdownTimeout),
		zap.Duration("telemetry_flush_timeout", cfg.TelemetryFlushTimeout),
		zap.Int("max_header_bytes", cfg.MaxHeaderBytes),
		zap.Int("max_body_bytes", cfg.MaxBodyBytes),
		zap.Int("max_in_flight", inFlight),
		zap.String("max_in_flight_source", inFlightSource),
		zap.String("upstream_url", cfg.UpstreamURL),
		zap.Duration("upstream_timeout", cfg.UpstreamTimeout),
		zap.Duration("upstream_margin", cfg.UpstreamMargin),
		zap.String("log_level", level.String()),
		zap.String("trace_exporter", tel.Exporter),
	)
	if upstream != nil && cfg.UpstreamTimeout+cfg.UpstreamMargin > cfg.HandlerTimeout {
		// Not an error at run time (the chart and gosmith refuse it): calls are cut at the handler
		// deadline minus the margin anyway, so UPSTREAM_TIMEOUT never takes effect.
		log.Warn("upstream_timeout + upstream_margin exceed handler_timeout: calls end at the handler deadline minus the margin",
			zap.Duration("upstream_timeout", cfg.UpstreamTimeout), zap.Duration("upstream_margin", cfg.UpstreamMargin),
			zap.Duration("handler_timeout", cfg.HandlerTimeout))
	}
	lifecycle := &server.Lifecycle{
		App:             server.NewHTTPServer(appHandler, limits, httpLog),
		AppListener:     appLn,
		Admin:           server.NewHTTPServer(adminHandler, limits, root.Named("admin")),
		AdminListener:   adminLn,
		Debug:           server.NewHTTPServer(debugHandler, server.DebugLimits(limits), root.Named("debug")),
		DebugListener:   debugLn,
		Ready:           ready,
		Drain:           drain,
		DrainDelay:      cfg.DrainDelay,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Log:             log,
	}
	runErr := lifecycle.Run(ctx)
	kc.stop() // after the listeners: requests served while draining may still read its cache
	flush()
	if runErr != nil {
		return runErr
	}
	// The final span counts: what reached the collector before the process exits (they match
	// otel_spans_exported_total and otel_spans_failed_total, which can no longer be scraped).
	spans := tel.SpanCounts()
	log.Info("stopped", zap.Int64("spans_exported", spans.Exported), zap.Int64("spans_failed", spans.Failed))
	return nil
}
