"""Two generated services in one umbrella chart: Helm's named templates are global across a parent chart and
its subcharts, so each chart's helpers must carry its own name (Helm's convention). A service generated from
the released template 0.1.0 (helpers named `gosmith.*`) and one from the working template render inside the
umbrella exactly as each renders alone."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import copier
import gen
import pytest

RELEASE_0_1_0 = gen.ROOT / "releases" / "0.1.0"
TOOLS_BIN = gen.ROOT / ".tools" / "bin"


def helm(*args: str, cwd: Path) -> str:
    tool = shutil.which("helm", path=str(TOOLS_BIN)) or shutil.which("helm")
    if tool is None:
        pytest.skip("helm not on PATH: run scripts/tools.sh")
    proc = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def by_source(manifest: str, prefix: str) -> dict[str, list[str]]:
    """Return {template path: [documents]} of the documents whose `# Source:` starts with `prefix`."""
    out: dict[str, list[str]] = {}
    for doc in re.split(r"(?m)^---\s*$", manifest):
        m = re.search(r"(?m)^# Source: (\S+)$", doc)
        if m and m[1].startswith(prefix):
            out.setdefault(m[1][len(prefix):], []).append(doc.replace(m[0], "").strip())
    return out


def render_service(template_root: Path, dst: Path, name: str) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(template_root), str(dst), data={"service_name": name}, defaults=True, unsafe=True,
                        quiet=True)
    return dst / "deploy" / "helm" / name


def test_two_template_versions_in_one_umbrella_chart(tmp_path: Path) -> None:
    old = render_service(RELEASE_0_1_0, tmp_path / "old", "legacy-api")
    new = render_service(gen.ROOT, tmp_path / "new", "orders-api")
    new_helpers = (new / "templates" / "_helpers.tpl").read_text()
    assert 'define "orders-api.fullname"' in new_helpers and '"gosmith.' not in new_helpers

    umbrella = tmp_path / "shop"
    (umbrella / "charts").mkdir(parents=True)
    (umbrella / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 1.0.0\n")
    shutil.copytree(old, umbrella / "charts" / "legacy-api")
    shutil.copytree(new, umbrella / "charts" / "orders-api")

    together = helm("template", "rel", ".", "--namespace", "shop", cwd=umbrella)
    for chart in (old, new):
        alone = by_source(helm("template", "rel", ".", "--namespace", "shop", cwd=chart), f"{chart.name}/")
        inside = by_source(together, f"shop/charts/{chart.name}/")
        assert alone and inside.keys() == alone.keys(), chart.name
        for path, docs in alone.items():
            assert inside[path] == docs, f"{chart.name}/{path} renders differently inside the umbrella chart"
