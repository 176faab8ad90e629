#!/usr/bin/env bash
# Fuzzes every operation of the OpenAPI document with schemathesis, as a super admin and as
# a student, against a real `api-server serve` in memory mode and then on PostgreSQL + Redis.
# Fails on any server error, response that breaks its schema, undocumented status or
# content type, or valid-by-schema request that is refused (issue #11: the document must
# be exact, so clients and fuzzers can trust it).
#
#   scripts/schemathesis.sh            # both modes (the PostgreSQL mode needs the services)
#   FUZZ_MODES=memory scripts/schemathesis.sh
#
# Knobs (environment): FUZZ_MAX_EXAMPLES (cases per operation and phase, default 10:
# about 3 500 cases and a minute or two per run on 2 cores),
# FUZZ_WORKERS (default 2), FUZZ_SEED (reproduce a run), FUZZ_MODES ("memory postgres"),
# FUZZ_EXTRA (more schemathesis options, e.g. "--include-operation-id castVote"),
# TEST_DATABASE_URL / TEST_REDIS_URL (the services), CI (true: missing services fail).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

SCHEMATHESIS_VERSION=4.32.5
VENV="$ROOT/target/schemathesis-venv"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-10}"
WORKERS="${FUZZ_WORKERS:-2}"
MODES="${FUZZ_MODES:-memory postgres}"
DB_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
OUT="$ROOT/target/schemathesis"
REDIS_PREFIX="agora-fuzz-$$:"
mkdir -p "$OUT"

log() { printf 'fuzz: %s\n' "$*" >&2; }

# --- the fuzzer, in a virtual environment reused between runs -----------------------------
if [[ ! -x "$VENV/bin/schemathesis" ]] \
    || [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
ST="$VENV/bin/schemathesis"

# --- the server ---------------------------------------------------------------------------
log "building api-server"
cargo build --quiet -p api-server
BIN="$ROOT/target/debug/api-server"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ADMIN_USER=fuzzadmin
ADMIN_PASSWORD="fuzzing admin passphrase $RANDOM$RANDOM"
STUDENT_USER=fuzzstudent
STUDENT_PASSWORD="fuzzing student passphrase $RANDOM$RANDOM"

SERVER_PID=""
DB_NAME=""
PG_ADMIN_URL=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
    if [[ -n "$DB_NAME" ]]; then
        psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
        DB_NAME=""
        # and the run's Redis keys (their prefix is this script's alone)
        # (deleted inside Redis: fuzzed keys hold quotes and spaces no shell pipe survives)
        redis-cli -u "$REDIS" EVAL "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) n = n + 1 end return n" \
            0 "$REDIS_PREFIX*" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

# start_server MODE: starts `serve` on a free loopback port; sets BASE and SERVER_PID.
start_server() {
    local mode="$1" port
    port="$(free_port)"
    BASE="http://127.0.0.1:$port"
    local -a env=(
        AGORA_ENV=development
        AGORA_BIND="127.0.0.1:$port"
        AGORA_WORKERS=2
        AGORA_ACCESS_TOKEN_TTL=3600
        AGORA_BOOTSTRAP_ADMIN="$ADMIN_USER:$ADMIN_USER@example.org"
        AGORA_BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PASSWORD"
        # The fuzzer sends thousands of wrong passwords (login, password change) from one
        # address; its own sign-ins must not be throttled by them.
        AGORA_LOGIN_MAX_FAILURES=1000000
        AGORA_LOGIN_MAX_FAILURES_PER_CLIENT=1000000
        RUST_LOG="${FUZZ_LOG:-warn}"
    )
    if [[ "$mode" == postgres ]]; then
        env+=(DATABASE_URL="$FUZZ_DATABASE_URL" REDIS_URL="$REDIS" AGORA_REDIS_PREFIX="$REDIS_PREFIX")
    fi
    env -u DATABASE_URL -u REDIS_URL "${env[@]}" "$BIN" serve >"$OUT/server-$mode.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server ($mode) exited at startup:"; tail -20 "$OUT/server-$mode.log" >&2; return 1
        fi
        sleep 0.1
    done
    log "server ($mode) did not answer /healthz"; return 1
}

# post PATH JSON [TOKEN]: prints the body; fails unless 2xx.
post() {
    local -a auth=()
    [[ -n "${3:-}" ]] && auth=(-H "authorization: Bearer $3")
    curl -fsS -X POST "$BASE$1" -H 'content-type: application/json' "${auth[@]}" -d "$2"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

login() { post /api/users/login/ "{\"username\":\"$1\",\"password\":\"$2\"}" | field access; }

# Operations left out, and why:
# - POST /api/users/logout/ revokes the very token the fuzzer sends, so every later case
#   would be a 401 and prove nothing (its behaviour is covered by tests/tests/api/accounts.rs).
# - WebSocket routes (/ws/debate/{id}/, /ws/notifications/) are not in the document: HTTP
#   fuzzing cannot speak their protocol (they have their own frame fuzzing).
EXCLUDE=(--exclude-operation-id logout)

FAILED=0
SUMMARY=()

# own_session TOKEN: the id of the login session TOKEN belongs to.
own_session() {
    curl -fsS "$BASE/api/users/me/sessions/" -H "authorization: Bearer $1" \
        | python3 -c 'import json,sys; print(next(s["id"] for s in json.load(sys.stdin)["items"] if s["current"]))'
}

# fuzz MODE ROLE TOKEN USERNAME PASSWORD
fuzz() {
    local mode="$1" role="$2" token="$3" user="$4" password="$5" rc=0 started=$SECONDS
    # schemathesis reuses ids it saw in responses: ending its own login session through
    # DELETE /api/users/me/sessions/{id}/ would leave every later case a 401
    local own
    own="$(own_session "$token")"
    local -a seed=()
    [[ -n "${FUZZ_SEED:-}" ]] && seed=(--seed "$FUZZ_SEED")
    log "run: $mode as $role (max $MAX_EXAMPLES examples per operation)"
    # run from target/ so that schemathesis' crash cache (.schemathesis/) lands there
    pushd "$OUT" >/dev/null
    # The hooks (scripts/schemathesis_hooks.py) supply what no schema can: cursors the
    # server issued, passwords that pass the cross-field rules, the account's own password.
    local -a hooks=(
        SCHEMATHESIS_HOOKS="$ROOT/scripts/schemathesis_hooks.py" FUZZ_USERNAME="$user"
        FUZZ_EMAIL="$user@example.org" FUZZ_PASSWORD="$password" FUZZ_OWN_SESSION="$own"
    )
    local -a args=(
        "$BASE/api/schema/" --url "$BASE" -H "Authorization: Bearer $token"
        --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,positive_data_acceptance
        --phases examples,coverage,fuzzing
        --max-examples "$MAX_EXAMPLES" --workers "$WORKERS"
        --generation-allow-x00 false --generation-database none
        --suppress-health-check all --no-color
        "${seed[@]}" "${EXCLUDE[@]}"
    )
    # shellcheck disable=SC2086 # FUZZ_EXTRA is a list of options
    env "${hooks[@]}" "$ST" run "${args[@]}" ${FUZZ_EXTRA:-} >"$OUT/$mode-$role.log" 2>&1 || rc=$?
    # A run whose only problems are schemathesis' own errors (hypothesis reporting its
    # generation as flaky under load), not findings about the API, is run once more.
    if [[ $rc != 0 ]] && ! grep -q '^Failures:' "$OUT/$mode-$role.log" \
        && grep -q 'Runtime Error' "$OUT/$mode-$role.log"; then
        log "schemathesis itself errored (not a finding): running $mode as $role again"
        cp "$OUT/$mode-$role.log" "$OUT/$mode-$role.first-attempt.log"
        rc=0
        # shellcheck disable=SC2086
        env "${hooks[@]}" "$ST" run "${args[@]}" ${FUZZ_EXTRA:-} >"$OUT/$mode-$role.log" 2>&1 || rc=$?
    fi
    popd >/dev/null
    # One line per run from schemathesis' summary: operations, cases, failures, time.
    local log="$OUT/$mode-$role.log" tested cases failures
    tested="$(sed -n 's/^ *Tested: *\([0-9]*\).*/\1/p' "$log" | tail -1)"
    cases="$(sed -n 's/^ *\([0-9]*\) generated.*/\1/p' "$log" | tail -1)"
    failures="$(grep -Eo '[0-9]+ (unique )?failures?' "$log" | tail -1 | grep -Eo '^[0-9]+' || true)"
    SUMMARY+=("$(printf '%-8s as %-7s %3s operations, %5s cases, %s failures, %ss: %s' \
        "$mode" "$role" "${tested:-?}" "${cases:-?}" "${failures:-0}" $((SECONDS - started)) \
        "$([[ $rc == 0 ]] && echo OK || echo "FAILED (see $log)")")")
    if [[ $rc != 0 ]]; then
        FAILED=1
        # the failures themselves, for the build log
        sed -n '/ \(FAILURES\|ERRORS\) =/,$p' "$OUT/$mode-$role.log" | head -150 >&2
    fi
}

run_mode() {
    local mode="$1"
    start_server "$mode"
    local admin student student_id inst
    admin="$(login "$ADMIN_USER" "$ADMIN_PASSWORD")"
    student_id="$(post /api/users/register/ "{\"username\":\"$STUDENT_USER\",\"email\":\"$STUDENT_USER@example.org\",\"password\":\"$STUDENT_PASSWORD\"}" | field id)"
    inst="$(post /api/org/institutions/ '{"name":"Fuzzing Institute"}' "$admin" | field id)"
    post /api/rbac/grants/ "{\"user_id\":\"$student_id\",\"role\":\"student\",\"scope\":\"institution:$inst\"}" "$admin" >/dev/null
    post "/api/org/institutions/$inst/members/" "{\"user_id\":\"$student_id\"}" "$admin" >/dev/null || true
    student="$(login "$STUDENT_USER" "$STUDENT_PASSWORD")"
    # Real resources for the fuzzer to find (random ids only ever reach the 404 path): a
    # topic in the institution and three of its sessions, scheduled, live and closed, with
    # the student seated and one argument in the live and closed ones.
    local topic start scheduled live closed
    topic="$(post /api/debates/topics/ "{\"title\":\"Fuzzing topic\",\"scope\":\"institution:$inst\"}" "$admin" | field id)"
    start="$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
    new_session() { post /api/debates/sessions/ "{\"topic_id\":\"$topic\",\"title\":\"$1\",\"scheduled_start\":\"$start\"}" "$admin" | field id; }
    scheduled="$(new_session Scheduled)"
    live="$(new_session Live)"
    closed="$(new_session Closed)"
    for s in "$live" "$closed"; do
        post "/api/debates/sessions/$s/start/" '{}' "$admin" >/dev/null
        post "/api/debates/sessions/$s/join/" '{"side":"pro"}' "$student" >/dev/null
        post "/api/debates/sessions/$s/messages/" '{"body":"An opening argument"}' "$student" >/dev/null
    done
    post "/api/debates/sessions/$closed/close/" '{}' "$admin" >/dev/null
    export FUZZ_IDS="{\"institution\":\"$inst\",\"user\":\"$student_id\",\"topic\":\"$topic\",\"sessions\":[\"$scheduled\",\"$live\",\"$closed\"]}"
    # The student first: the admin's run may rewrite roles it depends on.
    fuzz "$mode" student "$student" "$STUDENT_USER" "$STUDENT_PASSWORD"
    fuzz "$mode" admin "$admin" "$ADMIN_USER" "$ADMIN_PASSWORD"
    if grep -q 'panicked' "$OUT/server-$mode.log"; then
        log "the server panicked during the $mode runs:"; grep -m5 -A3 'panicked' "$OUT/server-$mode.log" >&2
        FAILED=1
    fi
    cleanup
}

for mode in $MODES; do
    if [[ "$mode" == postgres ]]; then
        if ! pg_isready -q -d "$DB_URL" 2>/dev/null || ! redis-cli -u "$REDIS" ping >/dev/null 2>&1; then
            if [[ "${CI:-}" == true ]]; then
                log "PostgreSQL or Redis unreachable ($DB_URL, $REDIS) and CI=true"; exit 1
            fi
            log "SKIPPED the PostgreSQL + Redis runs: services unreachable ($DB_URL, $REDIS)"
            continue
        fi
        PG_ADMIN_URL="$DB_URL"
        DB_NAME="agora_fuzz_$$"
        psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null
        FUZZ_DATABASE_URL="${DB_URL%/*}/$DB_NAME"
    fi
    run_mode "$mode"
done

for line in "${SUMMARY[@]}"; do printf 'schemathesis: %s\n' "$line"; done
exit "$FAILED"
