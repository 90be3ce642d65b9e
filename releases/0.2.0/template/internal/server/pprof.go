//go:build pprof

package server

import (
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofWriteTimeout lets `go tool pprof` take its default 30-second CPU profile.
const pprofWriteTimeout = 65 * time.Second

// registerPprof serves the runtime profiles under /debug/pprof/ (built with -tags pprof).
func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// debugWriteTimeout raises the debug listener's write timeout so that profiles can be taken.
func debugWriteTimeout(d time.Duration) time.Duration {
	return max(d, pprofWriteTimeout)
}
