"""Regenerate the controller flavor's controller-gen output in the template (kubernetes_client=controller).

controller-gen (sigs.k8s.io/controller-tools, pinned below) turns the `+kubebuilder` markers of the
rendered project into three committed outputs: the deep copies (api/v1alpha1/zz_generated.deepcopy.go),
the CRD (the chart's crds/) and the RBAC rules the chart grants (the chart's files/role.yaml). This
script renders a controller project, runs the generated project's own `make manifests` with the pinned
binary, and writes the results back into template/ with the service name turned into `{{ service_name }}`.
tests/test_controller_flavor.py fails when the committed files drift from what controller-gen makes.

Usage: .venv/bin/python scripts/controller_gen.py   (needs Go, make and the Go module proxy the first time)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from gosmith.projects import render

ROOT = Path(__file__).resolve().parents[1]
VERSION = "v0.23.0"
PACKAGE = "sigs.k8s.io/controller-tools/cmd/controller-gen"
#: A service name that appears nowhere else in the generated files, replaced by the Jinja variable.
PLACEHOLDER = "zz-gosmith-svc"
_IF = "{% if kubernetes_client == 'controller' %}"
_CHART = "deploy/helm/{{service_name}}/"
#: rendered path -> template path of each generated file ("{name}" is the service name).
OUTPUTS = {
    "api/v1alpha1/zz_generated.deepcopy.go": _IF + "api{% endif %}/v1alpha1/zz_generated.deepcopy.go",
    "deploy/helm/{name}/crds/{name}.example.com_widgets.yaml":
        _CHART + _IF + "crds{% endif %}/{{service_name}}.example.com_widgets.yaml.jinja",
    "deploy/helm/{name}/files/role.yaml": _CHART + _IF + "files{% endif %}/role.yaml.jinja",
}


def binary() -> Path:
    """Return .tools/bin/controller-gen at VERSION, building it from the Go module proxy when missing or other."""
    bin_dir = ROOT / ".tools" / "bin"
    path = bin_dir / "controller-gen"
    if path.exists():
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False).stdout
        if out.strip() == f"Version: {VERSION}":
            return path
    bin_dir.mkdir(parents=True, exist_ok=True)
    print(f"building controller-gen {VERSION} into {bin_dir.relative_to(ROOT)} (about a minute)", file=sys.stderr)
    subprocess.run(["go", "install", "-trimpath", "-ldflags", "-s -w", f"{PACKAGE}@{VERSION}"], cwd=ROOT, check=True,
                   env={**os.environ, "GOBIN": str(bin_dir), "CGO_ENABLED": "0"})
    return path


def manifests(project: Path) -> None:
    """Run the generated project's `make manifests` with the pinned controller-gen."""
    subprocess.run(["make", "-s", "manifests", f"CONTROLLER_GEN={binary()}"], cwd=project, check=True,
                   capture_output=True, text=True)


def main() -> None:
    """Render a controller project, regenerate its manifests and write them into template/."""
    with tempfile.TemporaryDirectory() as tmp:
        project = render(Path(tmp) / PLACEHOLDER, {"service_name": PLACEHOLDER, "kubernetes_client": "controller"})
        manifests(project)
        for rendered, target in OUTPUTS.items():
            text = (project / rendered.format(name=PLACEHOLDER)).read_text()
            if target.endswith(".jinja"):
                assert "{{" not in text and "{%" not in text, rendered
                text = text.replace(PLACEHOLDER, "{{ service_name }}")
            else:
                assert PLACEHOLDER not in text, rendered
            dest = ROOT / "template" / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
            print(f"wrote template/{target}")


if __name__ == "__main__":
    main()
