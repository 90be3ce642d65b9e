#!/usr/bin/env bash
# The one lint step (`make lint`, and scripts/test.sh before pytest): ruff over every Python path, mypy over the package.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> ruff" >&2
.venv/bin/ruff check src hooks tests scripts benchmarks
echo "==> mypy" >&2
.venv/bin/mypy
