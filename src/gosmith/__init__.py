"""gosmith: generate production-grade Go HTTP services for Kubernetes and keep them current."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """Return `__version__` when first asked for (package metadata is read then, not at every import)."""
    if name != "__version__":
        raise AttributeError(f"module 'gosmith' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("gosmith")
    except PackageNotFoundError:  # running from a source tree without an install
        found = "0.0.0"
    globals()["__version__"] = found
    return found
