// Package logging builds the service's structured JSON logger.
//
// Every line is one JSON object with flat snake_case keys: ts (RFC 3339, UTC, microseconds),
// level (lowercase), logger, caller, msg, service, version and env; request-scoped lines add
// trace_id and span_id.
package logging

import (
	"context"
	"io"
	"os"
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
		EncodeTime:     func(t time.Time, enc zapcore.PrimitiveArrayEncoder) { enc.AppendString(t.UTC().Format(TimeLayout)) },
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeCaller:   zapcore.ShortCallerEncoder,
		EncodeName:     zapcore.FullNameEncoder,
	}
}

// New returns a JSON logger writing to w at the given (runtime-changeable) level, with the
// service, version and env fields on every line. Name it (Named) before use: the logger key
// is only written for named loggers.
func New(w io.Writer, level zap.AtomicLevel, service, version, env string) *zap.Logger {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(EncoderConfig()), zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(os.Stderr))).With(
		zap.String("service", service),
		zap.String("version", version),
		zap.String("env", env),
	)
}

// TraceFields returns the trace_id and span_id of the span in ctx, or nothing without a span.
func TraceFields(ctx context.Context) []zap.Field {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []zap.Field{zap.String("trace_id", sc.TraceID().String()), zap.String("span_id", sc.SpanID().String())}
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying the request-scoped logger l.
func NewContext(ctx context.Context, l *zap.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the request-scoped logger stored by NewContext, or a no-op logger.
func FromContext(ctx context.Context) *zap.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*zap.Logger); ok {
		return l
	}
	return zap.NewNop()
}
