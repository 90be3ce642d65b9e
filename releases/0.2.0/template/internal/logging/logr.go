package logging

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogSink adapts a zap logger to logr, the logging API of the OpenTelemetry SDK
// (otel.SetLogger), so that the SDK's own lines are JSON lines like every other. Verbosity
// follows the SDK's convention: V(1) is a warning, V(2) and above (the SDK's info and debug
// lines) are debug; Error is error. Key-value pairs become flat fields: values other than
// strings, numbers, booleans, durations and errors are written as text.
type LogSink struct {
	log *zap.Logger
}

// NewLogr returns a logr.Logger that writes through log.
func NewLogr(log *zap.Logger) logr.Logger {
	return logr.New(&LogSink{log: log.WithOptions(zap.AddCallerSkip(2))}) // skip the sink and logr.Logger
}

// Init implements logr.LogSink; the caller is found through zap's caller skip instead.
func (s *LogSink) Init(logr.RuntimeInfo) {}

// Enabled reports whether lines of the given verbosity are written.
func (s *LogSink) Enabled(level int) bool {
	return s.log.Core().Enabled(zapLevel(level))
}

// Info writes a line at the level that matches the verbosity.
func (s *LogSink) Info(level int, msg string, keysAndValues ...any) {
	if ce := s.log.Check(zapLevel(level), msg); ce != nil {
		ce.Write(fields(keysAndValues)...)
	}
}

// Error writes an error line; the error is a plain string field.
func (s *LogSink) Error(err error, msg string, keysAndValues ...any) {
	f := fields(keysAndValues)
	if err != nil {
		f = append(f, zap.String("error", err.Error()))
	}
	s.log.Error(msg, f...)
}

// WithValues returns a sink that adds the key-value pairs to every line.
func (s *LogSink) WithValues(keysAndValues ...any) logr.LogSink {
	return &LogSink{log: s.log.With(fields(keysAndValues)...)}
}

// WithName returns a sink whose logger name has name appended.
func (s *LogSink) WithName(name string) logr.LogSink {
	return &LogSink{log: s.log.Named(name)}
}

func zapLevel(v int) zapcore.Level {
	switch {
	case v <= 0:
		return zapcore.InfoLevel
	case v == 1:
		return zapcore.WarnLevel
	default:
		return zapcore.DebugLevel
	}
}

// fields turns logr key-value pairs into flat zap fields.
func fields(kv []any) []zap.Field {
	out := make([]zap.Field, 0, len(kv)/2+1)
	for i := 0; i < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		if i+1 == len(kv) {
			out = append(out, zap.String(key, "(missing value)"))
			break
		}
		out = append(out, field(key, kv[i+1]))
	}
	return out
}

func field(key string, v any) zap.Field {
	switch v := v.(type) {
	case string:
		return zap.String(key, v)
	case bool:
		return zap.Bool(key, v)
	case int:
		return zap.Int(key, v)
	case int64:
		return zap.Int64(key, v)
	case uint64:
		return zap.Uint64(key, v)
	case float64:
		return zap.Float64(key, v)
	case time.Duration:
		return zap.Duration(key, v)
	case error:
		return zap.String(key, v.Error())
	case fmt.Stringer:
		return zap.Stringer(key, v)
	default:
		return zap.String(key, fmt.Sprintf("%+v", v))
	}
}
