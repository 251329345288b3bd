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
# Known breaks, each already undone by a later commit (listed so the history stays checkable;
# never add one that is not undone):
# - 40130a1c299f (merge of mounts) retyped CapacityGroupStatus field 15 from LicenseCheck to
#   Preflight. The next proto version restores LicenseCheck license_check = 15 (deprecated)
#   and moves Preflight to field 20; that version is checked against the one before the break.
known_breaks=(40130a1c299ffde53be14739903d079e2d835ad5)
for ((i = 1; i < ${#commits[@]}; i++)); do
  prev=${commits[$((i - 1))]} cur=${commits[$i]}
  for known in "${known_breaks[@]}"; do
    if [ "$cur" = "$known" ]; then
      echo "buf breaking: ${cur:0:12} is a known break, undone later; skipped"
      # The version after it is compared with the one before it.
      commits[$i]=$prev
      continue 2
    fi
  done
  tmp=$(mktemp -d)
  git archive "$cur" proto | tar -x -C "$tmp"
  "$buf" breaking "$tmp/proto" --against ".git#ref=$prev,subdir=proto"
  rm -rf "$tmp"
done
# The working tree too, when it differs from the last commit.
# (against the last version checked, which is the one before a known break when HEAD is one).
last=${commits[$((${#commits[@]} - 1))]}
if ! git diff --quiet HEAD -- proto; then "$buf" breaking proto --against ".git#ref=$last,subdir=proto"; fi
echo "buf breaking: ${#commits[@]} versions of proto/ checked pairwise, no breaking change"
