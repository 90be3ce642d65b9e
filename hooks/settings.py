"""The one rule table: every setting gosmith knows, its type, unit, default, limits and where it surfaces.

Each `Setting` names where the value appears:

* `answer`: a copier.yml question of that name (its validator is `copier_validator(name)`, kept equal
  to copier.yml's by a test); `tune`: also a `gosmith tune --NAME` option (every answer is accepted
  by `gosmith tune -d NAME=VALUE`);
* `values`: Helm values paths; `env`: the environment variable the service reads; `go`: the Go
  `Config` field (and `go_const`, the Go constant holding its floor, when Validate checks one).

The limits (`minimum`, `maximum`, `choices`) hold on every surface unless a `Surface` lists a
deliberate difference, with the reason: the chart's `values.schema.json` and the Go `Validate` are
compared with this table by tests (tests/test_settings.py), and the answers/settings reference pages
are generated from it (scripts/gen_docs.py). Every error is one line that names the setting and the
limit first: "http_port must be 1024-65535 (non-root containers cannot bind below 1024), got 80".

Standard library only: copier loads this file through hooks/extension.py.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from . import quantities as q

# ----------------------------------------------------------------------------- value parsing
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def to_bool(value: object) -> bool | None:
    """Return `value` as a bool (bool, 0/1, or true/false/yes/no/on/off text), or None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def fmt(n: Fraction | int) -> str:
    """Return a number without a trailing '.0' (exact for the 3-decimal values used here)."""
    if isinstance(n, int) or n.denominator == 1:
        return str(int(n))
    text = format(Decimal(n.numerator) / Decimal(n.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(value: object, name: str) -> Fraction | str:
    """Return `value` as an exact Fraction, or an error message (bools and NaN are not numbers)."""
    if isinstance(value, bool):
        return f"{name} must be a number, got {value!r}"
    if isinstance(value, int | float | str):
        text = str(value).strip()
        if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
            return Fraction(text)
    return f"{name} must be a non-negative decimal number, got {value!r}"


def integer(value: object, name: str) -> int | str:
    """Return `value` as an int, or an error message."""
    if isinstance(value, bool):
        return f"{name} must be an integer, got {value!r}"
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        return int(value.strip())
    return f"{name} must be an integer, got {value!r}"


def _list(value: object) -> list[str] | None:
    """Return a list answer (a list, or comma-separated text) as stripped strings; None when neither."""
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value]
    if isinstance(value, str):
        return [] if not value.strip() else [v.strip() for v in value.split(",")]
    return None


# ----------------------------------------------------------------------------- format rules
_DNS1123_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MODULE_ELEM = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9._~]*$")
_OWNER = re.compile(r"^@?[A-Za-z0-9][-A-Za-z0-9_.]*(/[A-Za-z0-9][-A-Za-z0-9_.]*)?$")
_REGISTRY_HOST = re.compile(r"^(localhost|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+)(:\d{1,5})?$")
_REGISTRY_PATH = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")


def service_name(value: object) -> str:
    """Return why `value` is not a DNS-1123 label of at most 63 characters."""
    s = str(value)
    if not s:
        return "service_name must not be empty"
    if len(s) > 63:
        return f"service_name must be at most 63 characters (DNS-1123 label), got {len(s)}"
    if not _DNS1123_LABEL.match(s):
        return (
            f"service_name {s!r} must be a DNS-1123 label: lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return ""


def module_path(value: object) -> str:
    """Return why `value` is not a usable Go module path."""
    s = str(value)
    if not s:
        return "module_path must not be empty"
    if s != s.strip() or any(c.isspace() for c in s):
        return f"module_path {s!r} must not contain whitespace"
    if s.startswith("/") or s.endswith("/") or "//" in s:
        return f"module_path {s!r} must be slash-separated elements with no empty element"
    for elem in s.split("/"):
        if not _MODULE_ELEM.match(elem) or elem.endswith(".") or elem in {".", ".."}:
            return (
                f"module_path element {elem!r} is invalid: use letters, digits and '-._~', "
                "starting with a letter or digit"
            )
    first = s.split("/")[0]
    if first != first.lower():
        return f"module_path {s!r}: the first element (a host name) must be lowercase"
    return ""


def owner(value: object) -> str:
    """Return why `value` is not a team or user handle (e.g. @org/team or platform-team)."""
    s = str(value)
    if not s:
        return "owner must not be empty"
    if not _OWNER.match(s):
        return f"owner {s!r} must be a handle like @my-org/my-team or platform-team"
    return ""


def description(value: object) -> str:
    """Return why `value` is not a one-line description."""
    s = str(value)
    if not s.strip():
        return "description must not be empty"
    if "\n" in s or len(s) > 200:
        return "description must be one line of at most 200 characters"
    if '"' in s or "\\" in s:
        return "description must not contain double quotes or backslashes"
    return ""


def container_registry(value: object) -> str:
    """Return why `value` is not a registry prefix like ghcr.io/acme (host[:port][/namespace...], no tag)."""
    s = str(value)
    if not s:
        return "container_registry must not be empty"
    if s != s.lower():
        return f"container_registry {s!r} must be lowercase (image references are)"
    host, _, rest = s.partition("/")
    if not _REGISTRY_HOST.match(host):
        return (
            f"container_registry {s!r} must start with a registry host such as ghcr.io, "
            "registry.example.com:5000 or localhost:5000"
        )
    if rest and not all(_REGISTRY_PATH.match(part) for part in rest.split("/")):
        return (
            f"container_registry {s!r}: each path element must be lowercase letters and digits "
            "separated by '.', '_' or '-' (no tag, no trailing '/')"
        )
    return ""


def copyright_holder(value: object) -> str:
    """Return why `value` is not a one-line copyright holder name."""
    s = str(value)
    if not s.strip():
        return "copyright_holder must not be empty"
    if len(s) > 120 or any(not c.isprintable() for c in s):
        return "copyright_holder must be one printable line of at most 120 characters"
    return ""


def _namespace(name: str, value: object) -> str:
    """Return why `value` is not a Kubernetes namespace name."""
    s = str(value).strip()
    if not s or len(s) > 63 or not _NAMESPACE.match(s):
        return f"{name} {s!r} must be a namespace name (DNS-1123 label: a-z, 0-9, '-', at most 63 characters)"
    return ""


def monitoring_namespace(value: object) -> str:
    """Return why `value` is not a namespace name (DNS-1123 label)."""
    return _namespace("monitoring_namespace", value)


def ingress_namespaces(value: object) -> str:
    """Return why `value` is not a comma-separated list of namespace names (empty allowed)."""
    items = _list(value)
    if items is None:
        return f"ingress_namespaces must be comma-separated namespace names, got {value!r}"
    for item in items:
        if msg := _namespace("ingress_namespaces: namespace", item):
            return msg
    return ""


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Surface:
    """A place a setting appears with limits deliberately different from the table's, and why."""

    where: str  # "values", "env" or "go"
    name: str  # values path, env var or Go field
    minimum: Fraction | int | None = None
    maximum: Fraction | int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Setting:
    """One setting: its rule and every place it surfaces."""

    name: str
    type: str  # int, number, str, bool, choice, multichoice, cpu, memory, version, duration
    #: The default (copier.yml's for answers); None when computed from other answers or derived.
    default: Any
    description: str
    section: str = ""
    unit: str = ""
    minimum: Fraction | int | None = None
    maximum: Fraction | int | None = None
    choices: tuple[str, ...] = ()
    #: Why the limits are what they are; shown in the error message.
    why: str = ""
    #: Empty text allowed (quantities: "" = not set).
    optional: bool = False
    #: A copier.yml question of this name.
    answer: bool = True
    #: A named `gosmith tune` option (`--name-with-dashes`).
    tune: bool = False
    #: Derived by the tuning rules rather than given (surfaces only: values, env, Go).
    derived: bool = False
    values: tuple[str, ...] = ()
    env: str = ""
    go: str = ""
    #: Go constant holding the floor Config.Validate enforces.
    go_const: str = ""
    #: Per-surface differences from the limits above, each with its reason.
    surfaces: tuple[Surface, ...] = ()
    #: Format rule for text settings; returns the error or "".
    rule: Callable[[object], str] | None = field(default=None, compare=False)
    #: Earlier answers the copier validator passes for cross-field rules (see CROSS).
    with_answers: tuple[str, ...] = ()
    #: copier.yml's help; `{range}` and the tuning constants in braces (`{GRACE_MARGIN}`) are filled in from the
    #: rules by hooks/surfaces.py, so a number is written once.
    help: str = ""
    #: copier.yml's `when` (a Jinja condition), for a question asked only after certain answers.
    when: str = ""
    #: copier.yml's default when it is a Jinja expression over earlier answers (`default` is None then).
    copier_default: str = ""
    #: A duration for which 0s is allowed (off); every other duration must be positive.
    zero_ok: bool = False
    #: The Helm expression the chart passes as `env` when it is not the value at `values[0]`.
    chart_value: str = ""
    #: `gosmith tune`'s flag when it is not `--name-with-dashes` (a bool's `--on/--off` pair).
    tune_flags: str = ""
    #: The short label under which `gosmith doctor` reads this service timing from a workload (env `env`,
    #: annotation `gosmith.dev/name-with-dashes`, flag `--name-with-dashes`); "" = not a doctor input.
    doctor: str = ""

    def limits(self, where: str = "", name: str = "") -> tuple[Fraction | int | None, Fraction | int | None]:
        """Return (minimum, maximum) on a surface (`where`, `name`), the table's unless a Surface differs."""
        for s in self.surfaces:
            if s.where == where and (not name or s.name == name):
                return s.minimum, s.maximum
        return self.minimum, self.maximum

    def range_text(self) -> str:
        """Return the allowed values in words: '1024-65535', 'floor, ceil or go', 'a CPU quantity'."""
        if self.choices:
            head, last = self.choices[:-1], self.choices[-1]
            return f"{', '.join(head)} or {last}" if head else last
        if self.minimum is not None and self.maximum is not None:
            if self.type == "version":
                return f"1.{self.minimum} to 1.{self.maximum}"
            return f"{fmt(self.minimum)}-{fmt(self.maximum)}{self.unit}"
        if self.minimum is not None:
            return f">= {fmt(self.minimum)}{self.unit}"
        return ""


def did_you_mean(got: object, known: Iterable[str]) -> str:
    """Return " (did you mean X?)" for the known word closest to `got` (case aside), or "" when none is close."""
    words = list(known)
    text = str(got).strip()
    same = [w for w in words if w.lower() == text.lower()]
    close = same or difflib.get_close_matches(text.lower(), [w.lower() for w in words], n=1, cutoff=0.75)
    if not close:
        return ""
    match = next(w for w in words if w.lower() == close[0])
    return f" (did you mean {match}?)" if match != text else ""


def _limit_error(s: Setting, shown: str, got: object) -> str:
    """Return the one-line error for a value outside the limits of `s`, limit first."""
    why = f" ({s.why})" if s.why else ""
    return f"{s.name} must be {shown}{why}, got {got}"


def validator(s: Setting) -> Callable[[object], str]:
    """Return the single-field validator of `s`: the error message, or "" when the value is fine."""

    def check(value: object) -> str:
        if s.type in ("int", "number"):
            n = integer(value, s.name) if s.type == "int" else number(value, s.name)
            if isinstance(n, str):
                return n
            if s.type == "int" and str(value).strip() != str(n) and not isinstance(value, int | float):
                return f"{s.name} must be an integer, got {value!r}"
            if (s.minimum is not None and n < s.minimum) or (s.maximum is not None and n > s.maximum):
                return _limit_error(s, s.range_text(), fmt(n))
            if s.type == "number" and (n * 1000).denominator != 1:
                return f"{s.name} must have at most 3 decimals (millisecond precision), got {value!r}"
            return ""
        if s.type == "bool":
            return "" if to_bool(value) is not None else f"{s.name} must be true or false, got {value!r}"
        if s.type == "choice":
            if value in s.choices:
                return ""
            return _limit_error(s, f"one of {', '.join(s.choices)}", repr(value)) + did_you_mean(value, s.choices)
        if s.type == "multichoice":
            items = _list(value)
            if items is None:
                return f"{s.name} must be a list of {', '.join(s.choices)}, got {value!r}"
            if not items:
                return f"{s.name}: choose at least one platform ({', '.join(s.choices)})"
            for item in items:
                if item not in s.choices:
                    shown = f"one or more of {', '.join(s.choices)}"
                    return _limit_error(s, shown, repr(item)) + did_you_mean(item, s.choices)
            return ""
        if s.type in ("cpu", "memory"):
            if value is None or value == "":
                return "" if s.optional else f"{s.name} must be set"
            try:
                (q.parse_cpu if s.type == "cpu" else q.parse_memory)(value, s.name)
            except q.QuantityError as exc:
                return str(exc)
            return ""
        if s.type == "version":
            m = re.fullmatch(r"1\.(\d+)" + (r"(\.\d+)?" if s.name == "go_version" else ""), str(value).strip())
            if not m:
                example = "1.26 or 1.26.3" if s.name == "go_version" else "1.30"
                return f"{s.name} must look like {example}, got {value!r}"
            minor = int(m.group(1))
            if not (s.minimum or 0) <= minor <= (s.maximum or minor):
                return _limit_error(s, s.range_text(), repr(str(value)))
            return ""
        return s.rule(value) if s.rule else ""

    check.__doc__ = f"Return why `value` is not a valid {s.name}: {s.range_text() or s.description}."
    check.__name__ = f"check_{s.name}"
    return check


#: Lowest Go minor version the generated code supports: the oldest supported Go release, and the
#: go line its pinned modules (OpenTelemetry, contrib propagators) require.
MIN_GO_MINOR = 26
#: Highest Go minor version the template is known to work with (the newest Go release).
MAX_GO_MINOR = 27
#: Kubernetes minor versions the chart supports (kubeVersion, schemas the tests validate against).
MIN_KUBE_MINOR = 25
MAX_KUBE_MINOR = 37
#: Go's `http.Server.MaxHeaderBytes` floor: below 4 KiB ordinary requests (cookies, tokens) get 431.
MIN_MAX_HEADER_BYTES = 4096

LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "none")
DEPENDENCY_BOTS = ("dependabot", "renovate")
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x")
POLICIES = ("floor", "ceil", "go")
DRAIN_MODES = ("app", "prestop")
#: Kubernetes API clients a service can be generated with (issue 16).
KUBERNETES_CLIENTS = ("none", "informer", "controller")

_PORT_WHY = "non-root containers cannot bind below 1024"
_GO_PORT = "Go accepts 0-65535: ':0' lets tests and local runs take a free port, and a binary run outside the chart may bind a low port"  # noqa: E501
_SERVICE_PORT = "the Service port is not bound by the process: any port (80, 443) works"
_PROBE_SCHEMA = "Kubernetes' own limit for a probe field; the answer's upper bound only guards against typos"

SETTINGS: tuple[Setting, ...] = (
    # --- SERVICE
    Setting("service_name", "str", "my-service", "Service name: binary, image, Helm release, OTEL_SERVICE_NAME",
            section="SERVICE", rule=service_name, env="OTEL_SERVICE_NAME", go="ServiceName",
            help="Service name: a DNS-1123 label (lowercase letters, digits, '-'; at most 63 "
                 'chars). Used for the binary, image and Helm release.'),
    Setting("module_path", "str", "example.com/{{ service_name }}", "Go module path", section="SERVICE",
            rule=module_path,
            help='Go module path (e.g. github.com/acme/my-service)'),
    Setting("description", "str", "{{ service_name }}: an HTTP service generated by gosmith",
            "One-line description", section="SERVICE", rule=description,
            help='One-line description of the service'),
    Setting("owner", "str", "@acme/platform", "Owning team or user handle (CODEOWNERS, labels)", section="SERVICE",
            rule=owner,
            help='Owning team or user handle (used for CODEOWNERS and labels), e.g. @acme/platform'),
    Setting("go_version", "version", "1.26", "Go version of the go.mod 'go' line and the build image",
            section="SERVICE", minimum=MIN_GO_MINOR, maximum=MAX_GO_MINOR, tune=True,
            why="the Go releases the generated code and its pinned modules support",
            help="Go version for the go.mod 'go' line and the build image: a supported Go release,"
                 ' {range} (e.g. 1.26 or 1.27.3)'),
    # --- NETWORK
    Setting("http_port", "int", 8080, "Port of the application listener", section="NETWORK", minimum=1024,
            maximum=65535, why=_PORT_WHY, values=("ports.http", "service.port"), env="HTTP_ADDR", go="HTTPAddr",
            surfaces=(Surface("values", "service.port", 1, 65535, _SERVICE_PORT),
                      Surface("go", "HTTPAddr", 0, 65535, _GO_PORT)),
            help='Port of the application (business) HTTP listener'),
    Setting("admin_port", "int", 9090, "Port of the admin listener (/livez, /readyz, /metrics)", section="NETWORK",
            minimum=1024, maximum=65535, why=_PORT_WHY, values=("ports.admin", "service.metricsPort"),
            env="ADMIN_ADDR", go="AdminAddr", with_answers=("http_port",),
            surfaces=(Surface("values", "service.metricsPort", 1, 65535, _SERVICE_PORT),
                      Surface("go", "AdminAddr", 0, 65535, _GO_PORT)),
            help='Port of the admin listener: /livez, /readyz, /metrics (and pprof when built with'
                 ' -tags pprof)'),
    # --- OBSERVABILITY
    Setting("otlp_protocol", "choice", "grpc", "OTLP transport of the trace exporter", section="OBSERVABILITY",
            choices=("grpc", "http"),
            help='OTLP transport of the trace exporter: grpc (collector port 4317) or http '
                 '(http/protobuf, port 4318). Endpoint, headers and TLS come from the standard '
                 'OTEL_EXPORTER_OTLP_* variables at run time'),
    Setting("b3_propagation", "bool", False, "Also accept and emit B3 trace headers", section="OBSERVABILITY",
            help='Also accept and emit B3 trace headers (Zipkin, older Envoy/Istio setups) besides'
                 ' W3C tracecontext and baggage'),
    Setting("hot_reload", "bool", False, "Re-read a mounted JSON settings file when it changes",
            section="OBSERVABILITY", values=("config.enabled",), env="CONFIG_FILE", go="ConfigFile",
            help='Re-read a mounted JSON settings file (CONFIG_FILE, e.g. a ConfigMap volume) when'
                 ' it changes and apply log level and app settings without a restart'),
    # --- KUBERNETES CLIENT
    Setting("kubernetes_client", "choice", "none", "Kubernetes API client: none, a client-go informer cache of "
            "labelled ConfigMaps with a workqueue and workers, or a controller-runtime controller of an example CRD",
            section="KUBERNETES CLIENT",
            choices=KUBERNETES_CLIENTS,
            help='Kubernetes API client: none, or informer = a client-go shared informer cache of '
                 'ConfigMaps selected by a label (WATCH_LABEL_SELECTOR), a rate-limited workqueue '
                 'and workers; /readyz waits for the cache, the chart adds the token, a read-only '
                 'Role and API-server egress; controller = a controller-runtime manager '
                 'reconciling an example CRD (Widget) with status conditions, a finalizer and '
                 'leader election, the CRD and RBAC generated by controller-gen'),
    # --- RESOURCES AND TIMING
    Setting("cpu_request", "cpu", "250m", "CPU request (Kubernetes quantity); empty = none",
            section="RESOURCES AND TIMING", optional=True, tune=True, values=("resources.requests.cpu",),
            help='CPU request (Kubernetes quantity, e.g. 250m or 1); empty = no request (no HPA '
                 'then)'),
    Setting("cpu_limit", "cpu", "", "CPU limit; empty = none", section="RESOURCES AND TIMING", optional=True,
            tune=True, values=("resources.limits.cpu",),
            help='CPU limit (e.g. 500m, 2); empty = no limit. With a limit, GOMAXPROCS follows '
                 'gomaxprocs_policy'),
    Setting("gomaxprocs_policy", "choice", "floor", "GOMAXPROCS under a CPU limit",
            section="RESOURCES AND TIMING", choices=POLICIES, tune=True, values=("runtime.gomaxprocsPolicy",),
            env="GOMAXPROCS_POLICY",
            help="GOMAXPROCS under a CPU limit: floor = max(1, floor(limit)) where lower than Go's"
                 ' max(2, ceil(limit)) (best tail latency); ceil = ceil(limit); go = leave it to '
                 'the runtime'),
    Setting("memory_request", "memory", "256Mi", "Memory request", section="RESOURCES AND TIMING", tune=True,
            values=("resources.requests.memory",),
            help='Memory request (e.g. 256Mi); request = limit keeps memory predictable'),
    Setting("memory_limit", "memory", "256Mi", "Memory limit; empty = none (GOMEMLIMIT unset)",
            section="RESOURCES AND TIMING", optional=True, tune=True, values=("resources.limits.memory",),
            help='Memory limit (e.g. 256Mi, at least {MIN_MEMORY_LIMIT}); empty = no limit '
                 '(GOMEMLIMIT then stays unset)'),
    Setting("gomemlimit_ratio", "number", 0.9, "GOMEMLIMIT as a fraction of the memory limit",
            section="RESOURCES AND TIMING", minimum=Fraction(1, 2), maximum=Fraction(95, 100), tune=True,
            why="below 0.5 the GC runs constantly; above 0.95 nothing is left for non-heap memory",
            values=("runtime.gomemlimitRatio",), env="GOMEMLIMIT_RATIO",
            help='GOMEMLIMIT as a fraction of the memory limit ({range}), rounded down to MiB, '
                 'always at least {MIN_HEADROOM} below the limit'),
    Setting("slowest_request_seconds", "number", 5.0, "Slowest normal request (p99.9 of a healthy day)",
            section="RESOURCES AND TIMING", unit="s", minimum=Fraction(1, 100), maximum=3600, tune=True,
            why="the handler deadline is derived from it",
            help='Slowest normal request in seconds (p99.9 of a healthy day); the handler deadline'
                 ' is 1.5x this, at least +1s'),
    Setting("upstream_timeout_seconds", "number", 0, "Timeout of calls to the upstream; 0 = derive",
            section="RESOURCES AND TIMING", unit="s", minimum=0, maximum=3600, tune=True,
            why="0 derives it; anything else must fit the handler deadline minus the upstream margin",
            help='Timeout of a call to the upstream service (UPSTREAM_URL, all retries included) in '
                 'seconds; 0 = derive handler_timeout - upstream_margin. A call is also cut at the '
                 "caller's remaining handler budget minus the margin. Longer than the handler "
                 'deadline allows is refused'),
    Setting("proxy_idle_timeout_seconds", "int", 60, "Idle timeout of the proxy in front",
            section="RESOURCES AND TIMING", unit="s", minimum=1, maximum=3600, tune=True,
            why="the app's idle timeout is derived from it",
            help='Idle timeout of the proxy/load balancer in front, in seconds (e.g. 60 for AWS '
                 'ALB, 600 for a GCP LB); the app idles {IDLE_MARGIN} longer'),
    Setting("endpoint_propagation_seconds", "number", 5.0, "Seconds until a terminating pod is out of every "
            "endpoint list", section="RESOURCES AND TIMING", unit="s", minimum=1, maximum=120, tune=True,
            why="the drain delay is derived from it",
            help="Seconds until a terminating pod is out of every proxy's endpoint list "
                 '(kube-proxy, ingress, mesh)'),
    Setting("drain_mode", "choice", "app", "Where the drain delay happens (app or a native preStop sleep)",
            section="RESOURCES AND TIMING", choices=DRAIN_MODES, tune=True,
            help='Where the drain delay happens: app = the app fails /readyz after SIGTERM and '
                 'keeps serving for the delay; prestop = a native preStop sleep (Kubernetes >= '
                 '1.{PRESTOP_SLEEP_KUBE_MINOR}) before SIGTERM. Never both'),
    Setting("probe_timeout_seconds", "int", 1, "timeoutSeconds of every probe", section="RESOURCES AND TIMING",
            unit="s", minimum=1, maximum=60, tune=True, why="it must stay below each probe's period",
            values=("probes.startup.timeoutSeconds", "probes.readiness.timeoutSeconds",
                    "probes.liveness.timeoutSeconds"),
            surfaces=tuple(Surface("values", f"probes.{p}.timeoutSeconds", 1, None, _PROBE_SCHEMA)
                           for p in ("startup", "readiness", "liveness")),
            help="timeoutSeconds of every probe (must be below each probe's period)"),
    Setting("readiness_period_seconds", "int", 5, "readinessProbe periodSeconds", section="RESOURCES AND TIMING",
            unit="s", minimum=1, maximum=300, tune=True, values=("probes.readiness.periodSeconds",),
            surfaces=(Surface("values", "probes.readiness.periodSeconds", 1, None, _PROBE_SCHEMA),),
            help='readinessProbe periodSeconds'),
    Setting("readiness_failure_threshold", "int", 2, "readinessProbe failureThreshold",
            section="RESOURCES AND TIMING", minimum=1, maximum=100, tune=True,
            values=("probes.readiness.failureThreshold",),
            surfaces=(Surface("values", "probes.readiness.failureThreshold", 1, None, _PROBE_SCHEMA),),
            help='readinessProbe failureThreshold (out of rotation after period x threshold)'),
    Setting("liveness_period_seconds", "int", 10, "livenessProbe periodSeconds", section="RESOURCES AND TIMING",
            unit="s", minimum=1, maximum=300, tune=True, values=("probes.liveness.periodSeconds",),
            surfaces=(Surface("values", "probes.liveness.periodSeconds", 1, None, _PROBE_SCHEMA),),
            help="livenessProbe periodSeconds (period x threshold must exceed readiness's)"),
    Setting("liveness_failure_threshold", "int", 3, "livenessProbe failureThreshold",
            section="RESOURCES AND TIMING", minimum=1, maximum=100, tune=True,
            values=("probes.liveness.failureThreshold",),
            surfaces=(Surface("values", "probes.liveness.failureThreshold", 1, None, _PROBE_SCHEMA),),
            help='livenessProbe failureThreshold (restart after period x threshold)'),
    Setting("startup_seconds", "int", 10, "Expected startup time; the startupProbe allows twice that",
            section="RESOURCES AND TIMING", unit="s", minimum=1, maximum=3600, tune=True,
            help='Expected startup time in seconds; the startupProbe allows {STARTUP_FACTOR}x that'),
    Setting("termination_grace_period_seconds", "int", 0, "terminationGracePeriodSeconds; 0 = derive",
            section="RESOURCES AND TIMING", unit="s", minimum=0, maximum=86400, tune=True,
            why="0 derives it; anything else must cover drain + shutdown + flush",
            values=("terminationGracePeriodSeconds",),
            surfaces=(Surface("values", "terminationGracePeriodSeconds", 0, None,
                              "Kubernetes sets no upper bound; the answer's one-day bound guards against typos"),),
            help='terminationGracePeriodSeconds; 0 = derive drain + shutdown + telemetry flush + '
                 '{GRACE_MARGIN} margin. A smaller explicit value is refused'),
    Setting("hpa_enabled", "bool", False, "Scale with a HorizontalPodAutoscaler on CPU",
            section="RESOURCES AND TIMING", tune=True, values=("autoscaling.enabled",), tune_flags="--hpa/--no-hpa",
            help='Scale with a HorizontalPodAutoscaler on CPU utilisation (needs cpu_request)'),
    Setting("replicas", "int", 2, "Replica count without an HPA", section="RESOURCES AND TIMING", minimum=1,
            maximum=1000, tune=True, values=("replicaCount",),
            surfaces=(Surface("values", "replicaCount", 0, None,
                              "replicaCount 0 parks a deployed release; a generated service starts with at least 1"),),
            help='Replica count without an HPA (a PodDisruptionBudget is added when 2 or more '
                 'replicas can exist)'),
    Setting("hpa_min_replicas", "int", 2, "HPA minReplicas", section="RESOURCES AND TIMING", minimum=1,
            maximum=1000, tune=True, values=("autoscaling.minReplicas",),
            surfaces=(Surface("values", "autoscaling.minReplicas", 1, None, "no upper bound at deploy time"),),
            help='HPA minReplicas (used when hpa_enabled)'),
    Setting("hpa_max_replicas", "int", 5, "HPA maxReplicas, at least minReplicas", section="RESOURCES AND TIMING",
            minimum=1, maximum=1000, tune=True, values=("autoscaling.maxReplicas",),
            with_answers=("hpa_min_replicas",),
            surfaces=(Surface("values", "autoscaling.maxReplicas", 1, None, "no upper bound at deploy time"),),
            help='HPA maxReplicas, at least minReplicas (used when hpa_enabled)'),
    Setting("hpa_cpu_target_percent", "int", 80, "HPA target CPU utilisation, percent of cpu_request",
            section="RESOURCES AND TIMING", unit="%", minimum=1, maximum=100, tune=True,
            why="a percentage of the CPU request", values=("autoscaling.targetCPUUtilizationPercentage",),
            help='HPA target CPU utilisation, percent of cpu_request, {range} (used when '
                 'hpa_enabled)'),
    # --- SHIPPING
    Setting("platforms", "multichoice", ["linux/amd64", "linux/arm64"], "Container image platforms",
            section="SHIPPING", choices=PLATFORMS,
            help='Container image platforms built by `docker buildx bake` and cross-compiled by '
                 '`make build-all`'),
    Setting("kubernetes_version", "version", "1.30", "Oldest Kubernetes minor version the chart supports",
            section="SHIPPING", minimum=MIN_KUBE_MINOR, maximum=MAX_KUBE_MINOR,
            why="the Kubernetes versions the chart is validated against", with_answers=("drain_mode",),
            help='Oldest Kubernetes minor version the chart must support ({range}); sets '
                 'Chart.yaml kubeVersion. The chart adds a native preStop sleep only on clusters '
                 '>= 1.{PRESTOP_SLEEP_KUBE_MINOR}.'),
    Setting("network_policy", "bool", True, "Ship a NetworkPolicy", section="SHIPPING",
            values=("networkPolicy.enabled",),
            help='Ship a NetworkPolicy (ingress only on the http/metrics ports from allowed peers,'
                 ' egress only to DNS, OTLP and listed CIDRs)'),
    Setting("ingress_namespaces", "str", "", "Comma-separated namespaces allowed to call the http port",
            section="SHIPPING", rule=ingress_namespaces, values=("networkPolicy.ingress.namespaces",),
            help='Comma-separated namespaces whose pods may call the http port (e.g. your '
                 "ingress/gateway controller's); pods of the release namespace are allowed too "
                 '(chart value). Empty = release namespace only.'),
    Setting("service_monitor", "bool", True, "Ship a Prometheus-Operator ServiceMonitor and PrometheusRule (the "
            "cluster needs their CRDs)", section="SHIPPING",
            values=("serviceMonitor.enabled", "prometheusRule.enabled"),
            help='Ship a Prometheus-Operator ServiceMonitor and PrometheusRule (the cluster needs '
                 'the monitoring.coreos.com/v1 CRDs)'),
    Setting("monitoring_namespace", "str", "monitoring", "Namespace of the Prometheus that scrapes the metrics "
            "port", section="SHIPPING", rule=monitoring_namespace, values=("networkPolicy.metrics.namespace",),
            help='Namespace of the Prometheus that scrapes the metrics port (the only peer the '
                 'NetworkPolicy lets reach it)'),
    # --- REPOSITORY
    Setting("license", "choice", "Apache-2.0", "License of the generated repository", section="REPOSITORY",
            choices=LICENSES,
            help="License of the generated repository (LICENSE file); 'none' ships no LICENSE"),
    Setting("copyright_holder", "str", None, "Copyright holder in the MIT or BSD-3-Clause LICENSE",
            section="REPOSITORY", rule=copyright_holder,
            help='Copyright holder named in the MIT or BSD-3-Clause LICENSE (a person or '
                 'organisation)',
            when="{{ license in ['MIT', 'BSD-3-Clause'] }}",
            copier_default="{% if module_path.startswith('github.com/') and module_path.split('/') | length "
                           "> 1 %}{{ module_path.split('/')[1] }}{% else %}{{ "
                           "owner.lstrip('@').split('/')[0] }}{% endif %} authors"),
    Setting("dependency_bot", "choice", "dependabot", "Bot that opens dependency update pull requests",
            section="REPOSITORY", choices=DEPENDENCY_BOTS,
            help='Bot that opens dependency update pull requests (Go modules, Docker base images, '
                 'GitHub Actions)'),
    Setting("container_registry", "str", None, "Registry and namespace the CI pushes images to",
            section="REPOSITORY", rule=container_registry, values=("image.repository",),
            help='Registry and namespace the CI pushes images to on tags, without the image name '
                 '(e.g. ghcr.io/acme)',
            copier_default="ghcr.io/{% if module_path.startswith('github.com/') and module_path.split('/') |"
                           " length > 1 %}{{ module_path.split('/')[1] | lower }}{% else %}{{ "
                           "owner.lstrip('@').split('/')[0] | lower }}{% endif %}"),
    # --- run-time settings (no answer): the chart passes them as env, the Go config validates them
    Setting("max_header_bytes", "int", 1 << 20, "Largest request header the app listener accepts (431 above)",
            section="RUN TIME", unit=" bytes", minimum=MIN_MAX_HEADER_BYTES, answer=False,
            why="below 4 KiB ordinary requests with cookies or tokens are refused",
            values=("app.maxHeaderBytes",), env="MAX_HEADER_BYTES", go="MaxHeaderBytes", go_const="minMaxHeaderBytes"),
    Setting("max_body_bytes", "int", 1 << 20, "Largest request body a business route may read (413 above)",
            section="RUN TIME", unit=" bytes", minimum=1024, answer=False,
            why="below 1 KiB even small JSON bodies are refused",
            values=("app.maxBodyBytes",), env="MAX_BODY_BYTES", go="MaxBodyBytes", go_const="minMaxBodyBytes"),
    Setting("log_level", "choice", "info", "Minimum level logged", section="RUN TIME", choices=(
            "debug", "info", "warn", "error"), answer=False, values=("app.logLevel",), env="LOG_LEVEL",
            go="Settings.LogLevel"),
    Setting("upstream_url", "str", "", "Base URL of the service the example relay route calls (http or https); empty "
            "= the route answers 503", section="RUN TIME", answer=False, values=("app.upstreamURL",),
            env="UPSTREAM_URL", go="UpstreamURL"),
    Setting("max_in_flight", "int", 0, "Business requests served at once; the next gets an immediate 503 with "
            "Retry-After. 0 = derive GOMAXPROCS x handler_timeout / shed_target_latency", section="RUN TIME",
            minimum=0, answer=False, why="0 derives it", values=("app.maxInFlight",), env="MAX_IN_FLIGHT",
            go="MaxInFlight"),
    Setting("shed_target_latency", "duration", "100ms", "CPU time a typical request needs on one core; the derived "
            "in-flight limit is GOMAXPROCS x handler_timeout / this", section="RUN TIME", answer=False,
            values=("app.shedTargetLatency",), env="SHED_TARGET_LATENCY", go="ShedTargetLatency"),
    # --- run-time settings of the Kubernetes client (kubernetes_client informer or controller)
    Setting("watch_namespace", "str", "", "Namespace whose objects the informer (ConfigMaps) or the controller "
            "(Widgets) watches; empty = the pod's own",
            section="RUN TIME", answer=False, values=("kubernetesClient.watchNamespace",), env="WATCH_NAMESPACE",
            go="Kube.Namespace"),
    Setting("watch_label_selector", "str", "app.kubernetes.io/part-of={{ service_name }}",
            "Label selector of the watched ConfigMaps (required: the cache holds only what it selects)",
            section="RUN TIME", answer=False, values=("kubernetesClient.labelSelector",), env="WATCH_LABEL_SELECTOR",
            go="Kube.LabelSelector"),
    Setting("kube_workers", "int", 2, "Workers reconciling keys from the queue in parallel", section="RUN TIME",
            minimum=1, maximum=64, answer=False, why="each worker handles one key at a time; a key is never handled "
            "by two at once", values=("kubernetesClient.workers",), env="KUBE_WORKERS", go="Kube.Workers"),
    Setting("kube_resync_period", "duration", "10m", "Every object is reconciled again this often; 0s = never",
            section="RUN TIME", answer=False, values=("kubernetesClient.resyncPeriod",), env="KUBE_RESYNC_PERIOD",
            go="Kube.ResyncPeriod"),
    Setting("leader_election", "bool", True, "Only the replica holding the Lease reconciles; it releases the Lease "
            "on SIGTERM (the controller only)", section="RUN TIME", answer=False,
            values=("kubernetesClient.leaderElection.enabled",), env="LEADER_ELECT", go="Kube.LeaderElection"),
    # --- derived durations (tuning rules; overridable per deployment). Generated from these rows
    # (scripts/gen_surfaces.py): the Go Durations struct, its env loading and range checks
    # (internal/config/durations.go), the chart's timeouts values, env entries and invariant key lists.
    *(
        Setting(key, "duration", None, text, section="DERIVED", answer=False, derived=True,
                values=(f"timeouts.{path}",), env=env, go=go, zero_ok=zero_ok, chart_value=chart_value,
                doctor=doctor)
        for key, path, env, go, zero_ok, chart_value, doctor, text in (
            ("read_header_timeout", "readHeader", "READ_HEADER_TIMEOUT", "ReadHeaderTimeout", False, "",
             "", "Bounds reading the request headers"),
            ("read_timeout", "read", "READ_TIMEOUT", "ReadTimeout", False, "", "", "Bounds reading the whole request"),
            ("handler_timeout", "handler", "HANDLER_TIMEOUT", "HandlerTimeout", False, "",
             "", "Sets the deadline of a business request; on expiry the client gets 503"),
            ("write_timeout", "write", "WRITE_TIMEOUT", "WriteTimeout", False, "",
             "", "Bounds the handler plus writing the response"),
            ("idle_timeout", "idle", "IDLE_TIMEOUT", "IdleTimeout", False, "",
             "idle", "Bounds how long a keep-alive connection waits for the next request"),
            ("drain_delay", "drainDelay", "DRAIN_DELAY", "DrainDelay", True, "$timing.drainDelay",
             "drain", "Keeps serving after SIGTERM while /readyz reports 503, so endpoints and load balancers stop "
             "sending traffic; 0s when a preStop sleep drains instead (never both)"),
            ("shutdown_timeout", "shutdown", "SHUTDOWN_TIMEOUT", "ShutdownTimeout", False, "",
             "shutdown", "Bounds waiting for in-flight requests after the drain"),
            ("telemetry_flush_timeout", "telemetryFlush", "TELEMETRY_FLUSH_TIMEOUT", "TelemetryFlushTimeout", False,
             "", "flush", "Bounds flushing buffered spans at exit"),
            ("upstream_timeout", "upstreamTimeout", "UPSTREAM_TIMEOUT", "UpstreamTimeout", False, "",
             "", "Bounds each call to the upstream, retries included; the caller's remaining budget minus "
             "upstream_margin cuts it sooner"),
            ("upstream_margin", "upstreamMargin", "UPSTREAM_MARGIN", "UpstreamMargin", False, "",
             "", "Kept from the caller's remaining handler budget when calling the upstream, to answer after a "
             "cut call"),
        )
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
#: Every copier question, in copier.yml order.
ANSWERS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.answer)
#: `gosmith doctor`'s service timings (flags, config keys, annotations, env), in table order.
DOCTOR_INPUTS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.doctor)
#: Named `gosmith tune` options.
TUNE_OPTIONS: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.tune)
#: Field name -> single-field validator for every answer (and run-time setting with limits).
FIELDS: dict[str, Callable[[object], str]] = {
    s.name: validator(s) for s in SETTINGS if s.answer or s.minimum is not None or s.choices
}


# ----------------------------------------------------------------------------- cross-field rules
def _distinct_ports(a: dict[str, Any]) -> str:
    if str(a["http_port"]) == str(a["admin_port"]):
        return f"admin_port must differ from http_port (both {a['http_port']})"
    return ""


def _hpa_bounds(a: dict[str, Any]) -> str:
    lo, hi = integer(a["hpa_min_replicas"], "hpa_min_replicas"), integer(a["hpa_max_replicas"], "hpa_max_replicas")
    if isinstance(lo, int) and isinstance(hi, int) and hi < lo:
        return f"hpa_max_replicas must be at least hpa_min_replicas {lo}, got {hi}"
    return ""


def _prestop_kube(a: dict[str, Any]) -> str:
    m = re.fullmatch(r"1\.(\d+)", str(a["kubernetes_version"]).strip())
    if a["drain_mode"] == "prestop" and m and int(m.group(1)) < 30:
        return (
            f"kubernetes_version must be 1.30 or later for drain_mode prestop (native preStop sleep), "
            f"got {a['kubernetes_version']!r}: use drain_mode app"
        )
    return ""


#: (the answer whose validator reports it, the answers it reads, rule) for rules over several answers.
CROSS: tuple[tuple[str, tuple[str, ...], Callable[[dict[str, Any]], str]], ...] = (
    ("admin_port", ("http_port", "admin_port"), _distinct_ports),
    ("hpa_max_replicas", ("hpa_min_replicas", "hpa_max_replicas"), _hpa_bounds),
    ("kubernetes_version", ("drain_mode", "kubernetes_version"), _prestop_kube),
)


def check(field_name: str, value: object, **others: object) -> str:
    """Return the error for `field_name` = `value` (plus the cross-field rules `others` allow), or ""."""
    rule = FIELDS.get(field_name)
    if rule and (msg := rule(value)):
        return msg
    answers = {**others, field_name: value}
    for owner_name, names, cross in CROSS:
        if owner_name == field_name and all(n in answers for n in names) and (msg := cross(answers)):
            return msg
    return ""


def check_answers(answers: dict[str, object]) -> list[str]:
    """Return every single-field and cross-field error in `answers`."""
    errors = [msg for name, value in answers.items() if (msg := (FIELDS[name](value) if name in FIELDS else ""))]
    if errors:
        return errors
    for _owner, names, cross in CROSS:
        if all(n in answers for n in names) and (msg := cross(answers)):
            errors.append(msg)
    return errors


def copier_validator(name: str) -> str:
    """Return the `validator:` expression copier.yml must carry for answer `name` (a test keeps them equal)."""
    s = BY_NAME[name]
    extra = "".join(f", {n}={n}" for n in s.with_answers)
    return f"{{{{ {name} | gosmith_check('{name}'{extra}) }}}}"
