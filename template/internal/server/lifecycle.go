package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// cutLogWait bounds how long Run waits, after cutting the connections at the shutdown
// deadline, for the interrupted requests to write their access-log lines.
const cutLogWait = 250 * time.Millisecond

// Lifecycle serves the application, admin (probes, metrics) and debug listeners until ctx is
// cancelled, then shuts down in the order Kubernetes needs: /readyz turns 503 and every app
// response carries "Connection: close" at once, the app keeps serving for DrainDelay while
// endpoints and load balancers stop routing to the pod, then the servers stop accepting, idle
// keep-alive connections are closed and in-flight requests get up to ShutdownTimeout to finish.
type Lifecycle struct {
	App             *http.Server
	AppListener     net.Listener
	Admin           *http.Server
	AdminListener   net.Listener
	Debug           *http.Server
	DebugListener   net.Listener
	Ready           *Readiness
	Drain           *Drain
	DrainDelay      time.Duration
	ShutdownTimeout time.Duration
	Log             *zap.Logger
}

// Run blocks until every server has stopped. A server that fails on its own also stops the
// others; its error is returned. http.ErrServerClosed is success.
func (l *Lifecycle) Run(ctx context.Context) error {
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	serve := func(name string, srv *http.Server, ln net.Listener) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s listener: %w", name, err)
			}
		}()
	}
	serve("debug", l.Debug, l.DebugListener)
	serve("admin", l.Admin, l.AdminListener)
	serve("app", l.App, l.AppListener)
	l.Ready.Set(true)

	var serveErr error
	select {
	case <-ctx.Done():
		l.Ready.Set(false)
		l.Drain.draining.Store(true)
		l.Log.Info("shutdown signal received, draining", zap.Duration("drain_delay", l.DrainDelay))
		drain := time.NewTimer(l.DrainDelay)
		select {
		case <-drain.C:
		case serveErr = <-errc:
			drain.Stop()
		}
	case serveErr = <-errc:
		l.Ready.Set(false)
		l.Drain.draining.Store(true)
	}

	l.Log.Info("shutting down", zap.Duration("shutdown_timeout", l.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ShutdownTimeout)
	defer cancel()
	appErr := l.App.Shutdown(sctx)
	if appErr != nil {
		// Deadline passed: cut the remaining connections, then give the interrupted
		// requests a moment to log what happened to them.
		l.Drain.cut.Store(true)
		_ = l.App.Close()
		appErr = fmt.Errorf("shut down app listener: %w", appErr)
		waitIdle(l.Drain, cutLogWait)
	}
	adminErr := shutdown(sctx, "admin", l.Admin)
	debugErr := shutdown(sctx, "debug", l.Debug)
	wg.Wait()
	return errors.Join(serveErr, appErr, adminErr, debugErr)
}

// shutdown stops srv gracefully within ctx, or closes it when ctx ends first.
func shutdown(ctx context.Context, name string, srv *http.Server) error {
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down %s listener: %w", name, err)
	}
	return nil
}

// waitIdle polls until no business request is in flight or max has passed.
func waitIdle(d *Drain, maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	for d.InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}
