package server

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The server span of each business request follows the OpenTelemetry HTTP semantic conventions
// with the same name and attributes as otelhttp's server handler (v0.72): "{method} {route}",
// kind server, the request attributes below, http.route, http.response.status_code and the body
// sizes. Unlike otelhttp it builds the attributes only for spans that are recorded (sampled), so
// the unsampled majority of requests costs a span context and nothing else, and it records no
// metrics of its own (the service's RED metrics are in package metrics).

// serverStart are the start options of every server span, made once: options are interfaces,
// and a variadic slice passed to an interface method escapes (one allocation per request).
var serverStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// headerCarrier reads propagation headers without allocating: propagators ask for lowercase
// names (traceparent, baggage, b3, ...), which http.Header.Get would canonicalise into a new
// string on every request.
type headerCarrier http.Header

// canonicalKeys are the canonical forms of the header names the propagators ask for.
var canonicalKeys = map[string]string{
	"traceparent": "Traceparent", "tracestate": "Tracestate", "baggage": "Baggage",
	"b3": "B3", "x-b3-traceid": "X-B3-Traceid", "x-b3-spanid": "X-B3-Spanid",
	"x-b3-parentspanid": "X-B3-Parentspanid", "x-b3-sampled": "X-B3-Sampled", "x-b3-flags": "X-B3-Flags",
}

// Get returns the first value of key.
func (c headerCarrier) Get(key string) string {
	if k, ok := canonicalKeys[key]; ok {
		if v := c[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return http.Header(c).Get(key)
}

// Set sets key (propagators only set headers when injecting; here for the interface).
func (c headerCarrier) Set(key, value string) { http.Header(c).Set(key, value) }

// Keys lists the header names.
func (c headerCarrier) Keys() []string { return propagation.HeaderCarrier(c).Keys() }

// methodAttrs are the http.request.method attributes of the standard methods.
var methodAttrs = map[string]attribute.KeyValue{
	http.MethodConnect: semconv.HTTPRequestMethodConnect,
	http.MethodDelete:  semconv.HTTPRequestMethodDelete,
	http.MethodGet:     semconv.HTTPRequestMethodGet,
	http.MethodHead:    semconv.HTTPRequestMethodHead,
	http.MethodOptions: semconv.HTTPRequestMethodOptions,
	http.MethodPatch:   semconv.HTTPRequestMethodPatch,
	http.MethodPost:    semconv.HTTPRequestMethodPost,
	http.MethodPut:     semconv.HTTPRequestMethodPut,
	http.MethodTrace:   semconv.HTTPRequestMethodTrace,
}

// spanName is "{method} {route}", or "{method}" alone when no route matched; methods outside
// the standard ones are named HTTP.
func spanName(method, pattern string) string {
	if _, ok := methodAttrs[method]; !ok {
		method = "HTTP"
	}
	if rt := route(pattern); rt != "" {
		return method + " " + rt
	}
	return method
}

// requestAttrs appends the attributes of a recorded server span that describe the request.
func requestAttrs(attrs []attribute.KeyValue, r *http.Request) []attribute.KeyValue {
	host, port := splitHostPort(r.Host)
	attrs = append(attrs, semconv.ServerAddress(host))
	if m, ok := methodAttrs[r.Method]; ok {
		attrs = append(attrs, m)
	} else {
		attrs = append(attrs, semconv.HTTPRequestMethodOther, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	scheme, defaultPort := "http", 80
	if r.TLS != nil {
		scheme, defaultPort = "https", 443
	}
	attrs = append(attrs, semconv.URLScheme(scheme))
	if port > 0 && port != defaultPort {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	peer, peerPort := splitHostPort(r.RemoteAddr)
	if peer != "" {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer))
		if peerPort > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(peerPort))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	client, _, _ := strings.Cut(r.Header.Get("X-Forwarded-For"), ",")
	if client == "" {
		client = peer
	}
	if client != "" {
		attrs = append(attrs, semconv.ClientAddress(client))
	}
	if r.URL != nil && r.URL.Path != "" {
		attrs = append(attrs, semconv.URLPath(r.URL.Path))
	}
	name, version, _ := strings.Cut(r.Proto, "/")
	if name = strings.ToLower(name); name != "" && name != "http" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	return attrs
}

// attrPool holds the attribute slices of recorded spans: the span copies them.
var attrPool = sync.Pool{New: func() any { s := make([]attribute.KeyValue, 0, 24); return &s }}

// endSpan adds the attributes to a recorded span once the response is done, in one call (the
// span then allocates its attribute storage once): those of the request, http.route, the body
// sizes and the status code. 5xx responses and aborted requests (status 0: the client received
// nothing) become errors with error.type (the status code, or the aborted reason) and, unless a
// panic already recorded one, an exception event.
func endSpan(span trace.Span, r *http.Request, pattern string, status int, aborted string, panicked bool, read, written int64) {
	if !span.IsRecording() {
		return
	}
	buf := attrPool.Get().(*[]attribute.KeyValue)
	attrs := requestAttrs((*buf)[:0], r)
	if rt := route(pattern); rt != "" {
		attrs = append(attrs, semconv.HTTPRoute(rt))
	}
	if read > 0 {
		attrs = append(attrs, semconv.HTTPRequestBodySize(int(read)))
	}
	if written > 0 {
		attrs = append(attrs, semconv.HTTPResponseBodySize(int(written)))
	}
	if status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	errType := aborted
	if errType == "" && status >= http.StatusInternalServerError {
		errType = strconv.Itoa(status)
	}
	if errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
	}
	span.SetAttributes(attrs...)
	clear(attrs)
	*buf = attrs[:0]
	attrPool.Put(buf)
	if errType == "" {
		return
	}
	span.SetStatus(codes.Error, errType)
	if !panicked {
		span.RecordError(&requestError{status: status, aborted: aborted})
	}
}

// splitHostPort splits "host:port", "[v6]:port" or a bare host; port is -1 when absent.
func splitHostPort(hostport string) (string, int) {
	if !strings.HasPrefix(hostport, "[") && !strings.Contains(hostport, ":") {
		return hostport, -1
	}
	if strings.HasPrefix(hostport, "[") {
		end := strings.LastIndexByte(hostport, ']')
		if end < 0 {
			return "", -1
		}
		if !strings.Contains(hostport[end:], ":") {
			return hostport[1:end], -1
		}
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return host, -1
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return host, -1
	}
	return host, int(port)
}
