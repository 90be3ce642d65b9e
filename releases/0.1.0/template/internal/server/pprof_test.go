//go:build pprof

package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestPprofOnAdmin(t *testing.T) {
	mux := Admin(&Readiness{}, http.NotFoundHandler(), zap.NewAtomicLevel())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/debug/pprof/ = %d", rec.Code)
	}
	if got := AdminLimits(Limits{WriteTimeout: 10 * time.Second}).WriteTimeout; got < 30*time.Second {
		t.Fatalf("admin write timeout %s is too short for a 30s CPU profile", got)
	}
}
