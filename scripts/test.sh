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
# Two pytest-xdist workers by default, one test module each at a time (--dist loadfile keeps a module's
# fixtures in one process; rendered projects and binaries are shared between workers through
# tests/conftest.py's `rendered`). Much of the suite waits on processes, servers and timers, so two
# workers finish sooner than one even on 2 cores. GOSMITH_TEST_WORKERS=0 runs serially; a `-n` given
# as an argument wins.
workers=${GOSMITH_TEST_WORKERS:-2}
xdist=()
if [ "$workers" != 0 ]; then
  xdist=(-n "$workers" --dist loadfile)
fi
echo "==> pytest (${workers/#0/no} xdist workers)" >&2
set +e
.venv/bin/python -m pytest "${xdist[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests; the suite must run tests" >&2
  exit 1
fi
exit "$rc"
