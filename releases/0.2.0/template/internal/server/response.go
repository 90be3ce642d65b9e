package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/felixge/httpsnoop"
)

// timeoutBody is the body of the 503 a request gets when its handler deadline passes before the
// response started.
const timeoutBody = "handler timeout\n"

// The states of a response.
const (
	stateIdle     int32 = iota // nothing sent yet: the deadline may still answer 503
	stateStarted               // the final status was sent (or an implicit 200 by a write)
	stateTimedOut              // the deadline's 503 was sent; the handler's writes fail with http.ErrHandlerTimeout
	stateHijacked              // the handler took the connection over
)

// exchange is one business request's response as the middleware sees it. The handler writes
// through httpsnoop.Wrap(w, e.hooks()), which keeps exactly the optional interfaces of the
// server's writer (http.Flusher, http.Hijacker, io.ReaderFrom for sendfile, io.StringWriter, the
// deadline and full-duplex methods, and Unwrap for http.ResponseController). The exchange
// records what the access log, the metrics and the span need (the final status, the body bytes,
// a hijack) and adds "Connection: close" while draining. Nothing of it outlives the request: a
// new exchange is made for each one.
//
// With a handler deadline (arm), the deadline answers 503 when the response has not started by
// then, while the handler may still be running, as http.TimeoutHandler does, but without
// buffering the response: a response that started is the handler's, streamed as net/http
// streams it. Until the response starts the handler's headers go to a map of its own, so that
// the deadline can write its 503 with nothing of the handler's in it; mu orders the start of the
// response with the deadline.
type exchange struct {
	w     http.ResponseWriter // the server's writer
	drain *Drain
	state atomic.Int32
	mu    sync.Mutex // held while the response starts, or while the deadline answers
	// header is the handler's header map until the response starts, when the deadline is armed
	// (nil until the handler asks for it).
	header http.Header
	code   int   // the final status sent; 0 until then
	bytes  int64 // body bytes written
	// Set by arm: the deadline's context, the request's own, and a channel closed when the
	// deadline's callback has returned.
	ctx, parent context.Context
	fired       chan struct{}
	stop        func() bool
	done        bool // finish ran: the deadline does nothing after it
	// delivered is set when the deadline's 503 reached the connection: the client has its
	// response even if it closes the connection before the handler returns.
	delivered bool
}

// arm makes the exchange answer 503 when ctx, the handler's context, reaches its deadline before
// the response started; parent is the request's own context (its end means the client left).
func (e *exchange) arm(ctx, parent context.Context) {
	e.ctx, e.parent = ctx, parent
	e.fired = make(chan struct{})
	e.stop = context.AfterFunc(ctx, e.expire)
}

// finish ends the exchange for the deadline: it waits for a deadline callback that started and
// makes sure none runs later. When the handler returned normally (returned), a response it never
// started is started with 200 and its headers, as net/http does, and trailers it set on its own
// header map reach net/http's.
func (e *exchange) finish(returned bool) {
	if e.stop != nil && !e.stop() {
		<-e.fired
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done = true
	if !returned {
		return
	}
	switch e.state.Load() {
	case stateIdle:
		if !e.timeout() {
			e.start(http.StatusOK)
		}
	case stateStarted:
		e.copyTrailers()
	}
}

// expire runs when the handler's context is done: at the handler deadline, a response that
// has not started becomes the 503.
func (e *exchange) expire() {
	defer close(e.fired)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.done {
		e.timeout()
	}
}

// timeout answers 503 when the handler deadline has passed and the response has not started
// (mu held), and reports whether it did. The deadline's callback calls it, and so does every
// call that would start the response: a handler that wakes up at the deadline and writes gets
// http.ErrHandlerTimeout, not a race with the callback. A response that started is left
// alone, as net/http leaves it; when the client left, there is nobody to answer.
func (e *exchange) timeout() bool {
	if e.ctx == nil || e.state.Load() != stateIdle {
		return false
	}
	if !errors.Is(e.ctx.Err(), context.DeadlineExceeded) || e.parent.Err() != nil {
		return false
	}
	if e.respond(http.StatusServiceUnavailable, timeoutBody, true) {
		err := http.NewResponseController(e.w).Flush()
		e.delivered = err == nil || errors.Is(err, http.ErrNotSupported)
	}
	return true
}

// respond sends a response of the middleware's own (mu held): none of the handler's headers, a
// plain-text body, and "Connection: close" when closeConn (the handler may still be using the
// connection). It reports whether the body was written.
func (e *exchange) respond(code int, body string, closeConn bool) bool {
	h := e.w.Header()
	clear(h) // the handler's headers, e.g. those it sent with a 103, are not this response's
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body))) // sent before the handler returns: not chunked
	if closeConn || e.drain.Draining() {
		h.Set("Connection", "close")
	}
	if code == http.StatusServiceUnavailable {
		e.state.Store(stateTimedOut)
	} else {
		e.state.Store(stateStarted)
	}
	e.code = code
	e.w.WriteHeader(code)
	n, err := io.WriteString(e.w, body)
	e.bytes += int64(n)
	return err == nil
}

// start sends the final status with the handler's headers (mu held), and "Connection: close"
// while draining, so that keep-alive clients move to another pod.
func (e *exchange) start(code int) {
	e.syncHeader()
	if e.drain.Draining() {
		e.w.Header().Set("Connection", "close")
	}
	e.w.WriteHeader(code) // panics on an invalid code, as net/http does: the state stays idle
	e.code = code
	e.state.Store(stateStarted)
}

// syncHeader makes net/http's header map equal to the handler's own (mu held): what the handler
// deleted, e.g. after a 103 Early Hints, is deleted there too.
func (e *exchange) syncHeader() {
	if e.header == nil {
		return
	}
	dst := e.w.Header()
	for k := range dst {
		if _, ok := e.header[k]; !ok {
			delete(dst, k)
		}
	}
	for k, v := range e.header {
		dst[k] = v
	}
}

// copyTrailers copies trailer values that the handler set on its own header map (one it took
// before the response started) to net/http's, which reads trailers when the handler returns.
func (e *exchange) copyTrailers() {
	if e.header == nil {
		return
	}
	dst := e.w.Header()
	declared := dst.Values("Trailer")
	for k, v := range e.header {
		if strings.HasPrefix(k, http.TrailerPrefix) || isDeclared(declared, k) {
			dst[k] = v
		}
	}
}

// isDeclared reports whether key is named in the values of a Trailer header.
func isDeclared(declared []string, key string) bool {
	for _, v := range declared {
		for name := range strings.SplitSeq(v, ",") {
			if http.CanonicalHeaderKey(strings.TrimSpace(name)) == key {
				return true
			}
		}
	}
	return false
}

// Header returns the map the handler's headers go to: net/http's own once the response started
// (or without a deadline), the handler's own map before that and after the deadline's 503.
func (e *exchange) Header() http.Header {
	if e.fired == nil {
		return e.w.Header()
	}
	switch e.state.Load() {
	case stateStarted, stateHijacked:
		return e.w.Header()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Load() == stateStarted {
		return e.w.Header()
	}
	if e.header == nil {
		e.header = e.w.Header().Clone() // keeps what outer handlers set
		if e.header == nil {
			e.header = http.Header{}
		}
	}
	return e.header
}

// WriteHeader sends an informational (1xx) response or starts the final one. After the
// deadline's 503 it does nothing, as with http.TimeoutHandler.
func (e *exchange) WriteHeader(code int) {
	if e.state.Load() == stateStarted {
		e.w.WriteHeader(code) // superfluous: net/http logs it
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state.Load() {
	case stateTimedOut:
		return
	case stateStarted, stateHijacked:
		e.w.WriteHeader(code) // net/http logs it
		return
	}
	if e.timeout() {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		e.syncHeader()
		e.w.WriteHeader(code)
		return
	}
	e.start(code)
}

// begin starts the response with 200 if nothing started it, as a write does in net/http. It
// returns the error of a write that cannot reach the client.
func (e *exchange) begin() error {
	if s := e.state.Load(); s != stateIdle {
		return writeErr(s)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.state.Load(); s != stateIdle {
		return writeErr(s)
	}
	if e.timeout() {
		return http.ErrHandlerTimeout
	}
	e.start(http.StatusOK)
	return nil
}

// writeErr is the error of a write in state s: http.ErrHandlerTimeout after the deadline's 503,
// http.ErrHijacked after a hijack, nil once the response started.
func writeErr(s int32) error {
	switch s {
	case stateTimedOut:
		return http.ErrHandlerTimeout
	case stateHijacked:
		return http.ErrHijacked
	}
	return nil
}

// hijack hands the connection to the handler unless the deadline answered first.
func (e *exchange) hijack(next httpsnoop.HijackFunc) (net.Conn, *bufio.ReadWriter, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Load() == stateTimedOut || e.timeout() {
		return nil, nil, http.ErrHandlerTimeout
	}
	conn, rw, err := next()
	if err == nil {
		e.state.Store(stateHijacked)
	}
	return conn, rw, err
}

// hooks are the httpsnoop hooks that route the handler's calls through the exchange; the
// methods it does not hook (deadlines, full duplex, push) reach net/http's writer unchanged.
func (e *exchange) hooks() httpsnoop.Hooks {
	return httpsnoop.Hooks{
		Header:      func(httpsnoop.HeaderFunc) httpsnoop.HeaderFunc { return e.Header },
		WriteHeader: func(httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc { return e.WriteHeader },
		Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
			return func(b []byte) (int, error) {
				if err := e.begin(); err != nil {
					return 0, err
				}
				n, err := next(b)
				e.bytes += int64(n)
				return n, err
			}
		},
		WriteString: func(next httpsnoop.WriteStringFunc) httpsnoop.WriteStringFunc {
			return func(s string) (int, error) {
				if err := e.begin(); err != nil {
					return 0, err
				}
				n, err := next(s)
				e.bytes += int64(n)
				return n, err
			}
		},
		ReadFrom: func(next httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
			return func(src io.Reader) (int64, error) {
				if err := e.begin(); err != nil {
					return 0, err
				}
				n, err := next(src)
				e.bytes += n
				return n, err
			}
		},
		Flush: func(next httpsnoop.FlushFunc) httpsnoop.FlushFunc {
			return func() {
				if e.begin() == nil {
					next()
				}
			}
		},
		FlushError: func(next httpsnoop.FlushErrorFunc) httpsnoop.FlushErrorFunc {
			return func() error {
				if err := e.begin(); err != nil {
					return err
				}
				return next()
			}
		},
		Hijack: func(next httpsnoop.HijackFunc) httpsnoop.HijackFunc {
			return func() (net.Conn, *bufio.ReadWriter, error) { return e.hijack(next) }
		},
	}
}
