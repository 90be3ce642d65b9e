"""gosmith: generate production-grade Go HTTP services for Kubernetes and keep them current."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gosmith")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
