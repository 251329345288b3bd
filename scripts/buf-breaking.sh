#!/usr/bin/env bash
# `buf breaking` for the wire contract: every version of proto/ committed on this branch
# on its first-parent line is checked against the version before it (a merge against the branch it merged into), so no commit ever broke spillway.v1 wire or
# source compatibility (FILE rules). The first version has nothing to compare with.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=node_modules/.bin/buf
mapfile -t commits < <(git log --first-parent --format=%H --reverse -- proto)
if [ "${#commits[@]}" -lt 2 ]; then
  echo "buf breaking: ${#commits[@]} version(s) of proto/ so far; nothing to compare yet"
  exit 0
fi
for ((i = 1; i < ${#commits[@]}; i++)); do
  prev=${commits[$((i - 1))]} cur=${commits[$i]}
  tmp=$(mktemp -d)
  git archive "$cur" proto | tar -x -C "$tmp"
  "$buf" breaking "$tmp/proto" --against ".git#ref=$prev,subdir=proto"
  rm -rf "$tmp"
done
# The working tree too, when it differs from the last commit.
if ! git diff --quiet HEAD -- proto; then "$buf" breaking proto --against ".git#ref=HEAD,subdir=proto"; fi
echo "buf breaking: ${#commits[@]} versions of proto/ checked pairwise, no breaking change"
