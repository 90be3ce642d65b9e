// Package api holds the business routes of the service. Replace the examples with your own;
// every route registered here gets tracing, RED metrics, access logs, the handler deadline and
// panic recovery from the server package.
package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"unicode/utf8"
)

const maxNameLen = 64

// Routes returns the business routes. greeting returns the current greeting; it may change
// while the service runs.
func Routes(greeting func() string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/hello/{name}", hello(greeting))
	mux.HandleFunc("POST /v1/echo", echo)
	return mux
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
