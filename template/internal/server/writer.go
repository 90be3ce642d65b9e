package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// timeoutBody is the body of the 503 a request gets when its handler deadline passes before the
// response started.
const timeoutBody = "handler timeout\n"

// responseWriter is the one wrapper every business request gets: it records the status code and
// the body size (access log, metrics, span), adds "Connection: close" when the connection must
// not be reused, replaces a response that starts after the handler deadline by the 503, and
// lets http.ResponseController (Flush, deadlines, Hijack) reach the server's writer.
type responseWriter struct {
	http.ResponseWriter
	drain *Drain
	ctx   context.Context // the handler's context; it carries the deadline
	body  *bodyReader     // nil when the request has no body
	code  int
	bytes int64
	// timedOut is set once the response would start after the deadline: the 503 was written
	// instead, and the handler's own writes are dropped.
	timedOut bool
	// started is set (for the deadline timer) once the response header is written.
	started atomic.Bool
	// expired is set by the deadline timer, which may run just before the context's own.
	expired atomic.Bool
	// mu orders the deadline timer (expire) with the end of the request (finish).
	mu       sync.Mutex
	finished bool
	// cutRead is set when expire failed the body read: net/http then cancels the request's
	// context as if the client had gone, but the client is there and gets the 503.
	cutRead bool
	timer   *time.Timer
	// fields is the access-log line's field storage: no allocation per line.
	fields [12]zap.Field
}

// WriteHeader starts the response. After the handler deadline it writes the 503 instead.
func (w *responseWriter) WriteHeader(code int) {
	if w.timedOut || w.code != 0 {
		if w.timedOut {
			return
		}
		w.ResponseWriter.WriteHeader(code) // superfluous: net/http logs it
		return
	}
	if code < http.StatusOK { // 1xx informational responses do not start the final one
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.pastDeadline() {
		w.writeTimeout()
		return
	}
	w.start(code)
	w.ResponseWriter.WriteHeader(code)
}

// start records the status and decides on "Connection: close": while draining (clients move to
// another pod), and when the response starts before the handler read the request body to its
// end (a deadline cutting a slow upload, an early error): net/http would otherwise read the rest
// of the body before sending the response, and a slow client would get nothing.
func (w *responseWriter) start(code int) {
	w.code = code
	if w.drain.Draining() || (w.body != nil && !w.body.eof.Load()) {
		w.Header().Set("Connection", "close")
	}
	w.started.Store(true)
}

// writeTimeout answers 503 in place of the handler's response; the handler's headers are dropped.
func (w *responseWriter) writeTimeout() {
	w.timedOut = true
	h := w.Header()
	clear(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", "16") // len(timeoutBody)
	w.start(http.StatusServiceUnavailable)
	w.Header().Set("Connection", "close") // the handler may still be using the connection
	w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
	n, _ := io.WriteString(w.ResponseWriter, timeoutBody) // the client went away; nothing to do
	w.bytes += int64(n)
}

// Write writes the body, starting the response with 200 if needed.
func (w *responseWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// FlushError sends what was written so far to the client (streaming responses); it is what
// http.ResponseController.Flush calls.
func (w *responseWriter) FlushError() error {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.timedOut {
		return http.ErrHandlerTimeout
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher for handlers that type-assert it.
func (w *responseWriter) Flush() { _ = w.FlushError() } // a failed flush shows in the next Write

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// status is the status code the client got (200 when the handler wrote nothing).
func (w *responseWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// expire runs on the deadline timer's goroutine and cuts a handler stuck on the connection: a
// body read that has not reached its end fails at once, and so does every further write of a
// response that already started (its client would otherwise wait for the rest). A handler that
// honours its context returns on its own; finish then writes the 503 if nothing was written.
func (w *responseWriter) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return
	}
	w.expired.Store(true)
	rc := http.NewResponseController(w.ResponseWriter)
	now := time.Now()
	if w.body != nil && !w.body.eof.Load() {
		_ = rc.SetReadDeadline(now) // not supported by test recorders; nothing to cut there
		w.cutRead = true
	}
	if w.started.Load() {
		_ = rc.SetWriteDeadline(now)
	}
}

// finish ends the request for the deadline timer: after it, expire does nothing. When the
// deadline passed and nothing was written, the client gets the 503.
func (w *responseWriter) finish() {
	if w.timer == nil {
		return
	}
	w.timer.Stop()
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
	if w.code == 0 && w.pastDeadline() {
		w.writeTimeout()
	}
}

// pastDeadline reports whether the handler deadline has passed.
func (w *responseWriter) pastDeadline() bool {
	return w.timer != nil && (w.expired.Load() || errors.Is(w.ctx.Err(), context.DeadlineExceeded))
}

// bodyReader records whether the handler read the request body to its end, and how much of it.
type bodyReader struct {
	io.ReadCloser
	eof   atomic.Bool
	bytes int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.bytes += int64(n)
	if errors.Is(err, io.EOF) {
		b.eof.Store(true)
	}
	return n, err
}
