#!/usr/bin/env bash
# Schema drift: migrates a throwaway database with diesel_cli (diesel.toml at the root
# names the migrations and the schema file) and compares what `diesel print-schema`
# prints with the committed crates/adapter-postgres/src/schema.rs. Any difference fails:
# a column's type or nullability, a table, a primary key, a join, the column order.
# The check must use the diesel_cli of the diesel in Cargo.lock (print-schema's output
# changes between versions); .ci/run installs it. Without diesel_cli or PostgreSQL it
# skips loudly, except under CI=true, where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

skip_or_fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "ERROR: CI=true but the schema drift check cannot run: $1" >&2
    exit 1
  fi
  echo "########## SKIPPING schema drift check: $1 ##########" >&2
  exit 0
}

want=$(sed -n '/^name = "diesel"$/{n;s/^version = "\(.*\)"$/\1/p;}' Cargo.lock)
command -v diesel >/dev/null 2>&1 \
  || skip_or_fail "diesel_cli not installed (cargo install diesel_cli --no-default-features --features postgres --locked --version $want)"
have=$(diesel --version | sed -n 's/^ *Version: *//p')
[ "$have" = "$want" ] \
  || skip_or_fail "diesel_cli $have installed, Cargo.lock has diesel $want (cargo install diesel_cli --no-default-features --features postgres --locked --force --version $want)"

server=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
command -v psql >/dev/null 2>&1 || skip_or_fail "psql not installed (apt-get install postgresql-client)"
psql "$server" -qtAc 'SELECT 1' >/dev/null 2>&1 || skip_or_fail "PostgreSQL not reachable at $server"

db="agora_schema_drift_$$"
url="${server%/*}/$db"
printed=$(mktemp); log=$(mktemp)
cleanup() {
  psql "$server" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -f "$printed" "$log"
}
trap cleanup EXIT
psql "$server" -qc "CREATE DATABASE $db" >/dev/null

# --locked-schema: diesel.toml names schema.rs, which `migration run` would otherwise
# rewrite — hiding the very drift this check looks for.
migrated=true
diesel migration run --locked-schema --database-url "$url" >"$log" 2>&1 || migrated=false
diesel print-schema --database-url "$url" >"$printed"

if ! diff -u --label "crates/adapter-postgres/src/schema.rs (committed)" \
  --label "diesel print-schema (migrations/ applied)" \
  crates/adapter-postgres/src/schema.rs "$printed"; then
  echo "schema drift check FAILED: schema.rs differs from what the migrations create." >&2
  echo "Fix the migration, or regenerate schema.rs from a migrated database:" >&2
  echo "  diesel print-schema --database-url postgres://…/<migrated db> > crates/adapter-postgres/src/schema.rs" >&2
  exit 1
fi
if [ "$migrated" != true ]; then
  cat "$log" >&2
  echo "schema drift check FAILED: diesel migration run failed" >&2
  exit 1
fi
tables=$(grep -c '^diesel::table!' crates/adapter-postgres/src/schema.rs)
echo "schema drift check: schema.rs equals diesel print-schema ($tables tables, diesel_cli $have)"
