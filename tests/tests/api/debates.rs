//! Debates over REST: the lifecycle (topic, session, seats, start, arguments, close,
//! transcript in every format) and the refusals (wrong role, not a participant, session
//! not live, side full, body too long), in both storage modes.

use agora_tests::{App, assert_problem};
use serde_json::{Value, json};

crate::both_modes!(debate_lifecycle);

async fn id_of(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status().as_u16(), status, "{}", "unexpected status");
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn debate_lifecycle(app: &App) {
    let root = app.admin_token().await;
    let a = id_of(
        app.post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Agora High"}),
        )
        .await,
        201,
    )
    .await;
    let b = id_of(
        app.post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Other High"}),
        )
        .await,
        201,
    )
    .await;
    let scope_a = format!("institution:{a}");
    let (mod_id, moderator) = app.user("mia_mod").await;
    app.grant(&root, &mod_id, "moderator", &scope_a).await;
    let mut students = Vec::new();
    for name in ["sam_pro", "sue_con", "sid_late"] {
        let (id, token) = app.user(name).await;
        app.grant(&root, &id, "student", &scope_a).await;
        students.push(token);
    }
    let (s1, s2, s3) = (
        students[0].clone(),
        students[1].clone(),
        students[2].clone(),
    );
    // a listed member of the institution, with no role: reads and watches (audience)
    let (watcher_id, watcher) = app.user("wendy_watch").await;
    let res = app
        .post_auth(
            &format!("/api/org/institutions/{a}/members/"),
            &root,
            json!({"user_id": watcher_id}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let (outsider_id, outsider) = app.user("otto_out").await;
    app.grant(&root, &outsider_id, "student", &format!("institution:{b}"))
        .await;

    // topics: moderators create, students cannot
    let topic_body = json!({"title": "Homework should be banned", "description": "Or should it?", "scope": scope_a});
    assert_problem(
        app.post_auth("/api/debates/topics/", &s1, topic_body.clone())
            .await,
        403,
    )
    .await;
    assert_problem(
        app.post("/api/debates/topics/", topic_body.clone()).await,
        401,
    )
    .await;
    let topic = id_of(
        app.post_auth("/api/debates/topics/", &moderator, topic_body)
            .await,
        201,
    )
    .await;
    let bad = json!({"title": "", "description": "x", "scope": "institution:nope"});
    assert_problem(
        app.post_auth("/api/debates/topics/", &moderator, bad).await,
        422,
    )
    .await;

    // a session with one debater per side
    let session_body = json!({"topic_id": topic, "title": "Round 1", "scheduled_start": "2030-01-01T10:00:00Z", "max_per_side": 1});
    let session = id_of(
        app.post_auth("/api/debates/sessions/", &moderator, session_body)
            .await,
        201,
    )
    .await;
    let base = format!("/api/debates/sessions/{session}");
    let list: Value = app
        .get_auth(
            &format!("/api/debates/sessions/?topic={topic}&status=scheduled"),
            &moderator,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    // seats
    assert_eq!(
        app.post_auth(&format!("{base}/join/"), &s1, json!({"side": "pro"}))
            .await
            .status(),
        200
    );
    let full = assert_problem(
        app.post_auth(&format!("{base}/join/"), &s3, json!({"side": "pro"}))
            .await,
        409,
    )
    .await;
    assert!(full["detail"].as_str().unwrap().contains("full"), "{full}");
    assert_eq!(
        app.post_auth(&format!("{base}/join/"), &s2, json!({"side": "con"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_auth(
            &format!("{base}/join/"),
            &watcher,
            json!({"side": "audience"})
        )
        .await
        .status(),
        200
    );
    assert_problem(
        app.post_auth(&format!("{base}/join/"), &watcher, json!({"side": "con"}))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.post_auth(&format!("{base}/join/"), &outsider, json!({"side": "con"}))
            .await,
        404,
    )
    .await;
    assert_problem(
        app.post_auth(&format!("{base}/join/"), &s3, json!({"side": "middle"}))
            .await,
        422,
    )
    .await;

    // not live yet
    let arg = json!({"body": "Homework eats family time."});
    assert_problem(
        app.post_auth(&format!("{base}/messages/"), &s1, arg.clone())
            .await,
        409,
    )
    .await;
    assert_problem(
        app.post_auth(&format!("{base}/start/"), &s1, json!({}))
            .await,
        403,
    )
    .await;
    let live: Value = app
        .post_auth(&format!("{base}/start/"), &moderator, json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(live["status"], "live");
    assert_problem(
        app.post_auth(&format!("{base}/start/"), &moderator, json!({}))
            .await,
        409,
    )
    .await;

    // arguments
    let m1: Value = app
        .post_auth(&format!("{base}/messages/"), &s1, arg)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(m1["seq"], 1);
    assert_eq!(m1["side"], "pro");
    let reply = json!({"body": "Practice needs time at home.", "reply_to": 1});
    let m2: Value = app
        .post_auth(&format!("{base}/messages/"), &s2, reply)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(m2["seq"], 2);
    assert_eq!(m2["reply_to"], 1);
    assert_problem(
        app.post_auth(
            &format!("{base}/messages/"),
            &watcher,
            json!({"body": "me too"}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        app.post_auth(
            &format!("{base}/messages/"),
            &s3,
            json!({"body": "let me in"}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        app.post_auth(
            &format!("{base}/messages/"),
            &s1,
            json!({"body": "x".repeat(5001)}),
        )
        .await,
        422,
    )
    .await;
    assert_problem(
        app.post_auth(&format!("{base}/messages/"), &s1, json!({"body": "   "}))
            .await,
        422,
    )
    .await;
    assert_problem(
        app.post_auth(
            &format!("{base}/messages/"),
            &s1,
            json!({"body": "re", "reply_to": 99}),
        )
        .await,
        422,
    )
    .await;

    // reading by sequence number
    let page: Value = app
        .get_auth(&format!("{base}/messages/"), &watcher)
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2]);
    let page: Value = app
        .get_auth(&format!("{base}/messages/?after=1"), &watcher)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["seq"], 2);
    let page: Value = app
        .get_auth(&format!("{base}/messages/?before=2"), &watcher)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["seq"], 1);
    let page: Value = app
        .get_auth(&format!("{base}/messages/?limit=1"), &watcher)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["next_after"], 1);
    let seats: Value = app
        .get_auth(&format!("{base}/participants/"), &watcher)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seats["items"].as_array().unwrap().len(), 3, "{seats}");

    // close: no more arguments or seats
    let closed: Value = app
        .post_auth(&format!("{base}/close/"), &moderator, json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["status"], "closed");
    assert_problem(
        app.post_auth(
            &format!("{base}/messages/"),
            &s1,
            json!({"body": "one more"}),
        )
        .await,
        409,
    )
    .await;
    assert_problem(
        app.post_auth(&format!("{base}/join/"), &s3, json!({"side": "audience"}))
            .await,
        409,
    )
    .await;

    // transcript in every format
    let t: Value = app
        .get_auth(&format!("{base}/transcript/"), &watcher)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["messages"].as_array().unwrap().len(), 2, "{t}");
    let md = app
        .get_auth(&format!("{base}/transcript/?format=markdown"), &watcher)
        .await;
    assert!(
        md.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let md = md.text().await.unwrap();
    assert!(
        md.contains("Homework should be banned")
            && md.contains(r"sam\_pro")
            && md.contains(r"sue\_con")
            && md.contains("#2 [CON]"),
        "{md}"
    );
    let text = app
        .get_auth(&format!("{base}/transcript/?format=text"), &watcher)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("Practice needs time at home."), "{text}");
    assert_problem(
        app.get_auth(&format!("{base}/transcript/?format=pdf"), &watcher)
            .await,
        422,
    )
    .await;
}
