package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/acme/widget-op/internal/logging"
)

// serveCtx serves one request whose handler runs check with its context, and returns that
// context for a look after the handler returned.
func serveCtx(parent context.Context, t *testing.T, timeout time.Duration, check func(ctx context.Context)) context.Context {
	t.Helper()
	var got context.Context
	routes := http.NewServeMux()
	routes.HandleFunc("GET /ctx", func(_ http.ResponseWriter, r *http.Request) {
		got = r.Context()
		check(got)
	})
	f := newFixture(t, routes, timeout)
	f.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(parent, http.MethodGet, "/ctx", nil))
	return got
}

// TestHandlerContextDeadline: the handler's context has the handler deadline; its Err turns
// DeadlineExceeded when the deadline passes (whether or not the handler called Done), and
// Canceled once the handler returned, as a context.WithTimeout canceled after the handler would.
func TestHandlerContextDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	start := time.Now()
	ctx := serveCtx(context.Background(), t, timeout, func(ctx context.Context) {
		d, ok := ctx.Deadline()
		if !ok || d.Before(start.Add(timeout)) || d.After(time.Now().Add(timeout)) {
			t.Errorf("Deadline() = %v %v, want about now + %s", d, ok, timeout)
		}
		if err := ctx.Err(); err != nil {
			t.Errorf("Err() before the deadline = %v", err)
		}
		for ctx.Err() == nil && time.Since(start) < 20*timeout { // no Done: Err alone must turn
			time.Sleep(time.Millisecond)
		}
		if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() after the deadline = %v, want DeadlineExceeded", err)
		}
		select {
		case <-ctx.Done():
		default:
			t.Error("Done() not closed after the deadline")
		}
		if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
			t.Errorf("Cause() = %v", cause)
		}
	})
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err() after an expired handler returned = %v, want DeadlineExceeded", err)
	}

	ctx = serveCtx(context.Background(), t, time.Minute, func(context.Context) {})
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err() after the handler returned = %v, want Canceled", err)
	}
	select {
	case <-ctx.Done(): // Done called for the first time after the handler returned
	case <-time.After(time.Second):
		t.Error("Done() of a finished request not closed")
	}
}

// TestHandlerContextDone: a handler waiting on Done wakes at the deadline, contexts derived from
// its context are canceled with it, and context.AfterFunc runs.
func TestHandlerContextDone(t *testing.T) {
	const timeout = 50 * time.Millisecond
	serveCtx(context.Background(), t, timeout, func(ctx context.Context) {
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		after := make(chan struct{})
		context.AfterFunc(ctx, func() { close(after) })
		start := time.Now()
		select {
		case <-child.Done():
		case <-time.After(20 * timeout):
			t.Fatal("derived context not canceled at the deadline")
		}
		if took := time.Since(start); took < timeout/2 {
			t.Errorf("derived context canceled after %s, before the %s deadline", took, timeout)
		}
		if !errors.Is(child.Err(), context.DeadlineExceeded) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err() = %v / %v, want DeadlineExceeded", ctx.Err(), child.Err())
		}
		select {
		case <-after:
		case <-time.After(time.Second):
			t.Error("context.AfterFunc did not run at the deadline")
		}
	})
	// A derived context outliving the handler is canceled when the handler returns.
	var child context.Context
	var cancel context.CancelFunc
	serveCtx(context.Background(), t, time.Minute, func(ctx context.Context) {
		child, cancel = context.WithCancel(ctx)
	})
	defer cancel()
	select {
	case <-child.Done():
	case <-time.After(time.Second):
		t.Fatal("context derived in the handler not canceled after it returned")
	}
}

// TestHandlerContextParentCanceled: the client going away (the request's context canceled)
// cancels the handler's context, before and after Done was first called.
func TestHandlerContextParentCanceled(t *testing.T) {
	for _, waitFirst := range []bool{false, true} {
		parent, cancel := context.WithCancel(context.Background())
		serveCtx(parent, t, time.Minute, func(ctx context.Context) {
			if waitFirst {
				_ = ctx.Done()
			}
			cancel()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
				t.Fatal("handler context not canceled with the request")
			}
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Errorf("Err() = %v, want Canceled", ctx.Err())
			}
		})
		cancel()
	}
}

// TestHandlerContextErrDoesNotChange: once Err returned DeadlineExceeded, the client going away
// does not change it, nor does Done called afterwards.
func TestHandlerContextErrDoesNotChange(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveCtx(parent, t, 20*time.Millisecond, func(ctx context.Context) {
		for start := time.Now(); ctx.Err() == nil && time.Since(start) < 5*time.Second; {
			time.Sleep(time.Millisecond)
		}
		first := ctx.Err()
		cancel()
		<-ctx.Done()
		if !errors.Is(first, context.DeadlineExceeded) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err() = %v, then %v after the parent was canceled; want DeadlineExceeded both times", first, ctx.Err())
		}
	})
}

// TestHandlerContextCarriesTheLogger: logging.FromContext finds the request-scoped logger (with
// the trace ids of a sampled request) and other values of the request's context are there.
func TestHandlerContextCarriesTheLogger(t *testing.T) {
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")
	routes := http.NewServeMux()
	routes.HandleFunc("GET /log", func(_ http.ResponseWriter, r *http.Request) {
		if r.Context().Value(key{}) != "v" {
			t.Error("value of the request's context lost")
		}
		_ = r.Context().Done() // the inner context must still answer with the logger
		logging.FromContext(r.Context()).Info("from the handler")
	})
	f := newFixture(t, routes, time.Minute)
	f.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(parent, http.MethodGet, "/log", nil))
	lines := logLines(t, f.logs)
	if len(lines) != 2 || lines[0]["msg"] != "from the handler" || lines[0]["trace_id"] == nil {
		t.Fatalf("log lines %v, want the handler's line with its trace id, then the access line", lines)
	}
}
