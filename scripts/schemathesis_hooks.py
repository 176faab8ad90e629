"""schemathesis hooks for scripts/schemathesis.sh.

The OpenAPI document states every rule a JSON Schema can state. A few rules depend on
server state or on another field, which no schema can express; for those, and only those,
these hooks turn a generated value into one the rule allows *before* the request is sent,
so that "valid by the document" still means "accepted" and a refusal is a real finding:

- paging cursors (`after`, and the audit trail's `before`) are opaque tokens the server
  issued; a random string is rightly a 400, so a well-formed cursor is sent instead;
- a password must not contain the username or the e-mail address's local part, must not
  be a common password and must not repeat one character (the document says so in words);
- a password change must prove the current password, which only the fuzzer's own
  account knows (FUZZ_PASSWORD); after a successful change the new one is remembered;
- an end date (`expires_at` of a grant) must lie in the future, which moves with the clock;
- a range of days (`from`, `to` of the analytics) covers at most 366 days, `from` first;
- an end (`scheduled_end`) comes after the start, which a PATCH may leave as stored;
- an argument may only answer (`reply_to`) an argument of the same session;
- a new role may only inherit from existing roles ranked below it;
- the fuzzer's own login session (FUZZ_OWN_SESSION) is never ended: schemathesis reuses
  ids it saw in responses, and every later case would be a 401.

Besides, half of the generated ids are swapped for ids of real resources the script
created (FUZZ_IDS: an institution, the student, a topic, a scheduled, a live and a closed
session), so that the fuzzer reaches the code behind the 404s.

Nothing else is rewritten.
"""

import base64
import datetime
import json
import os
import pathlib
import random
import threading
import uuid

import schemathesis

_ROOT = pathlib.Path(__file__).resolve().parent.parent
_COMMON = {
    line.strip().lower()
    for line in (_ROOT / "crates/domain-identity/src/common_passwords.txt").read_text().splitlines()
    if line.strip()
}
# Built-in roles and their ranks (docs/rbac.md); the fuzzer creates no others it knows of.
_RANKS = {
    "guest": 0, "basic_user": 5, "parent": 10, "student": 20, "moderator": 30,
    "teacher": 40, "staff": 40, "campus_admin": 60, "institute_admin": 80, "super_admin": 100,
}
_IDS = json.loads(os.environ.get("FUZZ_IDS") or "{}")
_lock = threading.Lock()
# Held from before a password change is sent until its answer is in: with several workers,
# two changes at once would each present the password the other one just replaced.
_changing = threading.Lock()
# A generator of its own: hypothesis warns when hooks draw from the global `random`.
_rng = random.Random(os.environ.get("FUZZ_SEED"))
_password = {"current": os.environ.get("FUZZ_PASSWORD", "")}
_USERNAME = os.environ.get("FUZZ_USERNAME", "")
_EMAIL = os.environ.get("FUZZ_EMAIL", "")


def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _acceptable(password: str, username: str, email: str) -> bool:
    """The password rules the schema cannot state (see PasswordPolicy::check)."""
    lower = password.lower()
    user = username.strip().lower()
    if user and user in lower:
        return False
    local = email.strip().lower().split("@")[0]
    if len(local.encode()) >= 3 and local in lower:
        return False
    if lower in _COMMON:
        return False
    return len(set(password)) > 1


def _fix_password(password, username, email, avoid=""):
    if not isinstance(password, str) or not 10 <= len(password) <= 256:
        return password  # not valid by the schema: leave it for the server to refuse
    if _acceptable(password, username, email) and password != avoid:
        return password
    while True:
        candidate = "Fz" + uuid.uuid4().hex
        if _acceptable(candidate, username, email):
            return candidate


def _fix_day_range(query):
    def day(name):
        try:
            return datetime.date.fromisoformat(query[name]) if isinstance(query.get(name), str) else None
        except ValueError:
            return None  # not a date: the server's 422 is the right answer

    start, end = day("from"), day("to")
    if start is not None and end is None:
        end = datetime.date.today()
        if not 0 <= (end - start).days <= 365:
            query["to"] = min(start + datetime.timedelta(days=30), datetime.date.max).isoformat()
    elif start is not None and end is not None and not 0 <= (end - start).days <= 365:
        query["to"] = min(start + datetime.timedelta(days=30), datetime.date.max).isoformat()
    elif start is None and end is not None and "from" not in query:
        pass  # the server counts 30 days back from `to`


def _real_id(path: str, name: str):
    """An id of a real resource for path parameter `name` of `path`, if there is one."""
    if not _IDS:
        return None
    if name == "user_id":
        return _IDS["user"]
    if name != "id":
        return None
    if path.startswith("/api/debates/sessions/"):
        return _rng.choice(_IDS["sessions"])
    if path.startswith("/api/debates/topics/"):
        return _IDS["topic"]
    if path.startswith("/api/org/institutions/"):
        return _IDS["institution"]
    return None


def _instant(text):
    try:
        at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        return None
    return at if at.tzinfo is not None else None


def _fix_schedule(body):
    end = _instant(body.get("scheduled_end"))
    if end is None:
        start = _instant(body.get("scheduled_start"))
        if "scheduled_end" not in body and start is not None:
            # the stored end is unknown here: move it along with the start
            try:
                body["scheduled_end"] = (start + datetime.timedelta(hours=1)).isoformat()
            except OverflowError:
                body["scheduled_end"] = None
        return  # null, or not a date-time: the server decides
    start = _instant(body.get("scheduled_start"))
    if start is None and body.get("scheduled_start") is None:
        # absent or null, the stored start counts, unknown here: send one an hour before
        try:
            body["scheduled_start"] = (end - datetime.timedelta(hours=1)).isoformat()
        except OverflowError:
            body["scheduled_end"] = None
    elif start is not None and end <= start:
        try:
            body["scheduled_end"] = (start + datetime.timedelta(hours=1)).isoformat()
        except OverflowError:
            body["scheduled_end"] = None


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    path = case.operation.path
    if path == "/api/users/me/password/" and case.method.upper() == "POST":
        # released in after_call; the timeout only matters if a request never got an answer
        _changing.acquire(timeout=120)
    params = case.path_parameters
    own = os.environ.get("FUZZ_OWN_SESSION")
    if isinstance(params, dict) and own and params.get("id") == own and path.startswith("/api/users/me/sessions/"):
        params["id"] = str(uuid.uuid4())
    if isinstance(params, dict) and _rng.random() < 0.5:
        for name in list(params):
            real = _real_id(path, name)
            if real is not None and isinstance(params[name], str):
                params[name] = real
        if isinstance(params.get("seq"), int):
            params["seq"] = 1
    if isinstance(case.body, dict) and _IDS and _rng.random() < 0.5:
        for name, key in (("user_id", "user"), ("topic_id", "topic")):
            if isinstance(case.body.get(name), str):
                case.body[name] = _IDS[key]
    query = case.query
    if isinstance(query, dict):
        if isinstance(query.get("after"), str) and not path.endswith("/messages/"):
            query["after"] = _cursor(str(uuid.uuid4()))
        if path == "/api/rbac/audit/" and isinstance(query.get("before"), str):
            at = datetime.datetime.now(datetime.timezone.utc).isoformat()
            query["before"] = _cursor(f"{at}|{uuid.uuid4()}")
        if path == "/api/analytics/daily/":
            _fix_day_range(query)
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("expires_at"), str) and path.startswith("/api/rbac/"):
        try:
            at = datetime.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        except ValueError:
            at = None
        now = datetime.datetime.now(datetime.timezone.utc)
        if at is not None and at.tzinfo is not None and at <= now + datetime.timedelta(minutes=1):
            body["expires_at"] = (now + datetime.timedelta(days=1)).isoformat()
    if path.startswith("/api/debates/sessions/") and ("scheduled_end" in body or "scheduled_start" in body):
        _fix_schedule(body)
    if path.endswith("/messages/") and isinstance(body.get("reply_to"), int):
        live = _IDS.get("sessions", [None, None])[1]
        if (case.path_parameters or {}).get("id") == live:
            body["reply_to"] = 1  # the seeded argument of the live session
        else:
            del body["reply_to"]
    if path == "/api/rbac/roles/" and case.method.upper() == "POST":
        rank = body.get("rank")
        if isinstance(body.get("inherits"), list) and isinstance(rank, int):
            below = sorted(r for r, n in _RANKS.items() if n < rank)
            body["inherits"] = [
                r if r in below else below[i % len(below)]
                for i, r in enumerate(body["inherits"])
                if below and isinstance(r, str)
            ]
    if path == "/api/users/register/":
        username = body.get("username") if isinstance(body.get("username"), str) else ""
        email = body.get("email") if isinstance(body.get("email"), str) else ""
        if "password" in body:
            body["password"] = _fix_password(body["password"], username, email)
    elif path == "/api/users/me/password/" and case.method.upper() == "POST":
        with _lock:
            current = _password["current"]
        if isinstance(body.get("current_password"), str) and current:
            body["current_password"] = current
        if "new_password" in body:
            body["new_password"] = _fix_password(body["new_password"], _USERNAME, _EMAIL, avoid=current)


@schemathesis.hook
def after_call(ctx, case, response):
    if case.operation.path != "/api/users/me/password/" or case.method.upper() != "POST":
        return
    body = case.body
    if response.status_code == 204 and isinstance(body, dict) and isinstance(body.get("new_password"), str):
        with _lock:
            _password["current"] = body["new_password"]
    if _changing.locked():
        _changing.release()
