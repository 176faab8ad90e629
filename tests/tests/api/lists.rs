//! Lists without `scope` answer with what the caller may read (issue #13, item 2): the
//! moderation log, role grants, overrides and the audit trail show each caller the
//! scopes where they hold the list's permission, their units included, and nothing else;
//! `scope` narrows a list (403 where the caller may not read that scope); a deny override
//! removes its whole subtree; only a guest who may read nothing is refused (401).

use std::collections::BTreeSet;

use agora_tests::{App, assert_problem};
use serde_json::{Value, json};

use crate::realtime::id_of;

crate::both_modes!(
    moderation_log_shows_the_scopes_you_moderate,
    grants_and_audit_show_your_institution_subtree,
    a_deny_override_removes_a_subtree_from_lists
);

/// Two institutions, a campus inside the first, and a session in each of the three
/// scopes, each with one warning recorded.
struct World {
    root: String,
    a: String,
    b: String,
    campus: String,
    mod_a: String,
    mod_b: String,
    student: String,
    student_id: String,
    /// Session id by scope.
    sessions: Vec<(String, String)>,
}

async fn world(app: &App) -> World {
    let root = app.admin_token().await;
    let institution = async |name: &str| {
        let id = id_of(
            app.post_auth("/api/org/institutions/", &root, json!({"name": name}))
                .await,
        )
        .await;
        format!("institution:{id}")
    };
    let a = institution("Alpha College").await;
    let b = institution("Beta College").await;
    let campus_id = id_of(
        app.post_auth(
            "/api/org/campuses/",
            &root,
            json!({"institution_id": a.trim_start_matches("institution:"), "name": "North"}),
        )
        .await,
    )
    .await;
    let campus = format!("campus:{campus_id}");
    let (mod_a_id, mod_a) = app.user("list_mod_a").await;
    app.grant(&root, &mod_a_id, "moderator", &a).await;
    let (mod_b_id, mod_b) = app.user("list_mod_b").await;
    app.grant(&root, &mod_b_id, "moderator", &b).await;
    let (student_id, student) = app.user("list_student").await;
    app.grant(&root, &student_id, "student", &a).await;

    let mut sessions = Vec::new();
    for (scope, token) in [(&a, &mod_a), (&campus, &mod_a), (&b, &mod_b)] {
        let topic = id_of(
            app.post_auth(
                "/api/debates/topics/",
                token,
                json!({"title": "Uniforms", "description": "Yes or no", "scope": scope}),
            )
            .await,
        )
        .await;
        let session = id_of(
            app.post_auth(
                "/api/debates/sessions/",
                token,
                json!({"topic_id": topic, "title": "Round", "scheduled_start": "2030-01-01T10:00:00Z"}),
            )
            .await,
        )
        .await;
        let res = app
            .post_auth(
                &format!("/api/debates/sessions/{session}/moderation/warn/"),
                token,
                json!({"user_id": student_id, "reason": "keep it civil"}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        sessions.push((scope.clone(), session));
    }
    World {
        root,
        a,
        b,
        campus,
        mod_a,
        mod_b,
        student,
        student_id,
        sessions,
    }
}

/// The page's items, asserting 200.
async fn items(app: &App, path: &str, token: &str) -> Vec<Value> {
    let res = app.get_auth(path, token).await;
    assert_eq!(res.status(), 200, "{path}");
    let page: Value = res.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

/// The distinct `field` values of a list.
fn values(items: &[Value], field: &str) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| i[field].as_str().unwrap_or("global").to_owned())
        .collect()
}

fn set(scopes: &[&String]) -> BTreeSet<String> {
    scopes.iter().map(|s| (*s).clone()).collect()
}

async fn moderation_log_shows_the_scopes_you_moderate(app: &App) {
    let w = world(app).await;
    let log = "/api/moderation/actions/";

    // A moderator of A: A's actions and its campus's, never B's.
    let seen = items(app, log, &w.mod_a).await;
    assert_eq!(values(&seen, "scope"), set(&[&w.a, &w.campus]));
    assert_eq!(seen.len(), 2);
    let seen = items(app, log, &w.mod_b).await;
    assert_eq!(values(&seen, "scope"), set(&[&w.b]));
    // Everything for a super_admin.
    let seen = items(app, log, &w.root).await;
    assert_eq!(values(&seen, "scope"), set(&[&w.a, &w.campus, &w.b]));
    // A student moderates nowhere: nothing, not even the warnings they received.
    assert!(items(app, log, &w.student).await.is_empty());
    // A guest is asked to sign in.
    assert_problem(app.get(log).await, 401).await;

    // `scope` narrows, to a scope the caller moderates only.
    let seen = items(app, &format!("{log}?scope={}", w.campus), &w.mod_a).await;
    assert_eq!(values(&seen, "scope"), set(&[&w.campus]));
    assert_problem(
        app.get_auth(&format!("{log}?scope={}", w.b), &w.mod_a)
            .await,
        403,
    )
    .await;
    let (_, session_b) = &w.sessions[2];
    assert_problem(
        app.get_auth(&format!("{log}?session_id={session_b}"), &w.mod_a)
            .await,
        403,
    )
    .await;

    // Keyset-paged as before, over the filtered list.
    let res = app.get_auth(&format!("{log}?limit=1"), &w.mod_a).await;
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let next = first["next"].as_str().expect("a next page");
    let res = app
        .get_auth(&format!("{log}?limit=1&after={next}"), &w.mod_a)
        .await;
    let second: Value = res.json().await.unwrap();
    let both: Vec<Value> = [first["items"][0].clone(), second["items"][0].clone()].into();
    assert_eq!(values(&both, "scope"), set(&[&w.a, &w.campus]));
    let res = app
        .get_auth(
            &format!(
                "{log}?limit=1&after={}",
                second["next"].as_str().expect("a cursor after the second")
            ),
            &w.mod_a,
        )
        .await;
    let third: Value = res.json().await.unwrap();
    assert!(third["items"].as_array().unwrap().is_empty());
    assert!(third["next"].is_null());
}

async fn grants_and_audit_show_your_institution_subtree(app: &App) {
    let w = world(app).await;
    let (cadmin_id, _) = app.user("list_campus_admin").await;
    app.grant(&w.root, &cadmin_id, "campus_admin", &w.campus)
        .await;
    let (admin_id, admin) = app.user("list_admin_a").await;
    app.grant(&w.root, &admin_id, "institute_admin", &w.a).await;

    // An institution admin: the grants and audit records of A and its campus only.
    let grants = items(app, "/api/rbac/grants/", &admin).await;
    assert_eq!(values(&grants, "scope"), set(&[&w.a, &w.campus]));
    let holders = values(&grants, "user_id");
    assert!(holders.contains(&cadmin_id) && holders.contains(&w.student_id));
    let trail = items(app, "/api/rbac/audit/?limit=100", &admin).await;
    assert_eq!(values(&trail, "scope"), set(&[&w.a, &w.campus]));
    assert!(
        trail
            .iter()
            .any(|r| r["target"] == format!("user:{cadmin_id}")),
        "the campus grant is in the trail"
    );
    // `scope` narrows, within reach only.
    let grants = items(
        app,
        &format!("/api/rbac/grants/?scope={}", w.campus),
        &admin,
    )
    .await;
    assert_eq!(values(&grants, "user_id"), set(&[&cadmin_id]));
    for list in ["grants", "audit", "overrides"] {
        assert_problem(
            app.get_auth(&format!("/api/rbac/{list}/?scope={}", w.b), &admin)
                .await,
            403,
        )
        .await;
    }
    // A moderator reads no grants and no trail: empty lists, not 403.
    assert!(items(app, "/api/rbac/grants/", &w.mod_a).await.is_empty());
    assert!(items(app, "/api/rbac/audit/", &w.mod_a).await.is_empty());
    // but their own grants, asked for by their id
    let mod_a_id = me(app, &w.mod_a).await;
    let own = items(
        app,
        &format!("/api/rbac/grants/?user_id={mod_a_id}"),
        &w.mod_a,
    )
    .await;
    assert_eq!(values(&own, "scope"), set(&[&w.a]));
    // The platform operator reads everything, the global grants too.
    let grants = items(app, "/api/rbac/grants/?limit=100", &w.root).await;
    assert!(values(&grants, "scope").is_superset(&set(&[&w.a, &w.b, &w.campus])));
    assert!(values(&grants, "scope").contains("global"));
    assert_problem(app.get("/api/rbac/audit/").await, 401).await;
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

async fn deny(app: &App, root: &str, role: &str, scope: &str, permission: &str) {
    let res = app
        .post_auth(
            "/api/rbac/overrides/",
            root,
            json!({"role": role, "scope": scope, "permission": permission, "effect": "deny"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

async fn a_deny_override_removes_a_subtree_from_lists(app: &App) {
    let w = world(app).await;
    let log = "/api/moderation/actions/";
    let manage = "debate_session.realtime_manage";
    // A moderator of the whole platform, denied in B: everything but B.
    let (global_id, global_mod) = app.user("list_global_mod").await;
    app.grant(&w.root, &global_id, "moderator", "global").await;
    assert_eq!(
        values(&items(app, log, &global_mod).await, "scope"),
        set(&[&w.a, &w.campus, &w.b])
    );
    deny(app, &w.root, "moderator", &w.b, manage).await;
    assert_eq!(
        values(&items(app, log, &global_mod).await, "scope"),
        set(&[&w.a, &w.campus])
    );
    assert!(
        items(app, log, &w.mod_b).await.is_empty(),
        "B's own moderator too"
    );

    // Denied in A's campus: A's moderator keeps A, loses the campus.
    deny(app, &w.root, "moderator", &w.campus, manage).await;
    assert_eq!(
        values(&items(app, log, &w.mod_a).await, "scope"),
        set(&[&w.a])
    );
    assert_problem(
        app.get_auth(&format!("{log}?scope={}", w.campus), &w.mod_a)
            .await,
        403,
    )
    .await;

    // The same for an institution admin's grants and overrides.
    let (admin_id, admin) = app.user("list_admin_denied").await;
    app.grant(&w.root, &admin_id, "institute_admin", &w.a).await;
    let (cadmin_id, _) = app.user("list_cadmin_denied").await;
    app.grant(&w.root, &cadmin_id, "campus_admin", &w.campus)
        .await;
    let before = values(&items(app, "/api/rbac/grants/", &admin).await, "scope");
    assert_eq!(before, set(&[&w.a, &w.campus]));
    let overrides = items(app, "/api/rbac/overrides/", &admin).await;
    assert_eq!(values(&overrides, "scope"), set(&[&w.campus]));
    deny(app, &w.root, "institute_admin", &w.campus, "role.read").await;
    let after = values(&items(app, "/api/rbac/grants/", &admin).await, "scope");
    assert_eq!(after, set(&[&w.a]));
    assert!(items(app, "/api/rbac/overrides/", &admin).await.is_empty());
}
