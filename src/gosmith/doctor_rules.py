"""`gosmith doctor`, the rules: the rule table (id, severity, what, why, formula, fix) and the checks.

Every number a check compares against comes from the template's tuning rules (hooks/tuning.py: the
same functions `gosmith new` and `gosmith tune` derive values with), so `doctor` and the generator
cannot disagree. The docs' rules reference page is generated from `RULES` (scripts/gen_docs.py).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from typing import Any

from gosmith.doctor_load import (
    ANNOTATION,
    Container,
    Doc,
    LoadBalancer,
    Workload,
    duration_ms,
    go_bytes,
    load_balancers,
    seconds_text,
    service_ports,
    workloads,
)

SEVERITIES = ("error", "warning", "info")


@cache
def _t() -> Any:
    """Return the template's tuning module (hooks/tuning.py), the one home of every formula."""
    from gosmith.template import rules

    return rules().tuning


def _q() -> Any:
    """Return the template's quantity parser (hooks/quantities.py)."""
    from gosmith.template import rules

    return rules().quantities


# ----------------------------------------------------------------------------- the rule table
@dataclass(frozen=True)
class Rule:
    """One doctor rule: what it finds, why it matters, the formula it checks and the fix."""

    id: str
    severity: str  # default severity: error, warning or info
    title: str
    why: str
    formula: str
    fix: str


def rule_table() -> tuple[Rule, ...]:
    """Return every rule, with the constants of the tuning rules filled into the formulas."""
    t = _t()
    margin = seconds_text(t.GRACE_MARGIN_MS)
    idle_margin = seconds_text(t.IDLE_MARGIN_MS)
    headroom = f"{t.MIN_HEADROOM // (1024 * 1024)}Mi"
    propagation = default_propagation_ms()
    return (
        Rule("grace-period", "error",
             "terminationGracePeriodSeconds shorter than the shutdown it must hold",
             "The kubelet sends SIGKILL when the grace period (which includes the preStop hook) runs out: in-flight "
             "requests are cut and buffered spans are lost.",
             f"terminationGracePeriodSeconds >= ceil(preStop + drain + shutdown + telemetry flush + margin {margin})",
             "Raise terminationGracePeriodSeconds to the sum, or shorten the drain/shutdown/flush timeouts."),
        Rule("drain-propagation", "error",
             "Drain shorter than endpoint propagation",
             "After a pod is deleted, kube-proxy, the load balancers and the ingress keep sending it new requests "
             "until they have seen its endpoint removed (a few seconds). A pod that stops accepting at once "
             "(no preStop sleep and no drain delay) refuses or cuts those requests; the suite's cluster test loses "
             "requests with `timeouts.drainDelay=0s`.",
             f"preStop sleep + drain delay >= endpoint propagation ({seconds_text(propagation)} unless "
             "--endpoint-propagation says otherwise; error when 0, warning when below)",
             "Keep serving for the endpoint propagation time after termination starts: set the drain delay "
             "(DRAIN_DELAY; `timeouts.drainDelay` in a gosmith chart) or a native preStop sleep "
             f"(`lifecycle.preStop.sleep.seconds`) to at least {seconds_text(propagation)}."),
        Rule("lb-idle-timeout", "error",
             "App idle timeout not longer than the load balancer's",
             "A proxy that pools keep-alive connections reuses one the app has just closed: the request fails with "
             "a 502. The app must keep idle connections open longer than the proxy does, so the proxy closes first.",
             f"IDLE_TIMEOUT > LB idle timeout (error when <=); IDLE_TIMEOUT >= LB idle + {idle_margin} "
             "(warning when below)",
             f"Set the app's idle timeout (IDLE_TIMEOUT) to the load balancer's idle timeout + {idle_margin}, "
             "or lower the load balancer's."),
        Rule("prestop-exec-sleep", "error",
             "exec preStop hook that needs a shell or `sleep` on an image without one",
             "Distroless and scratch images have neither /bin/sh nor sleep: the hook fails at once, the drain "
             "never happens and requests routed during endpoint removal fail.",
             "lifecycle.preStop.exec runs `sleep` or a shell AND the image has no shell",
             "Use the native `lifecycle.preStop.sleep.seconds` (Kubernetes >= 1.30; no binary needed), or drain "
             "in the app (fail /readyz on SIGTERM and keep serving for the drain delay)."),
        Rule("upstream-timeout", "error",
             "Upstream call timeout longer than the handler deadline allows",
             "A call to another service that may outlive the handler deadline is cut by it anyway, after the "
             "caller already got its 503; the retries and the margin to answer the caller are lost.",
             "UPSTREAM_TIMEOUT + UPSTREAM_MARGIN <= HANDLER_TIMEOUT (the margin, when not set, is the tuning "
             f"rule's max({seconds_text(t.UPSTREAM_MARGIN_MIN_MS)}, HANDLER_TIMEOUT / "
             f"{t.UPSTREAM_MARGIN_DIVISOR}))",
             "Lower UPSTREAM_TIMEOUT (`timeouts.upstreamTimeout`) to HANDLER_TIMEOUT - UPSTREAM_MARGIN, or raise "
             "HANDLER_TIMEOUT."),
        Rule("gomemlimit-at-limit", "error",
             "GOMEMLIMIT at or above the container memory limit",
             "GOMEMLIMIT is a soft limit for the Go heap and runtime only; at or above the cgroup limit the "
             "container is OOM-killed before the GC ever works harder.",
             "GOMEMLIMIT < limits.memory",
             f"Set GOMEMLIMIT to about 0.9 x limits.memory, at most limits.memory - {headroom}."),
        Rule("gomemlimit-headroom", "warning",
             "GOMEMLIMIT leaves too little headroom below the memory limit",
             "Binary text, goroutine stacks outside the heap, kernel socket buffers and page cache charged to the "
             "cgroup, and the soft limit's overshoot need room below the hard limit.",
             f"GOMEMLIMIT <= limits.memory - {headroom} (MIN_HEADROOM)",
             f"Lower GOMEMLIMIT to at most limits.memory - {headroom}."),
        Rule("gomemlimit-too-low", "error",
             "GOMEMLIMIT far below anything a Go service runs in",
             "A resourceFieldRef with divisor 1Mi hands Go a plain number, which it reads as bytes: GOMEMLIMIT=512 "
             "is 512 bytes and the GC runs continuously.",
             f"GOMEMLIMIT >= {t.MIN_GOMEMLIMIT // (1024 * 1024)}MiB (MIN_GOMEMLIMIT)",
             "Give GOMEMLIMIT with a unit (460MiB), or use resourceFieldRef limits.memory with divisor 1 "
             "(bytes) and a lower ratio elsewhere."),
        Rule("gomemlimit-missing", "info",
             "Memory limit without GOMEMLIMIT",
             "Go does not derive GOMEMLIMIT from the cgroup limit: without it the heap can grow to twice the live "
             "data before a GC, and the container is OOM-killed instead of collecting harder.",
             "limits.memory set => GOMEMLIMIT (or GOMEMLIMIT_RATIO for a gosmith service) set",
             "Set GOMEMLIMIT to about 0.9 x limits.memory (gosmith's services set GOMEMLIMIT_RATIO instead)."),
        Rule("gogc-off-unbounded", "error",
             "GOGC=off without a memory limit for Go",
             "With the GC off and no GOMEMLIMIT the heap only grows: the container is OOM-killed.",
             "GOGC=off => GOMEMLIMIT set",
             "Set GOMEMLIMIT below the memory limit, or remove GOGC=off."),
        Rule("resourcefieldref-divisor", "warning",
             "resourceFieldRef without a divisor",
             "The API server fills in a divisor, so the live object never equals the manifest: GitOps tools "
             "(Argo CD, Flux) show a permanent diff.",
             "every resourceFieldRef has an explicit divisor",
             "Add `divisor: \"1\"` (bytes or whole CPUs) to the resourceFieldRef."),
        Rule("gomaxprocs-old-go", "warning",
             "CPU limit without GOMAXPROCS on a Go older than 1.25",
             "Before Go 1.25 the runtime ignores the cgroup CPU limit and runs one thread per node core: a "
             "fractional or small quota is used up early in each 100ms period and the process is throttled, "
             "hurting p99 latency.",
             f"Go < 1.{t.CGROUP_AWARE_GO_MINOR} and limits.cpu set => GOMAXPROCS = max(1, floor(limits.cpu))",
             "Set GOMAXPROCS to max(1, floor(limits.cpu)), or build with Go >= 1.25."),
        Rule("gomaxprocs-above-limit", "warning",
             "GOMAXPROCS above what the CPU limit can run",
             "More runnable threads than the quota allows use it up early in each CFS period: the process is "
             "throttled for the rest of it.",
             "GOMAXPROCS <= max(1, ceil(limits.cpu))",
             "Set GOMAXPROCS to max(1, floor(limits.cpu)) or max(1, ceil(limits.cpu)), or leave it unset on "
             "Go >= 1.25."),
        Rule("probe-timeout", "warning",
             "Probe timeout not below its period",
             "A probe that may run as long as its period delays the next one: failures are noticed later than "
             "period x failureThreshold suggests.",
             "timeoutSeconds < periodSeconds (Kubernetes defaults: 1 and 10)",
             "Lower timeoutSeconds or raise periodSeconds."),
        Rule("liveness-before-readiness", "warning",
             "Liveness probe not more lenient than readiness",
             "A slow but healthy pod should leave rotation (readiness) before it is restarted (liveness); "
             "otherwise overload turns into restarts, which make it worse.",
             "liveness periodSeconds x failureThreshold > readiness periodSeconds x failureThreshold",
             "Raise the liveness failureThreshold or period above readiness'."),
        Rule("no-limits", "info",
             "Container without CPU and memory limits",
             "Without limits GOMAXPROCS and GOMEMLIMIT have nothing to follow and none of the rules above can "
             "check the container's runtime settings.",
             "limits.cpu or limits.memory set",
             "Set at least limits.memory (and GOMEMLIMIT below it)."),
        Rule("legacy-sidecar", "info",
             "Sidecar as a regular container beside a draining service",
             "Regular containers all get SIGTERM at the same moment: a proxy or telemetry collector next to the "
             "service can exit while the service is still draining, shutting down and flushing, and the service's "
             "last requests and spans are lost. A native sidecar (an init container with `restartPolicy: Always`) "
             "is stopped only after the regular containers have exited. doctor cannot tell whether the service "
             "needs the sidecar while it stops, hence advice (info), not an error.",
             "a regular container other than the service: its preStop >= the service's preStop + drain + shutdown "
             "+ flush",
             f"Move the sidecar to `initContainers` with `restartPolicy: Always` (Kubernetes >= "
             f"1.{t.NATIVE_SIDECAR_KUBE_MINOR}); on older clusters give it a preStop sleep as long as the "
             "service's stop."),
        Rule("sidecar-grace-headroom", "error",
             "Grace period without room for a native sidecar's own shutdown",
             "A native sidecar is stopped only after the service has exited, inside the same "
             "terminationGracePeriodSeconds: when the service's drain, shutdown and flush use it up, the sidecar "
             "is SIGKILLed before it has forwarded what the service handed it (the last spans and logs).",
             f"terminationGracePeriodSeconds >= ceil(service's preStop + drain + shutdown + flush + margin {margin} "
             f"+ sidecar's preStop + shutdown + margin {margin})",
             "Raise terminationGracePeriodSeconds to the sum, or shorten the service's or the sidecar's "
             "timeouts."),
        Rule("sidecar-serves-traffic", "error",
             "Regular sidecar that serves the Service's traffic without a drain of its own",
             "A proxy sidecar whose port a Service targets receives the pod's requests; as a regular container it "
             "gets SIGTERM at once and stops accepting while kube-proxy and the load balancers still route to the "
             "pod, whatever the service's own drain does. (A native sidecar keeps running until the service has "
             "exited, so the service's drain covers it.)",
             f"a regular sidecar whose containerPort a Service targets: its preStop sleep + drain delay >= endpoint "
             f"propagation ({seconds_text(propagation)} unless --endpoint-propagation says otherwise; error when "
             "0, warning when below)",
             "Give the sidecar a preStop sleep (`lifecycle.preStop.sleep.seconds`) of at least the endpoint "
             "propagation time, or make it a native sidecar."),
    )


def default_propagation_ms() -> int:
    """Return the endpoint propagation time doctor assumes: the template's default answer, in milliseconds."""
    return int(Fraction(str(_t().DEFAULTS["endpoint_propagation_seconds"])) * 1000)


@cache
def rules_by_id() -> dict[str, Rule]:
    return {r.id: r for r in rule_table()}


#: Documented idle timeouts of load balancers `doctor` recognises (seconds); `--lb-idle KIND=SECONDS` overrides.
LB_DEFAULTS: dict[str, tuple[int, str]] = {
    "aws-alb": (60, "AWS Application Load Balancer (Ingress class `alb` or `alb.ingress.kubernetes.io/*` "
                    "annotations): idle timeout 60 s unless `alb.ingress.kubernetes.io/load-balancer-attributes` "
                    "sets `idle_timeout.timeout_seconds`"),
    "aws-elb": (60, "AWS Classic Load Balancer (Service type LoadBalancer with `service.beta.kubernetes.io/"
                    "aws-load-balancer-*` annotations): 60 s unless `aws-load-balancer-connection-idle-timeout` "
                    "sets it; NLBs (`aws-load-balancer-type: nlb` or `external`) work at layer 4 and are skipped"),
    "gcp": (600, "Google Cloud Application Load Balancer (Ingress class `gce` or `gce-internal`): the load balancer "
                 "keeps backend connections up to 600 s, so backends must keep them longer"),
    "nginx": (60, "ingress-nginx (Ingress class containing `nginx`): `upstream-keepalive-timeout` defaults to 60 s "
                  "(a controller ConfigMap setting, not an Ingress annotation)"),
}

#: Images known to have no shell (fnmatch patterns on the image reference) and exceptions that do.
NO_SHELL_IMAGES = ("scratch", "scratch:*", "*gcr.io/distroless/*", "*/distroless/*", "distroless/*",
                   "cgr.dev/chainguard/*", "*/chainguard/static*")
SHELL_IMAGES = ("*:debug", "*:debug-*", "*-dev", "*:*-dev")

#: Env a Go runtime reads, and the variables a gosmith service derives them from: a container setting one is Go.
GO_ENV = ("GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG", "GOTRACEBACK", "GOMEMLIMIT_RATIO", "GOMAXPROCS_POLICY")
#: Env a gosmith chart sets on the service's own container only: marks the service among several containers.
SERVICE_ENV = ("GOMEMLIMIT_RATIO", "GOMAXPROCS_POLICY", "DRAIN_DELAY", "SHUTDOWN_TIMEOUT", "TELEMETRY_FLUSH_TIMEOUT")
#: Rules about the Go runtime: applied only to containers known to be Go (the others apply to every container).
GO_RULES = ("gomemlimit-at-limit", "gomemlimit-headroom", "gomemlimit-too-low", "gomemlimit-missing",
            "gogc-off-unbounded", "gomaxprocs-old-go", "gomaxprocs-above-limit", "no-limits")


# ----------------------------------------------------------------------------- options and findings
@dataclass
class Options:
    """Facts the manifests cannot hold, from flags or a config file (annotations win over them)."""

    # generated by scripts/gen_surfaces.py from the rule table (hooks/settings.py): doctor-options
    idle_timeout_ms: int | None = None
    drain_delay_ms: int | None = None
    shutdown_timeout_ms: int | None = None
    telemetry_flush_timeout_ms: int | None = None
    # end of generated doctor-options
    go_version: str | None = None
    lb_idle_timeout: int | None = None  # seconds: a load balancer in front of every workload
    endpoint_propagation_ms: int | None = None  # None: the template's default (default_propagation_ms)
    lb_defaults: dict[str, int] = field(default_factory=lambda: {k: v for k, (v, _) in LB_DEFAULTS.items()})
    no_shell_images: list[str] = field(default_factory=list)
    shell_images: list[str] = field(default_factory=list)
    app_containers: list[str] = field(default_factory=list)  # names of the service's own container(s)


@dataclass
class Finding:
    """One problem: which rule, where, the numbers, and the fix."""

    rule: str
    severity: str
    workload: str
    container: str | None
    source: str
    line: int
    field: str  # path of the field inside the object, e.g. spec.template.spec.terminationGracePeriodSeconds
    message: str  # the numbers: "terminationGracePeriodSeconds 30 < preStop 10s + ... = 42s"
    fix: str
    numbers: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def formula(self) -> str:
        return rules_by_id()[self.rule].formula

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "severity": self.severity, "workload": self.workload, "container": self.container,
            "source": self.source, "line": self.line, "field": self.field, "message": self.message,
            "formula": self.formula, "fix": self.fix, "numbers": self.numbers,
        }


@dataclass
class Report:
    """Everything `doctor` found: per workload, with notes on what could not be checked."""

    workloads: list[Workload]
    findings: list[Finding]
    notes: list[str]

    def exit_code(self, fail_on: str) -> int:
        """Return 1 when a finding is at or above `fail_on` (error, warning, info; never: 0), else 0."""
        if fail_on == "never":
            return 0
        limit = SEVERITIES.index(fail_on)
        return 1 if any(SEVERITIES.index(f.severity) <= limit for f in self.findings) else 0


def _path_text(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# ----------------------------------------------------------------------------- facts with their sources
@cache
def timings() -> dict[str, tuple[str, str, str]]:
    """Return {label: (env, annotation suffix and flag, Options attribute)} of every service timing the doctor
    reads: the rule table's doctor inputs (hooks/settings.py `DOCTOR_INPUTS`)."""
    from gosmith.template import rules

    return {s.doctor: (s.env, s.name.replace("_", "-"), f"{s.name}_ms") for s in rules().settings.DOCTOR_INPUTS}


def _timing(w: Workload, c: Container, key: str, opts: Options, notes: list[str],
            shared: bool = True) -> tuple[int | None, str]:
    """Return (milliseconds, where it came from) of a service timing: env, then annotation, then option.

    Annotations and options describe the service: they count for its own container (`shared`), a
    sidecar's timings come from its own env only.
    """
    env, ann, attr = timings()[key]
    var = c.env.get(env)
    if var is not None and var.value is not None:
        ms = duration_ms(var.value)
        if ms is not None:
            return ms, f"env {env}"
        notes.append(f"{w.ref} container {c.name}: env {env}={var.value!r} is not a Go duration; not checked")
    if not shared:
        return None, ""
    if (text := w.annotations.get(ANNOTATION + ann)) is not None:
        ms = duration_ms(text)
        if ms is not None:
            return ms, f"annotation {ANNOTATION}{ann}"
        notes.append(f"{w.ref}: annotation {ANNOTATION}{ann}={text!r} is not a duration; ignored")
    value = getattr(opts, attr)
    return (value, f"--{ann}") if value is not None else (None, "")


def _go_minor(w: Workload, opts: Options) -> int | None:
    text = w.annotations.get(ANNOTATION + "go-version") or opts.go_version
    m = re.fullmatch(r"(?:go)?1\.(\d+)(?:\.\d+)?", str(text or "").strip())
    return int(m.group(1)) if m else None


def image_has_shell(w: Workload, c: Container, opts: Options) -> bool | None:
    """Return whether the image has a shell: annotation, then flags, then built-in name patterns; None = unknown."""
    ann = w.annotations.get(ANNOTATION + "image-shell")
    if ann is not None and ann.strip().lower() in ("true", "false"):
        return ann.strip().lower() == "true"
    image = c.image
    if any(fnmatch.fnmatchcase(image, p) for p in opts.shell_images):
        return True
    if any(fnmatch.fnmatchcase(image, p) for p in opts.no_shell_images):
        return False
    if any(fnmatch.fnmatchcase(image, p) for p in NO_SHELL_IMAGES):
        return any(fnmatch.fnmatchcase(image, p) for p in SHELL_IMAGES)
    return None


_SLEEP = re.compile(r"(?:^|[\s;&|(/])sleep\s+([0-9]+(?:\.[0-9]+)?)s?\b")


def _prestop(c: Container) -> tuple[int | None, str, list[str] | None]:
    """Return (milliseconds, kind, exec command) of the preStop hook: kind is sleep, exec, http or none."""
    p = c.prestop
    if not p:
        return 0, "none", None
    if isinstance(p.get("sleep"), dict):
        secs = p["sleep"].get("seconds")
        return (int(secs) * 1000 if isinstance(secs, int) else None), "sleep", None
    if isinstance(p.get("exec"), dict):
        cmd = [str(x) for x in p["exec"].get("command") or []]
        m = _SLEEP.search(" ".join(cmd))
        return (int(-(-Fraction(m.group(1)) * 1000 // 1)) if m else None), "exec", cmd
    return None, "http" if "httpGet" in p else "other", None


def _resource(c: Container, kind: str, name: str) -> Any:
    r = c.resources.get(kind)
    return r.get(name) if isinstance(r, dict) else None


def _cpu(value: Any) -> Fraction | None:
    try:
        return _q().parse_cpu(str(value), "cpu") if value is not None else None
    except ValueError:
        return None


def _mem(value: Any) -> int | None:
    try:
        return _q().parse_memory(str(value), "memory") if value is not None else None
    except ValueError:
        return None


def _field_ref_value(c: Container, ref: dict[str, Any]) -> tuple[Fraction | None, str]:
    """Return (the number the env var gets, resource) for a resourceFieldRef: ceil(resource / divisor)."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    raw = _resource(c, kind, name)
    if raw is None:
        return None, resource
    mem = None if name == "cpu" else _mem(raw)
    value = _cpu(raw) if name == "cpu" else (Fraction(mem) if mem is not None else None)
    divisor = ref.get("divisor")
    div = _q().parse(str(divisor), "divisor") if divisor not in (None, "", 0, "0") else Fraction(1)
    if value is None or div <= 0:
        return None, resource
    return Fraction(-(-value // div)), resource


# ----------------------------------------------------------------------------- the checks
def app_containers(w: Workload, opts: Options, notes: list[str]) -> tuple[list[Container], str]:
    """Return the service's own container(s) among the regular containers, and how they were recognised.

    The annotation `gosmith.dev/app-container` (comma-separated names), else `--app-container`, else the
    containers with env only a gosmith chart sets on its service (SERVICE_ENV), else those with Go runtime
    env (GO_ENV), else the only regular container. Several regular containers and none recognised: none.
    """
    ann = w.annotations.get(ANNOTATION + "app-container")
    if ann is not None:
        names = [n.strip() for n in ann.split(",") if n.strip()]
        missing = [n for n in names if n not in {c.name for c in w.containers}]
        if missing:
            notes.append(f"{w.ref}: annotation {ANNOTATION}app-container names no regular container "
                         f"{', '.join(missing)}")
        return [c for c in w.containers if c.name in names], f"annotation {ANNOTATION}app-container"
    given = [c for c in w.containers if c.name in opts.app_containers]
    if given:
        return given, "--app-container"
    for env, how in ((SERVICE_ENV, "gosmith service env"), (GO_ENV, "Go runtime env")):
        found = [c for c in w.containers if any(e in c.env for e in env)]
        if found:
            return found, how
    if len(w.containers) == 1:
        return list(w.containers), "the only container"
    if w.containers:
        notes.append(f"{w.ref}: {len(w.containers)} containers and none known to be the Go service: Go runtime "
                     f"rules, the service's timings and the sidecar rules not applied (annotate "
                     f"{ANNOTATION}app-container or pass --app-container)")
    return [], ""


class _Ctx:
    """Collect findings for one workload, honouring `gosmith.dev/ignore`; know which containers are which."""

    def __init__(self, w: Workload, opts: Options | None = None, notes: list[str] | None = None) -> None:
        self.w = w
        self.ignored = {s.strip() for s in w.annotations.get(ANNOTATION + "ignore", "").split(",") if s.strip()}
        self.findings: list[Finding] = []
        self.app, self.app_how = app_containers(w, opts or Options(), notes if notes is not None else [])
        app = {id(c) for c in self.app}
        #: Go runtime rules apply to the service and to any container whose env sets a Go runtime variable.
        self.go = {id(c) for c in w.all_containers if id(c) in app or any(e in c.env for e in GO_ENV)}
        self._app = app

    def is_app(self, c: Container) -> bool:
        return id(c) in self._app

    def is_go(self, c: Container) -> bool:
        return id(c) in self.go

    def add(self, rule: str, c: Container | None, path: tuple[str | int, ...], message: str, fix: str,
            severity: str = "", **numbers: Any) -> None:
        if rule in self.ignored or (rule in GO_RULES and c is not None and not self.is_go(c)):
            return
        doc: Doc = self.w.doc
        self.findings.append(Finding(
            rule=rule, severity=severity or rules_by_id()[rule].severity, workload=self.w.ref,
            container=c.name if c else None, source=doc.source, line=doc.line_of(path), field=_path_text(path),
            message=message, fix=fix, numbers=numbers,
        ))


def _grace_terms(x: _Ctx, c: Container, opts: Options, notes: list[str]
                 ) -> tuple[list[tuple[str, int | None, str]], str, list[str]]:
    """Return the terms of a container's stop ((label, ms, source) of preStop, drain, shutdown, flush), the
    preStop kind, and the labels that are unknown."""
    pre_ms, pre_kind, _ = _prestop(c)
    terms: list[tuple[str, int | None, str]] = [("preStop", pre_ms if pre_kind != "none" else None, pre_kind)]
    for key in ("drain", "shutdown", "flush"):
        ms, src = _timing(x.w, c, key, opts, notes, shared=x.is_app(c))
        terms.append((key, ms, src))
    unknown = [label for label, ms, _ in terms if ms is None and label != "preStop"]
    if pre_kind in ("http", "other") or (pre_kind in ("exec", "sleep") and pre_ms is None):
        unknown.insert(0, "preStop")
    return terms, pre_kind, unknown


def _terms_text(terms: list[tuple[str, int | None, str]], pre_kind: str) -> str:
    return " + ".join(f"{label} {seconds_text(ms or 0)}" for label, ms, _ in terms
                      if label != "preStop" or pre_kind != "none")


def _grace(w: Workload) -> int:
    raw = w.pod_spec.get("terminationGracePeriodSeconds")
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 30


def _check_grace(x: _Ctx, c: Container, opts: Options, notes: list[str]) -> None:
    t, w = _t(), x.w
    terms, pre_kind, unknown = _grace_terms(x, c, opts, notes)
    if all(ms is None for _, ms, _ in terms):
        if x.is_app(c):
            notes.append(f"{w.ref} container {c.name}: grace period not checked: no preStop hook and no drain, "
                         "shutdown or flush timeout known (set them in env, gosmith.dev/* annotations or "
                         "--drain-delay, --shutdown-timeout, --telemetry-flush-timeout)")
        return
    known = {label: ms or 0 for label, ms, _ in terms}
    total = t.grace_needed_ms(known["preStop"], known["drain"], known["shutdown"], known["flush"])
    needed = t.grace_seconds(total)
    grace = _grace(w)
    if grace >= needed:
        if unknown and x.is_app(c):
            notes.append(f"{w.ref} container {c.name}: grace period checked without {', '.join(unknown)} "
                         "(unknown, counted as 0)")
        return
    sum_text = f"{_terms_text(terms, pre_kind)} + margin {seconds_text(t.GRACE_MARGIN_MS)} = {seconds_text(total)}"
    unknown_text = f" ({', '.join(unknown)} unknown, counted as 0)" if unknown else ""
    default = "" if "terminationGracePeriodSeconds" in w.pod_spec else " (the default)"
    x.add("grace-period", c, (*w.spec_path, "terminationGracePeriodSeconds"),
          f"terminationGracePeriodSeconds {grace}{default} < {sum_text}{unknown_text}",
          f"set terminationGracePeriodSeconds to at least {needed}, or shorten preStop/drain/shutdown/flush",
          "", grace_seconds=grace, needed_seconds=needed,
          **{f"{label}_ms": ms for label, ms, _ in terms}, margin_ms=t.GRACE_MARGIN_MS)


def _app_stop(x: _Ctx, opts: Options) -> tuple[Container, list[tuple[str, int | None, str]], str] | None:
    """Return the service's container and the terms of its stop; None when no service or nothing is known."""
    for app in x.app:
        terms, pre_kind, _ = _grace_terms(x, app, opts, [])
        if any(ms for _, ms, _ in terms):
            return app, terms, pre_kind
    return None


def _check_legacy_sidecar(x: _Ctx, c: Container, opts: Options) -> None:
    """A regular container beside the service gets SIGTERM with it: it must outlive the service's stop."""
    t = _t()
    stop = _app_stop(x, opts)
    if stop is None:
        return
    app, terms, app_pre_kind = stop
    known = {label: ms or 0 for label, ms, _ in terms}
    app_ms = t.stop_ms(known["preStop"], known["drain"], known["shutdown"], known["flush"])
    pre_ms, pre_kind, _ = _prestop(c)
    if pre_ms is None or pre_kind in ("http", "other"):
        return  # a hook of unknown length may be its drain
    if pre_ms >= app_ms:
        return
    own = "no preStop hook" if pre_kind == "none" else f"preStop {pre_kind} {seconds_text(pre_ms)}"
    x.add("legacy-sidecar", c, c.path,
          f"regular container {c.name} gets SIGTERM with {app.name} and has {own} < {app.name}'s stop "
          f"{_terms_text(terms, app_pre_kind)} = {seconds_text(app_ms)}: it can exit while {app.name} is still "
          "draining and flushing",
          f"move {c.name} to initContainers with restartPolicy: Always (Kubernetes >= "
          f"1.{t.NATIVE_SIDECAR_KUBE_MINOR}); on older clusters a preStop sleep of at least "
          f"{t.grace_seconds(app_ms)}s", prestop_ms=pre_ms, app_stop_ms=app_ms,
          native_sidecar_kube_minor=t.NATIVE_SIDECAR_KUBE_MINOR)


def _check_sidecar_grace(x: _Ctx, c: Container, opts: Options, notes: list[str]) -> None:
    """A native sidecar is stopped after the service exited: the grace period must hold both stops."""
    t, w = _t(), x.w
    stop = _app_stop(x, opts)
    if stop is None:
        if x.app:
            notes.append(f"{w.ref} native sidecar {c.name}: grace headroom not checked: the service's stop "
                         "(preStop, drain, shutdown, flush) is unknown")
        return
    app, terms, app_pre_kind = stop
    known = {label: ms or 0 for label, ms, _ in terms}
    app_needed = t.grace_needed_ms(known["preStop"], known["drain"], known["shutdown"], known["flush"])
    pre_ms, pre_kind, _ = _prestop(c)
    side_pre = pre_ms or 0
    shutdown, src = _timing(w, c, "shutdown", opts, notes, shared=False)
    text = w.annotations.get(ANNOTATION + "sidecar-shutdown-timeout")
    if shutdown is None and text is not None:
        if (ann_ms := duration_ms(text)) is not None:
            shutdown, src = ann_ms, f"annotation {ANNOTATION}sidecar-shutdown-timeout"
        else:
            notes.append(f"{w.ref}: annotation {ANNOTATION}sidecar-shutdown-timeout={text!r} is not a duration; "
                         "ignored")
    side_shutdown = shutdown or 0
    total = t.sidecar_grace_needed_ms(app_needed, side_pre, side_shutdown)
    needed = t.grace_seconds(total)
    grace = _grace(w)
    if grace >= needed:
        return
    margin = seconds_text(t.GRACE_MARGIN_MS)
    left = grace * 1000 - app_needed
    headroom = (f"{app.name}'s needs leave no headroom" if left <= 0
                else f"{seconds_text(left)} left after {app.name}'s needs")
    own = (f"preStop {seconds_text(side_pre)}" if pre_kind != "none" else "no preStop") + \
        (f" + shutdown {seconds_text(side_shutdown)} ({src})" if shutdown is not None else " + shutdown unknown (0s)")
    default = "" if "terminationGracePeriodSeconds" in w.pod_spec else " (the default)"
    x.add("sidecar-grace-headroom", c, (*w.spec_path, "terminationGracePeriodSeconds"),
          f"terminationGracePeriodSeconds {grace}{default} < {app.name}'s {_terms_text(terms, app_pre_kind)} + "
          f"margin {margin} = {seconds_text(app_needed)}, then native sidecar {c.name}'s {own} + margin {margin}: "
          f"{seconds_text(total)} ({headroom})",
          f"set terminationGracePeriodSeconds to at least {needed}, or shorten {app.name}'s or {c.name}'s "
          "timeouts", grace_seconds=grace, needed_seconds=needed, app_needed_ms=app_needed,
          sidecar_prestop_ms=side_pre, sidecar_shutdown_ms=shutdown, margin_ms=t.GRACE_MARGIN_MS)


def _check_sidecar_traffic(x: _Ctx, c: Container, ports: list[tuple[str, str, int | str]], opts: Options) -> None:
    """A regular sidecar that a Service sends requests to must keep accepting for the endpoint propagation."""
    served = [(svc, name, target) for svc, name, target in ports
              if (isinstance(target, int) and target in c.ports.values()) or
              (isinstance(target, str) and target in c.ports)]
    if not served:
        return
    pre_ms, pre_kind, _ = _prestop(c)
    if pre_ms is None or pre_kind in ("http", "other"):
        return  # a hook of unknown length: not checked
    drain, src = _timing(x.w, c, "drain", opts, [], shared=False)
    propagation = default_propagation_ms() if opts.endpoint_propagation_ms is None else opts.endpoint_propagation_ms
    propagation_src = "the default" if opts.endpoint_propagation_ms is None else "--endpoint-propagation"
    total = pre_ms + (drain or 0)
    if total >= propagation:
        return
    svc, name, target = served[0]
    port = target if isinstance(target, int) else c.ports[target]
    own = "no preStop hook" if pre_kind == "none" else f"preStop {pre_kind} {seconds_text(pre_ms)}"
    if drain is not None:
        own += f" + drain delay {seconds_text(drain)} ({src})"
    x.add("sidecar-serves-traffic", c, c.path,
          f"sidecar {c.name} serves {svc} port {name} (containerPort {port}) with {own} = {seconds_text(total)} < "
          f"endpoint propagation {seconds_text(propagation)} ({propagation_src}): it stops accepting at SIGTERM "
          "while requests are still routed to the pod",
          f"give {c.name} a preStop sleep of at least {_t().grace_seconds(propagation - (drain or 0))}s, or make it a "
          "native sidecar (initContainers, restartPolicy: Always)",
          severity="error" if total == 0 else "warning",
          prestop_ms=pre_ms, drain_ms=drain, endpoint_propagation_ms=propagation, container_port=port)


def _check_drain(x: _Ctx, c: Container, opts: Options) -> None:
    """A pod must keep serving (preStop sleep + drain delay) until every proxy has dropped its endpoint."""
    w = x.w
    pre_ms, pre_kind, _ = _prestop(c)
    if pre_kind in ("http", "other") or pre_ms is None:
        return  # a hook of unknown length: not checked
    drain, src = _timing(w, c, "drain", opts, [], shared=x.is_app(c))
    if pre_kind == "none" and drain is None:
        return  # nothing known about this container's drain
    propagation = default_propagation_ms() if opts.endpoint_propagation_ms is None else opts.endpoint_propagation_ms
    propagation_src = "the default" if opts.endpoint_propagation_ms is None else "--endpoint-propagation"
    total = pre_ms + (drain or 0)
    if total >= propagation or (drain is None and pre_ms < propagation):
        return  # long enough, or the drain delay is unknown and may make up the rest
    var = c.env.get("DRAIN_DELAY")
    if var is not None and src.startswith("env"):
        path: tuple[str | int, ...] = (*c.path, "env", var.index)
    elif pre_kind != "none":
        path = (*c.path, "lifecycle", "preStop")
    else:
        path = (*c.path,)
    drain_text = f"drain delay {seconds_text(drain)} ({src})" if drain is not None else "drain delay unknown"
    if pre_kind == "none":
        kept = f"{drain_text} and no preStop hook: {seconds_text(total)}"
    else:
        kept = f"preStop {pre_kind} {seconds_text(pre_ms)} + {drain_text} = {seconds_text(total)}"
    x.add("drain-propagation", c, path,
          f"{kept} < endpoint propagation {seconds_text(propagation)} ({propagation_src}): requests routed to "
          "the pod after it stops accepting fail",
          f"set the drain delay (DRAIN_DELAY, timeouts.drainDelay) to at least {seconds_text(propagation - pre_ms)}"
          + (" or a preStop sleep" if pre_kind == "none" else ""),
          severity="error" if total == 0 else "warning",
          prestop_ms=pre_ms, drain_ms=drain, endpoint_propagation_ms=propagation)


def _check_idle(x: _Ctx, c: Container, lbs: list[LoadBalancer], opts: Options, notes: list[str]) -> None:
    if not lbs:
        return
    t, w = _t(), x.w
    idle, src = _timing(w, c, "idle", opts, notes, shared=x.is_app(c))
    if idle is None:
        if not x.is_app(c):
            return  # a sidecar's idle timeout is its own business unless its env says
        notes.append(f"{w.ref} container {c.name}: idle timeout unknown, not compared with {lbs[0].via} "
                     f"({lbs[0].idle_seconds}s): set IDLE_TIMEOUT, gosmith.dev/idle-timeout or --idle-timeout")
        return
    var = c.env.get("IDLE_TIMEOUT")
    path = (*c.path, "env", var.index) if var is not None and src.startswith("env") else (*c.path,)
    for lb in lbs:
        lb_ms = lb.idle_seconds * 1000
        want = t.app_idle_timeout_ms(lb_ms)
        if idle >= want:
            continue
        severity = "error" if idle <= lb_ms else "warning"
        relation = "<=" if idle <= lb_ms else f"< {seconds_text(lb_ms)} + {seconds_text(t.IDLE_MARGIN_MS)} margin ="
        target = seconds_text(lb_ms) if idle <= lb_ms else seconds_text(want)
        x.add("lb-idle-timeout", c, path,
              f"idle timeout {seconds_text(idle)} ({src}) {relation} {target}: idle timeout "
              f"{lb.idle_seconds}s of {lb.via} ({lb.source})",
              f"set IDLE_TIMEOUT to at least {seconds_text(want)} (LB idle {lb.idle_seconds}s + "
              f"{seconds_text(t.IDLE_MARGIN_MS)})", severity=severity,
              idle_timeout_ms=idle, lb_idle_timeout_ms=lb_ms, wanted_ms=want)


def _env_ms(c: Container, name: str) -> tuple[int | None, int | None]:
    """Return (milliseconds, env index) of a duration env var of `c`; (None, None) when unset or not literal."""
    var = c.env.get(name)
    if var is None or var.value is None:
        return None, None
    return duration_ms(var.value), var.index


def _check_upstream(x: _Ctx, c: Container) -> None:
    """An upstream call (UPSTREAM_TIMEOUT + margin) must end inside the handler deadline."""
    handler, _ = _env_ms(c, "HANDLER_TIMEOUT")
    upstream, index = _env_ms(c, "UPSTREAM_TIMEOUT")
    if handler is None or upstream is None or index is None:
        return
    margin, _ = _env_ms(c, "UPSTREAM_MARGIN")
    margin_src = "UPSTREAM_MARGIN"
    if margin is None:
        margin, margin_src = _t().upstream_margin_ms(handler), "derived margin"
    if upstream + margin <= handler:
        return
    x.add("upstream-timeout", c, (*c.path, "env", index),
          f"UPSTREAM_TIMEOUT {seconds_text(upstream)} + {margin_src} {seconds_text(margin)} = "
          f"{seconds_text(upstream + margin)} > HANDLER_TIMEOUT {seconds_text(handler)}: upstream calls outlive the "
          "handler deadline",
          f"set UPSTREAM_TIMEOUT to at most {seconds_text(max(handler - margin, 0))} (HANDLER_TIMEOUT - margin)",
          upstream_timeout_ms=upstream, upstream_margin_ms=margin, handler_timeout_ms=handler)


def _check_prestop(x: _Ctx, c: Container, opts: Options) -> None:
    _, kind, cmd = _prestop(c)
    if kind != "exec" or not cmd:
        return
    exe = cmd[0].rsplit("/", 1)[-1]
    needs = exe in ("sh", "bash", "ash", "dash", "zsh", "busybox", "sleep") or bool(_SLEEP.search(" ".join(cmd)))
    if not needs:
        return
    shell = image_has_shell(x.w, c, opts)
    if shell is True:
        return
    path = (*c.path, "lifecycle", "preStop", "exec")
    shown = shlex.join(cmd)
    if shell is False:
        x.add("prestop-exec-sleep", c, path,
              f"preStop exec `{shown}` on image {c.image}, which has no shell or sleep binary: the hook fails",
              "use `lifecycle.preStop.sleep: {seconds: N}` (Kubernetes >= 1.30) instead of exec", image=c.image)
    else:
        x.add("prestop-exec-sleep", c, path,
              f"preStop exec `{shown}` needs a shell or sleep binary in image {c.image} (not known: pass "
              "--image-with-shell/--image-without-shell or annotate gosmith.dev/image-shell)",
              "prefer `lifecycle.preStop.sleep: {seconds: N}` (Kubernetes >= 1.30): it needs no binary",
              severity="info", image=c.image)


def _check_memory(x: _Ctx, c: Container) -> None:
    t, q = _t(), _q()
    limit = _mem(_resource(c, "limits", "memory"))
    var = c.env.get("GOMEMLIMIT")
    gomem: int | None = None
    how = ""
    if var is not None and var.value is not None and var.value.strip().lower() != "off":
        gomem, how = go_bytes(var.value), f"GOMEMLIMIT={var.value}"
    elif var is not None and var.resource_field is not None:
        value, resource = _field_ref_value(c, var.resource_field)
        if value is not None:
            gomem = int(value)
            how = f"GOMEMLIMIT from resourceFieldRef {resource} = {gomem}"
    gogc = c.env.get("GOGC")
    ratio_set = "GOMEMLIMIT_RATIO" in c.env and limit is not None
    if gogc is not None and (gogc.value or "").strip().lower() == "off" and gomem is None and not ratio_set:
        x.add("gogc-off-unbounded", c, (*c.path, "env", gogc.index),
              "GOGC=off and no GOMEMLIMIT: the heap grows until the container is OOM-killed",
              "set GOMEMLIMIT below limits.memory, or remove GOGC=off")
    if gomem is not None and var is not None:
        path = (*c.path, "env", var.index)
        if gomem < t.MIN_GOMEMLIMIT:
            x.add("gomemlimit-too-low", c, path,
                  f"{how} bytes < {t.MIN_GOMEMLIMIT // q.MI}MiB: Go reads a plain number as bytes",
                  "write GOMEMLIMIT with a unit (e.g. 460MiB) or use divisor 1 (bytes)", gomemlimit_bytes=gomem)
        elif limit is not None and gomem >= limit:
            x.add("gomemlimit-at-limit", c, path,
                  f"{how} ({gomem} bytes) >= limits.memory {_resource(c, 'limits', 'memory')} ({limit} bytes)",
                  f"set GOMEMLIMIT to at most {q.format_mib(t.gomemlimit_ceiling(limit))} "
                  f"(limits.memory - {t.MIN_HEADROOM // q.MI}MiB)", gomemlimit_bytes=gomem, memory_limit_bytes=limit)
        elif limit is not None and gomem > t.gomemlimit_ceiling(limit):
            x.add("gomemlimit-headroom", c, path,
                  f"{how} ({gomem} bytes) > limits.memory {_resource(c, 'limits', 'memory')} - "
                  f"{t.MIN_HEADROOM // q.MI}Mi headroom = {t.gomemlimit_ceiling(limit)} bytes",
                  f"set GOMEMLIMIT to at most {q.format_mib(t.gomemlimit_ceiling(limit))}",
                  gomemlimit_bytes=gomem, memory_limit_bytes=limit, headroom_bytes=t.MIN_HEADROOM)
    if limit is not None and var is None and not ratio_set:
        x.add("gomemlimit-missing", c, (*c.path, "resources", "limits", "memory"),
              f"limits.memory {_resource(c, 'limits', 'memory')} but no GOMEMLIMIT",
              f"set GOMEMLIMIT={q.format_mib(t.gomemlimit_bytes(limit, Fraction(9, 10))[0])} "
              "(0.9 x limits.memory, rounded down to MiB)", memory_limit_bytes=limit)


def _check_field_refs(x: _Ctx, c: Container) -> None:
    for path, ref in c.field_refs:
        if "divisor" not in ref:
            resource = ref.get("resource", "?")
            x.add("resourcefieldref-divisor", c, path, f"resourceFieldRef {resource} has no divisor",
                  'add `divisor: "1"`' if str(resource).endswith("memory") else 'add `divisor: "1"` (whole CPUs, '
                  'rounded up) or `divisor: "1m"` (millicores)', resource=resource)


def _check_cpu(x: _Ctx, c: Container, opts: Options) -> None:
    t = _t()
    raw_limit = _resource(c, "limits", "cpu")
    limit = _cpu(raw_limit)
    if limit is None:
        return
    var = c.env.get("GOMAXPROCS")
    procs: int | None = None
    how = ""
    if var is not None and var.value is not None and var.value.strip().isdigit():
        procs, how = int(var.value.strip()), f"GOMAXPROCS={var.value.strip()}"
    elif var is not None and var.resource_field is not None:
        value, resource = _field_ref_value(c, var.resource_field)
        if value is not None:
            procs, how = int(value), f"GOMAXPROCS from resourceFieldRef {resource} = {int(value)}"
    minor = _go_minor(x.w, opts)
    if var is None and "GOMAXPROCS_POLICY" not in c.env and minor is not None and not t.runtime_follows_cgroup(minor):
        want = t.gomaxprocs_floor(limit)
        frac = " (fractional)" if limit.denominator != 1 else ""
        x.add("gomaxprocs-old-go", c, (*c.path, "resources", "limits", "cpu"),
              f"Go 1.{minor} < 1.{t.CGROUP_AWARE_GO_MINOR} ignores limits.cpu {raw_limit}{frac} and no GOMAXPROCS "
              "is set: the runtime runs one thread per node core",
              f"set GOMAXPROCS={want} (max(1, floor({raw_limit}))), or build with Go >= 1.{t.CGROUP_AWARE_GO_MINOR}",
              go_minor=minor, cpu_limit=str(raw_limit), gomaxprocs_wanted=want)
    if procs is not None and var is not None and procs > t.gomaxprocs_ceil(limit):
        x.add("gomaxprocs-above-limit", c, (*c.path, "env", var.index),
              f"{how} > max(1, ceil(limits.cpu {raw_limit})) = {t.gomaxprocs_ceil(limit)}",
              f"set GOMAXPROCS to {t.gomaxprocs_floor(limit)} (floor) or {t.gomaxprocs_ceil(limit)} (ceil)",
              gomaxprocs=procs, cpu_limit=str(raw_limit), most=t.gomaxprocs_ceil(limit))


def _check_probes(x: _Ctx, c: Container) -> None:
    t = _t()
    for kind, p in c.probes.items():
        if not t.probe_timeout_fits(p.timeout, p.period):
            x.add("probe-timeout", c, (*c.path, f"{kind}Probe"),
                  f"{kind}Probe timeoutSeconds {p.timeout} >= periodSeconds {p.period}",
                  f"set timeoutSeconds below {p.period} or periodSeconds above {p.timeout}",
                  timeout=p.timeout, period=p.period)
    live, ready = c.probes.get("liveness"), c.probes.get("readiness")
    if live and ready and not t.liveness_more_lenient(live.period, live.failure, ready.period, ready.failure):
        lw, rw = t.probe_window_seconds(live.period, live.failure), t.probe_window_seconds(ready.period, ready.failure)
        x.add("liveness-before-readiness", c, (*c.path, "livenessProbe"),
              f"liveness {live.period}s x {live.failure} = {lw}s <= readiness {ready.period}s x {ready.failure} = "
              f"{rw}s: a slow pod is restarted no later than it is taken out of rotation",
              f"raise the liveness failureThreshold to at least {rw // live.period + 1}",
              liveness_window=lw, readiness_window=rw)


def _check_limits(x: _Ctx, c: Container) -> None:
    if _resource(c, "limits", "cpu") is None and _resource(c, "limits", "memory") is None:
        x.add("no-limits", c, (*c.path, "resources"), "no limits.cpu and no limits.memory",
              "set limits.memory (and GOMEMLIMIT below it); a CPU limit is optional")


def check(docs: list[Doc], opts: Options | None = None) -> Report:
    """Run the rules on every container and native sidecar of every workload in `docs`.

    The timing rules apply to every container; the Go runtime rules (GO_RULES) only to containers known
    to be Go (the service's own, see app_containers, and any whose env sets a Go runtime variable); the
    sidecar rules to the containers beside the service.
    """
    opts = opts or Options()
    notes: list[str] = []
    found = workloads(docs)
    findings: list[Finding] = []
    for w in found:
        x = _Ctx(w, opts, notes)
        lbs = load_balancers(w, docs, opts.lb_defaults)
        if opts.lb_idle_timeout is not None:
            lbs.append(LoadBalancer("given", opts.lb_idle_timeout, "the load balancer in front", "--lb-idle-timeout"))
        ports = service_ports(w, docs)
        for c in w.all_containers:
            # timing rules: every container (a native sidecar's grace is checked with the service's stop)
            if c.native_sidecar:
                _check_sidecar_grace(x, c, opts, notes)
            else:
                _check_grace(x, c, opts, notes)
                _check_drain(x, c, opts)
            _check_idle(x, c, lbs, opts, notes)
            _check_prestop(x, c, opts)
            _check_upstream(x, c)
            _check_field_refs(x, c)
            _check_probes(x, c)
            if x.app and not x.is_app(c) and not c.native_sidecar:
                _check_legacy_sidecar(x, c, opts)
                _check_sidecar_traffic(x, c, ports, opts)
            # Go runtime rules: only containers known to be Go
            if x.is_go(c):
                _check_memory(x, c)
                _check_cpu(x, c, opts)
                _check_limits(x, c)
        order = {r.id: i for i, r in enumerate(rule_table())}
        findings.extend(sorted(x.findings, key=lambda f: (SEVERITIES.index(f.severity), order[f.rule])))
    return Report(workloads=found, findings=findings, notes=notes)
