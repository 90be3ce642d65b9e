"""Derive runtime and timing settings from the answers (placeholder values until the tuning rules land).

Contract (used by the template, the Helm chart and `gosmith tune`): `derive(answers)` returns a
`Tuning` whose `as_context()` is put into the render context as `tuned`. It raises `TuningError`
for impossible combinations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class TuningError(ValueError):
    """The answers describe an impossible configuration; the message says why."""


@dataclass
class Tuning:
    """Derived values plus, for each, the formula/reason that produced it."""

    values: dict[str, Any]
    reasons: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_context(self) -> dict[str, Any]:
        """Return the dict placed in the render context as `tuned`."""
        return {**self.values, "reasons": dict(self.reasons), "warnings": list(self.warnings)}


def derive(answers: dict[str, Any]) -> Tuning:
    """Return the tuned values for `answers` (constants until the tuning rules are implemented)."""
    values: dict[str, Any] = {
        "gomaxprocs": 0,
        "gomemlimit": "",
        "durations": {
            "read_header_timeout": "5s",
            "read_timeout": "15s",
            "handler_timeout": "10s",
            "write_timeout": "15s",
            "idle_timeout": "120s",
            "drain_delay": "5s",
            "shutdown_timeout": "15s",
            "telemetry_flush_timeout": "5s",
        },
        "termination_grace_period_seconds": 30,
        "prestop_sleep_seconds": 0,
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "", "memory": "256Mi"},
        },
        "probes": {
            "startup": {"periodSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 15},
            "readiness": {"periodSeconds": 5, "timeoutSeconds": 1, "failureThreshold": 2, "successThreshold": 1},
            "liveness": {"periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
        },
        "replicas": 2,
        "hpa": {"enabled": False, "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
        "pdb": {"enabled": True, "maxUnavailable": 1},
    }
    return Tuning(values=values)
