"""A small GitHub Actions runner for the generated workflows: it runs the `run:` steps of a workflow's jobs in
order (jobs after the jobs they need), in a project directory, with the environment the workflow sets.

What it models: workflow, job and step `env`; `${{ }}` expressions over `vars`, `secrets` (both empty: a fresh
repository), `github`, `env`, `runner` and `steps.<id>.outputs` (||, &&, ==, !=, !, startsWith, contains);
step and job `if:`; `working-directory`; `id` with outputs written to $GITHUB_OUTPUT; GITHUB_ENV;
`::notice`/`::warning`/`::error` lines; GitHub's default shell (`bash --noprofile --norc -eo pipefail`).
An expression it does not know fails the run instead of guessing.

`uses:` steps are replaced by the tools the suite already has (checkout: the project is the work tree;
setup-go: the Go on PATH; setup-helm: helm from .tools/bin; golangci-lint-action: `golangci-lint run`) or,
where nothing local can stand in (Docker builds and pushes, logins), recorded as skipped with the reason.
Commands that only talk to services on the internet are stubs on PATH: `gh` (GitHub's API) records its
arguments; `pipx` fails as a real one does for a package that no reachable index has; `go run
golang.org/x/vuln/cmd/govulncheck@...` (the vulnerability database) is recorded and succeeds.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = ROOT / ".tools" / "bin"

STUBS = {
    "gh": '#!/bin/sh\necho "gh $*" >>"$STUB_LOG"\n',
    "pipx": '#!/bin/sh\necho "pipx $*" >>"$STUB_LOG"\n'
            'echo "ERROR: No matching distribution found for ${2:-?} (on no index this runner reaches)" >&2\n'
            "exit 1\n",
    "go": '#!/bin/sh\nif [ "$1" = run ]; then case "$2" in golang.org/x/vuln/cmd/govulncheck@*)\n'
          '  echo "go $*" >>"$STUB_LOG"; echo "govulncheck: stubbed (vuln.go.dev unreachable)"; exit 0;; esac; fi\n'
          'exec "$REAL_GO" "$@"\n',
}


class UnknownExpression(ValueError):
    """An expression this runner does not model."""


@dataclass
class StepResult:
    job: str
    name: str
    status: str  # "ok", "skipped (if)", "replaced: ...", "skipped: ..."
    output: str = ""


@dataclass
class Runner:
    project: Path
    workdir: Path
    event: str = "push"
    ref: str = "refs/heads/main"
    vars: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    timeout: float = 1800

    def __post_init__(self) -> None:
        self.stubs = self.workdir / "stubs"
        self.stubs.mkdir(parents=True, exist_ok=True)
        for name, text in STUBS.items():
            path = self.stubs / name
            path.write_text(text)
            path.chmod(0o755)
        self.stub_log = self.workdir / "stub.log"
        self.stub_log.touch()
        self.temp = self.workdir / "runner-temp"
        self.temp.mkdir(exist_ok=True)

    # ------------------------------------------------------------------ expressions
    def context(self, env: dict[str, str], steps: dict[str, dict[str, str]]) -> dict[str, Any]:
        ref_name = self.ref.rsplit("/", 1)[-1] if self.ref.startswith("refs/tags/") else self.ref.split("/", 2)[-1]
        return {
            "vars": self.vars, "secrets": self.secrets, "env": env, "runner": {"temp": str(self.temp), "os": "Linux"},
            "github": {"token": "", "ref": self.ref, "ref_name": ref_name, "event_name": self.event,
                       "workflow": "wf", "actor": "octocat", "repository": "acme/service", "sha": "0" * 40},
            "steps": {k: {"outputs": v} for k, v in steps.items()},
        }

    def evaluate(self, expr: str, ctx: dict[str, Any]) -> Any:
        expr = expr.strip()
        for op in ("||", "&&"):
            parts = _split_top(expr, op)
            if len(parts) > 1:
                values = [self.evaluate(p, ctx) for p in parts]
                if op == "||":
                    return next((v for v in values if v), values[-1])
                return next((v for v in values if not v), values[-1])
        for op in ("==", "!="):
            parts = _split_top(expr, op)
            if len(parts) == 2:
                a, b = (self.evaluate(p, ctx) for p in parts)
                same = str(a).lower() == str(b).lower() if isinstance(a, str) or isinstance(b, str) else a == b
                return same if op == "==" else not same
        if expr.startswith("!"):
            return not self.evaluate(expr[1:], ctx)
        if expr.startswith("(") and expr.endswith(")") and len(_split_top(expr[1:-1], ",")) == 1:
            return self.evaluate(expr[1:-1], ctx)
        if m := re.fullmatch(r"'((?:[^']|'')*)'", expr):
            return m[1].replace("''", "'")
        if expr in ("true", "false"):
            return expr == "true"
        if re.fullmatch(r"-?\d+", expr):
            return int(expr)
        if m := re.fullmatch(r"(startsWith|endsWith|contains)\((.*)\)", expr):
            a, b = (str(self.evaluate(p, ctx)) for p in _split_top(m[2], ","))
            return {"startsWith": a.lower().startswith(b.lower()), "endsWith": a.lower().endswith(b.lower()),
                    "contains": b.lower() in a.lower()}[m[1]]
        if re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)*", expr):
            node: Any = ctx
            head, *rest = expr.split(".")
            if head not in ctx:
                raise UnknownExpression(expr)
            node = ctx[head]
            for part in rest:
                node = node.get(part, "") if isinstance(node, dict) else ""
            return node
        raise UnknownExpression(expr)

    def substitute(self, text: str, ctx: dict[str, Any]) -> str:
        def value(m: re.Match[str]) -> str:
            v = self.evaluate(m[1], ctx)
            return ("true" if v else "false") if isinstance(v, bool) else str(v)

        return re.sub(r"\$\{\{(.*?)\}\}", value, text)

    def condition(self, cond: Any, ctx: dict[str, Any]) -> bool:
        if cond is None:
            return True
        text = str(cond).strip()
        m = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
        return bool(self.evaluate(m[1] if m else text, ctx))

    # ------------------------------------------------------------------ running
    def base_env(self) -> dict[str, str]:
        real_go = subprocess.run(["sh", "-c", "command -v go"], capture_output=True, text=True).stdout.strip()
        path = os.pathsep.join([str(self.stubs), str(TOOLS_BIN), os.environ.get("PATH", "")])
        return {**os.environ, **self.extra_env, "PATH": path, "REAL_GO": real_go, "STUB_LOG": str(self.stub_log),
                "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_REF": self.ref, "GITHUB_EVENT_NAME": self.event,
                "GITHUB_WORKSPACE": str(self.project), "RUNNER_TEMP": str(self.temp),
                "GITHUB_REF_NAME": self.context({}, {})["github"]["ref_name"]}

    def run(self, workflow: Path) -> list[StepResult]:
        """Run every job of `workflow`; raise AssertionError naming the step that failed."""
        wf = yaml.safe_load(workflow.read_text())
        jobs: dict[str, Any] = wf["jobs"]
        order: list[str] = []
        while len(order) < len(jobs):
            ready = [j for j, spec in jobs.items() if j not in order
                     and all(n in order for n in _as_list(spec.get("needs")))]
            assert ready, f"{workflow.name}: a cycle in `needs`"
            order.extend(ready)
        results: list[StepResult] = []
        for job in order:
            results += self.run_job(workflow.name, job, jobs[job], wf.get("env") or {})
        return results

    def run_job(self, wf_name: str, job: str, spec: dict[str, Any], wf_env: dict[str, Any]) -> list[StepResult]:
        steps: dict[str, dict[str, str]] = {}
        env: dict[str, str] = {}
        for source in (wf_env, spec.get("env") or {}):
            ctx = self.context(env, steps)
            env.update({k: self.substitute(str(v), ctx) for k, v in source.items()})
        results: list[StepResult] = []
        if not self.condition(spec.get("if"), self.context(env, steps)):
            return [StepResult(job, "(job)", "skipped (if)")]
        for i, step in enumerate(spec.get("steps") or []):
            name = step.get("name") or step.get("uses") or f"step {i}"
            ctx = self.context(env, steps)
            step_env = {**env, **{k: self.substitute(str(v), ctx) for k, v in (step.get("env") or {}).items()}}
            ctx = self.context(step_env, steps)
            if not self.condition(step.get("if"), ctx):
                results.append(StepResult(job, name, "skipped (if)"))
                continue
            if "uses" in step:
                results.append(self.uses(job, name, step, step_env))
                continue
            output_file, env_file = self.temp / f"output-{job}-{i}", self.temp / f"env-{job}-{i}"
            output_file.write_text("")
            env_file.write_text("")
            script = self.substitute(str(step["run"]), ctx)
            cwd = self.project / self.substitute(str(step.get("working-directory", ".")), ctx)
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                                  env={**self.base_env(), **step_env, "GITHUB_OUTPUT": str(output_file),
                                       "GITHUB_ENV": str(env_file),
                                       "GITHUB_STEP_SUMMARY": str(self.temp / "summary.md")},
                                  capture_output=True, text=True, timeout=self.timeout)
            out = proc.stdout + proc.stderr
            errors = re.findall(r"(?m)^::error\b.*$", out)
            if proc.returncode != 0 or errors:
                raise AssertionError(f"{wf_name} job {job} step {name!r} failed ({proc.returncode}):\n"
                                     f"$ {script}\n{out[-4000:]}")
            if "id" in step:
                steps[step["id"]] = _key_values(output_file.read_text())
            env.update(_key_values(env_file.read_text()))
            results.append(StepResult(job, name, "ok", out))
        return results

    def uses(self, job: str, name: str, step: dict[str, Any], env: dict[str, str]) -> StepResult:
        action = str(step["uses"]).split("@")[0]
        if action in ("actions/checkout", "actions/setup-go", "azure/setup-helm"):
            return StepResult(job, name, "replaced: the project directory and the suite's go and helm")
        if action == "golangci/golangci-lint-action":
            proc = subprocess.run(["golangci-lint", "run", "--allow-serial-runners", "./..."], cwd=self.project,
                                  capture_output=True, text=True,
                                  env={**self.base_env(), **env}, timeout=self.timeout)
            if proc.returncode != 0:
                raise AssertionError(f"job {job}: golangci-lint run failed:\n{proc.stdout}{proc.stderr}")
            return StepResult(job, name, "replaced: golangci-lint run", proc.stdout)
        if action.startswith("docker/"):
            return StepResult(job, name, "skipped: no Docker daemon or registry here")
        return StepResult(job, name, f"skipped: no local stand-in for {action}")

    def stub_calls(self) -> list[str]:
        return self.stub_log.read_text().splitlines()


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _key_values(text: str) -> dict[str, str]:
    """key=value lines (and key<<EOF heredocs) as GitHub reads $GITHUB_OUTPUT and $GITHUB_ENV."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if m := re.fullmatch(r"([\w-]+)<<(\S+)", line):
            body = []
            for inner in lines:
                if inner == m[2]:
                    break
                body.append(inner)
            out[m[1]] = "\n".join(body)
        elif "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def _split_top(expr: str, sep: str) -> list[str]:
    """Split `expr` on `sep` outside quotes and parentheses."""
    parts, depth, quote, start, i = [], 0, False, 0, 0
    while i < len(expr):
        c = expr[i]
        if c == "'":
            quote = not quote
        elif not quote and c == "(":
            depth += 1
        elif not quote and c == ")":
            depth -= 1
        elif not quote and depth == 0 and expr.startswith(sep, i):
            parts.append(expr[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(expr[start:])
    return [p.strip() for p in parts]


def notices(results: list[StepResult]) -> list[str]:
    """The ::notice lines the run printed."""
    return [line for r in results for line in r.output.splitlines() if line.startswith("::notice")]

