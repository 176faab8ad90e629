//! Fault tests (docs/reliability.md): a server process on a throwaway PostgreSQL and Redis
//! of its own (never the shared services), whose backing services are stopped, killed
//! and restarted under it — and two instances, one of them killed with SIGKILL mid-room.
//! Every request must answer (2xx, or a 503 problem) within a few seconds, never 500;
//! everything recovers by itself; nothing acknowledged is lost, nothing is delivered
//! twice. Each test prints what it saw, recovery times included.
//!
//! Every loop is bounded in count and in time; everything listens on 127.0.0.1.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_tests::throwaway::Stack;
use agora_tests::{ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use crate::realtime::ws_url;

const PASSWORD: &str = "a long passphrase for tests";
/// Longest any request may take, outage or not: beyond it counts as a hang.
const HANG: Duration = Duration::from_secs(10);

/// One answer: status, body (JSON or null), content type, how long it took.
struct Answer {
    status: u16,
    body: Value,
    content_type: String,
    took: Duration,
}

impl Answer {
    /// 2xx, or a 503 problem: what a request may answer while a service is down.
    fn acceptable_in_outage(&self) -> bool {
        (200..300).contains(&self.status)
            || (self.status == 503 && self.content_type == "application/problem+json")
    }
}

/// A client of one server process.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(HANG)
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    /// The answer, or the transport error (refused, reset, timed out) as text.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let started = Instant::now();
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = res.text().await.map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            content_type,
            took: started.elapsed(),
        })
    }

    /// The body of a request that must answer `expected`.
    async fn must(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let a = self
            .call(method, path, token, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(a.status, expected, "{method} {path}: {}", a.body);
        a.body
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let body = json!({"login": username, "password": password});
        let tokens = self
            .must("POST", "/api/users/login/", None, Some(body), 200)
            .await;
        tokens["access"].as_str().unwrap().to_owned()
    }

    /// Registers and signs in; (user id, access token).
    async fn user(&self, username: &str) -> (String, String) {
        let body = json!({"username": username, "email": format!("{username}@example.org"), "password": PASSWORD});
        let user = self
            .must("POST", "/api/users/register/", None, Some(body), 201)
            .await;
        let token = self.login(username, PASSWORD).await;
        (user["id"].as_str().unwrap().to_owned(), token)
    }

    /// Stores an argument over REST; its `seq` when acknowledged (201).
    async fn argue(&self, session: &str, token: &str, body: &str) -> Result<Answer, String> {
        self.call(
            "POST",
            &format!("/api/debates/sessions/{session}/messages/"),
            Some(token),
            Some(json!({ "body": body })),
        )
        .await
    }

    /// Every stored `seq` of the session, ascending.
    async fn stored_seqs(&self, session: &str, token: &str) -> Vec<i64> {
        let mut seqs = Vec::new();
        let mut after = 0;
        for _ in 0..1000 {
            let page = self
                .must(
                    "GET",
                    &format!("/api/debates/sessions/{session}/messages/?after={after}&limit=100"),
                    Some(token),
                    None,
                    200,
                )
                .await;
            let items = page["items"].as_array().unwrap();
            if items.is_empty() {
                break;
            }
            seqs.extend(items.iter().map(|m| m["seq"].as_i64().unwrap()));
            after = *seqs.last().unwrap();
        }
        seqs
    }
}

/// A live session: a moderator, a pro and a con debater, an audience member, all
/// students of one institution.
struct Room {
    session: String,
    moderator: String,
    pro: String,
    con: String,
    audience: String,
}

async fn live_room(api: &Api) -> Room {
    let root = api.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let inst = api
        .must(
            "POST",
            "/api/org/institutions/",
            Some(&root),
            Some(json!({"name": "Fault Tolerant High"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let scope = format!("institution:{inst}");
    let grant = |user: String, role: &'static str| {
        let (api, root, scope) = (api.clone(), root.clone(), scope.clone());
        async move {
            let body = json!({"user_id": user, "role": role, "scope": scope});
            api.must("POST", "/api/rbac/grants/", Some(&root), Some(body), 201)
                .await;
        }
    };
    let (mod_id, moderator) = api.user("f_mod").await;
    grant(mod_id, "moderator").await;
    let mut tokens = Vec::new();
    for name in ["f_pro", "f_con", "f_audience"] {
        let (id, token) = api.user(name).await;
        grant(id, "student").await;
        tokens.push(token);
    }
    let topic = api
        .must(
            "POST",
            "/api/debates/topics/",
            Some(&moderator),
            Some(json!({"title": "Outages", "description": "Do we survive them?", "scope": scope})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = api
        .must(
            "POST",
            "/api/debates/sessions/",
            Some(&moderator),
            Some(json!({"topic_id": topic, "title": "Round", "scheduled_start": "2030-01-01T10:00:00Z"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (token, side) in tokens.iter().zip(["pro", "con", "audience"]) {
        api.must(
            "POST",
            &format!("/api/debates/sessions/{session}/join/"),
            Some(token),
            Some(json!({ "side": side })),
            200,
        )
        .await;
    }
    api.must(
        "POST",
        &format!("/api/debates/sessions/{session}/start/"),
        Some(&moderator),
        Some(json!({})),
        200,
    )
    .await;
    Room {
        session,
        moderator,
        pro: tokens[0].clone(),
        con: tokens[1].clone(),
        audience: tokens[2].clone(),
    }
}

/// A room client that records every `message.created` seq it is given and, whenever its
/// socket ends (closed, reset, refused), reconnects with `since` = the last seq it saw —
/// to the same instance, or the next one in its list when that one refuses.
struct Subscriber {
    name: &'static str,
    seqs: Arc<Mutex<Vec<i64>>>,
    /// Sockets opened after the first.
    reconnects: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Subscriber {
    fn start(
        name: &'static str,
        bases: Vec<String>,
        session: &str,
        token: &str,
        since: i64,
    ) -> Self {
        let seqs = Arc::new(Mutex::new(Vec::new()));
        let reconnects = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(follow(
            bases,
            session.to_owned(),
            token.to_owned(),
            since,
            seqs.clone(),
            reconnects.clone(),
            stopped,
        ));
        Self {
            name,
            seqs,
            reconnects,
            stop,
            task,
        }
    }

    fn last(&self) -> Option<i64> {
        self.seqs.lock().unwrap().last().copied()
    }

    fn seqs(&self) -> Vec<i64> {
        self.seqs.lock().unwrap().clone()
    }

    /// Waits (bounded) until it has been given `seq`; whether it was.
    async fn reaches(&self, seq: i64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.last().is_some_and(|l| l >= seq) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Closes its socket; what it was given.
    async fn stop(self) -> Vec<i64> {
        let _ = self.stop.send(true);
        let _ = timeout(Duration::from_secs(5), self.task).await;
        self.seqs.lock().unwrap().clone()
    }
}

async fn follow(
    bases: Vec<String>,
    session: String,
    token: String,
    since: i64,
    seqs: Arc<Mutex<Vec<i64>>>,
    reconnects: Arc<AtomicUsize>,
    mut stopped: watch::Receiver<bool>,
) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut which = 0;
    let mut opened = 0usize;
    // bounded: at most one attempt per 50 ms for 180 s
    for _ in 0..4000 {
        if *stopped.borrow() || Instant::now() > deadline {
            return;
        }
        let after = seqs.lock().unwrap().last().copied().unwrap_or(since);
        let url = ws_url(
            &bases[which],
            &session,
            &format!("?token={token}&since={after}"),
        );
        let Ok(Ok((ws, _))) = timeout(Duration::from_secs(5), connect_async(url)).await else {
            // refused (instance dead) or 503 (Redis down): try the next instance
            which = (which + 1) % bases.len();
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        opened += 1;
        if opened > 1 {
            reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let (mut tx, mut rx) = ws.split();
        // client pings: the server drops a socket silent for 30 s
        let mut ping = tokio::time::interval(Duration::from_secs(3));
        loop {
            tokio::select! {
                _ = stopped.changed() => {
                    let _ = tx.send(Message::Close(None)).await;
                    return;
                }
                _ = ping.tick() => {
                    if tx.send(Message::text(r#"{"type":"ping"}"#)).await.is_err() {
                        break;
                    }
                }
                frame = rx.next() => match frame {
                    Some(Ok(Message::Text(t))) => {
                        let f: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                        if f["type"] == "message.created" {
                            seqs.lock().unwrap().push(f["message"]["seq"].as_i64().unwrap());
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
}

/// Waits until a new room socket serves (answers a ping): its catch-up from storage and
/// its presence record are done.
async fn serving(ws: &mut crate::realtime::Ws) {
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    while let Some(Ok(m)) = timeout(HANG, ws.next()).await.unwrap() {
        if m.to_text().is_ok_and(|t| t.contains("pong")) {
            return;
        }
    }
    panic!("the socket closed before it served");
}

/// Sends an argument over a room socket; its `seq` when acknowledged, else the `error`
/// frame's code.
async fn ws_argue(
    ws: &mut crate::realtime::Ws,
    body: &str,
    client_id: &str,
) -> Result<i64, String> {
    let frame = json!({"type": "message.send", "body": body, "client_id": client_id});
    timeout(HANG, ws.send(Message::text(frame.to_string())))
        .await
        .expect("send in time")
        .expect("send");
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("an answer to message.send in time")
            .expect("socket open")
            .expect("frame");
        let Message::Text(t) = msg else { continue };
        let f: Value = serde_json::from_str(t.as_str()).unwrap();
        match f["type"].as_str() {
            Some("ack") if f["client_id"] == client_id => return Ok(f["seq"].as_i64().unwrap()),
            Some("error") if f["client_id"] == client_id => {
                return Err(f["code"].as_str().unwrap_or_default().to_owned());
            }
            _ => {}
        }
    }
}

/// Asserts `got` is exactly the stored sequence — every acknowledged argument, in order,
/// once — and prints the counts.
fn check_delivery(name: &str, got: &[i64], stored: &[i64], acked: &[i64], reconnects: usize) {
    let duplicates = got.windows(2).filter(|w| w[1] <= w[0]).count();
    let lost: Vec<i64> = acked.iter().filter(|s| !got.contains(s)).copied().collect();
    println!(
        "  {name}: delivered {}, acknowledged {}, lost {}, duplicated or out of order {duplicates}, reconnects {reconnects}",
        got.len(),
        acked.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "{name} lost acknowledged {lost:?}");
    assert_eq!(duplicates, 0, "{name} got {got:?}");
    assert_eq!(
        got, stored,
        "{name}: exactly the stored arguments, in order"
    );
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Spawns a server process on the stack; logs only warnings and errors.
async fn server(stack: &Stack) -> ServerProcess {
    let mut env: HashMap<String, String> = stack.env.clone();
    env.insert("RUST_LOG".into(), "error".into());
    // The production waits for a pooled connection (the shared harness raises them for
    // busy test machines): what an outage costs a request is what operators would see.
    env.insert("AGORA_DB_ACQUIRE_TIMEOUT_MS".into(), "1000".into());
    env.insert("AGORA_REDIS_ACQUIRE_TIMEOUT_MS".into(), "1000".into());
    // These stories push arguments faster than a student may (REST and sockets share the
    // author's send rate); what they measure is recovery, not the rate.
    env.insert("AGORA_ROOM_SEND_RATES".into(), "*=1000/1000".into());
    ServerProcess::spawn(&env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_under_a_live_room() {
    let Some(mut stack) = Stack::start().await else {
        return;
    };
    let a = server(&stack).await;
    let api = Api::new(&a.url);
    let room = live_room(&api).await;
    let s = &room.session;
    let mut acked = Vec::new();

    let stays = Subscriber::start("stays", vec![a.url.clone()], s, &room.audience, 0);
    let resumes = Subscriber::start("resumes", vec![a.url.clone()], s, &room.con, 0);
    for i in 0..5 {
        let res = api
            .argue(s, &room.pro, &format!("before {i}"))
            .await
            .unwrap();
        assert_eq!(res.status, 201, "{}", res.body);
        acked.push(res.body["seq"].as_i64().unwrap());
    }
    let last_before = *acked.last().unwrap();
    assert!(stays.reaches(last_before, HANG).await);
    assert!(resumes.reaches(last_before, HANG).await);
    let resumes_seen = resumes.stop().await;

    // a debater's socket, open before the outage, goes on sending arguments during it
    let (mut pro_ws, _) = connect_async(ws_url(&a.url, s, &format!("?token={}", room.pro)))
        .await
        .unwrap();
    serving(&mut pro_ws).await;

    // Redis dies: every request answers within HANG, 2xx or a 503 problem, never 500
    stack.redis.kill();
    let down = Instant::now();
    let (mut acked_on_socket, mut slowest_ack) = (0, Duration::ZERO);
    for i in 0..3 {
        let asked = Instant::now();
        let answer = ws_argue(&mut pro_ws, &format!("socket during {i}"), &format!("d{i}")).await;
        slowest_ack = slowest_ack.max(asked.elapsed());
        println!(
            "redis outage: socket argument {i} answered {answer:?} after {}",
            secs(asked.elapsed())
        );
        match answer {
            Ok(seq) => {
                acked.push(seq);
                acked_on_socket += 1;
            }
            Err(code) => assert_eq!(code, "unavailable", "an argument sent during the outage"),
        }
    }
    drop(pro_ws);
    let (mut answered, mut unavailable, mut slowest) = (0, 0, Duration::ZERO);
    for i in 0..2 {
        let probes = [
            api.argue(s, &room.pro, &format!("during {i}")).await,
            api.call(
                "GET",
                &format!("/api/debates/sessions/{s}/"),
                Some(&room.audience),
                None,
            )
            .await,
            api.call("GET", "/api/users/me/", Some(&room.con), None)
                .await,
        ];
        for (n, p) in probes.into_iter().enumerate() {
            let p = p.unwrap_or_else(|e| panic!("request hung or failed during the outage: {e}"));
            assert!(
                p.acceptable_in_outage(),
                "Redis down: {} {} {}",
                p.status,
                p.content_type,
                p.body
            );
            if n == 0 && p.status == 201 {
                acked.push(p.body["seq"].as_i64().unwrap());
            }
            answered += 1;
            unavailable += usize::from(p.status == 503);
            slowest = slowest.max(p.took);
        }
    }
    // a burst, as many clients would send: refused at once but for a probe now and then
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let (api, token) = (api.clone(), room.con.clone());
            tokio::spawn(async move { api.call("GET", "/api/users/me/", Some(&token), None).await })
        })
        .collect();
    let mut quick = 0;
    for answer in burst {
        let p = answer.await.unwrap().expect("an answer during the outage");
        assert!(
            p.acceptable_in_outage(),
            "Redis down: {} {}",
            p.status,
            p.body
        );
        quick += usize::from(p.took < Duration::from_secs(1));
    }
    println!("redis outage: {quick} of a burst of 20 requests answered within 1 s");
    let readyz = api.call("GET", "/readyz", None, None).await.unwrap();
    assert_eq!(readyz.status, 503, "readyz while Redis is down");
    let acked_during = acked.len() - 5;
    println!(
        "redis outage of {}: {answered} REST requests, {unavailable} answered 503, {acked_during} arguments acknowledged ({acked_on_socket} over the socket, slowest answer there {}), slowest REST answer {}",
        secs(down.elapsed()),
        secs(slowest_ack),
        secs(slowest)
    );

    // back on the same port, empty: REST and the room recover by themselves
    stack.redis.restart().await;
    let up = Instant::now();
    let (mut rest_back, mut room_back) = (None, None);
    for i in 0..300 {
        if up.elapsed() > Duration::from_secs(60) {
            break;
        }
        match api.argue(s, &room.pro, &format!("after {i}")).await {
            Ok(p) if p.status == 201 => {
                let seq = p.body["seq"].as_i64().unwrap();
                acked.push(seq);
                rest_back.get_or_insert(up.elapsed());
                if stays.reaches(seq, Duration::from_secs(1)).await {
                    room_back = Some(up.elapsed());
                    break;
                }
            }
            Ok(p) => assert!(p.acceptable_in_outage(), "recovering: {}", p.body),
            Err(e) => panic!("request failed while Redis came back: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rest_back = rest_back.expect("REST never recovered within 60 s");
    let room_back = room_back.expect("the room never recovered within 60 s");
    println!(
        "redis restarted: REST recovered after {}, the room after {}",
        secs(rest_back),
        secs(room_back)
    );

    // the client that left reconnects with `since`; both get what follows
    let resumed = Subscriber::start(
        "resumes",
        vec![a.url.clone()],
        s,
        &room.con,
        *resumes_seen.last().unwrap(),
    );
    for i in 0..5 {
        let res = api
            .argue(s, &room.pro, &format!("later {i}"))
            .await
            .unwrap();
        assert_eq!(res.status, 201, "{}", res.body);
        acked.push(res.body["seq"].as_i64().unwrap());
    }
    let last = *acked.last().unwrap();
    assert!(stays.reaches(last, HANG).await, "stays: {:?}", stays.seqs());
    assert!(
        resumed.reaches(last, HANG).await,
        "resumed: {:?}",
        resumed.seqs()
    );
    let stored = api.stored_seqs(s, &room.moderator).await;
    let stays_reconnects = stays.reconnects.load(Ordering::Relaxed);
    let stays_name = stays.name;
    let stays_got = stays.stop().await;
    let resumed_got: Vec<i64> = resumes_seen
        .iter()
        .copied()
        .chain(resumed.stop().await)
        .collect();
    println!("redis outage, deliveries:");
    check_delivery(stays_name, &stays_got, &stored, &acked, stays_reconnects);
    check_delivery("resumes", &resumed_got, &stored, &acked, 1);
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_restarted() {
    let Some(mut stack) = Stack::start().await else {
        return;
    };
    let a = server(&stack).await;
    let api = Api::new(&a.url);
    let room = live_room(&api).await;
    let s = &room.session;
    let root = api.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let listener = Subscriber::start("listener", vec![a.url.clone()], s, &room.audience, 0);
    let mut acked = Vec::new();
    for i in 0..3 {
        let res = api
            .argue(s, &room.pro, &format!("before {i}"))
            .await
            .unwrap();
        assert_eq!(res.status, 201);
        acked.push(res.body["seq"].as_i64().unwrap());
    }

    let (mut pro_ws, _) = connect_async(ws_url(&a.url, s, &format!("?token={}", room.pro)))
        .await
        .unwrap();
    // a socket still catching up when storage goes away is closed with 1013 by design
    serving(&mut pro_ws).await;
    stack.postgres.stop();
    let down = Instant::now();
    // an argument over an open socket is refused as unavailable, and the socket stays open
    let refused = ws_argue(&mut pro_ws, "socket during", "p1").await;
    assert_eq!(refused, Err("unavailable".to_owned()), "over the socket");
    pro_ws
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    drop(pro_ws);
    let (mut answered, mut unavailable, mut slowest) = (0, 0, Duration::ZERO);
    for i in 0..1 {
        let probes = [
            (
                "login",
                api.call(
                    "POST",
                    "/api/users/login/",
                    None,
                    Some(json!({"login": "f_con", "password": PASSWORD})),
                )
                .await,
            ),
            (
                "me",
                api.call("GET", "/api/users/me/", Some(&room.con), None)
                    .await,
            ),
            (
                "topics",
                api.call("GET", "/api/debates/topics/", Some(&room.con), None)
                    .await,
            ),
            (
                "argue",
                api.argue(s, &room.pro, &format!("during {i}")).await,
            ),
            (
                "create",
                api.call(
                    "POST",
                    "/api/org/institutions/",
                    Some(&root),
                    Some(json!({"name": format!("Down {i}")})),
                )
                .await,
            ),
        ];
        for (what, p) in probes {
            let p = p.unwrap_or_else(|e| panic!("{what} hung or failed with PostgreSQL down: {e}"));
            assert_eq!(
                (p.status, p.content_type.as_str()),
                (503, "application/problem+json"),
                "{what} with PostgreSQL down: {}",
                p.body
            );
            answered += 1;
            unavailable += 1;
            slowest = slowest.max(p.took);
        }
    }
    let readyz = api.call("GET", "/readyz", None, None).await.unwrap();
    assert_eq!(readyz.status, 503, "readyz while PostgreSQL is down");
    println!(
        "postgres outage of {}: {answered} requests, {unavailable} answered 503, slowest answer {}",
        secs(down.elapsed()),
        secs(slowest)
    );

    stack.postgres.restart();
    let up = Instant::now();
    let mut back = None;
    for i in 0..300 {
        if up.elapsed() > Duration::from_secs(60) {
            break;
        }
        let login = api
            .call(
                "POST",
                "/api/users/login/",
                None,
                Some(json!({"login": "f_con", "password": PASSWORD})),
            )
            .await
            .unwrap_or_else(|e| panic!("login failed while PostgreSQL came back: {e}"));
        assert!(login.acceptable_in_outage(), "recovering: {}", login.body);
        if login.status == 200 {
            let p = api
                .argue(s, &room.pro, &format!("after {i}"))
                .await
                .unwrap();
            assert!(p.acceptable_in_outage(), "recovering: {}", p.body);
            if p.status == 201 {
                acked.push(p.body["seq"].as_i64().unwrap());
                back = Some(up.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = back.expect("not recovered within 60 s of PostgreSQL's restart");
    println!("postgres restarted: REST recovered after {}", secs(back));
    let last = *acked.last().unwrap();
    assert!(listener.reaches(last, HANG).await, "{:?}", listener.seqs());
    let stored = api.stored_seqs(s, &room.moderator).await;
    let reconnects = listener.reconnects.load(Ordering::Relaxed);
    let got = listener.stop().await;
    check_delivery("listener", &got, &stored, &acked, reconnects);
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_instances_killed_mid_room() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let a = server(&stack).await;
    let b = server(&stack).await;
    let (api_a, api_b) = (Api::new(&a.url), Api::new(&b.url));
    let room = live_room(&api_a).await;
    let s = &room.session;
    let on_a = vec![a.url.clone()];
    let b_then_a = vec![b.url.clone(), a.url.clone()];
    let subscribers = vec![
        Subscriber::start("audience@A", on_a.clone(), s, &room.audience, 0),
        Subscriber::start("moderator@A", on_a, s, &room.moderator, 0),
        Subscriber::start("audience@B", b_then_a.clone(), s, &room.audience, 0),
        Subscriber::start("con@B", b_then_a.clone(), s, &room.con, 0),
        Subscriber::start("pro@B", b_then_a, s, &room.pro, 0),
    ];

    const ARGUMENTS: usize = 60;
    const KILL_AT: usize = 30;
    let mut acked = Vec::new();
    let mut b = Some(b);
    let mut refused = 0;
    for i in 0..ARGUMENTS {
        if i == KILL_AT {
            // mid-room, with B's subscribers connected and arguments flowing through it
            let last = acked.last().copied().unwrap_or(0);
            let on_b = &subscribers[2..];
            for sub in on_b {
                assert!(
                    sub.reaches(last, HANG).await,
                    "{} before the kill",
                    sub.name
                );
            }
            b.take().unwrap().kill();
        }
        let author = if i % 2 == 0 { &room.pro } else { &room.con };
        // the client keeps using B until B refuses, then retries on A
        let via = if i % 2 == 0 { &api_a } else { &api_b };
        let body = format!("argument {i}");
        let res = match via.argue(s, author, &body).await {
            Ok(res) => res,
            Err(_) => {
                // B is gone: the client retries on A
                refused += 1;
                api_a.argue(s, author, &body).await.unwrap()
            }
        };
        assert_eq!(res.status, 201, "{}", res.body);
        acked.push(res.body["seq"].as_i64().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused > 0, "B refused nothing after its kill");
    let last = *acked.last().unwrap();
    for sub in &subscribers {
        assert!(
            sub.reaches(last, Duration::from_secs(30)).await,
            "{} stopped at {:?}",
            sub.name,
            sub.last()
        );
    }
    let stored = api_a.stored_seqs(s, &room.moderator).await;
    println!(
        "instance B killed after {KILL_AT} of {ARGUMENTS} arguments ({refused} refused by the dead instance and retried on A); deliveries:"
    );
    for sub in subscribers {
        let (name, reconnects) = (sub.name, sub.reconnects.load(Ordering::Relaxed));
        let got = sub.stop().await;
        check_delivery(name, &got, &stored, &acked, reconnects);
        if name.ends_with("@B") {
            assert!(reconnects >= 1, "{name} moved to A");
        }
    }
    drop(a);
}
