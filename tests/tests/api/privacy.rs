//! Private by default, tried as an attacker from another institution would: every read of
//! institution B's debates by people outside B is refused, lists leak nothing, outsiders
//! neither join nor vote, and ownership ends with the grant that came with it. Run on two
//! instances (PostgreSQL + Redis: reads alternate between a second server process and the
//! first) and in embedded mode; the attempts and successes are counted in the output.

use agora_tests::App;
use serde_json::{Value, json};

/// Counts attack attempts and the ones that got through.
#[derive(Default)]
struct Tally {
    attempts: u32,
    leaks: Vec<String>,
}

impl Tally {
    fn record(&mut self, what: String, status: u16, refused: &[u16]) {
        self.attempts += 1;
        if !refused.contains(&status) {
            self.leaks.push(format!("{what} -> {status}"));
        }
    }

    fn report(&self, label: &str) {
        println!(
            "privacy [{label}]: {} attempts, {} succeeded",
            self.attempts,
            self.leaks.len()
        );
        assert!(self.leaks.is_empty(), "{label} leaks: {:#?}", self.leaks);
    }
}

/// Sends a request to `base` (one instance or the other).
async fn call(
    app: &App,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.client.request(m, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn created(res: reqwest::Response) -> Value {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert!(status == 201 || status == 200, "{status}: {body}");
    body
}

async fn institution(app: &App, root: &str, name: &str) -> String {
    let body = created(
        app.post_auth("/api/org/institutions/", root, json!({"name": name}))
            .await,
    )
    .await;
    body["id"].as_str().unwrap().to_owned()
}

async fn add_member(app: &App, token: &str, institution: &str, user: &str) {
    let res = app
        .post_auth(
            &format!("/api/org/institutions/{institution}/members/"),
            token,
            json!({"user_id": user}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

/// A topic with one session in `scope`, created by `token`; returns (topic, session).
async fn debate(app: &App, token: &str, scope: &str) -> (String, String) {
    let topic = created(
        app.post_auth(
            "/api/debates/topics/",
            token,
            json!({"title": "School uniforms", "description": "", "scope": scope}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = created(
        app.post_auth(
            "/api/debates/sessions/",
            token,
            json!({"topic_id": topic, "title": "Round 1",
                   "scheduled_start": "2030-01-01T10:00:00Z", "voting_window_seconds": 600}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (topic, session)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn story(app: &App, other: &str) {
    let here = app.url();
    let root = app.admin_token().await;
    let a = institution(app, &root, "Institution A").await;
    let b = institution(app, &root, "Institution B").await;
    let (scope_a, scope_b) = (format!("institution:{a}"), format!("institution:{b}"));

    // B's people: a teacher runs the debate, a student argues, a listed member watches.
    let (teacher_b_id, teacher_b) = app.user("teacher_b").await;
    let (student_b_id, student_b) = app.user("student_b").await;
    let (member_b_id, member_b) = app.user("member_b").await;
    app.grant(&root, &teacher_b_id, "teacher", &scope_b).await;
    app.grant(&root, &student_b_id, "student", &scope_b).await;
    add_member(app, &root, &b, &member_b_id).await;
    // A's people and a fresh account: the attackers.
    let (student_a_id, student_a) = app.user("student_a").await;
    let (teacher_a_id, teacher_a) = app.user("teacher_a").await;
    let (admin_a_id, admin_a) = app.user("admin_a").await;
    let (_, nobody) = app.user("nobody").await;
    app.grant(&root, &student_a_id, "student", &scope_a).await;
    app.grant(&root, &teacher_a_id, "teacher", &scope_a).await;
    app.grant(&root, &admin_a_id, "institute_admin", &scope_a)
        .await;

    let (topic, session) = debate(app, &teacher_b, &scope_b).await;
    let s = format!("/api/debates/sessions/{session}");
    assert_eq!(
        call(
            app,
            &here,
            "POST",
            &format!("{s}/start/"),
            Some(&teacher_b),
            Some(json!({}))
        )
        .await
        .status(),
        200
    );
    for (token, side) in [(&student_b, "pro"), (&member_b, "audience")] {
        let res = call(
            app,
            &here,
            "POST",
            &format!("{s}/join/"),
            Some(token),
            Some(json!({"side": side})),
        )
        .await;
        assert_eq!(res.status(), 200, "{side}: {}", res.text().await.unwrap());
    }
    let res = call(
        app,
        &here,
        "POST",
        &format!("{s}/messages/"),
        Some(&student_b),
        Some(json!({"body": "Uniforms level the field."})),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    assert_eq!(
        call(
            app,
            &here,
            "POST",
            &format!("{s}/close/"),
            Some(&teacher_b),
            Some(json!({}))
        )
        .await
        .status(),
        200
    );

    // 1. Every read of B's debate by outsiders, on either instance: refused (404, or 401
    //    for a socket without a token), never revealing whether it exists.
    let attackers: [(&str, Option<&str>); 5] = [
        ("anonymous", None),
        ("fresh account", Some(&nobody)),
        ("student of A", Some(&student_a)),
        ("teacher of A", Some(&teacher_a)),
        ("institute admin of A", Some(&admin_a)),
    ];
    let reads = [
        format!("/api/debates/topics/{topic}/"),
        format!("{s}/"),
        format!("{s}/messages/"),
        format!("{s}/transcript/"),
        format!("{s}/transcript/?format=markdown"),
        format!("{s}/participants/"),
        format!("{s}/results/"),
        format!("/api/debates/sessions/?topic={topic}"),
    ];
    let mut reads_tally = Tally::default();
    for (n, (who, token)) in attackers.iter().enumerate() {
        for (m, path) in reads.iter().enumerate() {
            let base = if (n + m) % 2 == 0 {
                here.as_str()
            } else {
                other
            };
            let status = call(app, base, "GET", path, *token, None)
                .await
                .status()
                .as_u16();
            reads_tally.record(format!("{who} GET {path}"), status, &[404]);
        }
    }
    // The insiders do read it (the test would pass vacuously otherwise).
    for token in [&teacher_b, &student_b, &member_b] {
        for path in &reads {
            let res = call(app, other, "GET", path, Some(token), None).await;
            assert_eq!(res.status(), 200, "insider GET {path}");
        }
    }
    reads_tally.report("cross-institution reads");

    // Removing the last membership ends access on the other instance within a second.
    let (leaver_id, leaver) = app.user("leaver").await;
    add_member(app, &root, &b, &leaver_id).await;
    let path = format!("{s}/");
    assert_eq!(
        call(app, other, "GET", &path, Some(&leaver), None)
            .await
            .status(),
        200
    );
    let mut socket = crate::realtime::connect_to(other, &session, &leaver, Some(0)).await;
    let res = app
        .delete_auth(
            &format!("/api/org/institutions/{b}/members/{leaver_id}/"),
            &root,
        )
        .await;
    assert_eq!(res.status(), 204);
    let removed = std::time::Instant::now();
    loop {
        let status = call(app, other, "GET", &path, Some(&leaver), None)
            .await
            .status();
        if status == 404 {
            println!(
                "privacy: access ended on the other instance after {:?}",
                removed.elapsed()
            );
            break;
        }
        assert!(
            removed.elapsed() < std::time::Duration::from_secs(1),
            "still readable a second after the membership was removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // An open room socket is closed at its next heartbeat (every 10 s).
    let code = closed_within(&mut socket, std::time::Duration::from_secs(25)).await;
    assert_eq!(code, Some(4403), "the room socket outlived the membership");

    // 2. Lists, with and without ?scope=, show outsiders none of B's topics or sessions.
    let lists = [
        "/api/debates/topics/".to_owned(),
        "/api/debates/sessions/".to_owned(),
        format!("/api/debates/topics/?scope={scope_b}"),
        format!("/api/debates/sessions/?scope={scope_b}"),
    ];
    let mut list_tally = Tally::default();
    for (who, token) in &attackers {
        for path in &lists {
            let res = call(app, other, "GET", path, *token, None).await;
            let status = res.status().as_u16();
            let leaked = status == 200 && {
                let page: Value = res.json().await.unwrap();
                let found = ids(&page);
                found.contains(&topic) || found.contains(&session)
            };
            list_tally.record(
                format!("{who} GET {path}"),
                if leaked { 200 } else { 0 },
                &[0],
            );
        }
    }
    // B's member sees them listed; then B denies its members the reads: gone from the
    // lists and from single reads alike (a deny override reaches lists, item by item).
    let listed = ids(&app
        .get_auth("/api/debates/topics/", &member_b)
        .await
        .json()
        .await
        .unwrap());
    assert!(listed.contains(&topic), "a member lists the topic");
    for permission in ["debate_topic.read", "debate_session.read"] {
        let res = app
            .post_auth(
                "/api/rbac/overrides/",
                &root,
                json!({"role": "member", "scope": scope_b, "permission": permission, "effect": "deny"}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    // The override was made on one instance and is read on the other: changes reach
    // every instance within 1 s (docs/rbac.md), so wait for that, no longer.
    let changed = std::time::Instant::now();
    while call(
        app,
        other,
        "GET",
        &format!("/api/debates/topics/{topic}/"),
        Some(&member_b),
        None,
    )
    .await
    .status()
        == 200
    {
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(1),
            "the deny override did not reach the other instance within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for path in &lists {
        let res = call(app, other, "GET", path, Some(&member_b), None).await;
        let page: Value = res.json().await.unwrap();
        let found = ids(&page);
        list_tally.record(
            format!("denied member GET {path}"),
            if found.contains(&topic) || found.contains(&session) {
                200
            } else {
                0
            },
            &[0],
        );
    }
    let status = call(
        app,
        other,
        "GET",
        &format!("/api/debates/topics/{topic}/"),
        Some(&member_b),
        None,
    )
    .await
    .status()
    .as_u16();
    list_tally.record("denied member GET topic".into(), status, &[404]);
    list_tally.report("list leaks");

    // 3. Outsiders neither join nor vote; debaters do not vote for the winner; the
    //    listed member of B (before the deny) votes as audience.
    let mut vote_tally = Tally::default();
    for (who, token) in attackers.iter().skip(1) {
        let join = call(
            app,
            other,
            "POST",
            &format!("{s}/join/"),
            *token,
            Some(json!({"side": "audience"})),
        )
        .await;
        vote_tally.record(format!("{who} joins"), join.status().as_u16(), &[404]);
        let vote = call(
            app,
            &here,
            "POST",
            &format!("{s}/votes/"),
            *token,
            Some(json!({"ballot": "winner", "side": "pro"})),
        )
        .await;
        vote_tally.record(format!("{who} votes"), vote.status().as_u16(), &[404]);
    }
    let vote = call(
        app,
        &here,
        "POST",
        &format!("{s}/votes/"),
        Some(&student_b),
        Some(json!({"ballot": "winner", "side": "pro"})),
    )
    .await;
    vote_tally.record(
        "debater votes for the winner".into(),
        vote.status().as_u16(),
        &[403],
    );
    vote_tally.report("joining and voting");

    // An institution opens a debate to the public: anybody reads it, only members join.
    let (open_topic, open_session) = debate(app, &teacher_b, &scope_b).await;
    let res = app
        .client
        .put(app.at(&format!("/api/debates/topics/{open_topic}/visibility/")))
        .bearer_auth(&teacher_b)
        .json(&json!({"visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        403,
        "a teacher does not publish for the institution"
    );
    let res = app
        .client
        .put(app.at(&format!("/api/debates/topics/{open_topic}/visibility/")))
        .bearer_auth(&root)
        .json(&json!({"visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let os = format!("/api/debates/sessions/{open_session}");
    assert_eq!(
        call(app, other, "GET", &format!("{os}/"), None, None)
            .await
            .status(),
        200
    );
    assert_eq!(
        call(app, other, "GET", &format!("{os}/"), Some(&nobody), None)
            .await
            .status(),
        200
    );
    let public_list = ids(
        &call(app, other, "GET", "/api/debates/sessions/", None, None)
            .await
            .json()
            .await
            .unwrap(),
    );
    assert!(public_list.contains(&open_session) && !public_list.contains(&session));
    let join = call(
        app,
        other,
        "POST",
        &format!("{os}/join/"),
        Some(&nobody),
        Some(json!({"side": "audience"})),
    )
    .await;
    assert_eq!(join.status(), 403, "reading is public, taking part is not");
    let audit: Value = app
        .get_auth(&format!("/api/rbac/audit/?scope={scope_b}"), &root)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "debate_topic.visibility"),
        "opening a debate is audited: {audit}"
    );

    // 4. Ownership ends with the grant: a temporary teacher and a campus admin whose
    //    grants are revoked can no longer change what they created.
    let (tmp_id, tmp) = app.user("tmp_teacher").await;
    let (cadmin_id, cadmin) = app.user("tmp_admin").await;
    let teacher_grant = app.grant(&root, &tmp_id, "teacher", &scope_b).await;
    let admin_grant = app
        .grant(&root, &cadmin_id, "institute_admin", &scope_b)
        .await;
    let (own_topic, own_session) = debate(app, &tmp, &scope_b).await;
    let campus = created(
        app.post_auth(
            "/api/org/campuses/",
            &cadmin,
            json!({"institution_id": b, "name": "North"}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for grant in [&teacher_grant, &admin_grant] {
        assert_eq!(
            app.delete_auth(&format!("/api/rbac/grants/{grant}/"), &root)
                .await
                .status(),
            204
        );
    }
    let targets = Owned {
        topic: &own_topic,
        session: &own_session,
        campus: &campus,
        stranger: &student_a_id,
    };
    owner_actions(
        app,
        other,
        &targets,
        &tmp,
        &cadmin,
        "ownership after revocation",
    )
    .await;

    // The same with grants that expire on their own.
    let (exp_t_id, exp_t) = app.user("expiring_teacher").await;
    let (exp_a_id, exp_a) = app.user("expiring_admin").await;
    let until = expiring_soon();
    for (id, role) in [(&exp_t_id, "teacher"), (&exp_a_id, "institute_admin")] {
        let res = app
            .post_auth(
                "/api/rbac/grants/",
                &root,
                json!({"user_id": id, "role": role, "scope": scope_b, "expires_at": until}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let (exp_topic, exp_session) = debate(app, &exp_t, &scope_b).await;
    let exp_campus = created(
        app.post_auth(
            "/api/org/campuses/",
            &exp_a,
            json!({"institution_id": b, "name": "South"}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Wait (bounded) until the grants have lapsed: the owner's own read stops working.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while call(
        app,
        &here,
        "GET",
        &format!("/api/debates/topics/{exp_topic}/"),
        Some(&exp_t),
        None,
    )
    .await
    .status()
        == 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the grant never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let targets = Owned {
        topic: &exp_topic,
        session: &exp_session,
        campus: &exp_campus,
        stranger: &student_a_id,
    };
    owner_actions(
        app,
        other,
        &targets,
        &exp_t,
        &exp_a,
        "ownership after expiry",
    )
    .await;
}

/// The close code of `ws` within `limit`, frames before it skipped.
async fn closed_within(ws: &mut crate::realtime::Ws, limit: std::time::Duration) -> Option<u16> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(c)))) => return c.map(|c| c.code.into()),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => return None,
        }
    }
}

/// What a teacher and an admin created while their grants lasted.
struct Owned<'a> {
    topic: &'a str,
    session: &'a str,
    campus: &'a str,
    /// Someone they might try to add to the campus.
    stranger: &'a str,
}

/// The eight owner actions on what was created, after the grants ended: all refused.
async fn owner_actions(
    app: &App,
    other: &str,
    o: &Owned<'_>,
    teacher: &str,
    admin: &str,
    label: &str,
) {
    let (topic, session, campus, stranger) = (o.topic, o.session, o.campus, o.stranger);
    let actions: [(&str, String, Option<Value>, &str); 8] = [
        (
            "PATCH",
            format!("/api/debates/topics/{topic}/"),
            Some(json!({"title": "Mine", "description": ""})),
            teacher,
        ),
        (
            "PATCH",
            format!("/api/debates/sessions/{session}/"),
            Some(json!({"title": "Mine"})),
            teacher,
        ),
        (
            "DELETE",
            format!("/api/debates/sessions/{session}/"),
            None,
            teacher,
        ),
        (
            "DELETE",
            format!("/api/debates/topics/{topic}/"),
            None,
            teacher,
        ),
        (
            "PATCH",
            format!("/api/org/campuses/{campus}/"),
            Some(json!({"name": "Mine"})),
            admin,
        ),
        (
            "POST",
            format!("/api/org/campuses/{campus}/members/"),
            Some(json!({"user_id": stranger})),
            admin,
        ),
        (
            "DELETE",
            format!("/api/org/campuses/{campus}/members/{stranger}/"),
            None,
            admin,
        ),
        (
            "DELETE",
            format!("/api/org/campuses/{campus}/"),
            None,
            admin,
        ),
    ];
    let here = app.url();
    let mut tally = Tally::default();
    for (n, (method, path, body, token)) in actions.into_iter().enumerate() {
        let base = if n % 2 == 0 { here.as_str() } else { other };
        let status = call(app, base, method, &path, Some(token), body)
            .await
            .status()
            .as_u16();
        tally.record(format!("{method} {path}"), status, &[403, 404]);
    }
    tally.report(label);
}

/// An instant a few seconds from now, for grants that must lapse during the test.
#[allow(clippy::disallowed_methods)] // the black-box server's clock is the wall clock
fn expiring_soon() -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(4)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_read_nothing_memory() {
    let app = App::memory().await;
    let url = app.url();
    story(&app, &url).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_read_nothing_on_two_instances() {
    let Some(app) = App::postgres_redis().await else {
        return;
    };
    let b = app.another_process().await;
    let url = b.url.clone();
    story(&app, &url).await;
    drop(b);
    app.stop().await;
}
