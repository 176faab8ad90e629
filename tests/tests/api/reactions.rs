//! What domain events set off, as users see it: the notifications (and e-mails) that
//! follow a scheduled, moved or closed debate and a granted role — run by the job worker
//! from the transactional outbox, so they also survive a crash of the server that
//! committed the change.

use std::collections::HashMap;
use std::time::Duration;

use agora_tests::App;
use serde_json::{Value, json};

use crate::realtime::{Room, id_of, live_room, start};

async fn notifications(app: &App, token: &str) -> Vec<Value> {
    let res = app.get_auth("/api/notifications/?limit=100", token).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

/// `token`'s notifications of `kind`.
async fn of_kind(app: &App, token: &str, kind: &str) -> Vec<Value> {
    notifications(app, token)
        .await
        .into_iter()
        .filter(|n| n["kind"] == kind)
        .collect()
}

async fn create(app: &App, token: &str, path: &str, body: Value) -> String {
    id_of(app.post_auth(path, token, body).await).await
}

async fn add_member(app: &App, root: &str, unit: &str, user: &str) {
    let res = app
        .post_auth(&format!("{unit}members/"), root, json!({"user_id": user}))
        .await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

/// A session scheduled in an institution is told to the members of the institution and
/// of the units inside it — not to members elsewhere, nor to its creator; a granted
/// role is told to its holder.
async fn scheduled_debates_reach_the_members_of_their_unit(app: &App) {
    let root = app.admin_token().await;
    let inst = create(
        app,
        &root,
        "/api/org/institutions/",
        json!({"name": "North"}),
    )
    .await;
    let other = create(
        app,
        &root,
        "/api/org/institutions/",
        json!({"name": "South"}),
    )
    .await;
    let campus = create(
        app,
        &root,
        "/api/org/campuses/",
        json!({"institution_id": inst, "name": "Main"}),
    )
    .await;
    let dept = create(
        app,
        &root,
        "/api/org/departments/",
        json!({"campus_id": campus, "name": "History"}),
    )
    .await;
    let (teacher_id, teacher) = app.user("sch_teacher").await;
    let scope = format!("institution:{inst}");
    app.grant(&root, &teacher_id, "moderator", &scope).await;
    let (in_inst, in_inst_token) = app.user("sch_inst").await;
    let (in_dept, in_dept_token) = app.user("sch_dept").await;
    let (elsewhere, elsewhere_token) = app.user("sch_else").await;
    add_member(
        app,
        &root,
        &format!("/api/org/institutions/{inst}/"),
        &in_inst,
    )
    .await;
    app.grant(&root, &in_inst, "student", &scope).await;
    add_member(
        app,
        &root,
        &format!("/api/org/departments/{dept}/"),
        &in_dept,
    )
    .await;
    add_member(
        app,
        &root,
        &format!("/api/org/institutions/{other}/"),
        &elsewhere,
    )
    .await;
    add_member(
        app,
        &root,
        &format!("/api/org/institutions/{inst}/"),
        &teacher_id,
    )
    .await;

    let topic = create(
        app,
        &teacher,
        "/api/debates/topics/",
        json!({"title": "Homework", "description": "", "scope": scope}),
    )
    .await;
    let session = create(
        app,
        &teacher,
        "/api/debates/sessions/",
        json!({"topic_id": topic, "title": "Should it go?", "scheduled_start": "2030-01-01T10:00:00Z"}),
    )
    .await;
    app.jobs_settled().await;

    for token in [&in_inst_token, &in_dept_token] {
        let told = of_kind(app, token, "debate_scheduled").await;
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["title"], "New debate: “Should it go?”");
        assert_eq!(told[0]["body"], "Scheduled for 2030-01-01 10:00 UTC.");
        assert_eq!(told[0]["link"], format!("/api/debates/sessions/{session}/"));
    }
    assert!(
        of_kind(app, &elsewhere_token, "debate_scheduled")
            .await
            .is_empty()
    );
    assert!(of_kind(app, &teacher, "debate_scheduled").await.is_empty());

    // a member who joins is told of a move too, and the list reads in the order things
    // happened, whatever order the worker ran the reactions in
    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{session}/join/"),
            &in_inst_token,
            json!({"side": "pro"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .patch(app.at(&format!("/api/debates/sessions/{session}/")))
        .bearer_auth(&teacher)
        .json(&json!({"scheduled_start": "2030-01-01T11:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.jobs_settled().await;
    let kinds: Vec<Value> = notifications(app, &in_inst_token)
        .await
        .iter()
        .map(|n| n["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            json!("session_rescheduled"),
            json!("debate_scheduled"),
            json!("role_granted")
        ]
    );

    let granted = of_kind(app, &teacher, "role_granted").await;
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert_eq!(granted[0]["title"], "You were given the role “moderator”");
    assert_eq!(granted[0]["body"], format!("In scope {scope}."));
}

crate::both_modes!(scheduled_debates_reach_the_members_of_their_unit);

async fn reschedule(app: &App, room: &Room, body: Value) {
    let res = app
        .client
        .patch(app.at(&format!("/api/debates/sessions/{}/", room.session)))
        .bearer_auth(&room.moderator)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Moving a session tells its participants (once per move), not when only its title
/// changes.
async fn rescheduled_sessions_reach_their_participants(app: &App) {
    let room = live_room(app).await;
    reschedule(app, &room, json!({"title": "Round two"})).await;
    reschedule(
        app,
        &room,
        json!({"scheduled_start": "2030-01-02T09:30:00Z"}),
    )
    .await;
    app.jobs_settled().await;
    for token in [&room.pro, &room.con, &room.audience] {
        let told = of_kind(app, token, "session_rescheduled").await;
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["title"], "“Round two” was rescheduled");
        assert_eq!(
            told[0]["body"],
            "Now 2030-01-02 09:30 UTC (was 2030-01-01 10:00 UTC)."
        );
    }
    assert!(
        of_kind(app, &room.moderator, "session_rescheduled")
            .await
            .is_empty()
    );
}

crate::both_modes!(rescheduled_sessions_reach_their_participants);

/// When the voting window of a closed session ends, everyone who took part — also who
/// left before the close — is told the results.
async fn results_reach_participants_when_voting_ends(app: &App) {
    let room = live_room(app).await;
    let base = format!("/api/debates/sessions/{}", room.session);
    let res = app
        .client
        .patch(app.at(&format!("{base}/")))
        .bearer_auth(&room.moderator)
        .json(&json!({"voting_window_seconds": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    start(app, &room).await;
    // who left before the close took part all the same: told the results too
    let res = app
        .post_auth(&format!("{base}/leave/"), &room.audience, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post_auth(&format!("{base}/close/"), &room.moderator, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    // the audience decides the winner (debaters do not vote for it)
    let res = app
        .post_auth(
            &format!("{base}/votes/"),
            &room.audience,
            json!({"ballot": "winner", "side": "con"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    app.jobs_settled().await;
    assert!(
        of_kind(app, &room.pro, "results_published")
            .await
            .is_empty(),
        "not while voting is open"
    );

    // the window ends by the clock; the job scheduled for its end runs then
    app.advance(Duration::from_secs(300));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let told = loop {
        let told = of_kind(app, &room.audience, "results_published").await;
        if !told.is_empty() {
            break told;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no results 30 s after the window ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["title"], "Results of “Round”");
    assert_eq!(
        told[0]["body"],
        "The con side won, 1 vote to 0.\n1 of 3 participants voted."
    );
    assert_eq!(told[0]["link"], format!("{base}/results/"));
    app.jobs_settled().await;
    for token in [&room.pro, &room.con] {
        assert_eq!(of_kind(app, token, "results_published").await.len(), 1);
    }
    assert!(
        of_kind(app, &room.moderator, "results_published")
            .await
            .is_empty()
    );
}

crate::both_modes!(results_reach_participants_when_voting_ends);

/// The server that commits a moderator's action dies (SIGKILL) before any worker ran
/// the reaction; a server started afterwards delivers the notification and the e-mail,
/// each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_action_survives_a_crash_between_commit_and_delivery() {
    let (port, mut deliveries) = adapter_smtp::testing::sink("250 OK\r\n").await;
    let smtp = format!("smtp://127.0.0.1:{port}");
    // No worker anywhere until the crash is over: the action's reaction stays queued.
    let Some(app) = App::postgres_redis_with(&[("AGORA_WORKER", "off"), ("SMTP_URL", &smtp)]).await
    else {
        return;
    };
    let room = live_room(&app).await;
    let pro_email = "rt_pro@example.org";

    let doomed = app.another_process().await;
    let res = app
        .client
        .post(format!(
            "{}/api/debates/sessions/{}/moderation/warn/",
            doomed.url, room.session
        ))
        .bearer_auth(&room.moderator)
        .json(&json!({"user_id": room.pro_id, "reason": "be civil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "the action is committed");
    doomed.kill();
    assert!(
        of_kind(&app, &room.pro, "moderation_action")
            .await
            .is_empty(),
        "nothing delivered before the crash"
    );

    let mut env: HashMap<&str, &str> = HashMap::new();
    env.insert("AGORA_WORKER", "on");
    let survivor = app.another_process_with(&env).await;
    app.jobs_settled().await;
    let told = of_kind(&app, &room.pro, "moderation_action").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["title"], "You were warned in “Round”");

    // The e-mails of the role grants of the set-up go out too; count the warning's.
    let mut warnings = 0;
    while let Ok(Some(mail)) = tokio::time::timeout(Duration::from_secs(2), deliveries.recv()).await
    {
        if mail.data.contains("You were warned") {
            assert!(
                mail.envelope.contains(&format!("RCPT TO:<{pro_email}>")),
                "{:?}",
                mail.envelope
            );
            warnings += 1;
        }
    }
    assert_eq!(warnings, 1, "one e-mail for the warning");
    drop(survivor);
    app.stop().await;
}

/// With the worker's poll a minute apart, a moderator's warning still reaches its target
/// within seconds: the commit that recorded it woke the worker (PostgreSQL `NOTIFY`, or
/// the memory queue).
async fn reactions_do_not_wait_for_the_poll(app: &App) {
    let room = live_room(app).await;
    let res = app
        .post_auth(
            &format!("/api/debates/sessions/{}/moderation/warn/", room.session),
            &room.moderator,
            json!({"user_id": room.pro_id, "reason": "be brief"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while of_kind(app, &room.pro, "moderation_action")
        .await
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the warning was not told within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

mod reactions_do_not_wait_for_the_poll {
    const SLOW_POLL: [(&str, &str); 1] = [("AGORA_WORKER_POLL_MS", "60000")];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        let app = agora_tests::App::memory_with(&SLOW_POLL).await;
        super::reactions_do_not_wait_for_the_poll(&app).await;
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(app) = agora_tests::App::postgres_redis_with(&SLOW_POLL).await else {
            return;
        };
        super::reactions_do_not_wait_for_the_poll(&app).await;
        app.stop().await;
    }
}
