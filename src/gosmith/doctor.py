"""`gosmith doctor`: check a Go service's Kubernetes manifests against the runtime and timing rules (pure API).

Split by concern: doctor_load.py reads the input and extracts facts, doctor_rules.py holds the rule
table and the checks (every formula from hooks/tuning.py), doctor_output.py prints table, JSON or
SARIF. This module joins them and reads the optional config file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gosmith.doctor_load import ChartOptions, duration_ms, load
from gosmith.doctor_rules import LB_DEFAULTS, SEVERITIES, Options, Report, check, timings
from gosmith.errors import UserError

#: Keys of the config file (`--config FILE`) besides the service timings, each the name of its flag.
OTHER_KEYS = (
    "go-version", "lb-idle-timeout", "lb-idle", "image-with-shell", "image-without-shell", "fail-on",
    "endpoint-propagation", "app-container",
)


def config_keys() -> tuple[str, ...]:
    """Return every key of the config file: the rule table's service timings, then the other flags."""
    return (*(flag for _, flag, _ in timings().values()), *OTHER_KEYS)

FAIL_ON = (*SEVERITIES, "never")


@dataclass
class DoctorRequest:
    """What to check and the facts given by flags (None = not given); flags win over the config file."""

    target: str
    config: Path | None = None
    #: The service timings by setting name (`drain_delay`: "5s"), the rule table's doctor inputs.
    timings: dict[str, str | None] = field(default_factory=dict)
    go_version: str | None = None
    lb_idle_timeout: str | None = None
    lb_idle: list[str] = field(default_factory=list)
    image_with_shell: list[str] = field(default_factory=list)
    image_without_shell: list[str] = field(default_factory=list)
    fail_on: str | None = None
    endpoint_propagation: str | None = None
    app_container: list[str] = field(default_factory=list)
    chart: ChartOptions = field(default_factory=ChartOptions)


def _config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"--config {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise UserError(f"--config {path}: not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping of option: value ({', '.join(config_keys())})")
    unknown = sorted(str(k) for k in data if k not in config_keys())
    if unknown:
        raise UserError(f"--config {path}: unknown key {unknown[0]!r} (known: {', '.join(config_keys())})")
    return data


def _ms(name: str, value: Any) -> int | None:
    if value is None:
        return None
    ms = duration_ms(value)
    if ms is None:
        raise UserError(f"--{name} {value!r}: expected a Go duration (15s, 1m30s, 500ms) or seconds")
    return ms


def _seconds(name: str, value: Any) -> int:
    ms = _ms(name, value)
    assert ms is not None
    return -(-ms // 1000)


def options(req: DoctorRequest) -> tuple[Options, str]:
    """Return the rule options and the --fail-on severity from the config file and the flags."""
    cfg = _config(req.config) if req.config else {}

    def pick(key: str, flag: Any) -> Any:
        return flag if flag not in (None, []) else cfg.get(key)

    opts = Options(
        endpoint_propagation_ms=_ms("endpoint-propagation", pick("endpoint-propagation", req.endpoint_propagation)),
    )
    for _, timing_flag, field_name in timings().values():  # the rule table's service timings
        given = req.timings.get(field_name.removesuffix("_ms"))
        setattr(opts, field_name, _ms(timing_flag, pick(timing_flag, given)))
    go = pick("go-version", req.go_version)
    if go is not None:
        if not re.fullmatch(r"(go)?1\.\d+(\.\d+)?", str(go).strip()):
            raise UserError(f"--go-version {go!r}: expected a Go version like 1.24 or 1.26.3")
        opts.go_version = str(go).strip()
    lb = pick("lb-idle-timeout", req.lb_idle_timeout)
    if lb is not None:
        opts.lb_idle_timeout = _seconds("lb-idle-timeout", lb)
    lb_idle = cfg.get("lb-idle") or {}
    if not isinstance(lb_idle, dict):
        raise UserError(f"--config {req.config}: lb-idle must be a mapping of kind: seconds")
    pairs = [(str(k), v) for k, v in lb_idle.items()]
    for item in req.lb_idle:
        kind, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--lb-idle {item!r}: expected KIND=SECONDS ({', '.join(LB_DEFAULTS)})")
        pairs.append((kind.strip(), value))
    for kind, value in pairs:
        if kind not in LB_DEFAULTS:
            raise UserError(f"--lb-idle {kind}: unknown load balancer kind (known: {', '.join(LB_DEFAULTS)})")
        opts.lb_defaults[kind] = _seconds(f"lb-idle {kind}", value)
    for key, flag, attr in (("image-with-shell", req.image_with_shell, "shell_images"),
                            ("image-without-shell", req.image_without_shell, "no_shell_images")):
        picked = pick(key, flag) or []
        values = [picked] if isinstance(picked, str) else list(picked)
        setattr(opts, attr, [str(v) for v in values])
    picked = pick("app-container", req.app_container) or []
    opts.app_containers = [str(v) for v in ([picked] if isinstance(picked, str) else list(picked))]
    fail_on = str(pick("fail-on", req.fail_on) or "error")
    if fail_on not in FAIL_ON:
        raise UserError(f"--fail-on {fail_on!r}: expected one of {', '.join(FAIL_ON)}")
    return opts, fail_on


def doctor(req: DoctorRequest, stdin: Any = None) -> tuple[Report, str]:
    """Load the manifests of `req.target`, run every rule, and return the report and the --fail-on severity."""
    opts, fail_on = options(req)
    docs = load(req.target, req.chart, stdin=stdin)
    return check(docs, opts), fail_on
