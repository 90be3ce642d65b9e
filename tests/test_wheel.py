"""Build the wheel, install it into a fresh venv and generate a service from the bundled template."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from gen import ROOT, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)], ROOT)
    (whl,) = dist.glob("gosmith-*.whl")
    return whl


def test_wheel_bundles_template(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "gosmith/template_root/copier.yml" in names
    assert "gosmith/template_root/hooks/extension.py" in names
    assert any(n.startswith("gosmith/template_root/template/cmd/") for n in names)
    assert not any("__pycache__" in n for n in names)


def test_installed_wheel_generates_offline(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path, timeout=600)
    work = tmp_path / "work"
    work.mkdir()
    # Any network access would go to a dead proxy: generation must not need the network.
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "COPIER_SETTINGS_PATH": os.environ["COPIER_SETTINGS_PATH"],
    }
    proc = subprocess.run(
        [str(venv / "bin" / "gosmith"), "new", "x", "--defaults"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    project = work / "x"
    assert (project / "cmd" / "x" / "main.go").is_file()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["service_name"] == "x"
    assert "module example.com/x" in (project / "go.mod").read_text()
