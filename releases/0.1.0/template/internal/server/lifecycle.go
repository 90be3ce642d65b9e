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

// Lifecycle serves the application and admin listeners until ctx is cancelled, then shuts down
// in the order Kubernetes needs: /readyz turns 503 at once, the app keeps serving for
// DrainDelay while endpoints and load balancers stop routing to the pod, then the servers stop
// accepting and in-flight requests get up to ShutdownTimeout to finish.
type Lifecycle struct {
	App             *http.Server
	AppListener     net.Listener
	Admin           *http.Server
	AdminListener   net.Listener
	Ready           *Readiness
	DrainDelay      time.Duration
	ShutdownTimeout time.Duration
	Log             *zap.Logger
}

// Run blocks until both servers have stopped. A server that fails on its own also stops the
// other one; its error is returned. http.ErrServerClosed is success.
func (l *Lifecycle) Run(ctx context.Context) error {
	errc := make(chan error, 2)
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
	serve("admin", l.Admin, l.AdminListener)
	serve("app", l.App, l.AppListener)
	l.Ready.Set(true)

	var serveErr error
	select {
	case <-ctx.Done():
		l.Ready.Set(false)
		l.Log.Info("shutdown signal received, draining", zap.Duration("drain_delay", l.DrainDelay))
		drain := time.NewTimer(l.DrainDelay)
		select {
		case <-drain.C:
		case serveErr = <-errc:
			drain.Stop()
		}
	case serveErr = <-errc:
		l.Ready.Set(false)
	}

	l.Log.Info("shutting down", zap.Duration("shutdown_timeout", l.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ShutdownTimeout)
	defer cancel()
	appErr := l.App.Shutdown(sctx)
	if appErr != nil {
		_ = l.App.Close() // deadline passed: cut the remaining connections
		appErr = fmt.Errorf("shut down app listener: %w", appErr)
	}
	adminErr := l.Admin.Shutdown(sctx)
	if adminErr != nil {
		_ = l.Admin.Close()
		adminErr = fmt.Errorf("shut down admin listener: %w", adminErr)
	}
	wg.Wait()
	return errors.Join(serveErr, appErr, adminErr)
}
