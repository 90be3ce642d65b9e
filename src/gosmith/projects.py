"""Render the template of this source checkout with real copier, and the named answer sets that share it.

The one way the test suite, `scripts/` and `benchmarks/` render a project from the working tree
(uncommitted template changes included) and the answer sets more than one of them uses, so none of
them imports another's files by path.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import copier

from gosmith.template import template_root

#: Answer sets that every "generated project" test family should cover.
ANSWER_SETS: dict[str, dict[str, Any]] = {
    "defaults": {"service_name": "demo-svc"},
    "custom": {
        "service_name": "orders-api",
        "module_path": "github.com/acme/orders-api",
        "description": "Orders API for the shop",
        "owner": "@acme/orders",
        "go_version": "1.26",
        "http_port": 8181,
        "admin_port": 9191,
    },
}

#: Every answer set more than one test module builds or runs, by name: the suite renders each one once
#: per run and shares the project (tests/gen.py `Rendered`). ANSWER_SETS first; then the variants that
#: select other Go files.
PROJECTS: dict[str, dict[str, Any]] = {
    **ANSWER_SETS,
    # gRPC exporter, B3 propagation and hot reload: the optional Go files of the gRPC variant
    "grpc-b3-reload-go126": {
        "service_name": "edge-gw",
        "module_path": "git.example.org/platform/edge-gw",
        "go_version": "1.26",
        "otlp_protocol": "grpc",
        "b3_propagation": True,
        "hot_reload": True,
    },
    # the HTTP exporter, a patch-level Go version and other ports
    "http-go1265-ports": {
        "service_name": "billing",
        "go_version": "1.26.5",
        "http_port": 8181,
        "admin_port": 9191,
        "otlp_protocol": "http",
    },
}

#: The controller flavor (kubernetes_client=controller): the controller tests' project and a golden render.
CONTROLLER: dict[str, Any] = {
    "service_name": "widget-op",
    "module_path": "github.com/acme/widget-op",
    "kubernetes_client": "controller",
}

#: The committed golden renders in tests/golden (`gosmith new NAME --module MODULE --data ...`): `defaults`
#: sets only the name and the module path; `all-features` switches on every optional file and takes the
#: non-default branch of each choice; `controller` is the controller flavor (its Go files and chart parts).
GOLDEN_SETS: dict[str, dict[str, Any]] = {
    "defaults": {
        "service_name": "golden-svc",
        "module_path": "example.com/golden-svc",
    },
    "all-features": {
        "service_name": "orders-api",
        "module_path": "github.com/acme/orders-api",
        "description": "Orders API for the shop",
        "owner": "@acme/orders",
        "go_version": "1.26",
        "http_port": 8181,
        "admin_port": 9191,
        "otlp_protocol": "http",
        "b3_propagation": True,
        "hot_reload": True,
        "kubernetes_client": "informer",
        "cpu_limit": "1",
        "drain_mode": "prestop",
        "hpa_enabled": True,
        "platforms": ["linux/amd64", "linux/arm64", "linux/arm/v7"],
        "ingress_namespaces": "ingress-nginx",
        "license": "MIT",
        "copyright_holder": "Acme Corp",
        "dependency_bot": "renovate",
    },
    "controller": CONTROLLER,
}


def render(dst: Path, answers: dict[str, Any], *, defaults: bool = True) -> Path:
    """Render the working-tree template into `dst` with real copier (answers validated as `data=`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(
            str(template_root()),
            str(dst),
            data=answers,
            defaults=defaults,
            unsafe=True,
            quiet=True,
            vcs_ref="HEAD",
        )
    return dst
