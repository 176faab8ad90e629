//! The real-time room `/ws/debate/{session_id}/` with WebSocket clients: lifecycle
//! (WS and REST messages reach every client once, in order), refusals, resume with
//! `since`, shutdown with 1001, and fan-out across two server processes over Redis.

use std::time::Duration;

use agora_tests::App;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

crate::both_modes!(
    room_lifecycle,
    room_refusals,
    room_resume,
    room_presence,
    seats_are_announced
);

/// A live session with a pro and a con debater and an audience member.
pub(crate) struct Room {
    pub(crate) session: String,
    pub(crate) scope: String,
    pub(crate) moderator: String,
    pub(crate) pro: String,
    pub(crate) pro_id: String,
    pub(crate) con: String,
    pub(crate) audience: String,
}

pub(crate) async fn id_of(res: reqwest::Response) -> String {
    assert!(res.status().is_success(), "status {}", res.status());
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn live_room(app: &App) -> Room {
    let root = app.admin_token().await;
    let inst = id_of(
        app.post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Realtime High"}),
        )
        .await,
    )
    .await;
    let scope = format!("institution:{inst}");
    let (mod_id, moderator) = app.user("rt_mod").await;
    app.grant(&root, &mod_id, "moderator", &scope).await;
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for name in ["rt_pro", "rt_con", "rt_audience"] {
        let (id, token) = app.user(name).await;
        app.grant(&root, &id, "student", &scope).await;
        tokens.push(token);
        ids.push(id);
    }
    let topic = id_of(
        app.post_auth(
            "/api/debates/topics/",
            &moderator,
            json!({"title": "Live debates", "description": "Now", "scope": scope}),
        )
        .await,
    )
    .await;
    let session = id_of(
        app.post_auth(
            "/api/debates/sessions/",
            &moderator,
            json!({"topic_id": topic, "title": "Round", "scheduled_start": "2030-01-01T10:00:00Z"}),
        )
        .await,
    )
    .await;
    let base = format!("/api/debates/sessions/{session}");
    for (token, side) in tokens.iter().zip(["pro", "con", "audience"]) {
        let res = app
            .post_auth(&format!("{base}/join/"), token, json!({"side": side}))
            .await;
        assert_eq!(res.status(), 200);
    }
    Room {
        session,
        scope,
        moderator,
        pro_id: ids[0].clone(),
        pro: tokens[0].clone(),
        con: tokens[1].clone(),
        audience: tokens[2].clone(),
    }
}

pub(crate) async fn start(app: &App, room: &Room) {
    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{}/start/", room.session),
            &room.moderator,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

pub(crate) fn ws_url(base: &str, session: &str, query: &str) -> String {
    format!(
        "{}/ws/debate/{session}/{query}",
        base.replacen("http://", "ws://", 1)
    )
}

pub(crate) async fn connect_to(base: &str, session: &str, token: &str, since: Option<i64>) -> Ws {
    let query = match since {
        Some(s) => format!("?token={token}&since={s}"),
        None => format!("?token={token}"),
    };
    let (ws, res) = timeout(WAIT, connect_async(ws_url(base, session, &query)))
        .await
        .expect("handshake in time")
        .expect("handshake accepted");
    assert_eq!(res.status().as_u16(), 101);
    ws
}

pub(crate) async fn send(ws: &mut Ws, frame: Value) {
    timeout(WAIT, ws.send(Message::text(frame.to_string())))
        .await
        .expect("send in time")
        .expect("send");
}

/// The next text frame but `presence` (announced asynchronously, so tests of other
/// frames skip them); panics on close or timeout.
pub(crate) async fn next(ws: &mut Ws) -> Value {
    loop {
        let f = next_any(ws).await;
        if f["type"] != "presence" {
            return f;
        }
    }
}

/// The next frame of `kind`, skipping others.
pub(crate) async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let f = next_any(ws).await;
        if f["type"] == kind {
            return f;
        }
    }
}

/// The next text frame (protocol pings are skipped); panics on close or timeout.
pub(crate) async fn next_any(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// The close frame's code, skipping anything before it.
pub(crate) async fn close_code(ws: &mut Ws) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(c))) => return c.map(|c| c.code),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

/// The next `count` `message.created` frames' messages (other frames skipped), asserting
/// they continue `after` without gap or duplicate.
pub(crate) async fn messages(ws: &mut Ws, after: i64, count: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < count {
        let f = next(ws).await;
        if f["type"] == "message.created" {
            let seq = f["message"]["seq"].as_i64().unwrap();
            assert_eq!(seq, after + 1 + out.len() as i64, "in order, once: {f}");
            out.push(f["message"].clone());
        }
    }
    out
}

/// Nothing else is queued: a ping is answered by the very next frame.
pub(crate) async fn nothing_pending(ws: &mut Ws) {
    send(ws, json!({"type": "ping"})).await;
    let f = next(ws).await;
    assert_eq!(f["type"], "pong", "unexpected frame {f}");
}

async fn room_lifecycle(app: &App) {
    let room = live_room(app).await;
    let mut pro = connect_to(&app.url(), &room.session, &room.pro, None).await;
    let mut con = connect_to(&app.url(), &room.session, &room.con, None).await;
    let mut audience = connect_to(&app.url(), &room.session, &room.audience, None).await;
    start(app, &room).await;
    for ws in [&mut pro, &mut con, &mut audience] {
        let f = next(ws).await;
        assert_eq!(
            f,
            json!({"type": "session.status", "topic": format!("debate:{}", room.session), "status": "live"})
        );
    }

    send(
        &mut pro,
        json!({"type": "message.send", "body": "First!", "client_id": "c1"}),
    )
    .await;
    let ack = next(&mut pro).await;
    assert_eq!(
        ack,
        json!({"type": "ack", "topic": format!("debate:{}", room.session), "client_id": "c1", "seq": 1})
    );
    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{}/messages/", room.session),
            &room.con,
            json!({"body": "Over REST", "reply_to": 1}),
        )
        .await;
    assert_eq!(res.status(), 201);
    send(
        &mut con,
        json!({"type": "message.send", "body": "Third", "client_id": "c3", "reply_to": 2}),
    )
    .await;
    for ws in [&mut pro, &mut con, &mut audience] {
        let got = messages(ws, 0, 3).await;
        assert_eq!(got[0]["body"], "First!");
        assert_eq!(got[0]["side"], "pro");
        assert_eq!(got[1]["body"], "Over REST");
        assert_eq!(got[1]["reply_to"], 1);
        assert_eq!(got[2]["side"], "con");
        assert!(got[2]["author_id"].is_string() && got[2]["created_at"].is_string());
    }
    // the con's ack came before its own message.created; nothing twice
    nothing_pending(&mut pro).await;
    nothing_pending(&mut audience).await;

    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{}/close/", room.session),
            &room.moderator,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let f = next(&mut audience).await;
    assert_eq!(
        f,
        json!({"type": "session.status", "topic": format!("debate:{}", room.session), "status": "closed"})
    );
    let _ = pro.close(None).await;
    let _ = con.close(None).await;
    let _ = audience.close(None).await;
}

async fn refused_status(url: String, origin: Option<&str>) -> u16 {
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    match timeout(WAIT, connect_async(req)).await.expect("in time") {
        Err(tungstenite::Error::Http(res)) => res.status().as_u16(),
        Ok(_) => panic!("handshake accepted"),
        Err(e) => panic!("unexpected error {e}"),
    }
}

async fn room_refusals(app: &App) {
    let room = live_room(app).await;
    let (_, outsider) = app.user("rt_outsider").await;
    // before the upgrade: no token, bad token, no such session, an origin not allowed
    assert_eq!(
        refused_status(ws_url(&app.url(), &room.session, ""), None).await,
        401
    );
    assert_eq!(
        refused_status(ws_url(&app.url(), &room.session, "?token=junk"), None).await,
        401
    );
    let nobody = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        refused_status(
            ws_url(&app.url(), &nobody, &format!("?token={}", room.pro)),
            None
        )
        .await,
        404
    );
    assert_eq!(
        refused_status(
            ws_url(
                &app.url(),
                &room.session,
                &format!("?token={}&since=-1", room.pro)
            ),
            None
        )
        .await,
        422
    );
    // the trailing slash is optional
    let bare = format!(
        "{}/ws/debate/{}?token={}",
        app.url().replacen("http://", "ws://", 1),
        room.session,
        room.audience
    );
    let (mut no_slash, _) = timeout(WAIT, connect_async(bare))
        .await
        .unwrap()
        .expect("handshake without the trailing slash");
    nothing_pending(&mut no_slash).await;
    let url = ws_url(&app.url(), &room.session, &format!("?token={}", room.pro));
    assert_eq!(
        refused_status(url.clone(), Some("http://evil.example")).await,
        403
    );
    // same host is fine, and so is a bearer header instead of ?token=
    let own = app.url();
    let mut req = ws_url(&app.url(), &room.session, "")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("Origin", own.parse().unwrap());
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", room.pro).parse().unwrap(),
    );
    let (mut pro, _) = timeout(WAIT, connect_async(req))
        .await
        .unwrap()
        .expect("same-origin handshake with a bearer header");

    // not live yet
    send(
        &mut pro,
        json!({"type": "message.send", "body": "Too early", "client_id": "e1"}),
    )
    .await;
    let f = next(&mut pro).await;
    assert_eq!(f["type"], "error", "{f}");
    assert_eq!(f["code"], "conflict");
    assert_eq!(f["client_id"], "e1");

    // malformed frames: an error frame, and the socket still works
    send(&mut pro, json!("just a string")).await;
    assert_eq!(next(&mut pro).await["code"], "malformed");
    pro.send(Message::text("{not json")).await.unwrap();
    assert_eq!(next(&mut pro).await["code"], "malformed");
    send(&mut pro, json!({"type": "dance"})).await;
    assert_eq!(next(&mut pro).await["code"], "unknown_type");
    send(&mut pro, json!({"type": "message.send", "client_id": "x"})).await;
    assert_eq!(next(&mut pro).await["code"], "malformed");
    nothing_pending(&mut pro).await;

    start(app, &room).await;
    assert_eq!(next(&mut pro).await["type"], "session.status");

    // the audience may listen but not send
    let mut audience = connect_to(&app.url(), &room.session, &room.audience, None).await;
    send(
        &mut audience,
        json!({"type": "message.send", "body": "Me too", "client_id": "a1"}),
    )
    .await;
    let f = next(&mut audience).await;
    assert_eq!(f["code"], "forbidden", "{f}");
    // an outsider may not even learn that the room exists (private by default)
    assert_eq!(
        refused_status(
            ws_url(&app.url(), &room.session, &format!("?token={outsider}")),
            None
        )
        .await,
        404
    );
    // an invalid body is refused by the same rules as REST
    send(
        &mut pro,
        json!({"type": "message.send", "body": "   ", "client_id": "b1"}),
    )
    .await;
    assert_eq!(next(&mut pro).await["code"], "invalid");

    // the send rate is limited per connection
    for i in 0..14 {
        send(
            &mut pro,
            json!({"type": "message.send", "body": format!("fast {i}"), "client_id": format!("r{i}")}),
        )
        .await;
    }
    let mut limited = 0;
    let mut acked = 0;
    while acked + limited < 14 {
        let f = next(&mut pro).await;
        match f["type"].as_str() {
            Some("ack") => acked += 1,
            Some("error") => {
                assert_eq!(f["code"], "rate_limited", "{f}");
                limited += 1;
            }
            _ => {}
        }
    }
    // a burst of 10, two of them spent on the refused sends above
    assert!(
        limited >= 1 && acked >= 8,
        "acked {acked}, limited {limited}"
    );
    // the audience saw every stored message once, in order
    messages(&mut audience, 0, acked).await;

    // an oversize frame closes with 1009
    pro.send(Message::text("x".repeat(64 * 1024 + 1)))
        .await
        .unwrap();
    assert_eq!(close_code(&mut pro).await, Some(CloseCode::Size));
    // the others are unaffected
    nothing_pending(&mut audience).await;
}

async fn room_resume(app: &App) {
    let room = live_room(app).await;
    start(app, &room).await;
    let mut pro = connect_to(&app.url(), &room.session, &room.pro, None).await;
    for i in 1..=3 {
        send(
            &mut pro,
            json!({"type": "message.send", "body": format!("m{i}"), "client_id": format!("c{i}")}),
        )
        .await;
    }
    messages(&mut pro, 0, 3).await;

    // a client that saw up to 1 reconnects: 2 and 3 from storage, then live, no gap
    let mut late = connect_to(&app.url(), &room.session, &room.audience, Some(1)).await;
    for i in 4..=5 {
        let res = app
            .post_auth(
                &format!("/api/debates/sessions/{}/messages/", room.session),
                &room.con,
                json!({"body": format!("m{i}")}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let got = messages(&mut late, 1, 4).await;
    let bodies: Vec<&str> = got.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["m2", "m3", "m4", "m5"]);
    nothing_pending(&mut late).await;

    // since=0 replays everything; a client without since gets only what comes next
    let mut all = connect_to(&app.url(), &room.session, &room.audience, Some(0)).await;
    messages(&mut all, 0, 5).await;
    nothing_pending(&mut all).await;
    let mut fresh = connect_to(&app.url(), &room.session, &room.audience, None).await;
    nothing_pending(&mut fresh).await;
    send(
        &mut pro,
        json!({"type": "message.send", "body": "m6", "client_id": "c6"}),
    )
    .await;
    assert_eq!(messages(&mut fresh, 5, 1).await[0]["body"], "m6");
    assert_eq!(messages(&mut all, 5, 1).await[0]["body"], "m6");
}

/// Graceful shutdown closes open sockets with 1001 (going away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_rooms_with_1001() {
    let app = App::memory().await;
    let room = live_room(&app).await;
    let mut ws = connect_to(&app.url(), &room.session, &room.audience, None).await;
    nothing_pending(&mut ws).await;
    let stopping = tokio::spawn(app.stop());
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Away));
    drop(ws);
    timeout(WAIT, stopping)
        .await
        .expect("stops promptly")
        .unwrap();
}

/// Clients on two server processes sharing PostgreSQL and Redis receive every message
/// sent on either, in order, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_span_instances() {
    let Some(a) = App::postgres_redis().await else {
        return;
    };
    let b = a.another_process().await;
    let room = live_room(&a).await;
    start(&a, &room).await;
    let mut on_a = connect_to(&a.url(), &room.session, &room.pro, None).await;
    let mut on_b = connect_to(&b.url, &room.session, &room.con, None).await;
    let mut watch_b = connect_to(&b.url, &room.session, &room.audience, None).await;

    send(
        &mut on_a,
        json!({"type": "message.send", "body": "from A", "client_id": "a"}),
    )
    .await;
    send(
        &mut on_b,
        json!({"type": "message.send", "body": "from B", "client_id": "b"}),
    )
    .await;
    let rest = a
        .client
        .post(format!(
            "{}/api/debates/sessions/{}/messages/",
            b.url, room.session
        ))
        .bearer_auth(&room.con)
        .json(&json!({"body": "REST on B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 201);
    let res = a
        .post_auth(
            &format!("/api/debates/sessions/{}/messages/", room.session),
            &room.pro,
            json!({"body": "REST on A"}),
        )
        .await;
    assert_eq!(res.status(), 201);

    for ws in [&mut on_a, &mut on_b, &mut watch_b] {
        let got = messages(ws, 0, 4).await;
        let mut bodies: Vec<&str> = got.iter().map(|m| m["body"].as_str().unwrap()).collect();
        bodies.sort_unstable();
        assert_eq!(bodies, ["REST on A", "REST on B", "from A", "from B"]);
        nothing_pending(ws).await;
    }
    // a client resuming on the other instance misses nothing
    let mut again = connect_to(&a.url(), &room.session, &room.audience, Some(2)).await;
    messages(&mut again, 2, 2).await;
    nothing_pending(&mut again).await;
    drop(b);
    a.stop().await;
}

/// A client that stops reading is disconnected (1013, or the connection dropped when
/// even the close frame cannot be written) while another client of the room receives
/// everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_dropped_others_are_not() {
    const N: i64 = 1500;
    // REST posts share the author's send rate: lift it for this flood of one author
    let app = App::memory_with(&[("AGORA_ROOM_SEND_RATES", "*=1000/1000")]).await;
    let room = live_room(&app).await;
    start(&app, &room).await;
    let mut healthy = connect_to(&app.url(), &room.session, &room.audience, None).await;
    nothing_pending(&mut healthy).await;
    let reader = tokio::spawn(async move {
        let got = messages(&mut healthy, 0, N as usize).await;
        got.len()
    });

    // a client with a tiny receive buffer that never reads
    let addr: std::net::SocketAddr = app.url().trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let url = ws_url(&app.url(), &room.session, &format!("?token={}", room.con));
    let (mut slow, _) = timeout(WAIT, tokio_tungstenite::client_async(url, tcp))
        .await
        .unwrap()
        .unwrap();

    let body = "x".repeat(5000);
    for _ in 0..N {
        let res = app
            .post_auth(
                &format!("/api/debates/sessions/{}/messages/", room.session),
                &room.pro,
                json!({"body": body}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    assert_eq!(
        timeout(Duration::from_secs(30), reader)
            .await
            .expect("healthy client keeps up")
            .unwrap(),
        N as usize
    );

    // the slow client now reads: some frames, then the end of the connection
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut received = 0;
    let end = loop {
        let Ok(next) = tokio::time::timeout_at(deadline, slow.next()).await else {
            panic!("the slow client was not disconnected; it received {received}");
        };
        match next {
            Some(Ok(Message::Text(_))) => received += 1,
            Some(Ok(Message::Close(c))) => break c.map(|c| c.code),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert!(received < N, "the slow client got everything ({received})");
    assert!(
        matches!(end, None | Some(CloseCode::Again)),
        "closed with {end:?}"
    );
    app.stop().await;
}

/// Sends `n` arguments at once and counts the answers: (acked, rate limited).
async fn burst(ws: &mut Ws, n: usize, tag: &str) -> (usize, usize) {
    for i in 0..n {
        send(
            ws,
            json!({"type": "message.send", "body": format!("{tag} {i}"), "client_id": format!("{tag}{i}")}),
        )
        .await;
    }
    let (mut acked, mut limited) = (0, 0);
    while acked + limited < n {
        let f = next(ws).await;
        match (f["type"].as_str(), f["code"].as_str()) {
            (Some("ack"), _) => acked += 1,
            (Some("error"), Some("rate_limited")) => limited += 1,
            (Some("error"), _) => panic!("unexpected refusal {f}"),
            _ => {}
        }
    }
    (acked, limited)
}

#[tokio::test]
async fn send_rates_follow_the_senders_role() {
    // students: bursts of 2, slowly refilled; moderators: bursts of 20
    let app = App::memory_with(&[(
        "AGORA_ROOM_SEND_RATES",
        "student=0.1/2,moderator=20/20,*=1/1",
    )])
    .await;
    let room = live_room(&app).await;
    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{}/join/", room.session),
            &room.moderator,
            json!({"side": "con"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    start(&app, &room).await;

    let mut pro = connect_to(&app.url(), &room.session, &room.pro, None).await;
    let (acked, limited) = burst(&mut pro, 5, "student").await;
    assert_eq!((acked, limited), (2, 3), "a student's burst is 2");
    let f = {
        send(
            &mut pro,
            json!({"type": "message.send", "body": "again", "client_id": "again"}),
        )
        .await;
        loop {
            let f = next(&mut pro).await;
            if f["type"] == "error" {
                break f;
            }
        }
    };
    assert!(
        f["detail"].as_str().unwrap().contains("0.1 per second"),
        "the refusal says the limit: {f}"
    );

    let mut moderator = connect_to(&app.url(), &room.session, &room.moderator, None).await;
    let (acked, limited) = burst(&mut moderator, 12, "moderator").await;
    assert_eq!((acked, limited), (12, 0), "a moderator's burst is 20");
}

/// The next `presence` frame for which `done` holds (frames are coalesced, so one may
/// carry several changes, or arrive before the awaited one).
async fn presence_until(ws: &mut Ws, done: impl Fn(&Value) -> bool) -> Value {
    loop {
        let f = next_of(ws, "presence").await;
        if done(&f) {
            return f;
        }
    }
}

fn usernames(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect()
}

async fn room_presence(app: &App) {
    let room = live_room(app).await;
    let mut moderator = connect_to(&app.url(), &room.session, &room.moderator, None).await;
    let f = presence_until(&mut moderator, |f| f["count"] == 1).await;
    assert_eq!(usernames(&f["detail"]["users"]), ["rt_mod"]);

    // a student arrives: the moderator sees who, the student only how many
    let mut pro = connect_to(&app.url(), &room.session, &room.pro, None).await;
    let f = presence_until(&mut moderator, |f| f["count"] == 2).await;
    assert_eq!(usernames(&f["detail"]["users"]), ["rt_mod", "rt_pro"]);
    assert_eq!(usernames(&f["detail"]["joined"]), ["rt_pro"]);
    let f = presence_until(&mut pro, |f| f["count"] == 2).await;
    assert_eq!(
        f,
        json!({"type": "presence", "topic": format!("debate:{}", room.session), "count": 2}),
        "no detail for students"
    );

    // a second tab is the same person
    let mut pro_again = connect_to(&app.url(), &room.session, &room.pro, None).await;
    let f = presence_until(&mut pro_again, |_| true).await;
    assert_eq!(
        f,
        json!({"type": "presence", "topic": format!("debate:{}", room.session), "count": 2})
    );

    // leaving: only when the last connection closes
    pro.close(None).await.unwrap();
    drop(pro);
    pro_again.close(None).await.unwrap();
    drop(pro_again);
    let f = presence_until(&mut moderator, |f| f["count"] == 1).await;
    assert_eq!(usernames(&f["detail"]["users"]), ["rt_mod"]);
    assert_eq!(usernames(&f["detail"]["left"]), ["rt_pro"]);
}

async fn seats_are_announced(app: &App) {
    let room = live_room(app).await;
    let mut audience = connect_to(&app.url(), &room.session, &room.audience, None).await;
    let base = format!("/api/debates/sessions/{}", room.session);
    let res = app
        .post_auth(&format!("{base}/leave/"), &room.con, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let left = next(&mut audience).await;
    assert_eq!(left["type"], "participant.left", "{left}");
    assert_eq!(left["participant"]["side"], "con");
    assert!(left["participant"]["left_at"].is_string());
    let res = app
        .post_auth(&format!("{base}/join/"), &room.con, json!({"side": "pro"}))
        .await;
    assert_eq!(res.status(), 200);
    let joined = next(&mut audience).await;
    assert_eq!(joined["type"], "participant.joined", "{joined}");
    assert_eq!(joined["participant"]["side"], "pro");
    assert_eq!(
        joined["participant"]["user_id"],
        left["participant"]["user_id"]
    );
}

/// A server process that crashes leaves no ghost in the room: its connections expire
/// from presence (kept in Redis with a time to live) and later frames do not count them.
///
/// Whether a connection has expired is judged by the instance that reads presence, on its
/// own clock: here the surviving in-process instance, whose clock the test moves past the
/// crashed process's last refresh (stamped by that process's wall clock) and the TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_instance_leaves_no_ghosts() {
    const TTL_SECS: u64 = 3;
    let Some(a) = App::postgres_redis_with(&[("AGORA_PRESENCE_TTL_SECS", "3")]).await else {
        return;
    };
    let b = a.another_process().await;
    let room = live_room(&a).await;
    let mut moderator = connect_to(&a.url(), &room.session, &room.moderator, None).await;
    let _on_b = connect_to(&b.url, &room.session, &room.audience, None).await;
    let f = presence_until(&mut moderator, |f| f["count"] == 2).await;
    assert_eq!(usernames(&f["detail"]["users"]), ["rt_audience", "rt_mod"]);

    drop(b); // SIGKILL: no goodbye from that instance
    a.advance(Duration::from_secs(TTL_SECS + 1));
    // This instance's own connections lapsed too until their next heartbeat (a timer on
    // real time): the moderator opens a fresh tab, counted at once.
    let mut moderator = connect_to(&a.url(), &room.session, &room.moderator, None).await;
    let _pro = connect_to(&a.url(), &room.session, &room.pro, None).await;
    let f = presence_until(&mut moderator, |f| {
        f["detail"]["joined"]
            .as_array()
            .is_some_and(|j| j.iter().any(|u| u["username"] == "rt_pro"))
    })
    .await;
    assert_eq!(f["count"], 2, "{f}");
    assert_eq!(usernames(&f["detail"]["users"]), ["rt_mod", "rt_pro"]);
    a.stop().await;
}
