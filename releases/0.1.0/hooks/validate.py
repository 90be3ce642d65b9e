"""Validators for single answers: each returns an error message, or "" when the value is fine."""

from __future__ import annotations

import re

_DNS1123_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_MODULE_ELEM = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9._~]*$")
_GO_VERSION = re.compile(r"^1\.(\d+)(\.\d+)?$")
_OWNER = re.compile(r"^@?[A-Za-z0-9][-A-Za-z0-9_.]*(/[A-Za-z0-9][-A-Za-z0-9_.]*)?$")

#: Lowest Go minor version the generated code supports: the oldest supported Go release, and the
#: go line its pinned modules (OpenTelemetry, contrib propagators) require.
MIN_GO_MINOR = 26
#: Highest Go minor version the template is known to work with (the newest Go release).
MAX_GO_MINOR = 27


def service_name(value: object) -> str:
    """Return why `value` is not a DNS-1123 label of at most 63 characters."""
    s = str(value)
    if not s:
        return "service_name must not be empty"
    if len(s) > 63:
        return f"service_name must be at most 63 characters (DNS-1123 label), got {len(s)}"
    if not _DNS1123_LABEL.match(s):
        return (
            f"service_name {s!r} must be a DNS-1123 label: lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return ""


def module_path(value: object) -> str:
    """Return why `value` is not a usable Go module path."""
    s = str(value)
    if not s:
        return "module_path must not be empty"
    if s != s.strip() or any(c.isspace() for c in s):
        return f"module_path {s!r} must not contain whitespace"
    if s.startswith("/") or s.endswith("/") or "//" in s:
        return f"module_path {s!r} must be slash-separated elements with no empty element"
    for elem in s.split("/"):
        if not _MODULE_ELEM.match(elem) or elem.endswith(".") or elem in {".", ".."}:
            return (
                f"module_path element {elem!r} is invalid: use letters, digits and '-._~', "
                "starting with a letter or digit"
            )
    first = s.split("/")[0]
    if first != first.lower():
        return f"module_path {s!r}: the first element (a host name) must be lowercase"
    return ""


def go_version(value: object) -> str:
    """Return why `value` is not a supported Go version (1.MINOR or 1.MINOR.PATCH)."""
    s = str(value)
    m = _GO_VERSION.match(s)
    if not m:
        return f"go_version {s!r} must look like 1.26 or 1.26.3"
    minor = int(m.group(1))
    if not MIN_GO_MINOR <= minor <= MAX_GO_MINOR:
        return f"go_version {s!r} must be between 1.{MIN_GO_MINOR} and 1.{MAX_GO_MINOR}"
    return ""


def port(value: object, field: str = "port") -> str:
    """Return why `value` is not a TCP port a non-root container can bind (1024-65535)."""
    try:
        n = int(str(value))
    except ValueError:
        return f"{field} {value!r} must be an integer"
    if str(n) != str(value).strip():
        return f"{field} {value!r} must be an integer"
    if not 1024 <= n <= 65535:
        return f"{field} must be between 1024 and 65535 (non-root containers cannot bind below 1024), got {n}"
    return ""


def distinct_ports(http_port: object, admin_port: object) -> str:
    """Return why the app and admin ports clash."""
    if str(http_port) == str(admin_port):
        return f"admin_port must differ from http_port (both {http_port})"
    return ""


def owner(value: object) -> str:
    """Return why `value` is not a team or user handle (e.g. @org/team or platform-team)."""
    s = str(value)
    if not s:
        return "owner must not be empty"
    if not _OWNER.match(s):
        return f"owner {s!r} must be a handle like @my-org/my-team or platform-team"
    return ""


def description(value: object) -> str:
    """Return why `value` is not a one-line description."""
    s = str(value)
    if not s.strip():
        return "description must not be empty"
    if "\n" in s or len(s) > 200:
        return "description must be one line of at most 200 characters"
    if '"' in s or "\\" in s:
        return "description must not contain double quotes or backslashes"
    return ""


#: Licenses the generated repository can ship (conditional LICENSE files); "none" ships no LICENSE.
LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "none")
#: Dependency update bots the generated repository can be configured for.
DEPENDENCY_BOTS = ("dependabot", "renovate")
_REGISTRY_HOST = re.compile(r"^(localhost|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+)(:\d{1,5})?$")
_REGISTRY_PATH = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")


def license_id(value: object) -> str:
    """Return why `value` is not one of the supported license choices."""
    if str(value) not in LICENSES:
        return f"license {value!r} must be one of {', '.join(LICENSES)}"
    return ""


def dependency_bot(value: object) -> str:
    """Return why `value` is not a supported dependency update bot."""
    if str(value) not in DEPENDENCY_BOTS:
        return f"dependency_bot {value!r} must be one of {', '.join(DEPENDENCY_BOTS)}"
    return ""


def container_registry(value: object) -> str:
    """Return why `value` is not a registry prefix like ghcr.io/acme (host[:port][/namespace...], no tag)."""
    s = str(value)
    if not s:
        return "container_registry must not be empty"
    if s != s.lower():
        return f"container_registry {s!r} must be lowercase (image references are)"
    host, _, rest = s.partition("/")
    if not _REGISTRY_HOST.match(host):
        return (
            f"container_registry {s!r} must start with a registry host such as ghcr.io, "
            "registry.example.com:5000 or localhost:5000"
        )
    if rest and not all(_REGISTRY_PATH.match(part) for part in rest.split("/")):
        return (
            f"container_registry {s!r}: each path element must be lowercase letters and digits "
            "separated by '.', '_' or '-' (no tag, no trailing '/')"
        )
    return ""


def copyright_holder(value: object) -> str:
    """Return why `value` is not a one-line copyright holder name."""
    s = str(value)
    if not s.strip():
        return "copyright_holder must not be empty"
    if len(s) > 120 or any(not c.isprintable() for c in s):
        return "copyright_holder must be one printable line of at most 120 characters"
    return ""


#: Field name -> validator for every answer that a single-value rule checks.
FIELDS = {
    "service_name": service_name,
    "module_path": module_path,
    "description": description,
    "go_version": go_version,
    "http_port": lambda v: port(v, "http_port"),
    "admin_port": lambda v: port(v, "admin_port"),
    "owner": owner,
    "license": license_id,
    "dependency_bot": dependency_bot,
    "container_registry": container_registry,
    "copyright_holder": copyright_holder,
}

# RESOURCES AND TIMING answers: their validators live next to the tuning rules that read them.
from .tuning import FIELDS as _TUNING_FIELDS  # noqa: E402
from .tuning import _boolean  # noqa: E402

FIELDS.update(_TUNING_FIELDS)
# Yes/no answers: `--data hot_reload=maybe` must be refused, not read as true.
FIELDS.update({name: _boolean(name) for name in ("b3_propagation", "hot_reload", "network_policy", "service_monitor")})


def check(field: str, value: object) -> str:
    """Return the error message for `field` = `value`, or "" when valid or when no rule applies."""
    rule = FIELDS.get(field)
    return rule(value) if rule else ""


def check_answers(answers: dict[str, object]) -> list[str]:
    """Return every single-field and cross-field error in `answers`."""
    errors = [msg for field, value in answers.items() if (msg := check(field, value))]
    if "http_port" in answers and "admin_port" in answers and (
        msg := distinct_ports(answers["http_port"], answers["admin_port"])
    ):
        errors.append(msg)
    return errors
