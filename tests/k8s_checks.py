"""Cross-object checks of rendered Kubernetes manifests: each function returns a list of problems."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


def by_kind(objs: Iterable[Obj], kind: str) -> list[Obj]:
    """Return the objects of `kind`."""
    return [o for o in objs if o.get("kind") == kind]


def one(objs: Iterable[Obj], kind: str) -> Obj:
    """Return the single object of `kind`; fail when there is not exactly one."""
    found = by_kind(objs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    """Return whether a LabelSelector (matchLabels and matchExpressions) selects `labels`."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_template(deploy: Obj) -> Obj:
    """Return the pod template of a Deployment."""
    return deploy["spec"]["template"]


def container_ports(pod_spec: Obj) -> dict[str, int]:
    """Return name -> containerPort over all containers of a pod spec."""
    return {p["name"]: p["containerPort"] for c in pod_spec["containers"] for p in c.get("ports", []) if "name" in p}


def env_of(container: Obj) -> dict[str, Any]:
    """Return the env of a container as name -> value (or the valueFrom dict)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def check_service_selects_pods(objs: list[Obj]) -> list[str]:
    """Service selector equals the selector labels and selects the pods; targetPorts exist on them."""
    problems: list[str] = []
    deploy = one(objs, "Deployment")
    tpl = pod_template(deploy)
    pod_labels = tpl["metadata"]["labels"]
    ports = container_ports(tpl["spec"])
    for svc in by_kind(objs, "Service"):
        sel = svc["spec"].get("selector") or {}
        if sel != deploy["spec"]["selector"]["matchLabels"]:
            problems.append(f"Service selector {sel} != Deployment selector {deploy['spec']['selector']}")
        if not sel or not selects({"matchLabels": sel}, pod_labels):
            problems.append(f"Service selector {sel} does not select the pod labels {pod_labels}")
        for p in svc["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            if isinstance(tp, str) and tp not in ports:
                problems.append(f"Service port {p['name']} targets {tp!r}, not a container port name {sorted(ports)}")
            if isinstance(tp, int) and tp not in ports.values():
                problems.append(f"Service port {p['name']} targets {tp}, not a container port {sorted(ports.values())}")
    if not selects(deploy["spec"]["selector"], pod_labels):
        problems.append("Deployment selector does not select its own pod template")
    if set(deploy["spec"]["selector"]["matchLabels"]) != {"app.kubernetes.io/name", "app.kubernetes.io/instance"}:
        problems.append(f"selector must use name+instance only: {deploy['spec']['selector']}")
    return problems


def check_selectors_exact(objs: list[Obj]) -> list[str]:
    """NetworkPolicy, PodDisruptionBudget, topology spread and ServiceMonitor selectors equal the
    Deployment's name+instance selector, so they match this release only (not a sibling release)."""
    problems: list[str] = []
    deploy = one(objs, "Deployment")
    want = {"matchLabels": deploy["spec"]["selector"]["matchLabels"]}
    pod_labels = pod_template(deploy)["metadata"]["labels"]
    sibling = {**pod_labels, "app.kubernetes.io/instance": pod_labels.get("app.kubernetes.io/instance", "") + "-other"}
    selectors = [(f"NetworkPolicy {p['metadata']['name']} podSelector", p["spec"]["podSelector"])
                 for p in by_kind(objs, "NetworkPolicy")]
    selectors += [(f"PodDisruptionBudget {p['metadata']['name']} selector", p["spec"]["selector"])
                   for p in by_kind(objs, "PodDisruptionBudget")]
    selectors += [("topologySpreadConstraints labelSelector", t.get("labelSelector"))
                  for t in pod_template(deploy)["spec"].get("topologySpreadConstraints") or []]
    selectors += [(f"ServiceMonitor {s['metadata']['name']} selector", s["spec"]["selector"])
                  for s in by_kind(objs, "ServiceMonitor")]
    for where, sel in selectors:
        if sel != want:
            problems.append(f"{where} {sel} != {want}")
        if selects(sel, sibling):
            problems.append(f"{where} also matches another release's labels {sibling}")
    for sm in by_kind(objs, "ServiceMonitor"):
        ns = sm["spec"].get("namespaceSelector") or {}
        if ns.get("any") or len(ns.get("matchNames") or []) > 1:
            problems.append(f"ServiceMonitor {sm['metadata']['name']} looks beyond the release namespace: {ns}")
    return problems


def check_servicemonitor(objs: list[Obj], metrics_port_name: str = "metrics") -> list[str]:
    """Each ServiceMonitor scrapes exactly one of this release's Services: the one with the metrics port
    (a NodePort/LoadBalancer Service that it also selects publishes no metrics port, so yields no target)."""
    problems: list[str] = []
    services = by_kind(objs, "Service")
    for sm in by_kind(objs, "ServiceMonitor"):
        sel = sm["spec"]["selector"]
        matched = [s for s in services if selects(sel, s["metadata"].get("labels") or {})
                   and any(p["name"] == metrics_port_name for p in s["spec"]["ports"])]
        if len(matched) != 1:
            problems.append(f"ServiceMonitor selects {len(matched)} Services with port {metrics_port_name!r}, "
                            "want exactly 1")
            continue
        svc = matched[0]
        names = {p["name"] for p in svc["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") not in names:
                problems.append(f"ServiceMonitor endpoint port {ep.get('port')!r} not in Service ports {sorted(names)}")
            if ep.get("port") != metrics_port_name:
                problems.append(f"ServiceMonitor scrapes port {ep.get('port')!r}, want {metrics_port_name!r}")
            interval, timeout = ep.get("interval"), ep.get("scrapeTimeout")
            if interval and timeout and prom_duration_ms(timeout) >= prom_duration_ms(interval):
                problems.append(f"scrapeTimeout {timeout} is not shorter than interval {interval}")
        # Other pods of the release (the helm test pod) must not look like the Service.
        for pod in by_kind(objs, "Pod"):
            if selects(sel, pod["metadata"].get("labels") or {}):
                problems.append(f"ServiceMonitor selector also matches pod {pod['metadata']['name']}")
    return problems


def prom_duration_ms(value: str) -> int:
    """Return the milliseconds of a Prometheus duration such as 1m30s or 500ms."""
    units = [("ms", 1), ("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000),
             ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
    total, rest = 0, value
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if digits == 0:
            raise ValueError(f"bad duration {value!r}")
        n, rest = int(rest[:digits]), rest[digits:]
        for suffix, scale in units:
            if rest.startswith(suffix):
                total, rest = total + n * scale, rest[len(suffix):]
                break
        else:
            raise ValueError(f"bad duration {value!r}")
    return total


@dataclass
class Peer:
    """A traffic peer: a pod (namespace + labels) or an IP address outside the cluster."""

    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    ip: str = ""

    def namespace_labels(self) -> dict[str, str]:
        """Labels of the peer's namespace (the automatic kubernetes.io/metadata.name label)."""
        return {"kubernetes.io/metadata.name": self.namespace}


def _peer_matches(rule_peer: Obj, peer: Peer, policy_ns: str) -> bool:
    if "ipBlock" in rule_peer:
        if not peer.ip:
            return False
        block = rule_peer["ipBlock"]
        addr = ipaddress.ip_address(peer.ip)
        if addr not in ipaddress.ip_network(block["cidr"]):
            return False
        return all(addr not in ipaddress.ip_network(e) for e in block.get("except") or [])
    if peer.ip:
        return False
    ns_sel, pod_sel = rule_peer.get("namespaceSelector"), rule_peer.get("podSelector")
    ns_ok = selects(ns_sel, peer.namespace_labels()) if ns_sel is not None else peer.namespace == policy_ns
    pod_ok = selects(pod_sel, peer.labels) if pod_sel is not None else True
    return ns_ok and pod_ok


def _port_matches(rule_ports: list[Obj] | None, port: int, protocol: str, named: dict[str, int]) -> bool:
    if not rule_ports:
        return True
    for rp in rule_ports:
        if rp.get("protocol", "TCP") != protocol:
            continue
        p = rp.get("port")
        if p is None:
            return True
        number = named.get(p) if isinstance(p, str) else p
        if number is None:
            continue
        if number <= port <= rp.get("endPort", number):
            return True
    return False


def np_allows(
    policies: list[Obj], pod_ns: str, pod_labels: dict[str, str], named_ports: dict[str, int],
    direction: str, peer: Peer, port: int, protocol: str = "TCP",
) -> bool:
    """Return whether NetworkPolicies allow traffic between the pod and `peer` on `port`.

    direction "Ingress": peer -> pod (named ports resolve on the pod); "Egress": pod -> peer
    (only numeric ports, as the peer's names are unknown). Pods no policy selects allow everything.
    """
    relevant = [
        p for p in policies
        if p["metadata"].get("namespace", pod_ns) == pod_ns
        and selects(p["spec"]["podSelector"], pod_labels)
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not relevant:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    names = named_ports if direction == "Ingress" else {}
    for pol in relevant:
        for rule in pol["spec"].get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(rp, peer, pod_ns) for rp in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol, names):
                return True
    return False


#: Pod Security Standard "restricted" volume types.
_RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                       "projected", "secret"}


def check_restricted_pss(pod_spec: Obj, where: str) -> list[str]:
    """Return the violations of the Pod Security Standard "restricted" profile (v1.37 rules)."""
    problems: list[str] = []
    psc = pod_spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            problems.append(f"{where}: {flag} is set")
    for vol in pod_spec.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            problems.append(f"{where}: volume {vol['name']} uses {sorted(kinds - _RESTRICTED_VOLUMES)}")
    if psc.get("runAsUser") == 0:
        problems.append(f"{where}: pod runAsUser 0")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    containers = (pod_spec.get("initContainers") or []) + pod_spec["containers"]
    for c in containers:
        name = f"{where}/{c['name']}"
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{name}: capabilities must drop ALL")
        if set((sc.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities beyond NET_BIND_SERVICE")
        if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot must be true")
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if not isinstance(uid, int) or uid == 0:
            problems.append(f"{name}: needs a numeric non-zero runAsUser (distroless USER nonroot is not numeric)")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost, got {seccomp}")
        if not sc.get("readOnlyRootFilesystem"):
            problems.append(f"{name}: readOnlyRootFilesystem must be true (house rule)")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    if pod_spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken must be false")
    return problems


def check_probes(deploy: Obj, admin_port: int) -> list[str]:
    """Probes of the service container (the first; sidecars have their own) hit /livez and /readyz on a
    named container port that is the admin port."""
    problems: list[str] = []
    spec = pod_template(deploy)["spec"]
    ports = container_ports(spec)
    want = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
    for c in spec["containers"][:1]:
        for probe, path in want.items():
            get = (c.get(probe) or {}).get("httpGet")
            if not get:
                problems.append(f"{c['name']}: no {probe} httpGet")
                continue
            if get.get("path") != path:
                problems.append(f"{c['name']}: {probe} path {get.get('path')} != {path}")
            port = ports.get(get["port"]) if isinstance(get["port"], str) else get["port"]
            if port != admin_port:
                problems.append(f"{c['name']}: {probe} port {get['port']} resolves to {port}, not admin {admin_port}")
    return problems


def check_ports_match_config(deploy: Obj, http_port: int, admin_port: int) -> list[str]:
    """Container ports and the HTTP_ADDR/ADMIN_ADDR env are the app/admin ports of the Go config."""
    problems: list[str] = []
    c = pod_template(deploy)["spec"]["containers"][0]
    ports = container_ports({"containers": [c]})  # the service container's (sidecars bring their own)
    if ports != {"http": http_port, "metrics": admin_port}:
        problems.append(f"container ports {ports} != http {http_port}, metrics {admin_port}")
    env = env_of(c)
    for var, port in (("HTTP_ADDR", http_port), ("ADMIN_ADDR", admin_port)):
        if env.get(var) != f":{port}":
            problems.append(f"{var}={env.get(var)!r}, want ':{port}'")
    return problems


#: Kinds whose objects a rename would delete and recreate during `helm upgrade` (every pod at once, a new
#: ClusterIP and DNS name), and the immutable fields a `helm upgrade` cannot change in place.
IN_PLACE_KINDS = ("Deployment", "Service")
IMMUTABLE = {"Deployment": ("spec", "selector"), "Service": ("spec", "clusterIP")}


def check_upgrades_in_place(old: list[Obj], new: list[Obj]) -> list[str]:
    """Return why `helm upgrade` from the render `old` to the render `new` cannot replace the pods one by one:
    a workload or Service renamed or removed, or an immutable field changed."""
    problems = []
    for kind in IN_PLACE_KINDS:
        before = {o["metadata"]["name"]: o for o in by_kind(old, kind)}
        after = {o["metadata"]["name"]: o for o in by_kind(new, kind)}
        for name in sorted(before.keys() - after.keys()):
            problems.append(f"{kind}/{name} is gone (renamed: {sorted(after.keys() - before.keys())})")
        path = IMMUTABLE[kind]
        for name in sorted(before.keys() & after.keys()):
            was, now = before[name], after[name]
            for part in path:
                was, now = (was or {}).get(part), (now or {}).get(part)
            if was != now:
                problems.append(f"{kind}/{name} {'.'.join(path)} changed: {was} -> {now}")
    return problems
