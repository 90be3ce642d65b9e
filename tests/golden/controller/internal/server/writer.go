package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// timeoutBody is the body of the 503 a request gets when its handler deadline passes before the
// response started.
const timeoutBody = "handler timeout\n"

// The states of a response. Only the first transition (from stateIdle) needs the mutex: a
// response that started or timed out stays so, and its writer reads the state without locking.
const (
	stateIdle     int32 = iota // nothing sent yet: the deadline timer may still answer 503
	stateStarted               // the handler started its response
	stateTimedOut              // the 503 was sent; the handler's writes fail with http.ErrHandlerTimeout
	stateHijacked              // the handler took the connection over
)

// writerPool holds response writers between requests, each with its header map and deadline
// timer: a request allocates none of them. A writer whose timer fired, or whose connection was
// hijacked, is not reused.
var writerPool = sync.Pool{New: func() any { return new(responseWriter) }}

// responseWriter is the one wrapper every business request gets: it records the status code and
// the body size (access log, metrics, span), adds "Connection: close" when the connection must
// not be reused, answers 503 at the handler deadline when the response has not started, and
// lets http.ResponseController (Flush, deadlines, Hijack, full duplex) reach the server's writer.
//
// The deadline timer runs on its own goroutine while the handler may still be running, so the
// handler never touches the server's writer before its response starts: its headers go to a
// map of its own (copied over when the response starts), and the start of the response, or the
// timer's 503, is decided under mu. Writes of a started response do not take mu: the timer then
// only sets connection deadlines, which is safe at any time.
type responseWriter struct {
	http.ResponseWriter
	drain  *Drain
	dctx   *requestCtx // the handler's context when it has a deadline
	body   *bodyReader // nil when the request has no body
	header http.Header // the handler's headers (kept, cleared, with the pooled writer)
	code   int
	bytes  int64
	state  atomic.Int32
	// mu orders the deadline timer (expire) with the start of the response and the end of the
	// request (finish).
	mu       sync.Mutex
	finished bool // set by finish: the timer does nothing after it
	// expired is set by the deadline timer.
	expired bool
	// delivered is set when the timer's 503 reached the connection: the client got a response
	// even if the connection closes before the handler returns.
	delivered bool
	// cutRead is set when expire failed the body read: net/http then cancels the request's
	// context as if the client had gone, but the client is there and gets the 503.
	cutRead bool
	// timer is the deadline timer, created once per pooled writer and reset per request; armed
	// says whether it runs for this request, reusable whether the writer may go back to the pool.
	timer    *time.Timer
	armed    bool
	reusable bool
	// trailers and copied describe the headers copyHeader copied: whether they declare trailers,
	// and how many there were.
	trailers bool
	copied   int
	bodyBuf  bodyReader
	// line and lineField hold the access-log line while it is written: no allocation per line.
	line      accessLine
	lineField [1]zap.Field
}

// newResponseWriter returns a writer from the pool for one request.
func newResponseWriter(w http.ResponseWriter, drain *Drain) *responseWriter {
	rw := writerPool.Get().(*responseWriter)
	rw.ResponseWriter, rw.drain = w, drain
	return rw
}

// wrapBody makes the writer follow the request body (nil when there is none).
func (w *responseWriter) wrapBody(body io.ReadCloser) *bodyReader {
	w.bodyBuf.ReadCloser = body
	w.body = &w.bodyBuf
	return w.body
}

// arm starts the deadline timer of a request whose context is ctx.
func (w *responseWriter) arm(d time.Duration, ctx *requestCtx) {
	w.dctx = ctx
	w.armed = true
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.expire)
		return
	}
	w.timer.Reset(d)
}

// release returns the writer to the pool when nothing can still use it: its timer did not fire
// (expire may still be running) and its connection was not hijacked.
func (w *responseWriter) release() {
	if !w.reusable || w.state.Load() == stateHijacked {
		return
	}
	timer, header := w.timer, w.header
	clear(header)
	*w = responseWriter{timer: timer, header: header}
	writerPool.Put(w)
}

// Header returns the handler's header map; it reaches the client when the response starts.
func (w *responseWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// WriteHeader starts the response. After the handler deadline it is the 503 instead.
func (w *responseWriter) WriteHeader(code int) {
	switch w.state.Load() {
	case stateStarted:
		w.ResponseWriter.WriteHeader(code) // superfluous: net/http logs it
		return
	case stateIdle:
	default:
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state.Load() != stateIdle {
		return
	}
	if code < http.StatusOK { // 1xx informational responses do not start the final one
		w.copyHeader()
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.pastDeadline() {
		w.writeTimeout()
		return
	}
	w.start(code)
}

// start sends the status and the handler's headers (mu held). It adds "Connection: close" while
// draining (clients move to another pod), and when the response starts before the handler read
// the request body to its end (a deadline cutting a slow upload, an early error): net/http would
// otherwise read the rest of the body before sending the response, and a slow client would get
// nothing.
func (w *responseWriter) start(code int) {
	w.copyHeader()
	w.code = code
	if w.drain.Draining() || (w.body != nil && !w.body.eof.Load()) {
		w.ResponseWriter.Header().Set("Connection", "close")
	}
	w.state.Store(stateStarted)
	w.ResponseWriter.WriteHeader(code)
}

// copyHeader copies the handler's headers to the server's writer, noting whether they declare
// trailers (a Trailer header, or names with http.TrailerPrefix) and how many there were.
func (w *responseWriter) copyHeader() {
	if len(w.header) == 0 {
		return
	}
	dst := w.ResponseWriter.Header()
	for k, v := range w.header {
		dst[k] = v
		if k == "Trailer" || strings.HasPrefix(k, http.TrailerPrefix) {
			w.trailers = true
		}
	}
	w.copied = len(w.header)
}

// copyTrailers copies the headers again once the handler returned, when they may hold trailers
// (declared before the response started, or new names since): net/http reads trailers from its
// own header map when it finishes the response.
func (w *responseWriter) copyTrailers() {
	if w.trailers || len(w.header) != w.copied {
		w.copyHeader()
	}
}

// writeTimeout answers 503 in place of the handler's response (mu held); the handler's headers
// are dropped, and "Connection: close" ends a connection the handler may still be using. It
// reports whether the 503 reached the connection.
func (w *responseWriter) writeTimeout() bool {
	w.state.Store(stateTimedOut)
	w.code = http.StatusServiceUnavailable
	h := w.ResponseWriter.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", "16") // len(timeoutBody)
	h.Set("Connection", "close")
	w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
	n, err := io.WriteString(w.ResponseWriter, timeoutBody)
	w.bytes += int64(n)
	return err == nil
}

// Write writes the body, starting the response with 200 if needed.
func (w *responseWriter) Write(b []byte) (int, error) {
	s := w.state.Load()
	if s == stateIdle {
		w.WriteHeader(http.StatusOK)
		s = w.state.Load()
	}
	if s != stateStarted {
		return 0, w.stateErr(s)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// stateErr is the error of a write that cannot reach the client.
func (w *responseWriter) stateErr(s int32) error {
	if s == stateHijacked {
		return http.ErrHijacked
	}
	return http.ErrHandlerTimeout
}

// FlushError sends what was written so far to the client (streaming responses); it is what
// http.ResponseController.Flush calls.
func (w *responseWriter) FlushError() error {
	s := w.state.Load()
	if s == stateIdle {
		w.WriteHeader(http.StatusOK)
		s = w.state.Load()
	}
	if s != stateStarted {
		return w.stateErr(s)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher for handlers that type-assert it.
func (w *responseWriter) Flush() { _ = w.FlushError() } // a failed flush shows in the next Write

// Hijack hands the connection to the handler (http.Hijacker, http.ResponseController); the
// deadline timer leaves a hijacked connection alone.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.state.Load()
	if s == stateTimedOut {
		return nil, nil, http.ErrHandlerTimeout
	}
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.state.Store(stateHijacked)
	}
	return conn, rw, err
}

// EnableFullDuplex lets the handler read the request body while it writes the response.
func (w *responseWriter) EnableFullDuplex() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return http.NewResponseController(w.ResponseWriter).EnableFullDuplex()
}

// Unwrap lets http.ResponseController reach the underlying writer (read and write deadlines).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// status is the status code the client got (200 when the handler wrote nothing).
func (w *responseWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// expire runs on the deadline timer's goroutine. A response that has not started becomes the
// 503 at once, whatever the handler does; a body read that has not reached its end fails, and
// so does every further write of a response that already started (its client would otherwise
// wait for the rest). The handler keeps running until it returns; its writes then fail.
func (w *responseWriter) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return
	}
	w.expired = true
	rc := http.NewResponseController(w.ResponseWriter)
	switch w.state.Load() {
	case stateIdle:
		if w.writeTimeout() { // an error means the client went away: nothing to do
			err := rc.Flush()
			w.delivered = err == nil || errors.Is(err, http.ErrNotSupported)
		}
	case stateStarted:
		_ = rc.SetWriteDeadline(time.Now()) // not supported by test recorders; nothing to cut there
	case stateHijacked:
		return
	}
	if w.body != nil && !w.body.eof.Load() {
		_ = rc.SetReadDeadline(time.Now())
		w.cutRead = true
	}
	if w.dctx != nil {
		w.dctx.expire()
	}
}

// finish ends the request for the deadline timer: after it, expire does nothing. When nothing
// was written, the client gets the 503 if the deadline passed, and otherwise an empty 200 with
// the handler's headers. Trailers set after the response started are copied.
func (w *responseWriter) finish() {
	if !w.stopTimer() { // the timer fired: expire may be running
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	w.finished = true
	switch w.state.Load() {
	case stateIdle:
		if w.pastDeadline() {
			w.writeTimeout()
		} else {
			w.start(http.StatusOK)
		}
	case stateStarted:
		w.copyTrailers()
	}
}

// abandon ends the request for the deadline timer without answering: the handler aborted the
// response (http.ErrAbortHandler), and the server closes the connection without one.
func (w *responseWriter) abandon() {
	w.stopTimer()
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
}

// stopTimer stops the deadline timer. It reports whether expire can no longer run: there was no
// timer, or it had not fired. Only then is the writer reusable.
func (w *responseWriter) stopTimer() bool {
	w.reusable = !w.armed || w.timer.Stop()
	return w.reusable
}

// pastDeadline reports whether the handler deadline has passed (mu held, or the timer stopped
// before it fired): the timer fired, or
// the context that a handler waiting on Done got did (its own timer may fire first).
func (w *responseWriter) pastDeadline() bool {
	return w.armed && (w.expired || errors.Is(w.dctx.Err(), context.DeadlineExceeded))
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
