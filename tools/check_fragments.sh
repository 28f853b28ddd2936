#!/usr/bin/env bash
# Fails when a commit since the last release changes plugins/ or roles/ without adding or changing a changelog
# fragment (changelogs/fragments/*.yml) in the same commit. A change users need not hear about adds a fragment with
# a `trivial:` section. antsibull-changelog itself does not look at git; this does, commit by commit, so that one
# fragment cannot excuse every later change.
#   tools/check_fragments.sh [--worktree]     # --worktree: also the uncommitted changes, as one more "commit"
# Base: the last commit that touched changelogs/changelog.yaml (the last release), or $FRAGMENT_BASE.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
base=${FRAGMENT_BASE:-$(git log -1 --format=%H -- changelogs/changelog.yaml)}
[ -n "$base" ] || { echo "check_fragments: no release recorded in changelogs/changelog.yaml" >&2; exit 2; }
range="$base..HEAD"
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then  # a shallow clone without the release: what it has
  echo "check_fragments: the release commit ${base:0:10} is not in this clone (shallow?): checking HEAD only" >&2
  range="HEAD^!"
fi
code_re='^[A-Z][0-9]*\s+(plugins|roles)/'
frag_re='^[AM]\s+changelogs/fragments/[^/]+\.ya?ml$'
bad=0
check() {  # $1 label; stdin: "STATUS<TAB>path" lines
  local files; files=$(cat)
  if grep -qE "$code_re" <<<"$files" && ! grep -qE "$frag_re" <<<"$files"; then
    echo "no changelog fragment: $1"; grep -E "$code_re" <<<"$files" | sed 's/^/    /'; bad=1
  fi
}
for c in $(git rev-list --no-merges --reverse "$range"); do
  check "$(git log -1 --format='%h %s' "$c")" < <(git diff-tree --no-commit-id -r --name-status "$c")
done
if [ "${1:-}" = --worktree ]; then
  check "uncommitted changes" < <(git diff --name-status HEAD; git ls-files --others --exclude-standard | sed 's/^/A\t/')
fi
[ "$bad" = 0 ] && echo "check_fragments: ok ($range)"
exit "$bad"
