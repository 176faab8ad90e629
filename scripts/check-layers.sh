#!/usr/bin/env bash
# Fails when a domain crate depends (directly or not) on infrastructure crates.
# Domain crates hold business rules and ports only; adapters and api-server do I/O.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for crate in $(ls crates | grep '^domain-'); do
  tree=$(cargo tree -q -p "$crate" -e normal --prefix none)
  for forbidden in actix-web actix-http actix-ws diesel diesel-async redis bb8 bb8-redis tokio-postgres; do
    if grep -qE "^${forbidden} v" <<<"$tree"; then
      echo "layering violation: $crate depends on $forbidden (run: cargo tree -p $crate -i $forbidden)" >&2
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "layers: domain crates are free of actix, diesel and redis"
exit $status
