"""scripts/tools.sh: lock timeout for apt, skips instead of aborts, tools already on PATH, fast re-runs.

The script runs in a sandbox (a copy of it under a temporary "checkout") with stub `go`, `apt-get`
and tool binaries first on PATH, so nothing is built or installed for real.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from gen import ROOT

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

#: Everything the script needs besides the stubs (no qemu on this PATH, so the apt branch runs).
BASE_TOOLS = ("bash", "cat", "cp", "date", "dirname", "echo", "grep", "id", "kill", "ln", "ls", "mkdir", "mktemp",
              "mv", "rm", "sleep", "tail", "tr", "basename", "chmod", "head", "printf", "env", "sh")


def stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A checkout holding only scripts/tools.sh, and a PATH of symlinked basics plus stubs."""
    (tmp_path / "repo" / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "tools.sh", tmp_path / "repo" / "scripts" / "tools.sh")
    path = tmp_path / "path"
    path.mkdir()
    for tool in BASE_TOOLS:
        found = shutil.which(tool)
        if found:
            (path / tool).symlink_to(found)
    log = tmp_path / "calls.log"
    log.touch()
    # `go install` writes the binary named after the package's last element into GOBIN.
    stub(path, "go", f'echo "go $*" >>{log}\n'
         'for a; do last=$a; done\n'
         'name=$(basename "${last%@*}")\n'
         'printf "#!/bin/sh\\necho built\\n" >"$GOBIN/$name"; chmod +x "$GOBIN/$name"\n')
    # apt-get: another process holds the dpkg lock until the timeout.
    stub(path, "apt-get", f'echo "apt-get $*" >>{log}\n'
         'echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2\n'
         "exit 100\n")
    stub(path, "id", "echo 0\n")
    return tmp_path


def run_tools(sandbox: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(sandbox / "repo" / "scripts" / "tools.sh")],
        # the API server build has its own script (scripts/kube-tools.sh), not part of this sandbox
        env={"PATH": str(sandbox / "path"), "HOME": str(sandbox), "GOSMITH_SKIP_KUBE": "1", **env},
        capture_output=True, text=True, timeout=120,
    )


def calls(sandbox: Path) -> list[str]:
    return (sandbox / "calls.log").read_text().splitlines()


def test_apt_lock_held_is_a_recorded_skip_not_an_abort(sandbox: Path) -> None:
    proc = run_tools(sandbox, APT_LOCK_TIMEOUT="7")
    assert proc.returncode == 0, proc.stderr
    apt = [c for c in calls(sandbox) if c.startswith("apt-get")]
    assert apt and all("-o DPkg::Lock::Timeout=7" in c for c in apt), apt
    unavailable = (sandbox / "repo" / ".tools" / "unavailable").read_text()
    lines = dict(line.split("\t", 1) for line in unavailable.splitlines())
    assert sorted(lines) == ["prometheus", "qemu-user-static"]  # both apt packages, each recorded
    assert all("Could not get lock" in reason for reason in lines.values()), lines
    assert "qemu-user-static unavailable" in proc.stderr and "skipped" in proc.stderr
    assert "prometheus unavailable" in proc.stderr
    # the tools after a failed step are still provided
    assert (sandbox / "repo" / ".tools" / "bin" / "golangci-lint").exists()


def test_failed_build_is_recorded_and_the_rest_still_built(sandbox: Path) -> None:
    stub(sandbox / "path", "go", 'case "$*" in *helm/v4*) echo "go: proxy.golang.org: connection refused" >&2; '
         'exit 1;; esac\nfor a; do last=$a; done\nname=$(basename "${last%@*}")\n'
         'printf "#!/bin/sh\\n" >"$GOBIN/$name"; chmod +x "$GOBIN/$name"\n')
    proc = run_tools(sandbox)
    assert proc.returncode == 0, proc.stderr
    lines = dict(ln.split("\t", 1) for ln in (sandbox / "repo/.tools/unavailable").read_text().splitlines())
    assert "connection refused" in lines["helm"]
    assert not (sandbox / "repo/.tools/bin/helm").exists()
    assert (sandbox / "repo/.tools/bin/helm3").exists() and (sandbox / "repo/.tools/bin/golangci-lint").exists()


def test_slow_steps_announce_an_estimate_range_and_print_the_time_they_took(sandbox: Path) -> None:
    """One number was 2-3x off on a busy machine: each step names a range (idle to busy) and, when done,
    the time it took against that range."""
    proc = run_tools(sandbox)
    lines = proc.stderr.splitlines()
    for tool in ("helm", "helm3", "golangci-lint"):
        (announced,) = [ln for ln in lines if ln.startswith(f"==> building {tool} ")]
        match = re.search(r"estimate (\d+)-(\d+) min on 2 cores", announced)
        assert match and int(match[2]) >= 2 * int(match[1]), announced
        done = rf"==> built {tool} in \d+ min \d+ s \(estimate {match[1]}-{match[2]} min on 2 cores\)"
        assert any(re.fullmatch(done, ln) for ln in lines), proc.stderr
    assert "qemu-user-static with apt (estimate 1-3 min" in proc.stderr
    assert "prometheus (server + promtool) with apt (estimate 1-3 min" in proc.stderr


@pytest.mark.parametrize("script", ["kube-tools.sh", "cluster-tools.sh"])
def test_the_kubernetes_builds_print_elapsed_time_against_an_estimate_range(script: str) -> None:
    """kube-tools.sh and cluster-tools.sh build for real only (no sandbox): every build line they print
    reports the time taken against the range it announced."""
    text = (ROOT / "scripts" / script).read_text()
    announced = re.findall(r'(?:echo "==> |say ")building .*', text)
    assert announced and all(re.search(r"estimate (\d+-\d+|\$minutes) min", ln) for ln in announced), announced
    built = re.findall(r'echo "    .*built in.*', text)
    pattern = r"min \$\(\(s % 60\)\) s \(estimate (\d+-\d+|\$\w+) min"
    assert built and all(re.search(pattern, ln) for ln in built), built


def test_rerun_is_a_fast_no_op(sandbox: Path) -> None:
    assert run_tools(sandbox).returncode == 0
    before = len(calls(sandbox))
    proc = run_tools(sandbox)
    assert proc.returncode == 0
    assert [c for c in calls(sandbox)[before:] if c.startswith("go ")] == [], "nothing may be rebuilt"


def test_a_tool_on_path_at_the_pinned_version_is_used(sandbox: Path) -> None:
    extra = sandbox / "preinstalled"
    extra.mkdir()
    stub(extra, "helm", "echo v4.3.1\n")
    stub(extra, "golangci-lint", 'echo "golangci-lint has version 2.15.0 built with go1.27.3 from x"\n')
    stub(extra, "helm3", "echo v3.9.0\n")  # another version: built
    env_path = f"{sandbox / 'path'}:{extra}"
    proc = subprocess.run(["bash", str(sandbox / "repo/scripts/tools.sh")],
                          env={"PATH": env_path, "HOME": str(sandbox)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    built = [c for c in calls(sandbox) if c.startswith("go ")]
    assert len(built) == 1 and "helm/v3" in built[0], built
    assert os.path.realpath(sandbox / "repo/.tools/bin/helm") == str(extra / "helm")
    assert os.path.realpath(sandbox / "repo/.tools/bin/golangci-lint") == str(extra / "golangci-lint")


def test_tests_needing_an_unavailable_tool_are_skipped_with_the_reason(tmp_path: Path) -> None:
    """The conftest hook: a test failing for want of a recorded tool is a skip naming the reason; others still fail."""
    (tmp_path / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    (tmp_path / "tests" / "test_sample.py").write_text(
        "import pytest\n\n"
        "def test_needs_lint():\n    pytest.fail('golangci-lint missing: run scripts/tools.sh')\n\n"
        "def test_needs_helm():\n    pytest.skip('helm not on PATH: run scripts/tools.sh')\n\n"
        "def test_unrelated():\n    assert 1 == 2\n"
    )
    record = tmp_path / "unavailable"
    record.write_text("golangci-lint\tbuilding it failed: connection refused\nhelm\tGo is not installed\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist", "tests"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "GOSMITH_TOOLS_UNAVAILABLE": str(record)},
    )
    out = proc.stdout
    assert "1 failed" in out and "2 skipped" in out, out[-3000:]
    assert "golangci-lint unavailable: building it failed: connection refused" in out
    assert "helm unavailable: Go is not installed" in out
    assert "tool unavailable: golangci-lint" in out  # in the report header too
