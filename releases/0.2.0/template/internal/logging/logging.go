// Package logging builds the service's structured JSON logger.
//
// Every line is one JSON object with flat snake_case keys: ts (RFC 3339, UTC, microseconds),
// level (lowercase), logger, caller, msg, service, version and env; request-scoped lines add
// trace_id and span_id when the request's trace is sampled. The OpenTelemetry SDK's own log
// lines (LogSink) and the fatal error at exit (Fatal) use the same encoder.
package logging

import (
	"context"
	"io"
	"maps"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TimeLayout is the layout of the ts field: RFC 3339 in UTC with a fixed sub-second part.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// EncoderConfig returns the JSON encoder configuration shared by every logger of the service.
func EncoderConfig() zapcore.EncoderConfig {
	return zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		NameKey:        "logger",
		CallerKey:      "caller",
		MessageKey:     "msg",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     encodeTime,
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeCaller:   encodeCaller,
		EncodeName:     zapcore.FullNameEncoder,
	}
}

// encodeTime writes the ts field in UTC, in TimeLayout. It formats by hand: time.Format parses
// its layout on every call, which was half the cost of encoding a line.
func encodeTime(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	b := scratch.Get().(*[]byte)
	*b = AppendTimestamp((*b)[:0], t)
	enc.AppendByteString(*b)
	scratch.Put(b)
}

// scratch holds the buffers encodeTime formats into (a buffer passed to the encoder escapes).
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, len(TimeLayout)); return &b }}

// AppendTimestamp appends t in UTC, formatted with TimeLayout, to b.
func AppendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends v (0 <= v < 10^n) as n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "000000"[:n]...)
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// encodeCaller writes the caller field as package/file.go:line, like zapcore.ShortCallerEncoder,
// from a cache by program counter: a log call site always has the same caller, and building the
// string allocated on every line.
func encodeCaller(c zapcore.EntryCaller, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(shortCaller(c))
}

// maxCallers bounds the caller cache (call sites of a service: a few hundred at most).
const maxCallers = 4096

var (
	callersMu sync.Mutex
	callers   atomic.Pointer[map[uintptr]string] // replaced, never changed
)

// shortCaller returns c.TrimmedPath(), cached by program counter.
func shortCaller(c zapcore.EntryCaller) string {
	if c.PC == 0 {
		return c.TrimmedPath()
	}
	if m := callers.Load(); m != nil {
		if s, ok := (*m)[c.PC]; ok {
			return s
		}
	}
	s := c.TrimmedPath()
	callersMu.Lock()
	defer callersMu.Unlock()
	var old map[uintptr]string
	if m := callers.Load(); m != nil {
		old = *m
	}
	if len(old) < maxCallers {
		next := make(map[uintptr]string, len(old)+1)
		maps.Copy(next, old)
		next[c.PC] = s
		callers.Store(&next)
	}
	return s
}

// New returns a JSON logger writing to w at the given (runtime-changeable) level, with the
// service, version and env fields on every line. Name it (Named) before use: the logger key
// is only written for named loggers.
func New(w io.Writer, level zap.AtomicLevel, service, version, env string) *zap.Logger {
	out := zapcore.AddSync(w)
	if _, ok := w.(*os.File); !ok { // an *os.File serializes its writes itself
		out = zapcore.Lock(out)
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(EncoderConfig()), out, level)
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(os.Stderr))).With(
		zap.String("service", service),
		zap.String("version", version),
		zap.String("env", env),
	)
}

// Fatal writes err to w as one line at level fatal, from logger main, with the same keys as
// every other line; main calls it when the service cannot start or stops with an error, and
// then exits non-zero. It never exits by itself.
func Fatal(w io.Writer, service, version, env string, err error) {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(EncoderConfig()), zapcore.Lock(zapcore.AddSync(w)), zapcore.DebugLevel)
	core = core.With([]zap.Field{zap.String("service", service), zap.String("version", version), zap.String("env", env)})
	entry := zapcore.Entry{Level: zapcore.FatalLevel, Time: time.Now(), LoggerName: "main", Message: "exiting", Caller: zapcore.NewEntryCaller(runtime.Caller(1))}
	_ = core.Write(entry, []zap.Field{zap.String("error", err.Error())}) // nowhere left to report a failed write
	_ = core.Sync()
}

// TraceFields returns the trace_id and span_id of the span in ctx when its trace is sampled,
// or nothing: an unsampled trace is never exported, so its ids would link to nothing.
func TraceFields(ctx context.Context) []zap.Field {
	return AppendTraceFields(ctx, nil)
}

// AppendTraceFields appends the fields of TraceFields to fields.
func AppendTraceFields(ctx context.Context, fields []zap.Field) []zap.Field {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return fields
	}
	return append(fields, zap.String("trace_id", sc.TraceID().String()), zap.String("span_id", sc.SpanID().String()))
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying the request-scoped logger l.
func NewContext(ctx context.Context, l *zap.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the request-scoped logger stored by NewContext, with the trace_id and
// span_id of the request's span when its trace is sampled (see TraceFields), or a no-op logger.
func FromContext(ctx context.Context) *zap.Logger {
	l, ok := ctx.Value(ctxKey{}).(*zap.Logger)
	if !ok {
		return zap.NewNop()
	}
	if fields := TraceFields(ctx); fields != nil {
		return l.With(fields...)
	}
	return l
}
