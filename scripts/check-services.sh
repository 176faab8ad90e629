#!/usr/bin/env bash
# Reports whether PostgreSQL and Redis are reachable for the service-backed test suites.
# Outside CI a missing service is announced in one loud line (its suites then skip);
# with CI=true it is an error, so CI can never pass without running them.
set -uo pipefail
pg=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
rd=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
hostport() { # scheme://[user@]host:port/... -> host port
  local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}
  echo "${rest%%:*} ${rest##*:}"
}
missing=()
read -r h p < <(hostport "$pg"); (exec 3<>"/dev/tcp/$h/$p") 2>/dev/null || missing+=("PostgreSQL at $h:$p")
read -r h p < <(hostport "$rd"); (exec 3<>"/dev/tcp/$h/$p") 2>/dev/null || missing+=("Redis at $h:$p")
if [ ${#missing[@]} -eq 0 ]; then
  echo "services: PostgreSQL and Redis reachable; service-backed suites will run"
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "ERROR: CI=true but not reachable: ${missing[*]}" >&2
  exit 1
fi
echo "########## SKIPPING service-backed suites: not reachable: ${missing[*]} (apt-get install postgresql redis-server) ##########" >&2
exit 0
