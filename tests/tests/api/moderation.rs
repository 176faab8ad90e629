//! Moderation (mute, unmute, remove, warn, remove a message, the record of actions) and
//! voting (the window after close, one vote per user per ballot, live tallies), over REST
//! and the room's WebSocket, in both storage modes and across two server processes.

use std::time::Duration;

use agora_tests::{App, assert_problem};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::realtime::{
    Room, Ws, close_code, connect_to, id_of, live_room, next, next_of, nothing_pending, send, start,
};

crate::both_modes!(
    moderation_refusals,
    mute_and_unmute,
    warn_remove_message_and_remove,
    actions_are_recorded_and_listed,
    voting_window_and_ballots,
    concurrent_votes_count_once
);

fn base(room: &Room) -> String {
    format!("/api/debates/sessions/{}", room.session)
}

async fn moderate(
    app: &App,
    room: &Room,
    token: &str,
    action: &str,
    body: Value,
) -> reqwest::Response {
    app.post_auth(&format!("{}/moderation/{action}/", base(room)), token, body)
        .await
}

async fn post_message(app: &App, room: &Room, token: &str, body: &str) -> reqwest::Response {
    app.post_auth(
        &format!("{}/messages/", base(room)),
        token,
        json!({"body": body}),
    )
    .await
}

/// The user id behind a token.
async fn me(app: &App, token: &str) -> String {
    let res = app.get_auth("/api/users/me/", token).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A moderator of another institution.
async fn foreign_moderator(app: &App) -> String {
    let root = app.admin_token().await;
    let other = id_of(
        app.post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Elsewhere College"}),
        )
        .await,
    )
    .await;
    let (id, token) = app.user("far_mod").await;
    app.grant(&root, &id, "moderator", &format!("institution:{other}"))
        .await;
    token
}

async fn moderation_refusals(app: &App) {
    let room = live_room(app).await;
    start(app, &room).await;
    let con_id = me(app, &room.con).await;
    let target = json!({"user_id": con_id});

    // a student cannot moderate
    let res = moderate(app, &room, &room.pro, "mute", target.clone()).await;
    assert_problem(res, 403).await;
    // a moderator of another institution cannot moderate this one's session, nor even
    // learn that it exists (private by default: 404 like a missing session)
    let far = foreign_moderator(app).await;
    for action in ["mute", "unmute", "remove", "warn"] {
        let body = json!({"user_id": con_id, "reason": "no"});
        assert_problem(moderate(app, &room, &far, action, body).await, 404).await;
    }
    let res = app
        .post_auth(
            &format!("{}/messages/1/remove/", base(&room)),
            &far,
            json!({}),
        )
        .await;
    assert_problem(res, 404).await;
    // nobody moderates themselves
    let mod_id = me(app, &room.moderator).await;
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "mute",
        json!({"user_id": mod_id}),
    )
    .await;
    assert_problem(res, 403).await;
    // bad input
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "mute",
        json!({"user_id": con_id, "duration_seconds": 0}),
    )
    .await;
    assert_problem(res, 422).await;
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "warn",
        json!({"user_id": con_id}),
    )
    .await;
    assert_problem(res, 422).await;
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "mute",
        json!({"user_id": "nope"}),
    )
    .await;
    assert!(res.status().is_client_error());
    let res = app
        .post_auth(
            &format!("{}/messages/99/remove/", base(&room)),
            &room.moderator,
            json!({}),
        )
        .await;
    assert_problem(res, 404).await;
    // guests learn nothing of a private session
    let res = app
        .post(&format!("{}/moderation/mute/", base(&room)), target)
        .await;
    assert_problem(res, 404).await;
}

async fn mute_and_unmute(app: &App) {
    let room = live_room(app).await;
    start(app, &room).await;
    let mut pro = connect_to(&app.url(), &room.session, &room.pro, None).await;
    let mut audience = connect_to(&app.url(), &room.session, &room.audience, None).await;

    // muted for 5 minutes: told live, refused on REST and over the socket
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "mute",
        json!({"user_id": room.pro_id, "duration_seconds": 300, "reason": "cool down"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let action: Value = res.json().await.unwrap();
    assert_eq!(action["kind"], "mute");
    assert!(action["expires_at"].is_string());
    let told = next(&mut pro).await;
    assert_eq!(told["type"], "moderation.muted", "{told}");
    assert_eq!(told["reason"], "cool down");
    let problem = assert_problem(
        post_message(app, &room, &room.pro, "Let me speak").await,
        403,
    )
    .await;
    assert_eq!(problem["title"], "Muted", "{problem}");
    send(
        &mut pro,
        json!({"type": "message.send", "body": "Still me", "client_id": "m1"}),
    )
    .await;
    let refused = next(&mut pro).await;
    assert_eq!(refused["code"], "muted", "{refused}");
    // the rest of the room never heard of it
    nothing_pending(&mut audience).await;
    // others still speak
    assert_eq!(
        post_message(app, &room, &room.con, "My turn")
            .await
            .status(),
        201
    );

    // the mute ends by the clock
    app.advance(Duration::from_secs(300));
    assert_eq!(
        post_message(app, &room, &room.pro, "Back").await.status(),
        201
    );

    // until lifted: then unmuted, and heard again
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "mute",
        json!({"user_id": room.pro_id}),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert!(res.json::<Value>().await.unwrap()["expires_at"].is_null());
    assert_problem(post_message(app, &room, &room.pro, "Hello?").await, 403).await;
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "unmute",
        json!({"user_id": room.pro_id}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["kind"], "unmute");
    assert_eq!(
        next_of(&mut pro, "moderation.unmuted").await["target"],
        room.pro_id
    );
    send(
        &mut pro,
        json!({"type": "message.send", "body": "Thanks", "client_id": "m2"}),
    )
    .await;
    assert_eq!(next_of(&mut pro, "ack").await["client_id"], "m2");
    // unmuting someone who is not muted
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "unmute",
        json!({"user_id": room.pro_id}),
    )
    .await;
    assert!(
        matches!(res.status().as_u16(), 404 | 409),
        "{}",
        res.status()
    );
}

async fn warn_remove_message_and_remove(app: &App) {
    let room = live_room(app).await;
    start(app, &room).await;
    let con_id = me(app, &room.con).await;
    let mut pro = connect_to(&app.url(), &room.session, &room.pro, None).await;
    let mut con = connect_to(&app.url(), &room.session, &room.con, None).await;
    let mut audience = connect_to(&app.url(), &room.session, &room.audience, None).await;

    // a warning reaches its target only
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "warn",
        json!({"user_id": room.pro_id, "reason": "Stay on topic"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let w = next(&mut pro).await;
    assert_eq!(
        (w["type"].as_str(), w["reason"].as_str()),
        (Some("moderation.warning"), Some("Stay on topic"))
    );
    nothing_pending(&mut con).await;

    // a removed message disappears live and shows as removed, the original kept for moderators
    let res = post_message(app, &room, &room.pro, "Something rude").await;
    assert_eq!(res.status(), 201);
    let seq = res.json::<Value>().await.unwrap()["seq"].as_i64().unwrap();
    assert_eq!(
        next_of(&mut audience, "message.created").await["message"]["seq"],
        seq
    );
    // a malformed body is refused, not taken as "no reason"
    let res = app
        .client
        .post(app.at(&format!("{}/messages/{seq}/remove/", base(&room))))
        .bearer_auth(&room.moderator)
        .header("content-type", "application/json")
        .body("{\"reason\": ")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400).await;
    let res = app
        .post_auth(
            &format!("{}/messages/{seq}/remove/", base(&room)),
            &room.moderator,
            json!({"reason": "rude"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let removed = next(&mut audience).await;
    assert_eq!(
        removed,
        json!({"type": "message.removed", "topic": format!("debate:{}", room.session), "seq": seq})
    );
    let page: Value = app
        .get_auth(&format!("{}/messages/", base(&room)), &room.audience)
        .await
        .json()
        .await
        .unwrap();
    let m = &page["items"][0];
    assert!(m["removed"].is_object(), "{m}");
    assert_ne!(m["body"], "Something rude", "hidden from students: {m}");
    let page: Value = app
        .get_auth(&format!("{}/messages/", base(&room)), &room.moderator)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"][0]["body"], "Something rude",
        "kept for moderators"
    );
    let md = app
        .get_auth(
            &format!("{}/transcript/?format=markdown", base(&room)),
            &room.audience,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        md.contains("removed by a moderator") && !md.contains("Something rude"),
        "{md}"
    );
    let again = app
        .post_auth(
            &format!("{}/messages/{seq}/remove/", base(&room)),
            &room.moderator,
            json!({}),
        )
        .await;
    assert_problem(again, 409).await;

    // removal: the socket is closed with 4403, and there is no way back in
    let res = moderate(
        app,
        &room,
        &room.moderator,
        "remove",
        json!({"user_id": con_id, "reason": "disruptive"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        next_of(&mut con, "moderation.removed").await["target"],
        con_id.as_str()
    );
    assert_eq!(close_code(&mut con).await.map(u16::from), Some(4403));
    // everybody sees the seat freed
    let left = next_of(&mut audience, "participant.left").await;
    assert_eq!(left["participant"]["user_id"], con_id.as_str());
    assert!(left["participant"]["left_at"].is_string());
    let rejoin = app
        .post_auth(
            &format!("{}/join/", base(&room)),
            &room.con,
            json!({"side": "con"}),
        )
        .await;
    assert_problem(rejoin, 403).await;
    let url = crate::realtime::ws_url(&app.url(), &room.session, &format!("?token={}", room.con));
    let refused = tokio_tungstenite::connect_async(url).await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 403),
        "the handshake is refused"
    );
    assert_problem(post_message(app, &room, &room.con, "I'm back").await, 403).await;
    // the others carry on
    assert_eq!(next_of(&mut pro, "message.removed").await["seq"], seq);
    assert_eq!(
        next_of(&mut pro, "participant.left").await["participant"]["side"],
        "con"
    );
    nothing_pending(&mut pro).await;
}

async fn actions_are_recorded_and_listed(app: &App) {
    let room = live_room(app).await;
    start(app, &room).await;
    let con_id = me(app, &room.con).await;
    for (action, body) in [
        ("warn", json!({"user_id": room.pro_id, "reason": "first"})),
        (
            "mute",
            json!({"user_id": room.pro_id, "duration_seconds": 60}),
        ),
        ("unmute", json!({"user_id": room.pro_id})),
        ("remove", json!({"user_id": con_id})),
    ] {
        let res = moderate(app, &room, &room.moderator, action, body).await;
        assert!(res.status().is_success(), "{action}: {}", res.status());
    }
    let list = |q: String| {
        let token = room.moderator.clone();
        async move {
            app.get_auth(&format!("/api/moderation/actions/{q}"), &token)
                .await
        }
    };
    let res = list(format!("?session_id={}", room.session)).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["remove", "unmute", "mute", "warn"], "newest first");
    let mute = &page["items"][2];
    assert_eq!(mute["duration_seconds"], 60);
    assert_eq!(mute["target_user_id"], room.pro_id);
    assert_eq!(mute["actor_id"], me(app, &room.moderator).await);

    // filters and pages
    let page: Value = list(format!("?session_id={}&kind=mute", room.session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let first: Value = list(format!("?scope={}&limit=3", room.scope))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next"].as_str().unwrap();
    let rest: Value = list(format!("?scope={}&limit=3&after={cursor}", room.scope))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["kind"], "warn");
    assert!(rest["next"].is_null());
    let res = list(format!("?session_id={}&kind=dance", room.session)).await;
    assert_problem(res, 422).await;

    // moderators of that scope only
    let res = app
        .get_auth(
            &format!("/api/moderation/actions/?session_id={}", room.session),
            &room.pro,
        )
        .await;
    assert_problem(res, 403).await;
    let far = foreign_moderator(app).await;
    let res = app
        .get_auth(
            &format!("/api/moderation/actions/?session_id={}", room.session),
            &far,
        )
        .await;
    assert_problem(res, 403).await;
    let res = app
        .get_auth(
            &format!("/api/moderation/actions/?scope={}", room.scope),
            &far,
        )
        .await;
    assert_problem(res, 403).await;
    // without a filter: the scopes the reader moderates (here the room's), none for
    // the moderator of another institution
    let all: Value = list(String::new()).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    let res = app.get_auth("/api/moderation/actions/", &far).await;
    assert_eq!(res.status(), 200);
    let theirs: Value = res.json().await.unwrap();
    assert!(theirs["items"].as_array().unwrap().is_empty());
    let root = app.admin_token().await;
    let res = app.get_auth("/api/moderation/actions/", &root).await;
    assert_eq!(res.status(), 200);
}

/// Shortens the session's voting window.
async fn voting_window(app: &App, room: &Room, seconds: u32) {
    let res = app
        .client
        .patch(app.at(&format!("{}/", base(room))))
        .bearer_auth(&room.moderator)
        .json(&json!({"voting_window_seconds": seconds}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["voting_window_seconds"],
        seconds
    );
}

async fn vote(app: &App, room: &Room, token: &str, body: Value) -> reqwest::Response {
    app.post_auth(&format!("{}/votes/", base(room)), token, body)
        .await
}

async fn results(app: &App, room: &Room) -> Value {
    let res = app
        .get_auth(&format!("{}/results/", base(room)), &room.audience)
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn voting_window_and_ballots(app: &App) {
    let room = live_room(app).await;
    voting_window(app, &room, 300).await;
    start(app, &room).await;
    let pro_seq = post_message(app, &room, &room.pro, "Pro argument").await;
    let pro_seq = pro_seq.json::<Value>().await.unwrap()["seq"]
        .as_i64()
        .unwrap();
    let con_seq = post_message(app, &room, &room.con, "Con argument").await;
    let con_seq = con_seq.json::<Value>().await.unwrap()["seq"]
        .as_i64()
        .unwrap();
    let winner = |side: &str| json!({"ballot": "winner", "side": side});

    // not before the session closes
    assert_problem(vote(app, &room, &room.audience, winner("pro")).await, 409).await;
    let mut audience = connect_to(&app.url(), &room.session, &room.audience, None).await;
    let res = app
        .post_auth(
            &format!("{}/close/", base(&room)),
            &room.moderator,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let closed: Value = res.json().await.unwrap();
    assert!(closed["voting_closes_at"].is_string(), "{closed}");

    // once per ballot, changeable while open
    let res = vote(app, &room, &room.audience, winner("pro")).await;
    assert_eq!(res.status(), 201);
    let res = vote(app, &room, &room.audience, winner("con")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["replaced"], true);
    // debaters do not vote for the winner: the audience decides
    assert_problem(vote(app, &room, &room.pro, winner("pro")).await, 403).await;
    assert_problem(vote(app, &room, &room.con, winner("con")).await, 403).await;
    // not for one's own argument
    let own = json!({"ballot": "best_argument", "seq": pro_seq});
    assert_problem(vote(app, &room, &room.pro, own.clone()).await, 403).await;
    let theirs = json!({"ballot": "best_argument", "seq": con_seq});
    assert_eq!(vote(app, &room, &room.pro, theirs).await.status(), 201);
    assert_eq!(vote(app, &room, &room.con, own).await.status(), 201);
    // bad ballots
    for bad in [
        json!({"ballot": "loudest", "side": "pro"}),
        json!({"ballot": "winner", "side": "audience"}),
        json!({"ballot": "winner"}),
        json!({"ballot": "best_argument"}),
    ] {
        assert_problem(vote(app, &room, &room.audience, bad).await, 422).await;
    }
    assert_problem(
        vote(
            app,
            &room,
            &room.audience,
            json!({"ballot": "best_argument", "seq": 99}),
        )
        .await,
        404,
    )
    .await;
    // only those who took part: a member who never sat is refused, an outsider does
    // not even see the session
    let root = app.admin_token().await;
    let (member_id, member) = app.user("never_seated").await;
    app.grant(&root, &member_id, "student", &room.scope).await;
    assert_problem(vote(app, &room, &member, winner("pro")).await, 403).await;
    let (_, stranger) = app.user("stranger").await;
    assert_problem(vote(app, &room, &stranger, winner("pro")).await, 404).await;

    // live, coalesced tallies
    let tally = loop {
        let f = next_of(&mut audience, "vote.tally").await;
        if f["results"]["turnout"] == 3 && f["results"]["arguments"].as_array().unwrap().len() == 2
        {
            break f;
        }
    };
    assert_eq!(tally["results"]["pro"], 0);
    assert_eq!(tally["results"]["con"], 1);
    let r = results(app, &room).await;
    assert_eq!((r["pro"].as_u64(), r["con"].as_u64()), (Some(0), Some(1)));
    assert_eq!(r["winner"], "con", "{r}");
    assert_eq!(r["turnout"], 3);
    assert_eq!(r["eligible"], 3);
    assert_eq!(r["open"], true);

    // none after the window
    app.advance(Duration::from_secs(300));
    assert_problem(vote(app, &room, &room.audience, winner("pro")).await, 409).await;
    let r = results(app, &room).await;
    assert_eq!(r["open"], false);
    assert_eq!(r["pro"], 0, "the late vote was not counted");
}

async fn concurrent_votes_count_once(app: &App) {
    const VOTERS: usize = 12;
    const TRIES: usize = 5;
    let room = live_room(app).await;
    let root = app.admin_token().await;
    let mut voters = Vec::new();
    for i in 0..VOTERS {
        let (id, token) = app.user(&format!("voter_{i}")).await;
        app.grant(&root, &id, "student", &room.scope).await;
        let res = app
            .post_auth(
                &format!("{}/join/", base(&room)),
                &token,
                json!({"side": "audience"}),
            )
            .await;
        assert_eq!(res.status(), 200);
        voters.push(token);
    }
    start(app, &room).await;
    let res = app
        .post_auth(
            &format!("{}/close/", base(&room)),
            &room.moderator,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // every voter submits the same vote several times at once; a third vote con
    let room = &room;
    let sends = voters.iter().enumerate().flat_map(|(i, token)| {
        let side = if i % 3 == 0 { "con" } else { "pro" };
        (0..TRIES).map(move |_| vote(app, room, token, json!({"ballot": "winner", "side": side})))
    });
    let statuses: Vec<u16> = join_all(sends)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{statuses:?}"
    );
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(
        created, VOTERS,
        "exactly one new vote per voter: {statuses:?}"
    );
    let r = results(app, room).await;
    assert_eq!(r["con"], VOTERS.div_ceil(3));
    assert_eq!(r["pro"], VOTERS - VOTERS.div_ceil(3));
    assert_eq!(r["turnout"], VOTERS);
}

/// A mute or a removal issued on one instance takes effect on sockets held by another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_reaches_every_instance() {
    let Some(a) = App::postgres_redis().await else {
        return;
    };
    let b = a.another_process().await;
    let room = live_room(&a).await;
    start(&a, &room).await;
    let con_id = me(&a, &room.con).await;
    let mut pro_on_b: Ws = connect_to(&b.url, &room.session, &room.pro, None).await;
    let mut con_on_b: Ws = connect_to(&b.url, &room.session, &room.con, None).await;

    let res = moderate(
        &a,
        &room,
        &room.moderator,
        "mute",
        json!({"user_id": room.pro_id}),
    )
    .await;
    assert_eq!(res.status(), 201);
    send(
        &mut pro_on_b,
        json!({"type": "message.send", "body": "On B", "client_id": "b1"}),
    )
    .await;
    assert_eq!(next_of(&mut pro_on_b, "error").await["code"], "muted");

    let res = moderate(
        &a,
        &room,
        &room.moderator,
        "remove",
        json!({"user_id": con_id}),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(close_code(&mut con_on_b).await.map(u16::from), Some(4403));
    drop(b);
    a.stop().await;
}
