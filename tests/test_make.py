"""The generated Makefile: discoverable targets, stamped builds, tests, lint and cross-compilation."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from gen import GIT_IDENTITY, ROOT, render, run

pytestmark = pytest.mark.slow

TARGETS = ["help", "run", "test", "lint", "vuln", "build", "build-all", "image", "helm-lint", "helm-template"]
TARGETS += ["tidy", "clean"]
PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]

#: ELF e_machine and class (1 = 32-bit, 2 = 64-bit) per GOARCH.
ELF_MACHINE = {"amd64": (62, 2), "arm64": (183, 2), "arm": (40, 1), "ppc64le": (21, 2), "s390x": (22, 2)}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered project in a git repository tagged v1.2.3, as a team has it after its first release."""
    dst = render(
        tmp_path_factory.mktemp("make") / "svc",
        {"service_name": "make-svc", "module_path": "github.com/acme/make-svc", "platforms": PLATFORMS},
    )
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"], ["tag", "v1.2.3"]):
        run(["git", *args], dst, env=GIT_IDENTITY)
    return dst


def make(project: Path, *args: str, timeout: float = 1200) -> str:
    """Run make in the project with the suite's tools first on PATH."""
    tools = ROOT / ".tools" / "bin"
    path = f"{tools}:{Path(shutil.which('go') or 'go').parent}:/usr/local/bin:/usr/bin:/bin"
    return run(["make", *args], project, env={"PATH": path}, timeout=timeout)


def test_help_lists_every_target(project: Path) -> None:
    out = make(project, "help")
    listed = {m.group(1) for m in re.finditer(r"^\s+([a-z-]+)\s{2,}\S", out, re.M)}
    assert set(TARGETS) <= listed, f"missing from make help: {sorted(set(TARGETS) - listed)}"
    assert make(project) == out, "make with no target must print the help"
    documented = set(re.findall(r"^\| `make ([a-z-]+)` \|", (project / "README.md").read_text(), re.M))
    assert documented == set(TARGETS) - {"help"}, "the README's target table drifted from the Makefile"


def test_build_stamps_the_version_from_git_describe(project: Path) -> None:
    make(project, "build")
    binary = project / "bin" / "make-svc"
    commit = run(["git", "rev-parse", "--short", "HEAD"], project).strip()
    out = run([str(binary), "-version"], project)
    assert "v1.2.3" in out and commit in out, out
    info = run(["go", "version", "-m", str(binary)], project)
    assert re.search(r"build\s+-trimpath=true", info) and re.search(r"build\s+CGO_ENABLED=0", info), info


def test_build_flags_follow_the_contract(project: Path) -> None:
    """Dry run: exactly `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X <module>/internal/buildinfo..."`."""
    out = make(project, "-n", "build", "VERSION=v9", "COMMIT=abc", "DATE=d")
    module = "github.com/acme/make-svc"
    want = (
        f"CGO_ENABLED=0 go build -trimpath -ldflags '-s -w -X {module}/internal/buildinfo.version=v9 "
        f"-X {module}/internal/buildinfo.commit=abc -X {module}/internal/buildinfo.date=d' "
        "-o bin/make-svc ./cmd/make-svc"
    )
    assert want in out, out


def test_build_all_makes_one_binary_per_platform(project: Path) -> None:
    shutil.rmtree(project / "bin", ignore_errors=True)
    make(project, "build-all")
    names = sorted(p.name for p in (project / "bin").iterdir())
    assert names == sorted(["make-svc-linux-amd64", "make-svc-linux-arm64", "make-svc-linux-arm-v7"])
    for name in names:
        arch = name.split("-")[3]
        head = (project / "bin" / name).read_bytes()[:20]
        assert head[:4] == b"\x7fELF", name
        machine, cls = ELF_MACHINE[arch]
        assert head[4] == cls and int.from_bytes(head[18:20], "little") == machine, name
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if qemu:  # the arm64 binary really runs and carries the same stamp
        out = run([qemu, str(project / "bin" / "make-svc-linux-arm64"), "-version"], project)
        assert "v1.2.3" in out


def test_test_target_passes(project: Path) -> None:
    out = make(project, "test")
    assert "go test -race ./..." in out and "FAIL" not in out


def test_lint_target_passes(project: Path) -> None:
    if not (ROOT / ".tools" / "bin" / "golangci-lint").exists():
        pytest.fail("golangci-lint missing: run scripts/tools.sh")
    out = make(project, "lint", "LINT_FLAGS=--allow-serial-runners")  # other suites may lint at the same time
    assert "golangci-lint run --allow-serial-runners ./..." in out and "0 issues" in out


def test_helm_targets_pass(project: Path) -> None:
    if not (ROOT / ".tools" / "bin" / "helm").exists():
        pytest.fail("helm missing: run scripts/tools.sh")
    make(project, "helm-lint")
    rendered = make(project, "helm-template")
    assert "kind: Deployment" in rendered and "name: make-svc" in rendered
    assert "kind: ServiceMonitor" in rendered, "helm-template must render the Capabilities-gated ServiceMonitor"


def test_vuln_and_image_commands(project: Path) -> None:
    """Dry runs only: govulncheck needs the vulnerability database and bake a Docker daemon (neither here)."""
    vuln = make(project, "-n", "vuln")
    assert re.search(r"go run golang.org/x/vuln/cmd/govulncheck@v\d+\.\d+\.\d+ \./\.\.\.", vuln), vuln
    image = make(project, "-n", "image")
    assert "docker buildx bake --set '*.platform=linux/amd64,linux/arm64,linux/arm/v7'" in image, image
    assert "IMAGE=ghcr.io/acme/make-svc VERSION=v1.2.3" in image, image


def test_clean_removes_build_outputs(project: Path) -> None:
    (project / "bin").mkdir(exist_ok=True)
    (project / "bin" / "stale").write_text("x")
    make(project, "clean")
    assert not (project / "bin").exists()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True).stdout
    assert status == "", f"make targets left files git does not ignore:\n{status}"
