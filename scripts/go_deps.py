"""Regenerate template/go.mod.jinja and template/go.sum.jinja from the pinned Go module versions.

Renders every combination of the answers that change the Go imports (otlp_protocol,
b3_propagation, hot_reload, kubernetes_client), runs `go get` with the pins and `go mod tidy` in each, and writes
the union of the results with a Jinja condition on every line that not all variants share.
Usage: make go-deps   (.venv/bin/python scripts/go_deps.py; needs the Go toolchain and the module proxy)
"""

from __future__ import annotations

import graphlib
import itertools
import subprocess
import tempfile
from pathlib import Path

from gosmith.projects import render

ROOT = Path(__file__).resolve().parents[1]

#: The newest releases whose go.mod needs no Go newer than the oldest go_version answer (1.26).
PINS = [
    "go.uber.org/zap@v1.28.0",
    "go.opentelemetry.io/otel@v1.47.0",
    "go.opentelemetry.io/otel/sdk@v1.47.0",
    "go.opentelemetry.io/otel/trace@v1.47.0",
    "github.com/prometheus/client_golang@v1.25.0",
    "github.com/prometheus/common@v0.73.1",
    "google.golang.org/grpc@v1.85.0",  # indirect with either OTLP exporter
    "go.uber.org/goleak@v1.3.0",
    # the HTTP stack: server spans and the response-writer wrapper that keeps optional interfaces
    "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp@v0.72.0",
    "github.com/felixge/httpsnoop@v1.1.0",
]
FEATURE_PINS = {
    "grpc": ["go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc@v1.47.0"],
    "http": ["go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp@v1.47.0"],
    "b3": ["go.opentelemetry.io/contrib/propagators/b3@v1.47.0"],
    "hot_reload": ["github.com/fsnotify/fsnotify@v1.10.1"],
    # client-go and its API types move together; controller-runtime only for envtest in the tests
    # (it requires k8s.io v0.37.0 modules: apiextensions-apiserver is pinned with the others).
    "informer": [
        "k8s.io/client-go@v0.37.2",
        "k8s.io/api@v0.37.2",
        "k8s.io/apimachinery@v0.37.2",
        "k8s.io/apiextensions-apiserver@v0.37.2",
        "sigs.k8s.io/controller-runtime@v0.25.2",
    ],
    # the same modules; controller-runtime is a production dependency here (the manager)
    "controller": [
        "k8s.io/client-go@v0.37.2",
        "k8s.io/api@v0.37.2",
        "k8s.io/apimachinery@v0.37.2",
        "k8s.io/apiextensions-apiserver@v0.37.2",
        "sigs.k8s.io/controller-runtime@v0.25.2",
    ],
}
KUBERNETES_CLIENTS = ["none", "informer", "controller"]
Variant = tuple[str, bool, bool, str]
VARIANTS: list[Variant] = list(itertools.product(["grpc", "http"], [False, True], [False, True], KUBERNETES_CLIENTS))
LITERALS = {
    "otlp_protocol == 'grpc'": lambda v: v[0] == "grpc",
    "otlp_protocol == 'http'": lambda v: v[0] == "http",
    "b3_propagation": lambda v: v[1],
    "not b3_propagation": lambda v: not v[1],
    "hot_reload": lambda v: v[2],
    "not hot_reload": lambda v: not v[2],
    "kubernetes_client == 'none'": lambda v: v[3] == "none",
    "kubernetes_client == 'informer'": lambda v: v[3] == "informer",
    "kubernetes_client == 'controller'": lambda v: v[3] == "controller",
    "kubernetes_client != 'none'": lambda v: v[3] != "none",
    "kubernetes_client != 'informer'": lambda v: v[3] != "informer",
    "kubernetes_client != 'controller'": lambda v: v[3] != "controller",
}


def go(args: list[str], cwd: Path) -> None:
    """Run a go command; fail loudly."""
    subprocess.run(["go", *args], cwd=cwd, check=True, env=None)


def variant_files(tmp: Path, v: Variant) -> tuple[list[str], list[str]]:
    """Return (go.mod require lines, go.sum lines) of the rendered variant `v`."""
    proto, b3, hot, kube = v
    dst = render(
        tmp / f"{proto}-{b3}-{hot}-{kube}",
        {
            "service_name": "deps",
            "otlp_protocol": proto,
            "b3_propagation": b3,
            "hot_reload": hot,
            "kubernetes_client": kube,
            "go_version": "1.26",
        },
    )
    pins = PINS + FEATURE_PINS[proto] + (FEATURE_PINS["b3"] if b3 else []) + (FEATURE_PINS["hot_reload"] if hot else [])
    pins += FEATURE_PINS.get(kube, [])
    (dst / "go.mod").write_text("module example.com/deps\n\ngo 1.26.0\n")
    (dst / "go.sum").unlink(missing_ok=True)
    go(["get", *pins], dst)
    go(["mod", "tidy"], dst)
    mod = (dst / "go.mod").read_text().splitlines()
    assert mod[2] == "go 1.26.0", f"a pinned module needs a newer Go: {mod[2]}"
    return mod[3:], (dst / "go.sum").read_text().splitlines()


def condition(members: frozenset[Variant]) -> str:
    """Return the shortest Jinja condition true exactly for `members` ("" = always)."""
    if members == frozenset(VARIANTS):
        return ""
    terms = []
    for n in (1, 2, 3):
        for lits in itertools.combinations(LITERALS, n):
            vs = frozenset(v for v in VARIANTS if all(LITERALS[lit](v) for lit in lits))
            if vs and vs <= members:
                terms.append((" and ".join(lits), vs))
    for n in (1, 2, 3, 4):
        for combo in itertools.combinations(terms, n):
            if frozenset().union(*(vs for _, vs in combo)) == members:
                return " or ".join(f"({t})" if " and " in t and n > 1 else t for t, _ in combo)
    raise SystemExit(f"no condition for {sorted(members)}")


def template(per_variant: dict[Variant, list[str]]) -> str:
    """Merge the variants' sorted lines; a run of lines not shared by all is wrapped in a Jinja if.

    Tags sit at line starts ("{% if c %}line" ... "{% endif %}next") so no whitespace control
    is needed and the rendered file is byte-identical to what `go mod tidy` writes.
    """
    lines: dict[str, set[Variant]] = {}
    after: dict[str, set[str]] = {}
    for v, ls in per_variant.items():
        for i, line in enumerate(ls):
            lines.setdefault(line, set()).add(v)
            after.setdefault(line, set())
            if i:
                after[line].add(ls[i - 1])
    out = ""
    current = ""
    for line in graphlib.TopologicalSorter(after).static_order():
        cond = condition(frozenset(lines[line]))
        if cond != current:
            if current:
                out += "{% endif %}"
            if cond:
                out += "{% if " + cond + " %}"
            current = cond
        out += line + "\n"
    if current:
        out += "{% endif %}"
    return out


def main() -> None:
    """Write template/go.mod.jinja and template/go.sum.jinja."""
    mods: dict[Variant, list[str]] = {}
    sums: dict[Variant, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for v in VARIANTS:
            mods[v], sums[v] = variant_files(Path(tmp), v)
    direct = {v: [x for x in m if x.startswith("\t") and not x.endswith("// indirect")] for v, m in mods.items()}
    indirect = {v: [x for x in m if x.endswith("// indirect")] for v, m in mods.items()}
    header = "module {{ module_path }}\n\ngo {{ go_version if go_version.count('.') == 2 else go_version ~ '.0' }}\n"
    body = "\nrequire (\n" + template(direct) + ")\n\nrequire (\n" + template(indirect) + ")\n"
    (ROOT / "template" / "go.mod.jinja").write_text(header + body)
    (ROOT / "template" / "go.sum.jinja").write_text(template(sums))
    (ROOT / "template" / "go.sum").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
