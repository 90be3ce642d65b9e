package server

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/acme/orders-api/internal/metrics"
)

// ShedRetryAfter is the Retry-After of a shed request, in seconds: long enough for the
// requests in flight to finish, short enough that a client retries soon.
const ShedRetryAfter = 1

// InFlightLimit derives the in-flight limit from Little's law: the service completes about
// gomaxprocs / targetLatency requests a second when each needs targetLatency of one core, and a
// request admitted behind limit others must still finish inside handlerTimeout, so
// limit = gomaxprocs x handlerTimeout / targetLatency (at least gomaxprocs). Past it, queueing
// only makes every request late; refusing the excess keeps the admitted ones fast.
func InFlightLimit(gomaxprocs int, handlerTimeout, targetLatency time.Duration) int {
	if targetLatency <= 0 || handlerTimeout <= 0 {
		return 0
	}
	n := math.Ceil(float64(gomaxprocs) * float64(handlerTimeout) / float64(targetLatency))
	return max(int(min(n, math.MaxInt32)), gomaxprocs, 1)
}

// shedder admits at most cap(slots) requests at once; a nil shedder admits all.
type shedder struct {
	slots   chan struct{}
	log     *zap.Logger
	metrics *metrics.Metrics
}

func newShedder(limit int, log *zap.Logger, m *metrics.Metrics) *shedder {
	if m != nil {
		m.SetInFlightLimit(max(limit, 0))
	}
	if limit <= 0 {
		return nil
	}
	return &shedder{slots: make(chan struct{}, limit), log: log, metrics: m}
}

// admit takes a slot without waiting, or reports that none is free.
func (s *shedder) admit() bool {
	if s == nil {
		return true
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// release frees the slot taken by admit.
func (s *shedder) release() {
	if s != nil {
		<-s.slots
	}
}

// refuse answers a shed request: 503 with Retry-After, counted and logged with shed=true.
func (s *shedder) refuse(w http.ResponseWriter, r *http.Request, drain *Drain) {
	w.Header().Set("Retry-After", strconv.Itoa(ShedRetryAfter))
	if drain.Draining() {
		w.Header().Set("Connection", "close")
	}
	writeText(w, http.StatusServiceUnavailable, "overloaded, retry later\n")
	if s.metrics != nil {
		s.metrics.Shed()
	}
	if s.log != nil {
		s.log.Info("request",
			zap.String("method", r.Method),
			zap.String("path", r.URL.Path),
			zap.Int("status", http.StatusServiceUnavailable),
			zap.Bool("shed", true),
			zap.Int("in_flight_limit", cap(s.slots)),
			zap.String("remote_addr", r.RemoteAddr),
		)
	}
}
