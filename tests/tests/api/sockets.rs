//! Open sockets outlive neither their caller's sign-out nor their token: both WebSocket
//! endpoints recheck the access token on every heartbeat and close with 4401, and a
//! client renews its token in place with an `auth` frame.

use std::time::Duration;

use agora_tests::App;
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::notifications::feed;
use crate::realtime::{Ws, connect_to, live_room, next, send};

/// Short heartbeats (presence TTL 3 s → a heartbeat a second) and 10 s access tokens.
const ENV: [(&str, &str); 2] = [
    ("AGORA_PRESENCE_TTL_SECS", "3"),
    ("AGORA_ACCESS_TOKEN_TTL", "10"),
];

/// The close frame's code and reason, reading past other frames, within `within`.
async fn closed(ws: &mut Ws, within: Duration) -> (CloseCode, String) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(c)))) => return (c.code, c.reason.to_string()),
            Some(Ok(Message::Close(None))) | Some(Err(_)) | None => panic!("closed without a code"),
            Some(Ok(_)) => {}
        }
    }
}

async fn fresh_token(app: &App, username: &str) -> String {
    app.login(username, "a long passphrase for tests").await["access"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn sockets_recheck_their_token(app: &App) {
    let room = live_room(app).await;
    let mut pro = connect_to(&app.url(), &room.session, &room.pro, None).await;

    // another user's token does not take the socket over; it stays open
    send(&mut pro, json!({"type": "auth", "token": room.con})).await;
    let f = next(&mut pro).await;
    assert_eq!(
        (f["type"].as_str(), f["code"].as_str()),
        (Some("error"), Some("unauthorized")),
        "{f}"
    );
    send(&mut pro, json!({"type": "auth", "token": "not a token"})).await;
    assert_eq!(next(&mut pro).await["code"], "unauthorized");
    send(&mut pro, json!({"type": "auth"})).await;
    assert_eq!(next(&mut pro).await["code"], "malformed");

    // a fresh token of one's own is taken
    let renewed = fresh_token(app, "rt_pro").await;
    send(&mut pro, json!({"type": "auth", "token": renewed})).await;
    let ok = next(&mut pro).await;
    assert_eq!(ok["type"], "auth.ok", "{ok}");
    assert!(ok["expires_at"].is_string());

    // signing out (the renewed token's session) closes the room socket and the feed
    let mut feed_ws = feed(&app.url(), &renewed).await;
    let res = app
        .post_auth("/api/users/logout/", &renewed, json!({}))
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let (code, why) = closed(&mut pro, Duration::from_secs(5)).await;
    assert_eq!((u16::from(code), why.as_str()), (4401, "signed out"));
    let (code, _) = closed(&mut feed_ws, Duration::from_secs(15)).await;
    assert_eq!(u16::from(code), 4401);

    // an access token that expires closes its socket too
    let mut con = connect_to(&app.url(), &room.session, &room.con, None).await;
    let (code, why) = closed(&mut con, Duration::from_secs(15)).await;
    assert_eq!(u16::from(code), 4401);
    assert!(why.starts_with("access token expired"), "{why}");
}

mod sockets_recheck_their_token {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        let app = agora_tests::App::memory_with(&super::ENV).await;
        super::sockets_recheck_their_token(&app).await;
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(app) = agora_tests::App::postgres_redis_with(&super::ENV).await else {
            return;
        };
        super::sockets_recheck_their_token(&app).await;
        app.stop().await;
    }
}
