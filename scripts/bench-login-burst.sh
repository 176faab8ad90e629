#!/usr/bin/env bash
# Usage: scripts/bench-login-burst.sh BINARY PORT — the embedded server, 1000 logins 32
# at a time (curl; issue #14 "bounded memory").
# Prints RSS before/after (KiB), the median of 20 lone logins and of the burst's logins.
set -euo pipefail
bin=$1; port=$2
pw='correct horse battery staple 9'
AGORA_BIND=127.0.0.1:$port AGORA_BOOTSTRAP_ADMIN=root:root@example.org \
AGORA_BOOTSTRAP_ADMIN_PASSWORD="$pw" AGORA_LOGIN_MAX_FAILURES=1000000 RUST_LOG=error \
  "$bin" serve >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.1; done
body="{\"login\":\"root\",\"password\":\"$pw\"}"
login() { curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST "localhost:$port/api/users/login/" -H 'content-type: application/json' -d "$body"; }
export -f login; export port body
for _ in $(seq 1 20); do login; done > /tmp/lone.txt
rss0=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
seq 1 1000 | xargs -P 32 -I{} bash -c login > /tmp/burst.txt
rss1=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
med() { awk '{print $2}' "$1" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "codes: $(awk '{print $1}' /tmp/burst.txt | sort | uniq -c | tr '\n' ' ')"
echo "rss_before_kib=$rss0 rss_after_kib=$rss1 growth_mib=$(( (rss1-rss0)/1024 ))"
echo "lone_login_median_s=$(med /tmp/lone.txt) burst_login_median_s=$(med /tmp/burst.txt)"
