#!/usr/bin/env bash
# Install everything the suite needs (Python deps, Go modules, tools), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Never stops the suite: a tool it cannot provide is listed in .tools/unavailable and its tests are skipped.
if [ -f scripts/tools.sh ] && ! bash scripts/tools.sh; then
  echo "warning: scripts/tools.sh failed; tests needing its tools are skipped or fail" >&2
fi
export PATH="$PWD/.tools/bin:$PATH"
bash scripts/lint.sh
echo "==> pytest" >&2
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests; the suite must run tests" >&2
  exit 1
fi
exit "$rc"
