"""`gosmith doctor`, input side: read manifests (chart, directory, file or stdin) and extract the facts the rules need.

Everything here is parsing: which objects are workloads, which containers they run, what their
env, resources, probes, lifecycle hooks and images say, which Services and Ingresses put a load
balancer in front of them. The rules (doctor_rules.py) decide what is wrong with those facts.
Every problem with the input itself is a `UserError` (exit 2) with a one-line reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from gosmith.errors import UserError

#: Annotation prefix for facts a manifest cannot express otherwise (pod template or workload metadata).
ANNOTATION = "gosmith.dev/"

#: Workload kinds and where their pod template is.
POD_TEMPLATE: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Rollout": ("spec", "template"),  # Argo Rollouts (argoproj.io/v1alpha1)
}

_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_SOURCE_COMMENT = re.compile(r"^# Source: (\S.*?)\s*$")


# ----------------------------------------------------------------------------- documents
@dataclass
class Doc:
    """One Kubernetes object and where it came from (for the report and SARIF locations)."""

    obj: dict[str, Any]
    source: str  # file path (as given), a chart template path, or "stdin"
    line: int  # 1-based line of the object in `source` (1 when unknown, e.g. a chart template)
    node: Any = field(default=None, repr=False)  # the YAML node, to find a field's line
    rendered: bool = False  # from `helm template`: lines do not map to the template file

    def line_of(self, path: tuple[str | int, ...]) -> int:
        """Return the 1-based line of the field at `path` (the closest existing parent's line)."""
        if self.rendered or self.node is None:
            return self.line
        node, line = self.node, self.line
        for part in path:
            nxt = None
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
                if nxt is not None:
                    line = next(k for k, v in node.value if v is nxt).start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                nxt = node.value[part]
                line = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return line


def _decode(data: bytes, where: str) -> str:
    """Return `data` as text; binary input is a one-line error."""
    if b"\x00" in data:
        raise UserError(f"{where}: binary data, not YAML manifests")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{where}: not UTF-8 text, not YAML manifests") from None


def parse_text(text: str, source: str, *, rendered: bool = False, chart_dir: Path | None = None) -> list[Doc]:
    """Return every Kubernetes object in multi-document YAML `text` (List kinds expanded)."""
    sources: list[tuple[int, str]] = []
    if rendered:
        for i, line in enumerate(text.splitlines()):
            if m := _SOURCE_COMMENT.match(line):
                # "chartname/templates/x.yaml": shown relative to the chart directory as given
                rel = m.group(1).split("/", 1)[1] if "/" in m.group(1) else m.group(1)
                sources.append((i, str(chart_dir / rel) if chart_dir is not None else rel))
    docs: list[Doc] = []
    loader = yaml.SafeLoader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is None:
                continue
            obj = loader.construct_document(node)
            if obj is None:
                continue
            first = node.start_mark.line + 1
            src = source
            if rendered:
                src = next((s for ln, s in reversed(sources) if ln < first), source)
            where = f"{source}: document {index}" + ("" if rendered else f" (line {first})")
            docs.extend(_objects(obj, src, first, node, rendered, where))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise UserError(f"{source}: not valid YAML{at}: {problem}") from None
    finally:
        loader.dispose()
    return docs


def _objects(obj: Any, source: str, line: int, node: Any, rendered: bool, where: str) -> list[Doc]:
    """Return the Kubernetes object(s) in one document; anything else is a one-line error."""
    if not (isinstance(obj, dict) and isinstance(obj.get("kind"), str) and isinstance(obj.get("apiVersion"), str)):
        raise UserError(f"{where} is not a Kubernetes object (no apiVersion and kind)")
    if obj["kind"].endswith("List") and isinstance(obj.get("items"), list):
        out: list[Doc] = []
        items_node = _child(node, "items")
        for i, item in enumerate(obj["items"]):
            item_node = items_node.value[i] if isinstance(items_node, yaml.SequenceNode) else None
            item_line = item_node.start_mark.line + 1 if item_node is not None else line
            out.extend(_objects(item, source, item_line, item_node, rendered, f"{where} item {i + 1}"))
        return out
    return [Doc(obj=obj, source=source, line=line, node=node, rendered=rendered)]


def _child(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    return None


@dataclass
class ChartOptions:
    """How to render a chart directory."""

    helm: str = "helm"
    values: list[Path] = field(default_factory=list)
    set_values: list[str] = field(default_factory=list)
    release: str = ""
    kube_version: str = ""


def render_chart(chart: Path, opts: ChartOptions) -> str:
    """Return `helm template` output for the chart in `chart`; a missing helm or a failed render is one line."""
    helm = opts.helm
    exe = shutil.which(helm) if os.sep not in helm else (helm if Path(helm).is_file() else None)
    if exe is None:
        raise UserError(
            f"{chart} is a Helm chart and rendering it needs helm, but {helm!r} was not found: install helm "
            "(https://helm.sh/docs/intro/install/), pass --helm PATH, or pipe `helm template` output into "
            "`gosmith doctor -`"
        )
    cmd = [exe, "template", opts.release or "release", str(chart)]
    for v in opts.values:
        cmd += ["--values", str(v)]
    for s in opts.set_values:
        cmd += ["--set", s]
    if opts.kube_version:
        cmd += ["--kube-version", opts.kube_version]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"{chart}: helm template could not run: {exc}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = " ".join(lines) if len(" ".join(lines)) <= 400 else lines[-1] if lines else f"exit {proc.returncode}"
        reason = reason.removeprefix("Error: ").replace(" Use --debug flag to render out invalid YAML", "")
        raise UserError(f"{chart}: helm template failed: {reason}")
    return proc.stdout


def load(target: str, chart_opts: ChartOptions | None = None, stdin: Any = None) -> list[Doc]:
    """Return every object of `target`: "-" (stdin), a chart directory, a manifest directory or a file."""
    if target == "-":
        import sys

        data = (stdin or sys.stdin.buffer).read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        docs = parse_text(_decode(data, "stdin"), "stdin")
        where = "stdin"
    else:
        path = Path(target)
        if not path.exists():
            raise UserError(f"{target}: no such file or directory")
        if path.is_dir() and (path / "Chart.yaml").is_file():
            text = render_chart(path, chart_opts or ChartOptions())
            docs = parse_text(text, str(path), rendered=True, chart_dir=path)
            where = f"{target} (rendered by helm)"
        elif path.is_dir():
            if any((path / k).is_file() for k in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
                raise UserError(f"{target} is a kustomize directory: run `kustomize build {target} | gosmith doctor -`")
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _MANIFEST_SUFFIXES)
            if not files:
                raise UserError(f"{target}: no .yaml, .yml or .json files")
            docs = []
            for f in files:
                docs.extend(parse_text(_decode(f.read_bytes(), str(f)), str(f)))
            where = target
        else:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise UserError(f"{target}: {exc.strerror}") from None
            docs = parse_text(_decode(data, target), target)
            where = target
    if not docs:
        raise UserError(f"{where}: empty, no Kubernetes objects")
    return docs


# ----------------------------------------------------------------------------- values
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS_MS = {"ns": Fraction(1, 10**6), "us": Fraction(1, 1000), "µs": Fraction(1, 1000), "μs": Fraction(1, 1000),
                "ms": Fraction(1), "s": Fraction(1000), "m": Fraction(60_000), "h": Fraction(3_600_000)}


def duration_ms(text: object) -> int | None:
    """Return milliseconds (rounded up) of a Go duration ("1m30s", "500ms", "0") or plain seconds ("15"); else None."""
    s = str(text).strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", s):
        return int(-(-Fraction(s) * 1000 // 1))
    if s.startswith("+"):
        s = s[1:]
    if not s or s.startswith("-"):
        return None
    total, pos = Fraction(0), 0
    for m in _GO_DURATION.finditer(s):
        if m.start() != pos or m.group(1) in ("", "."):
            return None
        total += Fraction(m.group(1)) * _GO_UNITS_MS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        return None
    return int(-(-total // 1))


_GO_BYTES = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}


def go_bytes(text: object) -> int | None:
    """Return bytes of a GOMEMLIMIT value as the Go runtime parses it ("460MiB", "1GiB", "123456"); else None."""
    m = re.fullmatch(r"([0-9]+)(B|KiB|MiB|GiB|TiB)?", str(text).strip())
    if not m:
        return None
    return int(m.group(1)) * _GO_BYTES[m.group(2) or "B"]


def seconds_text(ms: int) -> str:
    """Return `ms` as seconds for messages ('15s', '9.5s')."""
    whole, rest = divmod(ms, 1000)
    return f"{whole}s" if rest == 0 else f"{ms / 1000:g}s"


# ----------------------------------------------------------------------------- facts
@dataclass
class EnvVar:
    """One env entry: a literal value, a resourceFieldRef, or another reference (unknown value)."""

    name: str
    index: int
    value: str | None = None
    resource_field: dict[str, Any] | None = None
    other_ref: bool = False


@dataclass
class Probe:
    """Probe timing with Kubernetes' defaults filled in."""

    kind: str  # startup, readiness, liveness
    period: int
    timeout: int
    failure: int


@dataclass
class Container:
    """The facts of one container the rules read."""

    name: str
    index: int
    path: tuple[str | int, ...]  # path of the container inside its object
    image: str
    env: dict[str, EnvVar]
    resources: dict[str, Any]
    probes: dict[str, Probe]
    prestop: dict[str, Any] | None  # lifecycle.preStop
    field_refs: list[tuple[tuple[str | int, ...], dict[str, Any]]]  # (path, resourceFieldRef) in env and volumes
    native_sidecar: bool = False  # an init container with restartPolicy: Always (Kubernetes >= 1.29)
    ports: dict[str, int] = field(default_factory=dict)  # containerPort by name ("" + number when unnamed)


@dataclass
class Workload:
    """A workload object, its pod template and containers."""

    doc: Doc
    kind: str
    name: str
    namespace: str
    spec_path: tuple[str | int, ...]  # path of the pod spec inside the object
    pod_spec: dict[str, Any]
    labels: dict[str, str]
    annotations: dict[str, str]  # workload metadata annotations overlaid by the pod template's
    containers: list[Container]
    sidecars: list[Container] = field(default_factory=list)  # native sidecars (initContainers, restartPolicy Always)

    @property
    def all_containers(self) -> list[Container]:
        """Return the regular containers, then the native sidecars."""
        return [*self.containers, *self.sidecars]

    @property
    def ref(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _container(raw: dict[str, Any], index: int, base: tuple[str | int, ...],
               volumes_refs: list[tuple[tuple[str | int, ...], dict[str, Any]]],
               where: str = "containers") -> Container:
    path = (*base, where, index)
    env: dict[str, EnvVar] = {}
    refs: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
    for i, e in enumerate(raw.get("env") or []):
        if not isinstance(e, dict) or "name" not in e:
            continue
        var = EnvVar(name=str(e["name"]), index=i)
        vf = e.get("valueFrom")
        if isinstance(vf, dict):
            if isinstance(vf.get("resourceFieldRef"), dict):
                var.resource_field = vf["resourceFieldRef"]
                refs.append(((*path, "env", i, "valueFrom", "resourceFieldRef"), vf["resourceFieldRef"]))
            else:
                var.other_ref = True
        elif "value" in e:
            var.value = "" if e["value"] is None else str(e["value"])
        else:
            var.value = ""
        env[var.name] = var
    probes = {}
    for kind in ("startup", "readiness", "liveness"):
        p = raw.get(f"{kind}Probe")
        if isinstance(p, dict):
            probes[kind] = Probe(kind, _int(p.get("periodSeconds"), 10), _int(p.get("timeoutSeconds"), 1),
                                 _int(p.get("failureThreshold"), 3))
    name = str(raw.get("name", f"#{index}"))
    # downwardAPI volume items of this container's resources
    refs += [(p, r) for p, r in volumes_refs if str(r.get("containerName", "")) in ("", name)]
    resources: dict[str, Any] = raw["resources"] if isinstance(raw.get("resources"), dict) else {}
    prestop = _dig(raw, ("lifecycle", "preStop"))
    ports: dict[str, int] = {}
    for p in raw.get("ports") or []:
        number = _int(p.get("containerPort"), 0) if isinstance(p, dict) else 0
        if number:
            ports[str(p.get("name") or f"#{number}")] = number
    return Container(name=name, index=index, path=path, image=str(raw.get("image", "")), env=env,
                     resources=resources, probes=probes, prestop=prestop if isinstance(prestop, dict) else None,
                     field_refs=refs, native_sidecar=where == "initContainers", ports=ports)


def workloads(docs: list[Doc]) -> list[Workload]:
    """Return every workload in `docs` with its containers and native sidecars.

    Init containers that run to completion are skipped (they are done before the pod serves); an init
    container with `restartPolicy: Always` is a native sidecar (Kubernetes >= 1.29): it runs beside the
    service and is stopped after the regular containers, so the timing rules apply to it.
    """
    out: list[Workload] = []
    for doc in docs:
        obj = doc.obj
        where = POD_TEMPLATE.get(obj.get("kind", ""))
        if where is None or (obj["kind"] == "Rollout" and not str(obj.get("apiVersion", "")).startswith("argoproj.io")):
            continue
        template = _dig(obj, where)
        if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
            continue
        spec = template["spec"]
        meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
        tmeta: dict[str, Any] = template["metadata"] if isinstance(template.get("metadata"), dict) else {}
        spec_path = (*where, "spec")
        vol_refs: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
        for vi, vol in enumerate(spec.get("volumes") or []):
            items = _dig(vol, ("downwardAPI", "items")) if isinstance(vol, dict) else None
            for ii, item in enumerate(items or []):
                if isinstance(item, dict) and isinstance(item.get("resourceFieldRef"), dict):
                    vol_refs.append(((*spec_path, "volumes", vi, "downwardAPI", "items", ii, "resourceFieldRef"),
                                     item["resourceFieldRef"]))
        containers = [_container(c, i, spec_path, vol_refs)
                      for i, c in enumerate(spec.get("containers") or []) if isinstance(c, dict)]
        sidecars = [_container(c, i, spec_path, vol_refs, "initContainers")
                    for i, c in enumerate(spec.get("initContainers") or [])
                    if isinstance(c, dict) and c.get("restartPolicy") == "Always"]
        out.append(Workload(
            doc=doc, kind=obj["kind"], name=str(meta.get("name", "?")), namespace=str(meta.get("namespace") or ""),
            spec_path=spec_path, pod_spec=spec, labels=_str_map(tmeta.get("labels")),
            annotations={**_str_map(meta.get("annotations")), **_str_map(tmeta.get("annotations"))},
            containers=containers, sidecars=sidecars,
        ))
    return out


def service_ports(w: Workload, docs: list[Doc]) -> list[tuple[str, str, int | str]]:
    """Return (Service ref, port name or number, targetPort) of every port of every Service selecting `w`'s pods."""
    out: list[tuple[str, str, int | str]] = []
    for d in docs:
        obj = d.obj
        if obj.get("kind") != "Service" or not _same_ns(str(_dig(obj, ("metadata", "namespace")) or ""), w.namespace) \
                or not _selects(_str_map(_dig(obj, ("spec", "selector"))), w.labels):
            continue
        for p in _dig(obj, ("spec", "ports")) or []:
            if not isinstance(p, dict):
                continue
            target = p.get("targetPort", p.get("port"))
            if isinstance(target, str) and target.strip().isdigit():
                target = int(target.strip())
            if isinstance(target, (int, str)) and not isinstance(target, bool):
                out.append((_ref(obj), str(p.get("name") or p.get("port", "?")), target))
    return out


# ----------------------------------------------------------------------------- load balancers
@dataclass
class LoadBalancer:
    """A proxy in front of a workload whose idle timeout is known (read from an annotation or documented)."""

    kind: str  # a key of doctor_rules.LB_DEFAULTS, or "annotated"
    idle_seconds: int
    via: str  # e.g. "Ingress/shop/orders (ingressClassName alb)"
    source: str  # where the number comes from
    doc: Doc | None = None


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _same_ns(a: str, b: str) -> bool:
    return not a or not b or a == b


def _ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']}/{ns}{meta.get('name', '?')}"


def _ingress_backends(obj: dict[str, Any]) -> set[str]:
    spec = obj.get("spec") or {}
    names = set()
    default = _dig(spec, ("defaultBackend", "service", "name")) or _dig(spec, ("backend", "serviceName"))
    if default:
        names.add(str(default))
    for rule in spec.get("rules") or []:
        for p in _dig(rule, ("http", "paths")) or []:
            name = _dig(p, ("backend", "service", "name")) or _dig(p, ("backend", "serviceName"))
            if name:
                names.add(str(name))
    return names


def load_balancers(w: Workload, docs: list[Doc], defaults: dict[str, int]) -> list[LoadBalancer]:
    """Return the load balancers in front of `w` whose idle timeout is known.

    A Service selecting the pods, and an Ingress routing to such a Service (or the Service itself
    when it is of type LoadBalancer): the idle timeout comes from `gosmith.dev/lb-idle-timeout`, a
    provider annotation, or the documented default of the recognised controller (`defaults`).
    """
    services = [d for d in docs if d.obj.get("kind") == "Service"
                and _same_ns(str(_dig(d.obj, ("metadata", "namespace")) or ""), w.namespace)
                and _selects(_str_map(_dig(d.obj, ("spec", "selector"))), w.labels)]
    names = {str(_dig(s.obj, ("metadata", "name"))) for s in services}
    out: list[LoadBalancer] = []
    for d in docs:
        obj = d.obj
        ann = _str_map(_dig(obj, ("metadata", "annotations")))
        own = ann.get(f"{ANNOTATION}lb-idle-timeout")
        if obj.get("kind") == "Ingress" and _ingress_backends(obj) & names \
                and _same_ns(str(_dig(obj, ("metadata", "namespace")) or ""), w.namespace):
            cls = str(_dig(obj, ("spec", "ingressClassName")) or ann.get("kubernetes.io/ingress.class", ""))
            via = f"{_ref(obj)} (class {cls or 'unset'})"
            if own is not None and (ms := duration_ms(own)) is not None:
                out.append(LoadBalancer("annotated", -(-ms // 1000), via, f"annotation {ANNOTATION}lb-idle-timeout", d))
            elif cls == "alb" or any(k.startswith("alb.ingress.kubernetes.io/") for k in ann):
                attrs = ann.get("alb.ingress.kubernetes.io/load-balancer-attributes", "")
                m = re.search(r"idle_timeout\.timeout_seconds=(\d+)", attrs)
                if m:
                    out.append(LoadBalancer("aws-alb", int(m.group(1)), via,
                                            "annotation alb.ingress.kubernetes.io/load-balancer-attributes", d))
                else:
                    out.append(LoadBalancer("aws-alb", defaults["aws-alb"], via, "AWS ALB default", d))
            elif cls in ("gce", "gce-internal"):
                out.append(LoadBalancer("gcp", defaults["gcp"], via, "GCP Application Load Balancer keepalive", d))
            elif "nginx" in cls:
                out.append(LoadBalancer("nginx", defaults["nginx"], via,
                                        "ingress-nginx upstream-keepalive-timeout default", d))
        elif obj.get("kind") == "Service" and d in services and _dig(obj, ("spec", "type")) == "LoadBalancer":
            via = _ref(obj) + " (type LoadBalancer)"
            lb_type = ann.get("service.beta.kubernetes.io/aws-load-balancer-type", "")
            idle = ann.get("service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout")
            if own is not None and (ms := duration_ms(own)) is not None:
                out.append(LoadBalancer("annotated", -(-ms // 1000), via, f"annotation {ANNOTATION}lb-idle-timeout", d))
            elif lb_type in ("nlb", "external", "nlb-ip"):
                continue  # layer 4: clients' connections reach the pods, nothing pools them
            elif idle is not None and idle.strip().isdigit():
                src = "annotation service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout"
                out.append(LoadBalancer("aws-elb", int(idle), via, src, d))
            elif any(k.startswith("service.beta.kubernetes.io/aws-load-balancer") for k in ann):
                out.append(LoadBalancer("aws-elb", defaults["aws-elb"], via, "AWS Classic Load Balancer default", d))
    return out
