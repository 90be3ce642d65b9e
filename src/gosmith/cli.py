"""Command-line interface: thin typer commands over gosmith's pure API."""

from __future__ import annotations

if __name__ == "__main__":  # python -m gosmith.cli (e.g. with -X importtime): the console entry point, which exits
    from gosmith.__main__ import main as _console_entry

    _console_entry()

import copy
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gosmith.errors import Aborted, GosmithError, UserError
from gosmith.interrupts import exit_interrupted

# Each command imports what it runs (copier, the template's rules, ...) when it runs: --help, --version
# and the other commands do not pay for them.

#: One or two real invocations per command, shown at the end of its --help (at most 80 columns).
EXAMPLES: dict[str, list[str]] = {
    "new": [
        "gosmith new orders-api --defaults -o ../orders-api",
        "gosmith new orders-api -d platforms=linux/amd64,linux/arm64 --defaults",
    ],
    "update": [
        "gosmith update ../orders-api",
        "gosmith update --to 0.2.0 -d http_port=8181 --conflict rej",
    ],
    "check": [
        "gosmith check ../orders-api",
        "gosmith check --json",
    ],
    "tune": [
        "gosmith tune --cpu-limit 500m --memory-limit 512Mi --slowest-request-seconds 2",
        "gosmith tune --answers-file .copier-answers.yml --json",
    ],
    "doctor": [
        "gosmith doctor deploy/helm/orders-api -f values-prod.yaml",
        "kustomize build overlays/prod | gosmith doctor - --sarif > doctor.sarif",
    ],
}


def _plain_placeholders(command: Any) -> None:
    """Show words, not Python types, as value placeholders in --help (`NAME`, `FILE`, `TEXT`; never `<list[Path]>`).

    typer writes an argument's type after its name (`NAME <str>`) and an option's type as `<list[Path]>`
    unless a metavar is given: arguments show their metavar (or name) alone, options without one
    get click's words for their type (TEXT, INTEGER, NUMBER, PATH).
    """
    for param in command.params:
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = param.name.upper()
            param.display_type_rich = lambda ctx: None
        elif not getattr(param, "is_flag", False) and param.metavar is None:
            bare = param.bare_type().removeprefix("list[").removesuffix("]")
            param.metavar = _TYPE_WORDS.get(bare, "VALUE")


_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH"}


#: ctx.meta key (shared by every context of a run): the command prints its errors as JSON (its --json).
JSON_ERRORS = "gosmith.json_errors"


class _Group(TyperGroup):
    """Command group that turns any GosmithError into its one-line message and exit code (the one place)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:  # typer's (vendored) click types
        command = super().get_command(ctx, cmd_name)
        if command is not None and cmd_name in EXAMPLES and not command.epilog:
            # "\b" keeps click from re-wrapping the example lines.
            command.epilog = "Examples:\n\n\b\n" + "\n".join(EXAMPLES[cmd_name])
            _plain_placeholders(command)
        return command

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            exit_interrupted()

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            exit_interrupted()
        except GosmithError as exc:
            if isinstance(exc, Aborted):
                exit_interrupted()
            if ctx.meta.get(JSON_ERRORS):
                # a command asked for --json: its errors are JSON on stdout too, for the script reading it
                typer.echo(json.dumps({"error": str(exc), "exit_code": exc.exit_code}, indent=2))
            else:
                typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_Group,
    name="gosmith",
    help="Generate production-grade Go HTTP services for Kubernetes, and keep them current.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich's option table cuts long option names (--proxy-idle-timeout-seco…) at 80 columns.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from gosmith import __version__  # package metadata is read only when asked for

        typer.echo(f"gosmith {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Generate production-grade Go HTTP services for Kubernetes, and keep them current."""


@app.command("new")
def new_cmd(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Service name (DNS-1123 label, at most 63 characters).")],
    module: Annotated[
        str | None, typer.Option("--module", "-m", help="Go module path (default: example.com/NAME).", metavar="MODULE")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Directory to create (default: ./NAME).", metavar="DIR")
    ] = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Use the default for every question not given; never prompt.")
    ] = False,
    data: Annotated[
        list[str] | None,
        typer.Option("--data", "-d", help="Answer a question: key=value (repeatable).", metavar="KEY=VALUE"),
    ] = None,
    answers_file: Annotated[
        Path | None, typer.Option("--answers-file", help="YAML file of answers (question: value).", metavar="FILE")
    ] = None,
    pretend: Annotated[
        bool, typer.Option("--pretend", help="Show what would be written; write nothing.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty output directory.")] = False,
) -> None:
    """Generate a new Go service from the gosmith template."""
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if not defaults and not answers_file and not terminal:
        raise UserError("no terminal to ask the questions on: pass --defaults (or --answers-file FILE) "
                        "to use the defaults for every answer not given")
    interactive = not defaults and terminal
    if not interactive:
        from gosmith.copier_adapter import skip_prompt_imports

        skip_prompt_imports()  # nothing is asked: copier's prompt libraries are not needed

    from gosmith.answers import parse_data
    from gosmith.generate import NewRequest, generate
    req = NewRequest(
        name=name,
        output=output,
        module=module,
        data=parse_data(data or []),
        answers_file=answers_file,
        defaults=not interactive,
        pretend=pretend,
        force=force,
        quiet=not interactive and not pretend,
    )
    dst = req.output or Path(name)
    result = generate(req)
    if pretend:
        typer.echo("Pretend mode: nothing was written.", err=True)
        return
    if result.overwritten:
        typer.echo(f"--force: overwrote {len(result.overwritten)} existing file(s):", err=True)
        for path in result.overwritten:
            typer.echo(f"  overwrote {path}", err=True)
    out = result.path
    typer.echo(f"Created {out}", err=True)
    typer.echo(f"Next: cd {dst} && make test", err=True)
    typer.echo("Commit it to git: `gosmith update` needs a clean git tree to bring template changes later.", err=True)


@app.command("update")
def update_cmd(
    path: Annotated[Path, typer.Argument(help="Project directory (default: the current one).")] = Path("."),
    to: Annotated[
        str | None, typer.Option("--to", help="Template version to move to (default: the one this gosmith ships).",
                            metavar="VERSION")
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option("--data", "-d", help="Change an answer: key=value (repeatable).", metavar="KEY=VALUE"),
    ] = None,
    conflict: Annotated[
        str, typer.Option("--conflict", help="How to leave conflicts: inline (markers) or rej (.rej files).",
                          metavar="inline|rej")
    ] = "inline",
    pretend: Annotated[bool, typer.Option("--pretend", help="Report what would change; write nothing.")] = False,
) -> None:
    """Update a generated project to a newer template version, keeping local edits (works offline)."""
    from gosmith.answers import normalize_lists, parse_data
    from gosmith.update import UpdateRequest, update

    if conflict not in ("inline", "rej"):
        raise UserError(f"--conflict {conflict!r}: expected inline or rej")
    try:
        result = update(
            UpdateRequest(path=path, to=to, data=normalize_lists(parse_data(data or []), "--data "),
                          conflict=conflict,  # type: ignore[arg-type]
                          pretend=pretend)
        )
    except KeyboardInterrupt:
        # copier works on a clone: the project is only written after it finished, with Ctrl-C ignored
        raise Aborted() from None
    typer.echo(result.summary())
    if result.conflicts:
        hint = "markers <<<<<<< / >>>>>>>" if conflict == "inline" else "the .rej files"
        typer.echo(f"Resolve the conflicts ({hint}), then commit.", err=True)
    raise typer.Exit(result.exit_code)


@app.command("check")
def check_cmd(
    path: Annotated[Path, typer.Argument(help="Project directory (default: the current one).")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead of a sentence.")] = False,
) -> None:
    """Tell whether a project is behind the template version this gosmith ships.

    Exit codes: 0 current (or ahead), 1 behind, 2 not a gosmith project (no, unreadable or foreign
    answers file), 3 unknown: the recorded template ref is a commit id that matches no template
    version this gosmith ships (e.g. plain copier copy of a changed checkout); run gosmith update,
    which updates it from the recorded _src_path.
    """
    from gosmith.check import check

    result = check(path)
    typer.echo(result.to_json() if as_json else result.human())
    raise typer.Exit(result.exit_code)


@app.command("tune")
def tune_cmd(
    ctx: typer.Context,
    answers_file: Annotated[
        Path | None,
        typer.Option("--answers-file", help="YAML answers (a .copier-answers.yml works); options override it.",
                     metavar="FILE"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (inputs, values, reasons, warnings).")] = False,
    data: Annotated[
        list[str] | None,
        typer.Option("--data", "-d", help="Any answer, as in `gosmith new`: key=value (repeatable).",
                     metavar="KEY=VALUE"),
    ] = None,
    # generated by scripts/gen_surfaces.py from the rule table (hooks/settings.py): tune-options
    go_version: Annotated[
        str | None, typer.Option(help="Go version of the go.mod 'go' line and the build image (1.26 to 1.27).")
    ] = None,
    cpu_request: Annotated[
        str | None, typer.Option(help="CPU request (Kubernetes quantity); empty = none.")
    ] = None,
    cpu_limit: Annotated[
        str | None, typer.Option(help="CPU limit; empty = none.")
    ] = None,
    gomaxprocs_policy: Annotated[
        str | None, typer.Option(help="GOMAXPROCS under a CPU limit: floor, ceil or go.")
    ] = None,
    memory_request: Annotated[
        str | None, typer.Option(help="Memory request.")
    ] = None,
    memory_limit: Annotated[
        str | None, typer.Option(help="Memory limit; empty = none (GOMEMLIMIT unset).")
    ] = None,
    gomemlimit_ratio: Annotated[
        float | None, typer.Option(help="GOMEMLIMIT as a fraction of the memory limit (0.5-0.95).")
    ] = None,
    slowest_request_seconds: Annotated[
        float | None, typer.Option(help="Slowest normal request (p99.9 of a healthy day) (0.01-3600s).")
    ] = None,
    upstream_timeout_seconds: Annotated[
        float | None, typer.Option(help="Timeout of calls to the upstream; 0 = derive (0-3600s).")
    ] = None,
    proxy_idle_timeout_seconds: Annotated[
        int | None, typer.Option(help="Idle timeout of the proxy in front (1-3600s).")
    ] = None,
    endpoint_propagation_seconds: Annotated[
        float | None, typer.Option(help="Seconds until a terminating pod is out of every endpoint list (1-120s).")
    ] = None,
    drain_mode: Annotated[
        str | None, typer.Option(help="Where the drain delay happens (app or a native preStop sleep): app or prestop.")
    ] = None,
    probe_timeout_seconds: Annotated[
        int | None, typer.Option(help="timeoutSeconds of every probe (1-60s).")
    ] = None,
    readiness_period_seconds: Annotated[
        int | None, typer.Option(help="readinessProbe periodSeconds (1-300s).")
    ] = None,
    readiness_failure_threshold: Annotated[
        int | None, typer.Option(help="readinessProbe failureThreshold (1-100).")
    ] = None,
    liveness_period_seconds: Annotated[
        int | None, typer.Option(help="livenessProbe periodSeconds (1-300s).")
    ] = None,
    liveness_failure_threshold: Annotated[
        int | None, typer.Option(help="livenessProbe failureThreshold (1-100).")
    ] = None,
    startup_seconds: Annotated[
        int | None, typer.Option(help="Expected startup time; the startupProbe allows twice that (1-3600s).")
    ] = None,
    termination_grace_period_seconds: Annotated[
        int | None, typer.Option(help="terminationGracePeriodSeconds; 0 = derive (0-86400s).")
    ] = None,
    hpa_enabled: Annotated[
        bool | None, typer.Option("--hpa/--no-hpa", help="Scale with a HorizontalPodAutoscaler on CPU.")
    ] = None,
    replicas: Annotated[
        int | None, typer.Option(help="Replica count without an HPA (1-1000).")
    ] = None,
    hpa_min_replicas: Annotated[
        int | None, typer.Option(help="HPA minReplicas (1-1000).")
    ] = None,
    hpa_max_replicas: Annotated[
        int | None, typer.Option(help="HPA maxReplicas, at least minReplicas (1-1000).")
    ] = None,
    hpa_cpu_target_percent: Annotated[
        int | None, typer.Option(help="HPA target CPU utilisation, percent of cpu_request (1-100%).")
    ] = None,
    # end of generated tune-options
) -> None:
    """Show the GOMAXPROCS, GOMEMLIMIT, timeouts, drain, probes and scaling the template derives, with formulas."""
    from gosmith.answers import parse_data
    from gosmith.tune import table, to_json, tune

    ctx.meta[JSON_ERRORS] = as_json
    options = {k: v for k, v in ctx.params.items() if k not in ("answers_file", "as_json", "data")}
    result = tune(options, answers_file, parse_data(data or []))
    typer.echo(to_json(result) if as_json else table(result))


@app.command("doctor")
def doctor_cmd(
    target: Annotated[
        str, typer.Argument(metavar="PATH", help="Helm chart directory, manifest directory or file, or - for stdin.")
    ] = "-",
    values: Annotated[
        list[Path] | None, typer.Option("--values", "-f", help="Values file for a chart (repeatable).", metavar="FILE")
    ] = None,
    set_values: Annotated[
        list[str] | None, typer.Option("--set", help="Chart value key=value (repeatable).", metavar="KEY=VALUE")
    ] = None,
    helm: Annotated[str, typer.Option(help="helm executable that renders a chart directory.")] = "helm",
    release: Annotated[str, typer.Option(help="Release name to render a chart with.")] = "release",
    kube_version: Annotated[
        str | None, typer.Option(help="Kubernetes version to render a chart for (helm --kube-version).")
    ] = None,
    # generated by scripts/gen_surfaces.py from the rule table (hooks/settings.py): doctor-options
    idle_timeout: Annotated[
        str | None, typer.Option(help="The service's IDLE_TIMEOUT (Go duration) where neither its env "
                                 "nor the gosmith.dev/idle-timeout annotation says.")
    ] = None,
    drain_delay: Annotated[
        str | None, typer.Option(help="The service's DRAIN_DELAY (Go duration) where neither its env "
                                 "nor the gosmith.dev/drain-delay annotation says.")
    ] = None,
    shutdown_timeout: Annotated[
        str | None, typer.Option(help="The service's SHUTDOWN_TIMEOUT (Go duration) where neither its env "
                                 "nor the gosmith.dev/shutdown-timeout annotation says.")
    ] = None,
    telemetry_flush_timeout: Annotated[
        str | None, typer.Option(help="The service's TELEMETRY_FLUSH_TIMEOUT (Go duration) where neither its env "
                                 "nor the gosmith.dev/telemetry-flush-timeout annotation says.")
    ] = None,
    # end of generated doctor-options
    endpoint_propagation: Annotated[
        str | None, typer.Option(help="How long until no proxy routes to a terminating pod (default 5s).")
    ] = None,
    go_version: Annotated[
        str | None, typer.Option(help="Go version the service is built with (e.g. 1.24).")
    ] = None,
    lb_idle_timeout: Annotated[
        str | None, typer.Option(help="Idle timeout (s) of a load balancer in front of every workload.")
    ] = None,
    lb_idle: Annotated[
        list[str] | None,
        typer.Option(help="Override a documented LB idle timeout: aws-alb, aws-elb, gcp or nginx=SECONDS.",
                     metavar="KIND=SECONDS"),
    ] = None,
    image_with_shell: Annotated[
        list[str] | None, typer.Option(help="Image pattern (glob) known to have a shell (repeatable).",
                                       metavar="PATTERN")
    ] = None,
    image_without_shell: Annotated[
        list[str] | None, typer.Option(help="Image pattern (glob) known to have no shell (repeatable).",
                                       metavar="PATTERN")
    ] = None,
    app_container: Annotated[
        list[str] | None, typer.Option(help="Name of the Go service's own container where several run in a pod "
                                       "(repeatable; the annotation gosmith.dev/app-container wins).",
                                       metavar="NAME")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file of these options (flag names as keys).", metavar="FILE")
    ] = None,
    fail_on: Annotated[
        str | None, typer.Option(help="Exit 1 on findings at or above: error (default), warning, info or never.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_sarif: Annotated[bool, typer.Option("--sarif", help="Print SARIF 2.1.0 (GitHub code scanning).")] = False,
    emit_policy: Annotated[
        bool, typer.Option("--emit-policy", help="Print the one-object rules as ValidatingAdmissionPolicies and "
                                                 "bindings (YAML) instead of checking PATH.")
    ] = False,
    policy_action: Annotated[
        str, typer.Option(help="validationActions of the error rules' binding: Deny, Warn or Audit (warning "
                               "rules: Warn, or Audit).")
    ] = "Deny",
    policy_namespace_label: Annotated[
        list[str] | None, typer.Option(help="Bind the policy only in namespaces with this label (repeatable).",
                                       metavar="KEY=VALUE")
    ] = None,
    policy_object_label: Annotated[
        list[str] | None, typer.Option(help="Bind the policy only to workloads with this label (repeatable).",
                                       metavar="KEY=VALUE")
    ] = None,
) -> None:
    """Check Kubernetes manifests of Go services against the runtime and timing rules (exit 1: findings)."""
    from gosmith.doctor import DoctorRequest, doctor
    from gosmith.doctor_load import ChartOptions
    from gosmith.doctor_output import table, to_json, to_sarif

    if as_json and as_sarif:
        raise UserError("--json and --sarif: choose one output format")
    req = DoctorRequest(
        target=target, config=config, go_version=go_version,
        # generated by scripts/gen_surfaces.py from the rule table (hooks/settings.py): doctor-timings
        timings={
            "idle_timeout": idle_timeout,
            "drain_delay": drain_delay,
            "shutdown_timeout": shutdown_timeout,
            "telemetry_flush_timeout": telemetry_flush_timeout,
        },
        # end of generated doctor-timings
        lb_idle_timeout=lb_idle_timeout, lb_idle=lb_idle or [], image_with_shell=image_with_shell or [],
        image_without_shell=image_without_shell or [], fail_on=fail_on, endpoint_propagation=endpoint_propagation,
        app_container=app_container or [],
        chart=ChartOptions(helm=helm, values=values or [], set_values=set_values or [], release=release,
                           kube_version=kube_version or ""),
    )
    if emit_policy:
        from gosmith.doctor import options
        from gosmith.doctor_policy import PolicyRequest, parse_labels
        from gosmith.doctor_policy import emit_policy as policy_yaml

        if target != "-" or as_json or as_sarif:
            raise UserError("--emit-policy prints YAML and reads no manifests: drop PATH, --json and --sarif")
        opts, _ = options(req)
        typer.echo(policy_yaml(PolicyRequest(
            action=policy_action,
            namespace_labels=parse_labels(policy_namespace_label or [], "--policy-namespace-label"),
            object_labels=parse_labels(policy_object_label or [], "--policy-object-label"),
        ), opts), nl=False)
        return
    report, fail_level = doctor(req)
    typer.echo(to_sarif(report) if as_sarif else to_json(report) if as_json else table(report))
    raise typer.Exit(report.exit_code(fail_level))


def invoked_only(args: list[str]) -> typer.Typer:
    """Return `app` with just the command `args[0]` names, when it names one (else `app` itself).

    typer builds the options of every registered command (a signature walk each) before it parses
    anything; the other commands only matter to the group's own --help and its unknown-command error,
    which keep the whole app.
    """
    chosen = [info for info in app.registered_commands if args and info.name == args[0]]
    if not chosen:
        return app
    lean = copy.copy(app)
    lean.registered_commands = chosen
    return lean


def main() -> None:
    """Console-script entry point."""
    invoked_only(sys.argv[1:2])()
