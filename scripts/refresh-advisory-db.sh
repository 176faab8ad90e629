#!/usr/bin/env bash
# Refreshes deny/advisory-db, the vendored snapshot of the RustSec advisory database
# (rustsec/advisory-db, CC0-1.0) that `make deny` checks Cargo.lock against. CI has no
# access to the database's git host, so the advisories it needs travel with the code.
#
#   scripts/refresh-advisory-db.sh <advisory-db repository: a checkout or a bare git dir>
#
# Keeps the advisories of every crate named in Cargo.lock (all versions: cargo-deny
# matches the versions) and records in deny/advisory-db/SNAPSHOT the source commit, its
# date (cargo-deny's staleness limit counts from it) and the crate names it was cut
# for; scripts/cargo-deny.sh fails when Cargo.lock names a crate not in that list, so a
# new dependency cannot dodge the advisories. Run it after adding a dependency, and at
# least every `maximum-db-staleness` (deny.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: scripts/refresh-advisory-db.sh <advisory-db checkout or git dir>}
git -C "$src" rev-parse --verify -q HEAD >/dev/null || { echo "not a git repository: $src" >&2; exit 1; }
commit=$(git -C "$src" rev-parse HEAD)
date=$(git -C "$src" show -s --format=%cI HEAD)
git -C "$src" cat-file -e HEAD:crates || { echo "no crates/ in $src at HEAD" >&2; exit 1; }

out=deny/advisory-db
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t crates < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u)
mkdir -p "$tmp/crates"
kept=0
for c in "${crates[@]}"; do
  if git -C "$src" cat-file -e "HEAD:crates/$c" 2>/dev/null; then
    git -C "$src" archive HEAD "crates/$c" | tar -x -C "$tmp"
    kept=$((kept + 1))
  fi
done
git -C "$src" show HEAD:LICENSE.txt >"$tmp/LICENSE.txt"
{
  echo "# Vendored RustSec advisory-db snapshot: written by scripts/refresh-advisory-db.sh."
  echo "commit $commit"
  echo "date $date"
  echo "# Crate names of Cargo.lock this snapshot was cut for (advisories kept for $kept):"
  printf 'crate %s\n' "${crates[@]}"
} >"$tmp/SNAPSHOT"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$tmp" "$out"
chmod -R u+rwX,go+rX "$out"
n=$(find "$out/crates" -name '*.md' | wc -l)
echo "deny/advisory-db: $n advisories for $kept of ${#crates[@]} crates, from $commit ($date)"
