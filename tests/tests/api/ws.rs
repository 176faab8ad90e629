//! The multiplexed socket `/ws/`: one connection carries a debate room and the caller's
//! own notifications, resumes the room with `since`, loses a subscription within a second
//! of the grant behind it being revoked on another instance, answers every bad frame with
//! an `error` frame (and survives it), and shares one send rate with REST and other
//! sockets of the same user on every instance.

use std::collections::BTreeSet;
use std::time::Duration;

use agora_tests::App;
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::connect_async;

use crate::realtime::{Ws, id_of, live_room, next, send, start};

const WAIT: Duration = Duration::from_secs(10);

crate::both_modes!(
    one_socket_carries_a_room_and_my_notifications,
    bad_frames_get_error_frames_and_the_socket_survives
);

pub(crate) fn socket_url(base: &str, token: &str) -> String {
    format!("{}/ws/?token={token}", base.replacen("http://", "ws://", 1))
}

pub(crate) async fn socket(base: &str, token: &str) -> Ws {
    let (ws, res) = timeout(WAIT, connect_async(socket_url(base, token)))
        .await
        .expect("handshake in time")
        .expect("handshake accepted");
    assert_eq!(res.status().as_u16(), 101);
    ws
}

/// Subscribes and waits for `subscribed` (anything else first is a failure).
pub(crate) async fn subscribe(ws: &mut Ws, topic: &str, since: Option<i64>) {
    let mut frame = json!({"type": "subscribe", "topic": topic});
    if let Some(s) = since {
        frame["since"] = json!(s);
    }
    send(ws, frame).await;
    let f = next(ws).await;
    assert_eq!(f["type"], "subscribed", "{f}");
    assert_eq!(f["topic"], topic);
}

/// The next frame that is not `presence`, with the `type` and `topic` it must have.
async fn expect(ws: &mut Ws, kind: &str, topic: &str) -> Value {
    let f = next(ws).await;
    assert_eq!(f["type"], kind, "{f}");
    assert_eq!(f["topic"], topic, "{f}");
    f
}

async fn post_argument(app: &App, session: &str, token: &str, body: &str) -> reqwest::Response {
    app.post_auth(
        &format!("/api/debates/sessions/{session}/messages/"),
        token,
        json!({"body": body}),
    )
    .await
}

async fn one_socket_carries_a_room_and_my_notifications(app: &App) {
    let room = live_room(app).await;
    start(app, &room).await;
    app.jobs_settled().await;
    let debate = format!("debate:{}", room.session);
    let mine = format!("user:{}", room.pro_id);

    let mut ws = socket(&app.url(), &room.pro).await;
    subscribe(&mut ws, &debate, None).await;
    subscribe(&mut ws, &mine, None).await;

    // operators see the open socket and its frames (process-wide figures, other tests
    // run alongside: at least this socket and its two subscriptions each way)
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(value("agora_ws_connections") >= 1.0, "{metrics}");
    assert!(
        value(r#"agora_ws_frames_total{direction="in"}"#) >= 2.0,
        "{metrics}"
    );
    assert!(
        value(r#"agora_ws_frames_total{direction="out"}"#) >= 2.0,
        "{metrics}"
    );

    // an argument of the other side, posted over REST
    assert_eq!(
        post_argument(app, &room.session, &room.con, "first")
            .await
            .status(),
        201
    );
    let f = expect(&mut ws, "message.created", &debate).await;
    assert_eq!(f["message"]["seq"], 1);
    assert_eq!(f["message"]["body"], "first");

    // my own argument over this socket: ack, then the room's frame
    send(
        &mut ws,
        json!({"type": "message.send", "topic": debate, "body": "second", "client_id": "c1"}),
    )
    .await;
    let ack = expect(&mut ws, "ack", &debate).await;
    assert_eq!(
        (ack["client_id"].as_str(), ack["seq"].as_i64()),
        (Some("c1"), Some(2))
    );
    assert_eq!(
        expect(&mut ws, "message.created", &debate).await["message"]["seq"],
        2
    );

    // a moderator warns me: the room tells me, and so does my notification topic
    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{}/moderation/warn/", room.session),
            &room.moderator,
            json!({"user_id": room.pro_id, "reason": "mind your words"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    app.jobs_settled().await;
    let mut seen = BTreeSet::new();
    while seen.len() < 2 {
        let f = next(&mut ws).await;
        match f["type"].as_str() {
            Some("moderation.warning") => {
                assert_eq!(f["topic"], debate.as_str());
                assert_eq!(f["reason"], "mind your words");
            }
            Some("notification.created") => {
                assert_eq!(f["topic"], mine.as_str());
                assert_eq!(f["notification"]["kind"], "moderation_action");
                assert!(f["unread"].as_u64() >= Some(1));
            }
            _ => panic!("unexpected frame {f}"),
        }
        seen.insert(f["type"].as_str().unwrap().to_owned());
    }

    // away for a while: three arguments are stored meanwhile
    drop(ws);
    for body in ["third", "fourth", "fifth"] {
        assert_eq!(
            post_argument(app, &room.session, &room.con, body)
                .await
                .status(),
            201
        );
    }
    // back, resuming after the last seq seen: exactly the missed ones, in order
    let mut ws = socket(&app.url(), &room.pro).await;
    subscribe(&mut ws, &debate, Some(2)).await;
    for (seq, body) in [(3, "third"), (4, "fourth"), (5, "fifth")] {
        let f = expect(&mut ws, "message.created", &debate).await;
        assert_eq!(
            (f["message"]["seq"].as_i64(), f["message"]["body"].as_str()),
            (Some(seq), Some(body))
        );
    }
    assert_eq!(
        post_argument(app, &room.session, &room.con, "sixth")
            .await
            .status(),
        201
    );
    assert_eq!(
        expect(&mut ws, "message.created", &debate).await["message"]["seq"],
        6
    );
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next(&mut ws).await["type"], "pong", "no duplicate queued");

    // unsubscribing stops the room's frames, not the socket
    send(&mut ws, json!({"type": "unsubscribe", "topic": debate})).await;
    expect(&mut ws, "unsubscribed", &debate).await;
    assert_eq!(
        post_argument(app, &room.session, &room.con, "seventh")
            .await
            .status(),
        201
    );
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(
        next(&mut ws).await["type"],
        "pong",
        "nothing from the room after unsubscribe"
    );
}

/// The `error` frame answering the last frame sent.
async fn refusal(ws: &mut Ws, frame: Value) -> Value {
    send(ws, frame).await;
    let f = next(ws).await;
    assert_eq!(f["type"], "error", "{f}");
    f
}

async fn bad_frames_get_error_frames_and_the_socket_survives(app: &App) {
    let room = live_room(app).await;
    let debate = format!("debate:{}", room.session);
    let mut ws = socket(&app.url(), &room.audience).await;

    let f = refusal(&mut ws, json!({"type": "subscribe", "topic": "chat:1"})).await;
    assert_eq!(
        (f["code"].as_str(), f["topic"].as_str()),
        (Some("unknown_topic"), Some("chat:1"))
    );
    let f = refusal(
        &mut ws,
        json!({"type": "subscribe", "topic": "debate:nope"}),
    )
    .await;
    assert_eq!(f["code"], "unknown_topic");
    let missing = format!("debate:{}", uuid::Uuid::new_v4());
    let f = refusal(&mut ws, json!({"type": "subscribe", "topic": missing})).await;
    assert_eq!(
        (f["code"].as_str(), f["topic"].as_str()),
        (Some("not_found"), Some(missing.as_str()))
    );
    let someone_else = format!("user:{}", room.pro_id);
    let f = refusal(&mut ws, json!({"type": "subscribe", "topic": someone_else})).await;
    assert_eq!(
        (f["code"].as_str(), f["topic"].as_str()),
        (Some("forbidden"), Some(someone_else.as_str()))
    );
    assert_eq!(
        refusal(&mut ws, json!({"type": "subscribe"})).await["code"],
        "malformed"
    );
    assert_eq!(
        refusal(
            &mut ws,
            json!({"type": "subscribe", "topic": debate, "since": -1})
        )
        .await["code"],
        "malformed"
    );
    assert_eq!(
        refusal(&mut ws, json!({"type": "dance"})).await["code"],
        "unknown_type"
    );
    send(&mut ws, json!("not an object")).await;
    assert_eq!(next(&mut ws).await["code"], "malformed");
    let f = refusal(&mut ws, json!({"type": "unsubscribe", "topic": debate})).await;
    assert_eq!(
        (f["code"].as_str(), f["topic"].as_str()),
        (Some("not_subscribed"), Some(debate.as_str()))
    );

    subscribe(&mut ws, &debate, None).await;
    let f = refusal(&mut ws, json!({"type": "subscribe", "topic": debate})).await;
    assert_eq!(
        (f["code"].as_str(), f["topic"].as_str()),
        (Some("already_subscribed"), Some(debate.as_str()))
    );

    // a private debate of another institution answers like a missing one
    let root = app.admin_token().await;
    let other = id_of(
        app.post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Elsewhere"}),
        )
        .await,
    )
    .await;
    let (mod_id, moderator) = app.user("ws_other_mod").await;
    app.grant(&root, &mod_id, "moderator", &format!("institution:{other}"))
        .await;
    let topic = id_of(
        app.post_auth(
            "/api/debates/topics/",
            &moderator,
            json!({"title": "Private", "description": "", "scope": format!("institution:{other}")}),
        )
        .await,
    )
    .await;
    let mut sessions = Vec::new();
    for i in 0..64 {
        sessions.push(
            id_of(
                app.post_auth(
                    "/api/debates/sessions/",
                    &moderator,
                    json!({"topic_id": topic, "title": format!("Round {i}"), "scheduled_start": "2030-01-01T10:00:00Z"}),
                )
                .await,
            )
            .await,
        );
    }
    let private = format!("debate:{}", sessions[0]);
    let f = refusal(&mut ws, json!({"type": "subscribe", "topic": private})).await;
    assert_eq!(
        f["code"], "not_found",
        "not forbidden: existence is not revealed"
    );

    // the moderator of that institution may read all 64, and not a 65th topic
    let mut many = socket(&app.url(), &moderator).await;
    for s in &sessions {
        subscribe(&mut many, &format!("debate:{s}"), None).await;
    }
    let f = refusal(
        &mut many,
        json!({"type": "subscribe", "topic": format!("user:{mod_id}")}),
    )
    .await;
    assert_eq!(f["code"], "too_many_subscriptions");

    // sending an argument to a topic that is not a debate, or without one
    let f = refusal(&mut ws, json!({"type": "message.send", "topic": format!("user:{}", room.pro_id), "body": "x", "client_id": "c9"})).await;
    assert_eq!(
        (f["code"].as_str(), f["client_id"].as_str()),
        (Some("forbidden"), Some("c9"))
    );
    let f = refusal(
        &mut ws,
        json!({"type": "message.send", "body": "x", "client_id": "c10"}),
    )
    .await;
    assert_eq!(f["client_id"], "c10");
    // an audience seat may not argue: refused by the same rules as REST
    let f = refusal(
        &mut ws,
        json!({"type": "message.send", "topic": debate, "body": "x", "client_id": "c11"}),
    )
    .await;
    assert_eq!(f["client_id"], "c11");
    assert!(f["code"] == "forbidden" || f["code"] == "conflict", "{f}");

    // after all that, both sockets still work
    for s in [&mut ws, &mut many] {
        send(s, json!({"type": "ping"})).await;
        assert_eq!(next(s).await["type"], "pong");
    }
}

/// Waits for the error frame that ends `topic` (and the `unsubscribed` after it),
/// skipping anything else; returns how long it took.
async fn revoked(ws: &mut Ws, topic: &str) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let f = next(ws).await;
        if f["type"] == "error" {
            assert_eq!(
                (f["code"].as_str(), f["topic"].as_str()),
                (Some("revoked"), Some(topic)),
                "{f}"
            );
            let after = next(ws).await;
            assert_eq!(
                (after["type"].as_str(), after["topic"].as_str()),
                (Some("unsubscribed"), Some(topic))
            );
            return started.elapsed();
        }
    }
}

/// The issue's story on two instances: one `/ws/` connection on B carries a room and the
/// user's notifications, resumes the room with `since`, and loses the room (not the
/// socket, not its own topic) within a second of its grant being revoked on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_ends_the_subscription_on_the_other_instance_within_a_second() {
    let Some(a) = App::postgres_redis().await else {
        return;
    };
    let b = a.another_process().await;
    let room = live_room(&a).await;
    start(&a, &room).await;
    let root = a.admin_token().await;
    let (uid, token) = a.user("ws_watcher").await;
    let grant = a.grant(&root, &uid, "student", &room.scope).await;
    let seat = a
        .post_auth(
            &format!("/api/debates/sessions/{}/join/", room.session),
            &token,
            json!({"side": "audience"}),
        )
        .await;
    assert_eq!(seat.status(), 200);
    a.jobs_settled().await;
    let debate = format!("debate:{}", room.session);
    let mine = format!("user:{uid}");

    let mut ws = socket(&b.url, &token).await;
    subscribe(&mut ws, &debate, None).await;
    subscribe(&mut ws, &mine, None).await;
    // a room frame published by A reaches B
    assert_eq!(
        post_argument(&a, &room.session, &room.con, "one")
            .await
            .status(),
        201
    );
    assert_eq!(
        expect(&mut ws, "message.created", &debate).await["message"]["seq"],
        1
    );
    // and so does a notification for me
    let res = a
        .post_auth(
            &format!("/api/debates/sessions/{}/moderation/warn/", room.session),
            &room.moderator,
            json!({"user_id": uid, "reason": "quiet please"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    a.jobs_settled().await;
    loop {
        let f = next(&mut ws).await;
        if f["type"] == "notification.created" {
            assert_eq!(f["topic"], mine.as_str());
            break;
        }
        assert_eq!(f["type"], "moderation.warning", "{f}");
    }

    // reconnect (to B again) after missing two arguments: exactly those, in order
    drop(ws);
    for body in ["two", "three"] {
        assert_eq!(
            post_argument(&a, &room.session, &room.pro, body)
                .await
                .status(),
            201
        );
    }
    let mut ws = socket(&b.url, &token).await;
    subscribe(&mut ws, &mine, None).await;
    // `subscribed`, then the stored arguments after `since`, then live frames
    subscribe(&mut ws, &debate, Some(1)).await;
    for seq in [2, 3] {
        assert_eq!(
            expect(&mut ws, "message.created", &debate).await["message"]["seq"],
            seq
        );
    }
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next(&mut ws).await["type"], "pong", "no duplicate");

    // the grant behind the room subscription is revoked on A
    assert_eq!(
        a.status(
            "DELETE",
            &format!("/api/rbac/grants/{grant}/"),
            Some(&root),
            None
        )
        .await,
        204
    );
    let took = revoked(&mut ws, &debate).await;
    assert!(
        took < Duration::from_secs(1),
        "the subscription lasted {took:?} after the revocation"
    );
    // the socket and the user's own topic stay
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next(&mut ws).await["type"], "pong");
    assert_eq!(
        post_argument(&a, &room.session, &room.pro, "four")
            .await
            .status(),
        201
    );
    let f = refusal(&mut ws, json!({"type": "subscribe", "topic": debate})).await;
    assert_eq!(f["code"], "not_found", "nothing more from the room: {f}");
    drop(b);
    a.stop().await;
}

/// Tries `n` sends over `ws` as fast as the socket takes them; returns (accepted,
/// rate-limited), checking each refusal says when to retry.
async fn socket_burst(mut ws: Ws, topic: String, n: usize, tag: &str) -> (usize, usize) {
    for i in 0..n {
        send(&mut ws, json!({"type": "message.send", "topic": topic, "body": format!("{tag} {i}"), "client_id": format!("{tag}{i}")})).await;
    }
    let (mut ok, mut limited) = (0, 0);
    while ok + limited < n {
        let f = next(&mut ws).await;
        match f["type"].as_str() {
            Some("ack") => ok += 1,
            Some("error") => {
                assert_eq!(f["code"], "rate_limited", "{f}");
                assert!(f["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{f}");
                limited += 1;
            }
            _ => {}
        }
    }
    (ok, limited)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_send_rate_for_a_user_across_sockets_rest_and_instances() {
    // 2 arguments per second, bursts of 4, for everybody
    let rates = [("AGORA_ROOM_SEND_RATES", "*=2/4")];
    let Some(a) = App::postgres_redis_with(&rates).await else {
        return;
    };
    let b = a
        .another_process_with(&rates.iter().copied().collect())
        .await;
    let room = live_room(&a).await;
    start(&a, &room).await;
    let debate = format!("debate:{}", room.session);
    let on_a = socket(&a.url(), &room.pro).await;
    let on_b = socket(&b.url, &room.pro).await;

    let started = std::time::Instant::now();
    let rest = async {
        let (mut ok, mut limited) = (0, 0);
        for i in 0..10 {
            let res = post_argument(&a, &room.session, &room.pro, &format!("rest {i}")).await;
            match res.status().as_u16() {
                201 => ok += 1,
                429 => {
                    assert!(
                        res.headers().get("retry-after").is_some(),
                        "429 says when to retry"
                    );
                    limited += 1;
                }
                other => panic!(
                    "unexpected {other}: {}",
                    res.text().await.unwrap_or_default()
                ),
            }
        }
        (ok, limited)
    };
    let (sa, sb, r) = tokio::join!(
        socket_burst(on_a, debate.clone(), 10, "a"),
        socket_burst(on_b, debate.clone(), 10, "b"),
        rest
    );
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = sa.0 + sb.0 + r.0;
    let limited = sa.1 + sb.1 + r.1;
    assert_eq!(accepted + limited, 30);
    // the burst, plus what the rate refilled while the sends went on (one more for a
    // refill landing between two of them)
    let allowed = 4.0 + 2.0 * elapsed + 1.0;
    assert!(
        (accepted as f64) <= allowed,
        "{accepted} accepted in {elapsed:.2} s, the rate allows {allowed:.1} (sockets {sa:?} {sb:?}, REST {r:?})"
    );
    assert!(accepted >= 4, "the burst is honoured: {accepted}");
    // and what was accepted is exactly what was stored
    let page: Value = a
        .get_auth(
            &format!("/api/debates/sessions/{}/messages/?limit=100", room.session),
            &room.pro,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), accepted);
    drop(b);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_protocol_is_published_as_asyncapi() {
    let app = App::memory().await;
    let res = app.get("/api/asyncapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["channels"]["socket"]["address"], "/ws/");
    let messages = doc["components"]["messages"].as_object().unwrap();
    // what a client sends and the frames the stories above receive
    for t in [
        "subscribe",
        "unsubscribe",
        "message.send",
        "ping",
        "auth",
        "subscribed",
        "unsubscribed",
        "message.created",
        "notification.created",
        "moderation.warning",
        "ack",
        "error",
        "pong",
        "presence",
        "session.status",
        "vote.tally",
    ] {
        assert!(messages.contains_key(t), "{t} is not documented");
    }
    // each code is an `enum` constant (with its description) in the ErrorCode schema
    let codes = doc["components"]["schemas"]["ErrorCode"].to_string();
    for code in [
        "revoked",
        "rate_limited",
        "too_many_subscriptions",
        "not_found",
        "unknown_topic",
    ] {
        assert!(codes.contains(&format!("\"{code}\"")), "{code} in {codes}");
    }
    // the docs page links it
    let page = app.get("/api/docs/").await.text().await.unwrap();
    assert!(page.contains("/api/asyncapi.json"));
    app.stop().await;
}
