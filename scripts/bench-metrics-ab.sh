#!/bin/bash
# Request path cost, two release builds of api-server in the same run (docs/benchmarks.md):
#   scripts/bench-metrics-ab.sh OLD_BINARY NEW_BINARY
# Memory mode, RUST_LOG=warn; old and new alternate, 3 runs each per route. Needs wrk.
set -u
declare -A bin=([old]="$1" [new]="$2")
wrk_out=$(mktemp)
for route in /healthz /api/users/me/; do
  for i in 1 2 3; do
    for build in old new; do
      port=$((18300 + RANDOM % 500))
      AGORA_BIND=127.0.0.1:$port RUST_LOG=warn AGORA_LOG_FORMAT=json "${bin[$build]}" serve > /dev/null 2>&1 &
      pid=$!
      for _ in $(seq 50); do curl -s -o /dev/null "127.0.0.1:$port/healthz" && break; sleep 0.2; done
      wrk -t2 -c16 -d10s --latency "http://127.0.0.1:$port$route" > "$wrk_out" 2>&1
      rps=$(awk '/Requests\/sec/ {print $2}' "$wrk_out")
      p50=$(awk '$1=="50%" {print $2; exit}' "$wrk_out")
      echo "$route $build run$i rps=$rps p50=$p50"
      kill "$pid"; wait "$pid" 2>/dev/null
    done
  done
done
rm -f "$wrk_out"
