"""`gosmith doctor --emit-policy`: the doctor's one-object rules as a ValidatingAdmissionPolicy (CEL).

The API server then gives the verdict `gosmith doctor` gives, on every Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job, CronJob (and Argo Rollout) it admits. Every number the CEL compares
against is generated from the template's tuning rules (hooks/tuning.py, through the doctor's `_t()`),
never typed in here. Two policies: one holds the rules whose doctor findings are errors (bound with
the chosen action: Deny, Warn or Audit), one the rules whose findings are warnings (bound with Warn,
or Audit when the chosen action is Audit) -- so a cluster refuses what `gosmith doctor` fails on by
default (`--fail-on error`) and warns about the rest. Info findings are not enforced.

Rules that need several objects, or facts the API server rewrites before admission, stay doctor-only
(`DOCTOR_ONLY`, with the reason).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from gosmith.doctor_rules import NO_SHELL_IMAGES, SHELL_IMAGES, Options, _t, default_propagation_ms, timings
from gosmith.errors import UserError

#: validationActions a binding can take (admissionregistration.k8s.io/v1).
ACTIONS = ("Deny", "Warn", "Audit")

#: Rules the policy does not check, and why.
DOCTOR_ONLY: dict[str, str] = {
    "lb-idle-timeout": "needs the Service and Ingress in front of the workload (several objects)",
    "resourcefieldref-divisor": "the API server fills in the divisor before admission, so a policy never sees it "
                                "missing",
    "gomemlimit-missing": "an info finding: not enforced",
    "no-limits": "an info finding: not enforced",
    "legacy-sidecar": "an info finding: not enforced",
    "sidecar-serves-traffic": "needs the Service that targets the sidecar's port (several objects)",
    "sidecar-grace-headroom": "not expressed in the policy yet: the doctor checks it (the sidecar's own "
                              "shutdown comes from its env or a gosmith.dev annotation)",
    "upstream-timeout": "not expressed in the policy yet: the doctor checks UPSTREAM_TIMEOUT + UPSTREAM_MARGIN "
                        "against HANDLER_TIMEOUT (the chart's render fails on it too)",
}

#: Rules the policy checks: the doctor severity each validation stands for.
ENFORCED: dict[str, tuple[str, ...]] = {
    "grace-period": ("error",),
    "drain-propagation": ("error", "warning"),
    "prestop-exec-sleep": ("error",),  # the info variant (image not known) is doctor-only
    "gomemlimit-at-limit": ("error",),
    "gomemlimit-headroom": ("warning",),
    "gomemlimit-too-low": ("error",),
    "gogc-off-unbounded": ("error",),
    "gomaxprocs-old-go": ("warning",),
    "gomaxprocs-above-limit": ("warning",),
    "probe-timeout": ("warning",),
    "liveness-before-readiness": ("warning",),
}

#: What the policy matches: the doctor's workload kinds (doctor_load.POD_TEMPLATE).
RESOURCE_RULES = (
    ("apps", ("deployments", "statefulsets", "daemonsets", "replicasets")),
    ("batch", ("jobs", "cronjobs")),
    ("argoproj.io", ("rollouts",)),
)

_ENV = ("DRAIN_DELAY", "SHUTDOWN_TIMEOUT", "TELEMETRY_FLUSH_TIMEOUT", "GOMEMLIMIT", "GOMAXPROCS", "GOGC",
        "GOMEMLIMIT_RATIO", "GOMAXPROCS_POLICY")
#: Go duration grammar (time.ParseDuration, without a sign: the doctor refuses negative timeouts).
_GO_DURATION = r"^\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$"
_BARE_SECONDS = r"^[0-9]+(\.[0-9]+)?$"
#: The doctor's exec preStop sleep (doctor_rules._SLEEP).
_SLEEP = r"(^|[\s;&|(/])sleep\s+[0-9]+(\.[0-9]+)?s?\b"
_SHELLS = ("sh", "bash", "ash", "dash", "zsh", "busybox", "sleep")


# ----------------------------------------------------------------------------- CEL building blocks
def _s(text: str) -> str:
    """Return a CEL string literal."""
    return json.dumps(text, ensure_ascii=False)


def _let(name: str, value: str, body: str) -> str:
    """Bind `name` to `value` in `body` (a one-element list's map: works on every CEL version)."""
    return f"[{value}].map({name}, {body})[0]"


def _ann(key: str) -> str:
    """The workload's annotation `key` (the pod template's wins), '' when unset."""
    k = _s(key)
    return (f"({k} in variables.tann ? variables.tann[{k}] : ({k} in variables.oann ? variables.oann[{k}] : ''))")


def _duration_ms(s: str, default: str = "-1") -> str:
    """Milliseconds (rounded up) of the Go duration or plain seconds in string expression `s`, else `default`."""
    up = "duration('999999ns')"
    return (f"({s}.matches({_s(_BARE_SECONDS)}) ? (duration({s} + 's') + {up}).getMilliseconds() : "
            f"{s}.matches({_s(_GO_DURATION)}) ? (duration({s}) + {up}).getMilliseconds() : {default})")


def _sec(x: str) -> str:
    """`x` milliseconds as the doctor writes them ('15s', '9.5s')."""
    w, r = f"string({x} / 1000)", f"({x} % 1000)"
    return (f"({r} == 0 ? {w} + 's' : {r} % 100 == 0 ? {w} + '.' + string({r} / 100) + 's' : "
            f"{r} % 10 == 0 ? {w} + '.' + ({r} < 100 ? '0' : '') + string({r} / 10) + 's' : "
            f"{w} + '.' + ({r} < 10 ? '00' : {r} < 100 ? '0' : '') + string({r}) + 's')")


def _glob(patterns: list[str] | tuple[str, ...]) -> str:
    """An RE2 alternation matching any of the fnmatch `patterns` (only * and ? are used)."""
    parts = []
    for p in patterns:
        out = ""
        for ch in p:
            out += ".*" if ch == "*" else "." if ch == "?" else ("\\" + ch if not ch.isalnum() else ch)
        parts.append(out)
    return "^(" + "|".join(parts) + ")$" if parts else "^\\b$"  # \b never matches an empty string


def _facts_expr() -> str:
    """Per container, the facts the rules read (strings and ints; -1 = unknown)."""
    entries: dict[str, str] = {"name": "c.name", "image": "has(c.image) ? c.image : ''"}
    for name in _ENV:
        lst = f"(has(c.env) ? c.env.filter(e, e.name == {_s(name)}) : [])"
        last = "l[size(l) - 1]"
        entries[f"k_{name}"] = _let("l", lst, f"size(l) == 0 ? 0 : !has({last}.valueFrom) ? 1 : "
                                              f"has({last}.valueFrom.resourceFieldRef) ? 2 : 3")
        entries[f"v_{name}"] = _let("l", lst, f"size(l) > 0 && has({last}.value) ? {last}.value : ''")
        entries[f"r_{name}"] = _let("l", lst, f"size(l) > 0 && has({last}.valueFrom) && "
                                              f"has({last}.valueFrom.resourceFieldRef) ? "
                                              f"{last}.valueFrom.resourceFieldRef.resource : ''")
        entries[f"d_{name}"] = _let("l", lst, f"size(l) > 0 && has({last}.valueFrom) && "
                                              f"has({last}.valueFrom.resourceFieldRef) && "
                                              f"has({last}.valueFrom.resourceFieldRef.divisor) ? "
                                              f"string({last}.valueFrom.resourceFieldRef.divisor) : ''")
    for kind in ("limits", "requests"):
        for res in ("memory", "cpu"):
            entries[f"{kind}.{res}"] = (f"has(c.resources) && has(c.resources.{kind}) && {_s(res)} in "
                                        f"c.resources.{kind} ? string(c.resources.{kind}[{_s(res)}]) : ''")
    pre = "c.lifecycle.preStop"
    has_pre = "has(c.lifecycle) && has(c.lifecycle.preStop)"
    entries["prekind"] = (f"!({has_pre}) ? 'none' : has({pre}.sleep) ? 'sleep' : has({pre}.exec) ? 'exec' : "
                          f"has({pre}.httpGet) ? 'http' : 'other'")
    entries["precmd"] = (f"{has_pre} && has({pre}.exec) && has({pre}.exec.command) ? "
                         f"{pre}.exec.command.join(' ') : ''")
    entries["preexe"] = (f"{has_pre} && has({pre}.exec) && has({pre}.exec.command) && "
                         f"size({pre}.exec.command) > 0 ? {pre}.exec.command[0].split('/')"
                         f"[size({pre}.exec.command[0].split('/')) - 1] : ''")
    entries["presleep"] = f"{has_pre} && has({pre}.sleep) ? int({pre}.sleep.seconds) * 1000 : -1"
    for kind in ("startup", "readiness", "liveness"):
        p = f"c.{kind}Probe"
        entries[f"{kind}"] = f"has({p}) ? 1 : 0"
        for fld, default in (("periodSeconds", 10), ("timeoutSeconds", 1), ("failureThreshold", 3)):
            entries[f"{kind}.{fld}"] = f"has({p}) && has({p}.{fld}) ? int({p}.{fld}) : {default}"
    return "variables.containers.map(c, {" + ", ".join(f"{_s(k)}: dyn({v})" for k, v in entries.items()) + "})"


@dataclass
class _V:
    """One validation: which rule, which doctor severity, when a container passes and what the message says."""

    rule: str
    severity: str
    ok: str  # CEL over container facts `f`: true = no finding
    message: str  # CEL string over `f` for a container that fails


@dataclass
class PolicyRequest:
    """What `gosmith doctor --emit-policy` writes (Options: the same facts the doctor's flags give)."""

    action: str = "Deny"
    namespace_labels: dict[str, str] = field(default_factory=dict)
    object_labels: dict[str, str] = field(default_factory=dict)
    name: str = "gosmith-doctor"


def _validations(opts: Options) -> list[_V]:
    t = _t()
    f = "f"

    def timing(label: str) -> str:
        env, ann, attr = timings()[label]
        opt: int | None = getattr(opts, attr)
        fallback = _let("a", f"{_ann('gosmith.dev/' + ann)}.trim()", _duration_ms("a", str(-1 if opt is None else opt)))
        return (f"({f}.k_{env} == 1 ? {_let('v', f'{f}.v_{env}.trim()', _duration_ms('v', 'DFLT'))} : "
                f"DFLT)").replace("DFLT", f"({fallback})")

    drain, shutdown, flush = timing("drain"), timing("shutdown"), timing("flush")
    # preStop in ms: -1 = no hook, -2 = a hook of unknown length
    exec_ms = _let("m", f"{f}.precmd.find({_s(_SLEEP)})",
                   "m == '' ? -2 : (duration(m.find('[0-9]+(\\\\.[0-9]+)?') + 's') + duration('999999ns'))"
                   ".getMilliseconds()")
    pre = (f"({f}.prekind == 'none' ? -1 : {f}.prekind == 'sleep' ? {f}.presleep : "
           f"{f}.prekind == 'exec' ? {exec_ms} : -2)")
    margin = t.GRACE_MARGIN_MS

    def pos(x: str) -> str:
        return f"({x} < 0 ? 0 : {x})"

    grace_total = f"({pos('P')} + {pos('D')} + {pos('S')} + {pos('F')} + {margin})"
    needed = f"(({grace_total} + 999) / 1000)"
    grace_ok = (f"(P < 0 && D < 0 && S < 0 && F < 0) || variables.grace >= {needed}")

    def bind4(body: str) -> str:
        return _let("P", pre, _let("D", drain, _let("S", shutdown, _let("F", flush, body))))

    def term(label: str, var: str) -> str:
        return f" + ' + {label} ' + ({var} < 0 ? '0s' : {_sec(var)})"

    grace_msg = ("'terminationGracePeriodSeconds ' + string(variables.grace) + ' < ' + "
                 "(P == -1 ? '' : 'preStop ' + (P < 0 ? '0s' : " + _sec("P") + ") + ' + ') + "
                 "'drain ' + (D < 0 ? '0s' : " + _sec("D") + ")" + term("shutdown", "S") + term("flush", "F")
                 + f" + ' + margin {_sec_py(margin)} = ' + {_sec(grace_total)} + "
                 f"(P == -2 || D < 0 || S < 0 || F < 0 ? ' (unknown counted as 0)' : '') + "
                 f"': set terminationGracePeriodSeconds to at least ' + string({needed})")

    prop = default_propagation_ms() if opts.endpoint_propagation_ms is None else opts.endpoint_propagation_ms
    prop_src = "the default" if opts.endpoint_propagation_ms is None else "--endpoint-propagation"
    drain_fail = f"(P != -2 && D >= 0 && {pos('P')} + D < {prop})"
    drain_msg = (f"'preStop ' + {f}.prekind + ' ' + {_sec(pos('P'))} + ' + drain delay ' + {_sec('D')} + ' = ' + "
                 f"{_sec('(' + pos('P') + ' + D)')} + ' < endpoint propagation {_sec_py(prop)} ({prop_src}): requests "
                 "routed to the pod after it stops accepting fail'")

    def bind_pd(body: str) -> str:
        return _let("P", pre, _let("D", drain, body))

    # preStop exec that needs a shell, on an image known to have none
    shell_ann = f"{_ann('gosmith.dev/image-shell')}.trim().lowerAscii()"
    no_shell = (f"({shell_ann} == 'false' || ({shell_ann} != 'true' && "
                f"!{f}.image.matches({_s(_glob(opts.shell_images))}) && "
                f"({f}.image.matches({_s(_glob(opts.no_shell_images))}) || "
                f"({f}.image.matches({_s(_glob(NO_SHELL_IMAGES))}) && "
                f"!{f}.image.matches({_s(_glob(SHELL_IMAGES))})))))")
    needs_shell = (f"({f}.prekind == 'exec' && {f}.precmd != '' && ({f}.preexe in {json.dumps(list(_SHELLS))} || "
                   f"{f}.precmd.matches({_s(_SLEEP)})))")

    # memory
    q = "quantity"
    mem_limit = (f"({f}['limits.memory'] != '' && isQuantity({f}['limits.memory']) && "
                 f"{q}({f}['limits.memory']).isInteger() && {q}({f}['limits.memory']).asInteger() > 0 ? "
                 f"{q}({f}['limits.memory']).asInteger() : -1)")

    def res_value(res: str, div: str) -> str:
        """ceil(resource / divisor) of a resourceFieldRef (memory in bytes, cpu in millicores; -1 unknown)."""
        raw = (f"({res} == 'limits.memory' ? {f}['limits.memory'] : {res} == 'requests.memory' ? "
               f"{f}['requests.memory'] : {res} == 'limits.cpu' ? {f}['limits.cpu'] : {res} == 'requests.cpu' ? "
               f"{f}['requests.cpu'] : '')")
        milli = "int(quantity(X).asApproximateFloat() * 1000.0 + 0.5)"
        mem = _let("r", raw, _let(
            "dv", f"{div} != '' && isQuantity({div}) && {q}({div}).isInteger() && {q}({div}).asInteger() > 0 ? "
                  f"{q}({div}).asInteger() : 1",
            f"r != '' && isQuantity(r) && {q}(r).isInteger() ? ({q}(r).asInteger() + dv - 1) / dv : -1"))
        cpu = _let("r", raw, _let(
            "dv", f"{div} != '' && isQuantity({div}) && {q}({div}).isGreaterThan(quantity('0')) ? "
                  f"{milli.replace('X', div)} : 1000",
            f"r != '' && isQuantity(r) ? ({milli.replace('X', 'r')} + dv - 1) / dv : -1"))
        return f"({res}.endsWith('.memory') ? {mem} : {res}.endsWith('.cpu') ? {cpu} : -1)"

    gomem_lit = _let("v", f"{f}.v_GOMEMLIMIT.trim()",
                     "v.matches('^[0-9]+(B|KiB|MiB|GiB|TiB)?$') ? int(v.find('^[0-9]+')) * "
                     "(v.endsWith('TiB') ? 1099511627776 : v.endsWith('GiB') ? 1073741824 : v.endsWith('MiB') ? "
                     "1048576 : v.endsWith('KiB') ? 1024 : 1) : -1")
    gomem = (f"({f}.k_GOMEMLIMIT == 1 && {f}.v_GOMEMLIMIT.trim().lowerAscii() != 'off' ? {gomem_lit} : "
             f"{f}.k_GOMEMLIMIT == 2 ? {res_value(f'{f}.r_GOMEMLIMIT', f'{f}.d_GOMEMLIMIT')} : -1)")
    how = (f"({f}.k_GOMEMLIMIT == 1 ? 'GOMEMLIMIT=' + {f}.v_GOMEMLIMIT : 'GOMEMLIMIT from resourceFieldRef ' + "
           f"{f}.r_GOMEMLIMIT + ' = ' + string(G))")
    headroom, min_gomem = t.MIN_HEADROOM, t.MIN_GOMEMLIMIT
    mi = 1024 * 1024

    def bind_mem(body: str) -> str:
        return _let("L", mem_limit, _let("G", gomem, body))

    gogc_off = f"({f}.k_GOGC == 1 && {f}.v_GOGC.trim().lowerAscii() == 'off')"
    ratio_set = f"({f}.k_GOMEMLIMIT_RATIO != 0 && L >= 0)"

    # cpu
    cpu_milli = (f"({f}['limits.cpu'] != '' && isQuantity({f}['limits.cpu']) && "
                 f"{q}({f}['limits.cpu']).isGreaterThan(quantity('0')) ? "
                 f"int({q}({f}['limits.cpu']).asApproximateFloat() * 1000.0 + 0.5) : -1)")
    procs = (f"({f}.k_GOMAXPROCS == 1 && {f}.v_GOMAXPROCS.trim().matches('^[0-9]+$') ? "
             f"int({f}.v_GOMAXPROCS.trim()) : {f}.k_GOMAXPROCS == 2 ? "
             f"{res_value(f'{f}.r_GOMAXPROCS', f'{f}.d_GOMAXPROCS')} : -1)")
    ceil_cpu = "(C <= 1000 ? 1 : (C + 999) / 1000)"
    floor_cpu = "(C < 2000 ? 1 : C / 1000)"
    go_ann = f"{_ann('gosmith.dev/go-version')}.trim()"
    go_text = f"({go_ann} != '' ? {go_ann} : {_s(opts.go_version or '')})"
    minor = _let("g", go_text, "g.matches('^(go)?1\\\\.[0-9]+(\\\\.[0-9]+)?$') ? int(g.split('.')[1]) : -1")
    cgroup = t.CGROUP_AWARE_GO_MINOR

    def bind_cpu(body: str) -> str:
        return _let("C", cpu_milli, _let("N", procs, body))

    probes = []
    for kind in ("startup", "readiness", "liveness"):
        probes.append((f"({f}['{kind}'] == 0 || {f}['{kind}.timeoutSeconds'] < {f}['{kind}.periodSeconds'])",
                       f"{f}['{kind}'] == 1 && {f}['{kind}.timeoutSeconds'] >= {f}['{kind}.periodSeconds'] ? "
                       f"['{kind}Probe timeoutSeconds ' + string({f}['{kind}.timeoutSeconds']) + ' >= periodSeconds ' "
                       f"+ string({f}['{kind}.periodSeconds'])] : []"))
    lw = f"({f}['liveness.periodSeconds'] * {f}['liveness.failureThreshold'])"
    rw = f"({f}['readiness.periodSeconds'] * {f}['readiness.failureThreshold'])"

    return [
        _V("grace-period", "error", bind4(grace_ok), bind4(grace_msg)),
        _V("drain-propagation", "error", bind_pd(f"!({drain_fail} && {pos('P')} + D == 0)"),
           bind_pd(drain_msg)),
        _V("drain-propagation", "warning", bind_pd(f"!({drain_fail} && {pos('P')} + D > 0)"),
           bind_pd(drain_msg)),
        _V("prestop-exec-sleep", "error", f"!({needs_shell} && {no_shell})",
           f"'preStop exec `' + {f}.precmd + '` on image ' + {f}.image + ', which has no shell or sleep binary: "
           "the hook fails; use lifecycle.preStop.sleep.seconds (Kubernetes >= 1.30)'"),
        _V("gomemlimit-too-low", "error", bind_mem(f"!({f}.k_GOMEMLIMIT != 0 && G >= 0 && G < {min_gomem})"),
           bind_mem(f"{how} + ' bytes < {min_gomem // mi}MiB: Go reads a plain number as bytes'")),
        _V("gomemlimit-at-limit", "error",
           bind_mem(f"!({f}.k_GOMEMLIMIT != 0 && G >= {min_gomem} && L >= 0 && G >= L)"),
           bind_mem(f"{how} + ' (' + string(G) + ' bytes) >= limits.memory ' + {f}['limits.memory'] + ' (' + "
                    f"string(L) + ' bytes): set GOMEMLIMIT to at most limits.memory - {headroom // mi}MiB'")),
        _V("gomemlimit-headroom", "warning",
           bind_mem(f"!({f}.k_GOMEMLIMIT != 0 && G >= {min_gomem} && L >= 0 && G < L && G > L - {headroom})"),
           bind_mem(f"{how} + ' (' + string(G) + ' bytes) > limits.memory ' + {f}['limits.memory'] + ' - "
                    f"{headroom // mi}Mi headroom = ' + string(L - {headroom}) + ' bytes'")),
        _V("gogc-off-unbounded", "error", bind_mem(f"!({gogc_off} && G < 0 && !{ratio_set})"),
           "'GOGC=off and no GOMEMLIMIT: the heap grows until the container is OOM-killed'"),
        _V("gomaxprocs-old-go", "warning",
           bind_cpu(_let("M", minor, f"!(C >= 0 && {f}.k_GOMAXPROCS == 0 && {f}.k_GOMAXPROCS_POLICY == 0 && "
                                     f"M >= 0 && M < {cgroup})")),
           bind_cpu(_let("M", minor, f"'Go 1.' + string(M) + ' < 1.{cgroup} ignores limits.cpu ' + "
                                     f"{f}['limits.cpu'] + ' and no GOMAXPROCS is set: set GOMAXPROCS=' + "
                                     f"string({floor_cpu})"))),
        _V("gomaxprocs-above-limit", "warning", bind_cpu(f"!(C >= 0 && {f}.k_GOMAXPROCS != 0 && N > {ceil_cpu})"),
           bind_cpu(f"({f}.k_GOMAXPROCS == 1 ? 'GOMAXPROCS=' + {f}.v_GOMAXPROCS.trim() : "
                    f"'GOMAXPROCS from resourceFieldRef ' + {f}.r_GOMAXPROCS + ' = ' + string(N)) + "
                    f"' > max(1, ceil(limits.cpu ' + {f}['limits.cpu'] + ')) = ' + string({ceil_cpu})")),
        _V("probe-timeout", "warning", " && ".join(ok for ok, _ in probes),
           "(" + " + ".join(f"({m})" for _, m in probes) + ").join('; ')"),
        _V("liveness-before-readiness", "warning",
           f"!({f}.liveness == 1 && {f}.readiness == 1 && {lw} <= {rw})",
           f"'liveness ' + string({f}['liveness.periodSeconds']) + 's x ' + string({f}['liveness.failureThreshold']) "
           f"+ ' = ' + string({lw}) + 's <= readiness ' + string({f}['readiness.periodSeconds']) + 's x ' + "
           f"string({f}['readiness.failureThreshold']) + ' = ' + string({rw}) + 's'"),
    ]


def _sec_py(ms: int) -> str:
    from gosmith.doctor_load import seconds_text

    return seconds_text(ms)


def _policy(name: str, severity: str, opts: Options) -> dict[str, Any]:
    validations = []
    for v in _validations(opts):
        if v.severity != severity:
            continue
        skip = f"{_s(v.rule)} in variables.ignored"
        validations.append({
            "expression": f"{skip} || variables.facts.all(f, {v.ok})",
            "messageExpression": (f"{_s(v.rule + ': ')} + variables.facts.filter(f, !({v.ok}))"
                                  f".map(f, 'container ' + f.name + ': ' + {v.message}).join('; ')"),
            "message": f"{v.rule}: see `gosmith doctor` ({severity})",
            "reason": "Invalid",
        })
    tmpl = "(has(object.spec.jobTemplate) ? object.spec.jobTemplate.spec.template : object.spec.template)"
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": f"{name}-{severity}s", "labels": {"app.kubernetes.io/managed-by": "gosmith"}},
        "spec": {
            "failurePolicy": "Fail",
            # an Argo Rollout with a workloadRef has no pod template of its own: nothing to check
            "matchConditions": [{"name": "has-pod-template",
                                 "expression": "has(object.spec) && (has(object.spec.template) || "
                                               "has(object.spec.jobTemplate))"}],
            "matchConstraints": {"resourceRules": [
                {"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                 "resources": list(resources)} for group, resources in RESOURCE_RULES]},
            "variables": [
                {"name": "tmpl", "expression": tmpl},
                {"name": "containers", "expression": "has(variables.tmpl.spec) && has(variables.tmpl.spec.containers)"
                                                     " ? variables.tmpl.spec.containers : []"},
                {"name": "tann", "expression": "has(variables.tmpl.metadata) && "
                                               "has(variables.tmpl.metadata.annotations) ? "
                                               "variables.tmpl.metadata.annotations : {}"},
                {"name": "oann", "expression": "has(object.metadata.annotations) ? object.metadata.annotations : {}"},
                {"name": "ignored", "expression": f"{_ann('gosmith.dev/ignore')}.split(',').map(s, s.trim())"},
                {"name": "grace", "expression": "has(variables.tmpl.spec.terminationGracePeriodSeconds) ? "
                                                "int(variables.tmpl.spec.terminationGracePeriodSeconds) : 30"},
                {"name": "facts", "expression": _facts_expr()},
            ],
            "validations": validations,
        },
    }


def _binding(name: str, severity: str, actions: list[str], req: PolicyRequest) -> dict[str, Any]:
    match: dict[str, Any] = {}
    if req.namespace_labels:
        match["namespaceSelector"] = {"matchLabels": dict(req.namespace_labels)}
    if req.object_labels:
        match["objectSelector"] = {"matchLabels": dict(req.object_labels)}
    spec: dict[str, Any] = {"policyName": f"{name}-{severity}s", "validationActions": actions}
    if match:
        spec["matchResources"] = match
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": f"{name}-{severity}s", "labels": {"app.kubernetes.io/managed-by": "gosmith"}},
        "spec": spec,
    }


def parse_labels(items: list[str], flag: str) -> dict[str, str]:
    """Return {key: value} of KEY=VALUE items; anything else is a one-line error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def policy_objects(req: PolicyRequest, opts: Options | None = None) -> list[dict[str, Any]]:
    """Return the two policies and their bindings (errors: `req.action`; warnings: Warn, or Audit)."""
    if req.action not in ACTIONS:
        raise UserError(f"--policy-action {req.action!r}: expected one of {', '.join(ACTIONS)}")
    opts = opts or Options()
    warn = ["Audit"] if req.action == "Audit" else ["Warn"]
    return [
        _policy(req.name, "error", opts), _binding(req.name, "error", [req.action], req),
        _policy(req.name, "warning", opts), _binding(req.name, "warning", warn, req),
    ]


def header() -> str:
    """The comment the YAML starts with: what the policy checks and what stays doctor-only."""
    lines = ["# gosmith doctor's one-object rules as ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1).",
             "# Generated by `gosmith doctor --emit-policy`; every number comes from gosmith's tuning rules.",
             "# Enforced (doctor severity):"]
    lines += [f"#   {rule} ({', '.join(sev)})" for rule, sev in ENFORCED.items()]
    lines.append("# Doctor-only (run `gosmith doctor` on the manifests for these):")
    lines += [f"#   {rule}: {why}" for rule, why in DOCTOR_ONLY.items()]
    return "\n".join(lines) + "\n"


def emit_policy(req: PolicyRequest, opts: Options | None = None) -> str:
    """Return the policies and bindings as multi-document YAML, with the header comment."""
    docs = policy_objects(req, opts)
    body = "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=1_000_000) for d in docs)
    return header() + "---\n" + body
