//! Edge input: the inputs that once answered 500 in PostgreSQL mode (NUL in the login
//! username or the audit filters, years −5000 and +200000 in `since`, `from`,
//! `scheduled_start`, …) are refused with 4xx problem+json — the same status and problem
//! type in the embedded and the PostgreSQL mode, compared request by request.

use agora_tests::App;
use serde_json::{Value, json};

/// What one probe got: its label, status and problem type.
type Outcome = (String, u16, String);

async fn id_of(res: reqwest::Response) -> String {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert!(status == 201, "setup failed: {status} {body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn outcome(label: &str, res: reqwest::Response) -> Outcome {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{label}: {body}");
    }
    let kind = body["type"].as_str().unwrap_or("").to_owned();
    (label.to_owned(), status, kind)
}

/// Sends every hand-found input to `app`; returns what each got.
async fn probe(app: &App) -> Vec<Outcome> {
    let root = app.admin_token().await;
    let inst = id_of(
        app.post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Edge High"}),
        )
        .await,
    )
    .await;
    let scope = format!("institution:{inst}");
    let topic = id_of(
        app.post_auth(
            "/api/debates/topics/",
            &root,
            json!({"title": "Edges", "description": "line one\nline two\ttabbed", "scope": scope}),
        )
        .await,
    )
    .await;
    let session = id_of(
        app.post_auth(
            "/api/debates/sessions/",
            &root,
            json!({"topic_id": topic, "title": "Round 1", "scheduled_start": "2030-01-01T10:00:00Z"}),
        )
        .await,
    )
    .await;
    let (student_id, _) = app.user("edgy_student").await;

    let session_path = format!("/api/debates/sessions/{session}/");
    let mut out = Vec::new();
    let bodies: Vec<(&str, &str, &str, Value)> = vec![
        (
            "login: NUL in username",
            "POST",
            "/api/users/login/",
            json!({"username": "ro\u{0}ot", "password": "platform operator passphrase"}),
        ),
        (
            "login: NUL in password",
            "POST",
            "/api/users/login/",
            json!({"username": "root", "password": "platform\u{0}operator"}),
        ),
        (
            "login: NUL in login",
            "POST",
            "/api/users/login/",
            json!({"login": "root@example.org\u{0}", "password": "platform operator passphrase"}),
        ),
        (
            "login: escape in username",
            "POST",
            "/api/users/login/",
            json!({"username": "root\u{1b}[2J", "password": "platform operator passphrase"}),
        ),
        (
            "register: NUL in username",
            "POST",
            "/api/users/register/",
            json!({"username": "new\u{0}user", "email": "n@example.org", "password": "a fine long passphrase"}),
        ),
        (
            "register: C1 control in email",
            "POST",
            "/api/users/register/",
            json!({"username": "newuser", "email": "n\u{85}@example.org", "password": "a fine long passphrase"}),
        ),
        (
            "institution: NUL in name",
            "POST",
            "/api/org/institutions/",
            json!({"name": "Bad\u{0}High"}),
        ),
        (
            "institution: newline in name",
            "POST",
            "/api/org/institutions/",
            json!({"name": "Bad\nHigh"}),
        ),
        (
            "topic: NUL in title",
            "POST",
            "/api/debates/topics/",
            json!({"title": "T\u{0}", "description": "", "scope": scope}),
        ),
        (
            "topic: NUL in description",
            "POST",
            "/api/debates/topics/",
            json!({"title": "T", "description": "d\u{0}", "scope": scope}),
        ),
        (
            "topic: bell in description",
            "POST",
            "/api/debates/topics/",
            json!({"title": "T", "description": "d\u{7}", "scope": scope}),
        ),
        (
            "topic: NUL in scope",
            "POST",
            "/api/debates/topics/",
            json!({"title": "T", "description": "", "scope": format!("{scope}\u{0}")}),
        ),
        (
            "session: NUL in title",
            "POST",
            "/api/debates/sessions/",
            json!({"topic_id": topic, "title": "S\u{0}", "scheduled_start": "2030-01-01T10:00:00Z"}),
        ),
        (
            "session: scheduled_start year -5000",
            "POST",
            "/api/debates/sessions/",
            json!({"topic_id": topic, "title": "S", "scheduled_start": "-5000-01-01T00:00:00Z"}),
        ),
        (
            "session: scheduled_start year +200000",
            "POST",
            "/api/debates/sessions/",
            json!({"topic_id": topic, "title": "S", "scheduled_start": "+200000-01-01T00:00:00Z"}),
        ),
        (
            "session: scheduled_end year +200000",
            "POST",
            "/api/debates/sessions/",
            json!({"topic_id": topic, "title": "S", "scheduled_start": "2030-01-01T10:00:00Z",
                   "scheduled_end": "+200000-01-01T00:00:00Z"}),
        ),
        (
            "session update: scheduled_start year -5000",
            "PATCH",
            &session_path,
            json!({"scheduled_start": "-5000-01-01T00:00:00Z"}),
        ),
        (
            "session update: NUL in title",
            "PATCH",
            &session_path,
            json!({"title": "x\u{0}"}),
        ),
        (
            "grant: expires_at year +200000",
            "POST",
            "/api/rbac/grants/",
            json!({"user_id": student_id, "role": "student", "scope": scope, "expires_at": "+200000-01-01T00:00:00Z"}),
        ),
        (
            "grant: expires_at year -5000",
            "POST",
            "/api/rbac/grants/",
            json!({"user_id": student_id, "role": "student", "scope": scope, "expires_at": "-5000-01-01T00:00:00Z"}),
        ),
        (
            "grant: NUL in role",
            "POST",
            "/api/rbac/grants/",
            json!({"user_id": student_id, "role": "stu\u{0}dent", "scope": scope}),
        ),
        (
            "role: NUL in name",
            "POST",
            "/api/rbac/roles/",
            json!({"name": "r\u{0}", "rank": 1, "description": "", "permissions": []}),
        ),
        (
            "role: NUL in a permission",
            "POST",
            "/api/rbac/roles/",
            json!({"name": "helper", "rank": 1, "description": "", "permissions": ["topic.read\u{0}"]}),
        ),
        (
            "check: NUL in permission",
            "POST",
            "/api/rbac/check/",
            json!({"permission": "topic.read\u{0}", "scope": scope}),
        ),
    ];
    // some are static, some built above: keep the borrowed paths alive
    let bodies: Vec<(String, String, String, Value)> = bodies
        .into_iter()
        .map(|(l, m, p, b)| (l.to_owned(), m.to_owned(), p.to_owned(), b))
        .collect();
    for (label, method, path, body) in bodies {
        let req = match method.as_str() {
            "POST" => app.client.post(app.at(&path)),
            _ => app.client.patch(app.at(&path)),
        };
        let res = req.bearer_auth(&root).json(&body).send().await.unwrap();
        out.push(outcome(&label, res).await);
    }

    let queries = [
        ("audit: NUL in target", "/api/rbac/audit/?target=user%3A%00"),
        (
            "audit: NUL in action",
            "/api/rbac/audit/?action=grant.create%00",
        ),
        ("audit: NUL in scope", "/api/rbac/audit/?scope=global%00"),
        ("audit: NUL in before", "/api/rbac/audit/?before=%00"),
        (
            "audit: since year -5000",
            "/api/rbac/audit/?since=-5000-01-01T00:00:00Z",
        ),
        (
            "audit: since year +200000",
            "/api/rbac/audit/?since=%2B200000-01-01T00:00:00Z",
        ),
        (
            "audit: until year -5000",
            "/api/rbac/audit/?until=-5000-01-01T00:00:00Z",
        ),
        (
            "analytics: from year -5000",
            "/api/analytics/daily/?from=-5000-01-01&to=-5000-01-02",
        ),
        (
            "analytics: to year +200000",
            "/api/analytics/daily/?from=2026-01-01&to=%2B200000-01-01",
        ),
        (
            "topics: NUL in scope filter",
            "/api/debates/topics/?scope=global%00",
        ),
        (
            "sessions: NUL in status filter",
            "/api/debates/sessions/?status=live%00",
        ),
        (
            "moderation actions: NUL in scope",
            "/api/moderation/actions/?scope=%00",
        ),
        ("jobs: NUL in status", "/api/admin/jobs/?status=dead%00"),
        ("path: NUL in role name", "/api/rbac/roles/stu%00dent/"),
        ("path: NUL in an id", "/api/debates/topics/%00/"),
    ];
    for (label, path) in queries {
        out.push(outcome(label, app.get_auth(path, &root).await).await);
    }

    // a raw NUL byte (not the \u0000 escape) is not JSON at all: 400
    let res = app
        .client
        .post(app.at("/api/users/login/"))
        .header("content-type", "application/json")
        .body(b"{\"username\":\"ro\x00ot\",\"password\":\"x\"}".to_vec())
        .send()
        .await
        .unwrap();
    out.push(outcome("login: raw NUL byte", res).await);

    // multi-line fields keep their line breaks
    let res = app
        .get_auth(&format!("/api/debates/topics/{topic}/"), &root)
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["description"], "line one\nline two\ttabbed");
    out
}

fn check_refusals(mode: &str, outcomes: &[Outcome]) {
    for (label, status, kind) in outcomes {
        assert!(
            (400..500).contains(status),
            "{mode}: {label} answered {status} {kind}"
        );
    }
    let expect_422: Vec<&Outcome> = outcomes
        .iter()
        .filter(|(label, _, _)| !label.starts_with("path:") && label != "login: raw NUL byte")
        .filter(|(_, status, _)| *status != 422)
        .collect();
    assert!(
        expect_422.is_empty(),
        "{mode}: refused, but not as invalid fields: {expect_422:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_found_inputs_get_the_same_4xx_in_both_modes() {
    let memory = App::memory().await;
    let in_memory = probe(&memory).await;
    memory.stop().await;
    check_refusals("memory", &in_memory);
    println!("{} edge inputs refused in memory mode", in_memory.len());

    let Some(pg) = App::postgres_redis().await else {
        return;
    };
    let in_postgres = probe(&pg).await;
    pg.stop().await;
    check_refusals("postgres", &in_postgres);
    for (m, p) in in_memory.iter().zip(&in_postgres) {
        assert_eq!(m, p, "the two modes answer differently");
    }
    assert_eq!(in_memory.len(), in_postgres.len());
    println!(
        "{} edge inputs: same answer in both modes",
        in_postgres.len()
    );
}

/// The problem names the refused field, so a client can show it next to the input.
async fn refusals_name_the_field(app: &App) {
    let res = app
        .post(
            "/api/users/login/",
            json!({"username": "ro\u{0}ot", "password": "whatever it is"}),
        )
        .await;
    // an ordinary answer: it carries the request id like every other
    assert!(res.headers().contains_key("x-request-id"));
    let body = agora_tests::assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "username", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("U+0000"),
        "{body}"
    );
    let root = app.admin_token().await;
    let res = app
        .get_auth("/api/rbac/audit/?since=-5000-01-01T00:00:00Z", &root)
        .await;
    let body = agora_tests::assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "since", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1900 and 9999"),
        "{body}"
    );
}

crate::both_modes!(refusals_name_the_field);

/// A TCP relay in front of PostgreSQL that can be cut: while cut it drops every open
/// connection and closes new ones at once, as a database that went away would. It stands
/// in for stopping PostgreSQL, which other tests share.
struct Relay {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn to(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            addr,
            up,
            conns,
            accept,
        }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// PostgreSQL goes away under a running server: requests get a 503 problem (within the
/// acquire timeout, not after seconds each), `/readyz` names `postgres` as down and Redis
/// as ok without any driver text, and both recover by themselves when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_quick_503_and_readyz_names_it() {
    let Some(db) = adapter_postgres::testing::TestDatabase::create().await else {
        return;
    };
    let url = reqwest::Url::parse(db.url()).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let target = tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap();
    let relay = Relay::to(target).await;
    let mut relayed = url.clone();
    relayed.set_ip_host(relay.addr.ip()).unwrap();
    relayed.set_port(Some(relay.addr.port())).unwrap();
    let Some(app) = App::postgres_redis_with(&[
        ("DATABASE_URL", relayed.as_str()),
        ("AGORA_DB_ACQUIRE_TIMEOUT_MS", "300"),
        ("AGORA_WORKER", "off"),
    ])
    .await
    else {
        return;
    };
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"], json!({"postgres": "ok", "redis": "ok"}));
    let login =
        json!({"username": agora_tests::ADMIN_USERNAME, "password": agora_tests::ADMIN_PASSWORD});
    assert_eq!(
        app.post("/api/users/login/", login.clone()).await.status(),
        200
    );

    relay.cut();
    let started = std::time::Instant::now();
    let res = app.post("/api/users/login/", login.clone()).await;
    let body = agora_tests::assert_problem(res, 503).await;
    assert_eq!(body["type"], "/problems/unavailable", "{body}");
    println!("login during the outage: 503 after {:?}", started.elapsed());

    let res = app.get("/readyz").await;
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], 503, "{body}");
    assert_eq!(body["type"], "/problems/not-ready", "{body}");
    assert_eq!(
        body["checks"],
        json!({"postgres": "down", "redis": "ok"}),
        "{body}"
    );
    for leak in ["pool", "timed out", "connection", "127.0.0.1", "postgres:"] {
        assert!(!text.contains(leak), "internal text {leak:?} in {text}");
    }

    relay.restore();
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200, "readiness comes back with the database");
    assert_eq!(app.post("/api/users/login/", login).await.status(), 200);
    app.stop().await;
    drop(relay);
    db.cleanup().await;
}
