package telemetry

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// otlpEnv is the OTLP exporter configuration from the environment, checked before the
// exporter reads it: the Go SDK silently falls back to its default endpoint on an endpoint it
// cannot parse, and drops header lists it cannot parse.
type otlpEnv struct {
	// endpointURL, when not empty, replaces the endpoint variables: the normalised form of an
	// endpoint given without a scheme. Empty: the exporter reads the variables itself.
	endpointURL string
	// warnings describe each normalisation, one sentence each.
	warnings []string
}

// endpointVar is an endpoint variable and the insecure variable that picks its scheme.
type endpointVar struct {
	name     string
	insecure []string
	generic  bool // the signal path is appended to the generic endpoint
}

var endpointVars = []endpointVar{
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", []string{"OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"}, false},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", []string{"OTEL_EXPORTER_OTLP_INSECURE"}, true},
}

// readOTLPEnv checks the endpoint and header variables. An endpoint with a scheme other than
// http or https, one without a host, or a header list that is not key=value pairs is an
// error. An endpoint without a scheme (host:port, as in the common $(HOST_IP):4317) is
// normalised: http:// when the matching OTEL_EXPORTER_OTLP_*INSECURE is true, https://
// otherwise (the specification's rule), with a warning.
func readOTLPEnv(getenv func(string) string) (otlpEnv, error) {
	var env otlpEnv
	effective := true // the first endpoint variable that is set wins, as in the SDK
	for _, v := range endpointVars {
		raw := strings.TrimSpace(getenv(v.name))
		if raw == "" {
			continue
		}
		u, normalised, err := parseEndpoint(raw, insecure(getenv, v.insecure))
		if err != nil {
			return otlpEnv{}, fmt.Errorf("%s=%q: %w", v.name, raw, err)
		}
		if effective {
			if p := u.Port(); p == otherProtocolPort {
				env.warnings = append(env.warnings, fmt.Sprintf(
					"%s uses port %s, the usual OTLP port of the other protocol; this service exports with %s (usual port %s)",
					v.name, p, exporterName, exporterPort))
			}
			if normalised {
				if v.generic {
					u.Path = strings.TrimSuffix(u.Path, "/") + signalPath
				}
				env.endpointURL = u.String()
				env.warnings = append(env.warnings, fmt.Sprintf(
					"%s has no scheme: exporting to %s (http:// when %s is true, https:// otherwise)",
					v.name, env.endpointURL, v.insecure[0]))
			}
		}
		effective = false
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if err := checkHeaders(getenv(name)); err != nil {
			return otlpEnv{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return env, nil
}

func insecure(getenv func(string) string, names []string) bool {
	for _, name := range names {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return isTrue(v)
		}
	}
	return false
}

// parseEndpoint parses an OTLP endpoint; normalised reports that it had no scheme and got one.
func parseEndpoint(raw string, insecure bool) (u *url.URL, normalised bool, err error) {
	scheme, _, hasScheme := strings.Cut(raw, "://")
	if !hasScheme {
		scheme = "https"
		if insecure {
			scheme = "http"
		}
		raw, normalised = scheme+"://"+raw, true
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
	default:
		return nil, false, fmt.Errorf("scheme %q is not supported by the OTLP %s exporter of this service; use http:// (plaintext) or https:// (TLS)", scheme, exporterName)
	}
	u, err = url.Parse(raw)
	if err != nil {
		return nil, false, fmt.Errorf("not a URL: %w", err)
	}
	if u.Hostname() == "" {
		return nil, false, fmt.Errorf("no host; want a URL like %s://collector:%s", scheme, exporterPort)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, false, fmt.Errorf("port %q is invalid", p)
		}
	}
	return u, normalised, nil
}

// checkHeaders accepts a comma-separated list of key=value pairs with percent-encoded values
// (the OTLP exporter specification; empty entries are ignored). Errors never quote a value:
// header values are often credentials.
func checkHeaders(list string) error {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	entries := strings.Split(list, ",")
	for i, entry := range entries {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		key, value, ok := strings.Cut(entry, "=")
		pos := fmt.Sprintf("entry %d of %d", i+1, len(entries))
		if !ok {
			return fmt.Errorf("%s has no '='; want a comma-separated list like \"x-tenant=shop,authorization=Bearer%%20t0ken\"", pos)
		}
		key = strings.TrimSpace(key)
		if !validToken(key) {
			return fmt.Errorf("%s: %q is not a valid header name", pos, key)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("%s (%s): the value is not percent-encoded correctly", pos, key)
		}
		if strings.ContainsAny(decoded, "\r\n\x00") {
			return fmt.Errorf("%s (%s): the value contains a line break or NUL", pos, key)
		}
	}
	return nil
}

// validToken reports whether s is an HTTP header name (an RFC 9110 token).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 0x7e || c <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}
