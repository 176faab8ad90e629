//! Notifications: a moderator's action notifies its target (listed, counted, marked read,
//! deleted, never reachable by another user), per-kind preferences (`none` stores
//! nothing), and the live feed `/ws/notifications/` on one instance and across two
//! server processes.

use std::time::Duration;

use agora_tests::{App, assert_problem};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self};

use crate::realtime::{Room, Ws, close_code, live_room, next, send, start};

const WAIT: Duration = Duration::from_secs(10);

crate::both_modes!(
    a_warning_notifies_its_target,
    preferences_choose_the_channel,
    notification_refusals,
    new_notifications_are_pushed_live
);

async fn warn(app: &App, room: &Room, user_id: &str, reason: &str) {
    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{}/moderation/warn/", room.session),
            &room.moderator,
            json!({"user_id": user_id, "reason": reason}),
        )
        .await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    // the notification is the reaction to the recorded event, run by the job worker
    app.jobs_settled().await;
}

/// A live room whose members start with no notifications: the roles the set-up granted
/// them were told (`role_granted`), and those notices are deleted here so each test
/// counts only what it causes.
async fn quiet_room(app: &App) -> Room {
    let room = live_room(app).await;
    app.jobs_settled().await;
    for token in [&room.moderator, &room.pro, &room.con, &room.audience] {
        let page = list(app, token, "").await;
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["kind"], "role_granted", "{item}");
            let id = item["id"].as_str().unwrap();
            let res = app
                .delete_auth(&format!("/api/notifications/{id}/"), token)
                .await;
            assert_eq!(res.status(), 204);
        }
    }
    room
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    res.json().await.unwrap()
}

async fn list(app: &App, token: &str, query: &str) -> Value {
    json_of(
        app.get_auth(&format!("/api/notifications/{query}"), token)
            .await,
        200,
    )
    .await
}

async fn unread(app: &App, token: &str) -> u64 {
    let body = json_of(
        app.get_auth("/api/notifications/unread-count/", token)
            .await,
        200,
    )
    .await;
    body["count"].as_u64().unwrap()
}

async fn a_warning_notifies_its_target(app: &App) {
    let room = quiet_room(app).await;
    start(app, &room).await;
    warn(app, &room, &room.pro_id, "be civil").await;

    let page = list(app, &room.pro, "").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let warning = &items[0];
    assert_eq!(warning["kind"], "moderation_action");
    assert_eq!(warning["title"], "You were warned in “Round”");
    assert!(
        warning["body"].as_str().unwrap().contains("be civil"),
        "{warning}"
    );
    assert_eq!(
        warning["link"],
        format!("/api/debates/sessions/{}/", room.session)
    );
    assert!(warning["read_at"].is_null());
    assert!(page["next"].is_null());
    let id = warning["id"].as_str().unwrap().to_owned();
    assert_eq!(unread(app, &room.pro).await, 1);
    assert_eq!(
        list(app, &room.pro, "?unread=true").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // the moderator and other participants were not notified
    assert_eq!(unread(app, &room.con).await, 0);
    assert_eq!(unread(app, &room.moderator).await, 0);

    // nobody else can read or delete it: it does not exist for them
    let res = app
        .post_auth(
            &format!("/api/notifications/{id}/read/"),
            &room.con,
            json!({}),
        )
        .await;
    assert_problem(res, 404).await;
    let res = app
        .delete_auth(&format!("/api/notifications/{id}/"), &room.con)
        .await;
    assert_problem(res, 404).await;
    assert_eq!(unread(app, &room.pro).await, 1);

    // read, then read again
    let res = app
        .post_auth(
            &format!("/api/notifications/{id}/read/"),
            &room.pro,
            json!({}),
        )
        .await;
    assert_eq!(
        json_of(res, 200).await,
        json!({"id": id, "was_unread": true})
    );
    let res = app
        .post_auth(
            &format!("/api/notifications/{id}/read/"),
            &room.pro,
            json!({}),
        )
        .await;
    assert_eq!(json_of(res, 200).await["was_unread"], false);
    assert_eq!(unread(app, &room.pro).await, 0);
    assert!(
        list(app, &room.pro, "?unread=true").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(list(app, &room.pro, "").await["items"][0]["read_at"].is_string());

    // a mute adds one, newest first; read-all marks it
    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{}/moderation/mute/", room.session),
            &room.moderator,
            json!({"user_id": room.pro_id, "duration_seconds": 600, "reason": "spam"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    app.jobs_settled().await;
    assert_eq!(unread(app, &room.pro).await, 1);
    let page = list(app, &room.pro, "?limit=1").await;
    assert_eq!(page["items"][0]["title"], "You were muted in “Round”");
    let body = page["items"][0]["body"].as_str().unwrap();
    assert!(body.contains("spam") && body.contains("Until "), "{body}");
    let next_page = page["next"].as_str().unwrap();
    let older = list(app, &room.pro, &format!("?limit=1&after={next_page}")).await;
    assert_eq!(older["items"][0]["id"], id.as_str());
    let res = app
        .post_auth("/api/notifications/read-all/", &room.pro, json!({}))
        .await;
    assert_eq!(json_of(res, 200).await, json!({"marked": 1}));
    assert_eq!(unread(app, &room.pro).await, 0);
    let res = app
        .post_auth("/api/notifications/read-all/", &room.pro, json!({}))
        .await;
    assert_eq!(json_of(res, 200).await, json!({"marked": 0}));

    // delete: gone for good
    let res = app
        .delete_auth(&format!("/api/notifications/{id}/"), &room.pro)
        .await;
    assert_eq!(res.status(), 204);
    for res in [
        app.delete_auth(&format!("/api/notifications/{id}/"), &room.pro)
            .await,
        app.post_auth(
            &format!("/api/notifications/{id}/read/"),
            &room.pro,
            json!({}),
        )
        .await,
    ] {
        assert_problem(res, 404).await;
    }
    assert_eq!(
        list(app, &room.pro, "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn preferences_choose_the_channel(app: &App) {
    let room = quiet_room(app).await;
    start(app, &room).await;
    let prefs = json_of(
        app.get_auth("/api/notifications/preferences/", &room.pro)
            .await,
        200,
    )
    .await;
    let items = prefs["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "debate_scheduled",
            "session_rescheduled",
            "moderation_action",
            "results_published",
            "role_granted"
        ]
    );
    assert_eq!(
        items[2],
        json!({"kind": "moderation_action", "channel": "both", "chosen": false})
    );

    let put = |kind: &str, body: Value| {
        let url = app.at(&format!("/api/notifications/preferences/{kind}/"));
        app.client
            .put(url)
            .bearer_auth(&room.pro)
            .json(&body)
            .send()
    };
    // refusals name the bad field
    let res = put("moderation_action", json!({"channel": "sms"}))
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "channel", "{body}");
    let res = put("no_such_kind", json!({"channel": "email"}))
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "kind", "{body}");
    assert_problem(put("moderation_action", json!({})).await.unwrap(), 422).await;
    assert_problem(
        put("moderation_action", json!({"channel": 3}))
            .await
            .unwrap(),
        400,
    )
    .await;

    // `none`: nothing stored
    let res = put("moderation_action", json!({"channel": "none"}))
        .await
        .unwrap();
    assert_eq!(
        json_of(res, 200).await,
        json!({"kind": "moderation_action", "channel": "none", "chosen": true})
    );
    let prefs = json_of(
        app.get_auth("/api/notifications/preferences/", &room.pro)
            .await,
        200,
    )
    .await;
    assert_eq!(prefs["items"][2]["channel"], "none");
    assert_eq!(prefs["items"][2]["chosen"], true);
    assert_eq!(prefs["items"][0]["chosen"], false);
    warn(app, &room, &room.pro_id, "first").await;
    assert_eq!(unread(app, &room.pro).await, 0);
    assert!(
        list(app, &room.pro, "").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // `email`: nothing stored in the app either; `in_app`: stored
    let res = put("moderation_action", json!({"channel": "email"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    warn(app, &room, &room.pro_id, "second").await;
    assert_eq!(unread(app, &room.pro).await, 0);
    let res = put("moderation_action", json!({"channel": "in_app"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    warn(app, &room, &room.pro_id, "third").await;
    assert_eq!(unread(app, &room.pro).await, 1);
    let page = list(app, &room.pro, "").await;
    assert!(page["items"][0]["body"].as_str().unwrap().contains("third"));
}

async fn notification_refusals(app: &App) {
    let token = app.signed_up("notif_refusals").await;
    let zero = "00000000-0000-0000-0000-000000000000";
    // no token, a bad token
    for path in [
        "/api/notifications/",
        "/api/notifications/unread-count/",
        "/api/notifications/preferences/",
    ] {
        assert_problem(app.get(path).await, 401).await;
        assert_problem(app.get_auth(path, "not.a.jwt").await, 401).await;
    }
    assert_problem(
        app.post("/api/notifications/read-all/", json!({})).await,
        401,
    )
    .await;
    assert_problem(
        app.post(&format!("/api/notifications/{zero}/read/"), json!({}))
            .await,
        401,
    )
    .await;
    // bad ids and cursors are client errors, never 500
    let res = app
        .post_auth("/api/notifications/not-a-uuid/read/", &token, json!({}))
        .await;
    assert_problem(res, 404).await;
    let res = app
        .delete_auth("/api/notifications/not-a-uuid/", &token)
        .await;
    assert_problem(res, 404).await;
    let res = app
        .get_auth("/api/notifications/?after=garbage", &token)
        .await;
    assert_problem(res, 400).await;
    let res = app
        .get_auth("/api/notifications/?unread=maybe", &token)
        .await;
    assert_problem(res, 400).await;
    let res = app
        .post_auth(
            &format!("/api/notifications/{zero}/read/"),
            &token,
            json!({}),
        )
        .await;
    assert_problem(res, 404).await;
    // an empty account
    assert_eq!(unread(app, &token).await, 0);
    let page = list(app, &token, "?limit=5").await;
    assert_eq!(page, json!({"items": [], "next": null}));

    // the live feed refuses before upgrading
    let url = feed_url(&app.url(), None);
    assert_eq!(refused(&url, None).await, 401);
    assert_eq!(
        refused(&feed_url(&app.url(), Some("junk")), None).await,
        401
    );
    let url = feed_url(&app.url(), Some(&token));
    assert_eq!(refused(&url, Some("https://evil.example")).await, 403);
}

pub(crate) fn feed_url(base: &str, token: Option<&str>) -> String {
    let query = token.map_or_else(String::new, |t| format!("?token={t}"));
    format!(
        "{}/ws/notifications/{query}",
        base.replacen("http://", "ws://", 1)
    )
}

pub(crate) async fn feed(base: &str, token: &str) -> Ws {
    let (ws, res) = timeout(WAIT, connect_async(feed_url(base, Some(token))))
        .await
        .expect("handshake in time")
        .expect("handshake accepted");
    assert_eq!(res.status().as_u16(), 101);
    ws
}

async fn refused(url: &str, origin: Option<&str>) -> u16 {
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

/// Nothing else is queued: a ping is answered by the very next frame.
async fn nothing_pending(ws: &mut Ws) {
    send(ws, json!({"type": "ping"})).await;
    assert_eq!(next(ws).await, json!({"type": "pong"}));
}

async fn new_notifications_are_pushed_live(app: &App) {
    let room = quiet_room(app).await;
    start(app, &room).await;
    // two connections of the target, one of somebody else
    let mut first = feed(&app.url(), &room.pro).await;
    let mut second = feed(&app.url(), &room.pro).await;
    let mut other = feed(&app.url(), &room.con).await;
    nothing_pending(&mut first).await;

    warn(app, &room, &room.pro_id, "be civil").await;
    let stored = list(app, &room.pro, "").await["items"][0].clone();
    for ws in [&mut first, &mut second] {
        let f = next(ws).await;
        assert_eq!(f["type"], "notification.created", "{f}");
        assert_eq!(f["unread"], 1);
        assert_eq!(f["notification"], stored);
        nothing_pending(ws).await;
    }
    nothing_pending(&mut other).await;

    // the feed only listens
    send(&mut first, json!({"type": "message.send", "body": "x"})).await;
    let f = next(&mut first).await;
    assert_eq!(
        (f["type"].as_str(), f["code"].as_str()),
        (Some("error"), Some("unknown_type"))
    );
    send(&mut first, json!("not an object")).await;
    assert_eq!(next(&mut first).await["code"], "malformed");

    // a second one counts up
    warn(app, &room, &room.pro_id, "again").await;
    assert_eq!(next(&mut second).await["unread"], 2);
    let _ = first.close(None).await;
    let _ = second.close(None).await;
    let _ = other.close(None).await;
}

/// Graceful shutdown closes open feeds with 1001 (going away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_feeds_with_1001() {
    let app = App::memory().await;
    let token = app.signed_up("notif_shutdown").await;
    let mut ws = feed(&app.url(), &token).await;
    nothing_pending(&mut ws).await;
    let stopping = tokio::spawn(app.stop());
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Away));
    drop(ws);
    timeout(WAIT, stopping)
        .await
        .expect("stops promptly")
        .unwrap();
}

/// The target connected to instance B hears of a warning issued on instance A (another
/// process sharing PostgreSQL and Redis), once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_every_instance() {
    let Some(a) = App::postgres_redis().await else {
        return;
    };
    let b = a.another_process().await;
    let room = quiet_room(&a).await;
    start(&a, &room).await;
    let mut on_b = feed(&b.url, &room.pro).await;
    let mut on_a = feed(&a.url(), &room.pro).await;
    nothing_pending(&mut on_b).await;

    warn(&a, &room, &room.pro_id, "from A").await;
    for ws in [&mut on_b, &mut on_a] {
        let f = next(ws).await;
        assert_eq!(f["type"], "notification.created", "{f}");
        assert_eq!(f["unread"], 1);
        assert!(
            f["notification"]["body"]
                .as_str()
                .unwrap()
                .contains("from A")
        );
        nothing_pending(ws).await;
    }
    // B serves the same list and count
    let count: Value = a
        .client
        .get(format!("{}/api/notifications/unread-count/", b.url))
        .bearer_auth(&room.pro)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count, json!({"count": 1}));
    let _ = on_a.close(None).await;
    let _ = on_b.close(None).await;
    drop(b);
    a.stop().await;
}
