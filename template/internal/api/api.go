// Package api holds the business routes of the service. Replace the examples with your own;
// every route registered here gets tracing, RED metrics, access logs, the handler deadline and
// panic recovery from the server package.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"unicode/utf8"

	"go.uber.org/zap"

	"gosmith.invalid/module/internal/client"
	"gosmith.invalid/module/internal/logging"
)

const maxNameLen = 64

// Routes returns the business routes. greeting returns the current greeting; it may change
// while the service runs. upstream is the service the relay route calls; nil (no UPSTREAM_URL)
// turns that route into a 503.
func Routes(greeting func() string, upstream *client.Client) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/hello/{name}", hello(greeting))
	mux.HandleFunc("POST /v1/echo", echo)
	mux.HandleFunc("GET /v1/relay/{name}", relay(upstream))
	return mux
}

// maxUpstreamBody bounds how much of the upstream's answer relay reads.
const maxUpstreamBody = 1 << 20

// relay asks the upstream to greet the name in the path (its GET /v1/hello/{name}) and
// returns the upstream's status and answer. The call inherits this request's trace, baggage
// and deadline (see package client): 504 when the deadline cut it, 502 when it failed.
func relay(upstream *client.Client) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if upstream == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no upstream configured (UPSTREAM_URL)"})
			return
		}
		name := r.PathValue("name")
		if utf8.RuneCountInString(name) > maxNameLen {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name is too long"})
			return
		}
		resp, err := upstream.Get(r.Context(), "/v1/hello/"+url.PathEscape(name))
		if err != nil {
			code := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrNoBudget) {
				code = http.StatusGatewayTimeout
			}
			logging.FromContext(r.Context()).Warn("upstream call failed", zap.String("upstream", upstream.Name()), zap.Error(err))
			writeJSON(w, code, map[string]string{"error": "upstream " + upstream.Name() + " failed"})
			return
		}
		defer func() { _ = resp.Body.Close() }()
		var answer map[string]any
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxUpstreamBody)).Decode(&answer); err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "upstream " + upstream.Name() + " answered no JSON"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"upstream": upstream.Name(), "status": resp.StatusCode, "answer": answer})
	}
}

// hello greets the name in the path.
func hello(greeting func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if utf8.RuneCountInString(name) > maxNameLen {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name is too long"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"message": greeting() + ", " + name + "!"})
	}
}

// echo reports the size and SHA-256 of the request body. The server limits the body
// (MAX_BODY_BYTES): a larger one fails the read with *http.MaxBytesError.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body is too large"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "cannot read body"})
		return
	}
	sum := sha256.Sum256(body)
	writeJSON(w, http.StatusOK, map[string]any{"bytes": len(body), "sha256": hex.EncodeToString(sum[:])})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
