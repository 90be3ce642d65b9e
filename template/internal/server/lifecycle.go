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

// connPoll is how often Run checks whether the app connections are done.
const connPoll = 5 * time.Millisecond

// idleQuiet is how long a keep-alive connection must have been idle before the shutdown closes
// it. A client that is still using its connection (kube-proxy keeps established connections on a
// terminating pod, and with drain_mode prestop there is no drain delay after SIGTERM) sends its
// next request within that time and gets it answered with "Connection: close", instead of having
// the connection closed under a request already on its way: a closed idle connection is retried
// by Go's and most clients for GET, but never for POST.
const idleQuiet = time.Second

// Lifecycle serves the application, admin (probes, metrics) and debug listeners until ctx is
// cancelled, then shuts down in the order Kubernetes needs: /readyz turns 503 and every app
// response carries "Connection: close" at once, the app keeps serving for DrainDelay while
// endpoints and load balancers stop routing to the pod, then the app listener closes, every
// request on a connection accepted before that is served, keep-alive connections idle for
// idleQuiet are closed, and all of it gets up to ShutdownTimeout.
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
			err := srv.Serve(ln)
			if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("serve %s listener: %w", name, err)
			}
		}()
	}
	conns := trackConns(l.App)
	appLn := &onceCloseListener{Listener: l.AppListener}
	serve("debug", l.Debug, l.DebugListener)
	serve("admin", l.Admin, l.AdminListener)
	serve("app", l.App, appLn)
	l.Ready.Set(true)

	var serveErr error
	select {
	case <-ctx.Done():
		l.Drain.draining.Store(true) // before readiness: whoever sees /readyz 503 gets Connection: close
		l.Ready.Set(false)
		l.Log.Info("shutdown signal received, draining", zap.Duration("drain_delay", l.DrainDelay))
		drain := time.NewTimer(l.DrainDelay)
		select {
		case <-drain.C:
		case serveErr = <-errc:
			drain.Stop()
		}
	case serveErr = <-errc:
		l.Drain.draining.Store(true) // before readiness: whoever sees /readyz 503 gets Connection: close
		l.Ready.Set(false)
	}

	l.Log.Info("shutting down", zap.Duration("shutdown_timeout", l.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ShutdownTimeout)
	defer cancel()
	// Close the listener first and serve what was already accepted: http.Server.Shutdown
	// drops a request it reads after it started, and clients moved off by Connection: close
	// keep connecting until the listener closes. Once every connection is quiet (nothing
	// being served, idle for idleQuiet), Shutdown closes them.
	_ = appLn.Close() // an error means it is closed already
	conns.waitQuiet(sctx, idleQuiet)
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

// onceCloseListener lets Run close the listener before Shutdown closes it again.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// connTracker follows the state of every connection of a server, and since when it has it.
type connTracker struct {
	mu    sync.Mutex
	state map[net.Conn]connState
}

// connState is a connection's state and the time it entered it.
type connState struct {
	state http.ConnState
	since time.Time
}

// trackConns installs a ConnState hook on srv (before it serves) that keeps the hook it had.
func trackConns(srv *http.Server) *connTracker {
	t := &connTracker{state: map[net.Conn]connState{}}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		t.mu.Lock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(t.state, c)
		} else {
			t.state[c] = connState{state: s, since: time.Now()}
		}
		t.mu.Unlock()
		if prev != nil {
			prev(c, s)
		}
	}
	return t
}

// quiet reports whether no connection is new (its request may be on the way), serving a
// request, or idle for less than minIdle at now.
func (t *connTracker) quiet(now time.Time, minIdle time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.state {
		if c.state != http.StateIdle || now.Sub(c.since) < minIdle {
			return false
		}
	}
	return true
}

// waitQuiet polls until every connection is closed or idle for minIdle, or ctx ends.
func (t *connTracker) waitQuiet(ctx context.Context, minIdle time.Duration) {
	tick := time.NewTicker(connPoll)
	defer tick.Stop()
	for !t.quiet(time.Now(), minIdle) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
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
