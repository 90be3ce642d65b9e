//go:build !pprof

package server

import (
	"net/http"
	"time"
)

// registerPprof does nothing: build with -tags pprof to serve /debug/pprof/ on the admin port.
func registerPprof(*http.ServeMux) {}

// adminWriteTimeout keeps the configured write timeout (no profiles to take).
func adminWriteTimeout(d time.Duration) time.Duration { return d }
