#!/usr/bin/env bash
# Bring this repository to the newest gosmith template on a branch, ready for a pull request.
# Run weekly by .github/workflows/template-update.yml; works the same on a laptop:
#
#   bash scripts/template-update.sh [PROJECT_DIR]   # needs gosmith, git and a clean work tree
#
# 1. `gosmith check`: when the project is current, say so and stop (exit 0, nothing changed).
# 2. Otherwise, on branch gosmith/template-<version>, `gosmith update --conflict rej`. Where one of
#    this repository's own changes cannot be re-applied on top of the new template (gosmith update
#    exits 1 then), the file keeps the template's new version and the rejected hunk is listed in the
#    pull request body: neither conflict markers nor .rej files are committed.
# 3. Commit the result on that branch. The pull request body is written to $PR_BODY (default
#    .git/gosmith-pr-body.md); `behind`, `version`, `branch` and `conflicts` are printed as key=value
#    lines and appended to $GITHUB_OUTPUT when set.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
GOSMITH=${GOSMITH:-gosmith}
PR_BODY=${PR_BODY:-$(git rev-parse --absolute-git-dir)/gosmith-pr-body.md}
MAX_BODY=60000 # GitHub refuses pull request bodies above 65536 characters

output() {
  echo "$1=$2"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi
}

if [ -n "$(git status --porcelain)" ]; then
  echo "error: the work tree has uncommitted changes; commit or stash them first" >&2
  exit 2
fi

set +e
check=$("$GOSMITH" check --json .)
status=$?
set -e
case $status in
  0)
    echo "template is current: $check"
    output behind false
    exit 0
    ;;
  1) ;;
  *)
    echo "error: gosmith check failed (exit $status)" >&2
    exit "$status"
    ;;
esac
version=$(printf '%s' "$check" | python3 -c 'import json, sys; print(json.load(sys.stdin)["template_version"])')
branch="gosmith/template-$version"
git switch --quiet -C "$branch"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
"$GOSMITH" update --conflict rej . >"$log" 2>&1
status=$?
set -e
cat "$log"
if [ "$status" -gt 1 ]; then
  echo "error: gosmith update failed (exit $status)" >&2
  exit "$status"
fi

# Rejected hunks, plus (should an update ever leave them) files with conflict markers: listed, not committed.
mapfile -t rejects < <(find . -name '*.rej' -not -path './.git/*' | sed 's|^\./||' | sort)
mapfile -t marked < <(git grep -l -E '^(<<<<<<<|>>>>>>>) ' -- . || true)
conflicts=$((${#rejects[@]} + ${#marked[@]}))
if [ "$status" -eq 1 ] && [ "$conflicts" -eq 0 ]; then
  echo "error: gosmith update reported conflicts but left no .rej file or marker" >&2
  exit 1
fi

{
  echo "Updates this repository to gosmith template **$version** (\`gosmith update\`, run by \`scripts/template-update.sh\`)."
  echo
  echo '```'
  grep -v '^Resolve the conflicts' "$log" || true
  echo '```'
  echo
  if [ "$conflicts" -eq 0 ]; then
    echo "No conflicts: every template change applied cleanly next to this repository's own changes."
  else
    echo "## $conflicts conflict(s) to resolve on this branch"
    echo
    echo "This repository's own changes below could not be re-applied on top of the new template: in this"
    echo "branch these files hold the template's new version. Re-apply each hunk by hand on this branch"
    echo "(or run \`gosmith update\` locally and resolve the markers), commit, then merge."
    for rej in "${rejects[@]}"; do
      echo
      echo "### \`${rej%.rej}\`"
      echo
      echo '```diff'
      cat "$rej"
      echo '```'
    done
    for file in "${marked[@]}"; do
      echo
      echo "### \`$file\` (conflict markers; this file is left as it was)"
    done
  fi
} >"$PR_BODY"
if [ "$(wc -c <"$PR_BODY")" -gt "$MAX_BODY" ]; then
  head -c "$MAX_BODY" "$PR_BODY" >"$PR_BODY.cut"
  printf "\n\n... (cut: run \`bash scripts/template-update.sh\` locally for the whole list)\n" >>"$PR_BODY.cut"
  mv "$PR_BODY.cut" "$PR_BODY"
fi

for rej in "${rejects[@]}"; do rm -f -- "$rej"; done
for file in "${marked[@]}"; do git checkout --quiet HEAD -- "$file" 2>/dev/null || rm -f -- "$file"; done
git add --all
git commit --quiet --no-verify -m "Update to gosmith template $version" \
  -m "$conflicts conflict(s) listed in the pull request, not committed."
output behind true
output version "$version"
output branch "$branch"
output conflicts "$conflicts"
