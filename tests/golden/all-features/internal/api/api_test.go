package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	greeting := "Hello"
	const limit = 16 // the server limits every body (MAX_BODY_BYTES); the routes see the read fail
	h := http.MaxBytesHandler(Routes(func() string { return greeting }, nil), limit)
	tests := []struct {
		name, method, path, body string
		wantCode                 int
		wantBody                 string
	}{
		{"hello", http.MethodGet, "/v1/hello/ada", "", http.StatusOK, `{"message":"Hello, ada!"}`},
		{"name too long", http.MethodGet, "/v1/hello/" + strings.Repeat("x", 65), "", http.StatusBadRequest, `{"error":"name is too long"}`},
		{"wrong method", http.MethodPost, "/v1/hello/ada", "", http.StatusMethodNotAllowed, ""},
		{"echo", http.MethodPost, "/v1/echo", "abc", http.StatusOK, `{"bytes":3,"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}`},
		{"echo too large", http.MethodPost, "/v1/echo", strings.Repeat("x", limit+1), http.StatusRequestEntityTooLarge, `{"error":"body is too large"}`},
		{"unknown", http.MethodGet, "/v2/nothing", "", http.StatusNotFound, ""},
		{"relay without upstream", http.MethodGet, "/v1/relay/ada", "", http.StatusServiceUnavailable, `{"error":"no upstream configured (UPSTREAM_URL)"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantBody == "" {
				return
			}
			var got, want any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if err := json.Unmarshal([]byte(tt.wantBody), &want); err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, want) {
				t.Fatalf("body = %s, want %s", rec.Body, tt.wantBody)
			}
		})
	}
}

func TestGreetingChangesAtRuntime(t *testing.T) {
	greeting := "Hello"
	h := Routes(func() string { return greeting }, nil)
	greeting = "Hi"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/hello/bob", nil))
	if !strings.Contains(rec.Body.String(), "Hi, bob!") {
		t.Fatalf("body = %s", rec.Body)
	}
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
