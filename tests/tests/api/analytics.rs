//! The daily debate activity (`/api/analytics/daily/`): a debate run over the API shows
//! up in its institution's figures once the `analytics.rollup` job ran, a later roll-up
//! replaces the figures rather than adding to them, and only readers of the scope's
//! records (`audit.read`) see them.

use agora_tests::{App, assert_problem};
use chrono::NaiveDate;
use domain_core::Clock;
use domain_jobs::NewJob;
use serde_json::{Value, json};

use crate::realtime::{Room, live_room, start};

crate::both_modes!(activity_is_rolled_up_per_scope, analytics_refusals);

fn base(room: &Room) -> String {
    format!("/api/debates/sessions/{}", room.session)
}

async fn argue(app: &App, room: &Room, token: &str, body: &str) -> i64 {
    let res = app
        .post_auth(
            &format!("{}/messages/", base(room)),
            token,
            json!({"body": body}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["seq"].as_i64().unwrap()
}

async fn vote(app: &App, room: &Room, token: &str, body: Value) {
    let res = app
        .post_auth(&format!("{}/votes/", base(room)), token, body)
        .await;
    assert_eq!(res.status(), 201);
}

/// Runs the roll-up the way the hourly schedule does: as a job, on the server's worker.
async fn roll_up(app: &App) {
    app.jobs()
        .enqueue(
            NewJob::new("analytics.rollup", Value::Null),
            domain_core::SystemClock.now(),
        )
        .await
        .unwrap();
    app.jobs_settled().await;
}

async fn report(app: &App, query: &str, token: &str) -> Value {
    let res = app
        .get_auth(&format!("/api/analytics/daily/{query}"), token)
        .await;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The figures of `scope` in `report`, summed over its days (a test running across
/// midnight UTC splits them over two days).
fn totals(report: &Value, scope: &str) -> [u64; 5] {
    let mut sum = [0; 5];
    for item in report["items"].as_array().unwrap() {
        if item["scope"] != scope {
            continue;
        }
        for (i, key) in [
            "sessions_started",
            "sessions_closed",
            "messages",
            "votes",
            "participants",
        ]
        .iter()
        .enumerate()
        {
            sum[i] += item[key].as_u64().unwrap();
        }
    }
    sum
}

fn date(v: &Value) -> NaiveDate {
    NaiveDate::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d").unwrap()
}

/// An institute_admin of the room's institution.
async fn institution_admin(app: &App, room: &Room) -> String {
    let root = app.admin_token().await;
    let (id, token) = app.user("an_admin").await;
    app.grant(&root, &id, "institute_admin", &room.scope).await;
    token
}

async fn activity_is_rolled_up_per_scope(app: &App) {
    let room = live_room(app).await;
    let admin = institution_admin(app, &room).await;
    let scope_query = format!("?scope={}", room.scope);

    // the room's three seats (pro, con, audience) were taken before the start
    roll_up(app).await;
    let seated = report(app, &scope_query, &admin).await;
    assert_eq!(totals(&seated, &room.scope), [0, 0, 0, 0, 3], "{seated}");

    // then one session started and closed, three arguments, three votes
    start(app, &room).await;
    let pro_seq = argue(app, &room, &room.pro, "Pro opens").await;
    let con_seq = argue(app, &room, &room.con, "Con answers").await;
    argue(app, &room, &room.pro, "Pro rebuts").await;
    let res = app
        .post_auth(
            &format!("{}/close/", base(&room)),
            &room.moderator,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    vote(
        app,
        &room,
        &room.audience,
        json!({"ballot": "winner", "side": "pro"}),
    )
    .await;
    // debaters do not vote for the winner; they do for the best argument
    vote(
        app,
        &room,
        &room.pro,
        json!({"ballot": "best_argument", "seq": con_seq}),
    )
    .await;
    vote(
        app,
        &room,
        &room.con,
        json!({"ballot": "best_argument", "seq": pro_seq}),
    )
    .await;

    // not counted until the roll-up runs
    let before = report(app, &scope_query, &admin).await;
    assert_eq!(totals(&before, &room.scope), [0, 0, 0, 0, 3], "{before}");

    roll_up(app).await;
    let figures = report(app, &scope_query, &admin).await;
    assert_eq!(figures["scope"], room.scope.as_str());
    assert_eq!(
        totals(&figures, &room.scope),
        [1, 1, 3, 3, 3],
        "started, closed, arguments, votes, participants: {figures}"
    );
    let items = figures["items"].as_array().unwrap();
    assert!(
        items.iter().all(|i| i["scope"] == room.scope.as_str()),
        "{figures}"
    );
    // by default the last 30 days, up to today (where the debate just ran)
    let (from, to) = (date(&figures["from"]), date(&figures["to"]));
    assert_eq!((to - from).num_days(), 29);
    assert_eq!(date(&items.last().unwrap()["day"]), to);

    // one more vote, rolled up again: the figures are replaced, not added to
    vote(
        app,
        &room,
        &room.audience,
        json!({"ballot": "best_argument", "seq": pro_seq}),
    )
    .await;
    roll_up(app).await;
    let again = report(app, &scope_query, &admin).await;
    assert_eq!(totals(&again, &room.scope), [1, 1, 3, 4, 3], "{again}");

    // an explicit range without that day
    let old = report(
        app,
        &format!("{scope_query}&from=2020-01-01&to=2020-12-31"),
        &admin,
    )
    .await;
    assert_eq!(old["items"], json!([]));
    assert_eq!(
        (old["from"].as_str(), old["to"].as_str()),
        (Some("2020-01-01"), Some("2020-12-31"))
    );

    // without a scope, the institution's admin gets the scopes they read: theirs
    let theirs = report(app, "", &admin).await;
    assert_eq!(theirs["scope"], Value::Null);
    assert_eq!(totals(&theirs, &room.scope), [1, 1, 3, 4, 3], "{theirs}");

    // a platform operator reads every scope at once
    let root = app.admin_token().await;
    let everything = report(app, "", &root).await;
    assert_eq!(everything["scope"], Value::Null);
    assert_eq!(totals(&everything, &room.scope), [1, 1, 3, 4, 3]);
}

async fn analytics_refusals(app: &App) {
    let room = live_room(app).await;
    let admin = institution_admin(app, &room).await;
    let path = |query: &str| format!("/api/analytics/daily/?scope={}{query}", room.scope);

    assert_problem(app.get(&path("")).await, 401).await;
    // students and moderators of the institution do not read its records
    assert_problem(app.get_auth(&path(""), &room.audience).await, 403).await;
    assert_problem(app.get_auth(&path(""), &room.moderator).await, 403).await;
    // without a scope: nothing for those who read the figures nowhere
    let res = app.get_auth("/api/analytics/daily/", &room.moderator).await;
    assert_eq!(res.status(), 200);
    let none: Value = res.json().await.unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());
    assert_problem(app.get("/api/analytics/daily/").await, 401).await;
    // another institution's figures
    let root = app.admin_token().await;
    let res = app
        .post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Other Analytics College"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let other: Value = res.json().await.unwrap();
    let foreign = format!(
        "/api/analytics/daily/?scope=institution:{}",
        other["id"].as_str().unwrap()
    );
    assert_problem(app.get_auth(&foreign, &admin).await, 403).await;

    for bad in [
        "&from=2026-13-01",
        "&from=yesterday",
        "&to=2026-02-30",
        "&from=2026-03-02&to=2026-03-01",
        "&from=2024-01-01&to=2025-12-31",
    ] {
        let problem = assert_problem(app.get_auth(&path(bad), &admin).await, 422).await;
        assert!(
            problem.to_string().contains("from") || problem.to_string().contains("to"),
            "{bad}: {problem}"
        );
    }
    assert_problem(
        app.get_auth("/api/analytics/daily/?scope=nowhere", &admin)
            .await,
        422,
    )
    .await;
}
