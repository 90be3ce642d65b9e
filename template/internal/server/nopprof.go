//go:build !pprof

package server

import "net/http"

// registerPprof does nothing: build with -tags pprof to serve /debug/pprof/ on the admin port.
func registerPprof(*http.ServeMux) {}
