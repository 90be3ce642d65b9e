//go:build pprof

package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestPprofOnDebug(t *testing.T) {
	mux := Debug(zap.NewAtomicLevel())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/debug/pprof/ = %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	Admin(&Readiness{}, http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("/debug/pprof/ on the admin mux = %d", rec.Code)
	}
	if got := DebugLimits(Limits{WriteTimeout: 10 * time.Second}).WriteTimeout; got < 30*time.Second {
		t.Fatalf("debug write timeout %s is too short for a 30s CPU profile", got)
	}
}
