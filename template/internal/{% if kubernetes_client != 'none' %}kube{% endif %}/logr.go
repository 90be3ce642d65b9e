package kube

import (
	"github.com/go-logr/logr"
	"go.uber.org/zap"

	"gosmith.invalid/module/internal/logging"
)

// maxVerbosity is the most verbose klog level written (as debug); client-go's V(5) and above
// trace every request and are dropped.
const maxVerbosity = 4

// Logr returns the logger for client-go (klog.SetLogger, klog.NewContext) and, where the service
// runs one, controller-runtime's manager (ctrl.SetLogger): its lines become JSON lines of log,
// with klog's verbosity mapped to levels: V(0) is info, V(1) to V(4) debug.
func Logr(log *zap.Logger) logr.Logger {
	// one more frame (klogSink) between the caller and logging's sink
	return logr.New(klogSink{inner: logging.NewLogr(log.WithOptions(zap.AddCallerSkip(1))).GetSink()})
}

// klogSink translates klog verbosity to the service's logr sink, whose scale is 0 = info,
// 1 = warn, 2 = debug.
type klogSink struct {
	inner logr.LogSink
}

// Init implements logr.LogSink.
func (s klogSink) Init(info logr.RuntimeInfo) { s.inner.Init(info) }

// Enabled implements logr.LogSink.
func (s klogSink) Enabled(level int) bool {
	return level <= maxVerbosity && s.inner.Enabled(sinkLevel(level))
}

// Info implements logr.LogSink.
func (s klogSink) Info(level int, msg string, keysAndValues ...any) {
	if level <= maxVerbosity {
		s.inner.Info(sinkLevel(level), msg, keysAndValues...)
	}
}

// Error implements logr.LogSink.
func (s klogSink) Error(err error, msg string, keysAndValues ...any) {
	s.inner.Error(err, msg, keysAndValues...)
}

// WithValues implements logr.LogSink.
func (s klogSink) WithValues(keysAndValues ...any) logr.LogSink {
	return klogSink{inner: s.inner.WithValues(keysAndValues...)}
}

// WithName implements logr.LogSink.
func (s klogSink) WithName(name string) logr.LogSink {
	return klogSink{inner: s.inner.WithName(name)}
}

func sinkLevel(v int) int {
	if v <= 0 {
		return 0
	}
	return 2
}
