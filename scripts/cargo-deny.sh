#!/usr/bin/env bash
# cargo deny check: advisories, licences, bans and sources (rules and every exception,
# with its reason, in deny.toml). The advisory database comes from the vendored
# snapshot deny/advisory-db (scripts/refresh-advisory-db.sh), not the network: CI cannot
# reach the database's git host. cargo-deny wants a git repository, dated by its fetch,
# so this builds one under target/advisory-dbs dated at the snapshot's commit; deny.toml's
# maximum-db-staleness then counts from the snapshot, and an old one fails the check.
# Without cargo-deny it skips loudly, except under CI=true, where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v cargo-deny >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "ERROR: CI=true but cargo-deny is not installed (cargo install cargo-deny --locked)" >&2
    exit 1
  fi
  echo "########## SKIPPING cargo deny: not installed (cargo install cargo-deny --locked) ##########" >&2
  exit 0
fi

snapshot=deny/advisory-db
date=$(sed -n 's/^date //p' "$snapshot/SNAPSHOT")
commit=$(sed -n 's/^commit //p' "$snapshot/SNAPSHOT")

# A crate the snapshot was not cut for would be checked against no advisories at all.
uncovered=$(comm -23 <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u) \
  <(sed -n 's/^crate //p' "$snapshot/SNAPSHOT" | sort -u))
if [ -n "$uncovered" ]; then
  echo "cargo deny FAILED: the advisory snapshot was not cut for these crates of Cargo.lock:" >&2
  echo "$uncovered" | sed 's/^/  /' >&2
  echo "Refresh it: scripts/refresh-advisory-db.sh <advisory-db checkout> (see deny.toml)" >&2
  exit 1
fi

# The directory cargo-deny 0.20 derives from deny.toml's db-urls entry (a hash of the
# URL); a cargo-deny that names it otherwise fails loudly with "failed to open".
db=target/advisory-dbs/advisory-db-3157b0e258782691
rm -rf "$db"
mkdir -p "$db"
cp -r "$snapshot/crates" "$db/crates"
(
  cd "$db"
  export GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" GIT_AUTHOR_NAME=snapshot \
    GIT_AUTHOR_EMAIL=snapshot@localhost GIT_COMMITTER_NAME=snapshot \
    GIT_COMMITTER_EMAIL=snapshot@localhost
  git init -q -b main .
  git add -A
  git commit -q --no-gpg-sign -m "advisory-db snapshot $commit"
  # cargo-deny dates a database by FETCH_HEAD's mtime: the snapshot's, not today's.
  echo "$commit		branch 'main' of advisory-db" >.git/FETCH_HEAD
  touch -d "$date" .git/FETCH_HEAD .git/HEAD
)

# Crate sources must be present for `cargo metadata` under --frozen (crates.io is a
# package registry CI reaches); the advisory database is never fetched.
cargo fetch --locked -q
# The full report (every duplicate with its inclusion graph) goes to a file; the summary
# is printed, and the whole report when something fails.
log=target/cargo-deny.log
if ! cargo deny --frozen --color never check --show-stats advisories licenses bans sources \
  >"$log" 2>&1; then
  cat "$log" >&2
  echo "cargo deny FAILED (report above, also in $log)" >&2
  exit 1
fi
grep -E '^ *(advisories|bans|licenses|sources) ' "$log"
echo "cargo deny: advisories (snapshot of ${date%%T*}), licences, bans, sources ok (report: $log)"
