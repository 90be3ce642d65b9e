//go:build !pprof

package server

import (
	"net/http"
	"time"
)

// registerPprof does nothing: build with -tags pprof to serve /debug/pprof/ on the debug listener.
func registerPprof(*http.ServeMux) {}

// debugWriteTimeout keeps the configured write timeout (no profiles to take).
func debugWriteTimeout(d time.Duration) time.Duration { return d }
