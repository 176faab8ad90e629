//! Access control through the API: each default role walked over representative routes
//! with exact status codes (the route matrix of docs/rbac.md), cross-institution
//! isolation, no escalation, temporary grants, the audit trail, and revocation; the
//! protected built-in roles and their reset; the job permissions.

use std::time::Duration;

use agora_tests::App;
use domain_core::Clock;
use serde_json::{Value, json};

crate::both_modes!(
    role_matrix,
    no_escalation,
    temporary_grants_expire,
    audit_trail_and_check,
    built_in_roles_cannot_be_wrecked,
    a_reset_restores_a_wrecked_template,
    revoking_a_permission_grant_needs_the_permission,
    job_operations_need_job_permissions,
);

const WHO: [&str; 10] = [
    "super_admin",
    "institute_admin",
    "campus_admin",
    "teacher",
    "staff",
    "moderator",
    "student",
    "parent",
    "basic_user",
    "anonymous",
];

async fn created(app: &App, token: &str, path: &str, body: Value) -> String {
    let res = app.post_auth(path, token, body).await;
    assert_eq!(
        res.status(),
        201,
        "{path}: {}",
        res.text().await.unwrap_or_default()
    );
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

struct World {
    root: String,
    a: String,
    b: String,
    campus: String,
    dept: String,
    /// Tokens in `WHO` order (`None` for anonymous).
    tokens: Vec<Option<String>>,
}

async fn world(app: &App) -> World {
    let root = app.admin_token().await;
    let a = created(
        app,
        &root,
        "/api/org/institutions/",
        json!({"name": "Alpha University"}),
    )
    .await;
    let b = created(
        app,
        &root,
        "/api/org/institutions/",
        json!({"name": "Beta College"}),
    )
    .await;
    let campus = created(
        app,
        &root,
        "/api/org/campuses/",
        json!({"institution_id": a, "name": "North"}),
    )
    .await;
    let dept = created(
        app,
        &root,
        "/api/org/departments/",
        json!({"campus_id": campus, "name": "Rhetoric"}),
    )
    .await;
    let mut tokens = vec![Some(root.clone())];
    for role in &WHO[1..9] {
        let (id, token) = app.user(&format!("u_{role}")).await;
        let scope = match *role {
            "campus_admin" => format!("campus:{campus}"),
            "basic_user" => String::new(),
            _ => format!("institution:{a}"),
        };
        if !scope.is_empty() {
            app.grant(&root, &id, role, &scope).await;
        }
        tokens.push(Some(token));
    }
    tokens.push(None);
    World {
        root,
        a,
        b,
        campus,
        dept,
        tokens,
    }
}

async fn role_matrix(app: &App) {
    let w = world(app).await;
    let (a, b, campus, dept) = (w.a.clone(), w.b.clone(), w.campus.clone(), w.dept.clone());
    // (label, method, path, body for actor index i, expected statuses in WHO order)
    type Body = Box<dyn Fn(usize) -> Option<Value>>;
    let none = || -> Body { Box::new(|_| None) };
    let rows: Vec<(&str, &str, String, Body, [u16; 10])> = vec![
        (
            "read institution A",
            "GET",
            format!("/api/org/institutions/{a}/"),
            none(),
            [200; 10],
        ),
        (
            "create institution",
            "POST",
            "/api/org/institutions/".into(),
            Box::new(|i| Some(json!({"name": format!("New {}", WHO[i])}))),
            [201, 403, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "rename institution A",
            "PATCH",
            format!("/api/org/institutions/{a}/"),
            Box::new(|_| Some(json!({"name": "Alpha University"}))),
            [200, 200, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "rename institution B (other institution)",
            "PATCH",
            format!("/api/org/institutions/{b}/"),
            Box::new(|_| Some(json!({"name": "Beta College"}))),
            [200, 403, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "create campus in A",
            "POST",
            "/api/org/campuses/".into(),
            Box::new({
                let a = a.clone();
                move |i| Some(json!({"institution_id": a, "name": format!("Campus {}", WHO[i])}))
            }),
            [201, 201, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "create campus in B",
            "POST",
            "/api/org/campuses/".into(),
            Box::new({
                let b = b.clone();
                move |i| Some(json!({"institution_id": b, "name": format!("Campus {}", WHO[i])}))
            }),
            [201, 403, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "create department in A's campus",
            "POST",
            "/api/org/departments/".into(),
            Box::new({
                let c = campus.clone();
                move |i| Some(json!({"campus_id": c, "name": format!("Dept {}", WHO[i])}))
            }),
            [201, 201, 201, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "list department members",
            "GET",
            format!("/api/org/departments/{dept}/members/"),
            none(),
            [200, 200, 200, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "read A's audit trail",
            "GET",
            format!("/api/rbac/audit/?scope=institution:{a}"),
            none(),
            [200, 200, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "list A's grants",
            "GET",
            format!("/api/rbac/grants/?scope=institution:{a}"),
            none(),
            [200, 200, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "list the campus's grants",
            "GET",
            format!("/api/rbac/grants/?scope=campus:{campus}"),
            none(),
            [200, 200, 200, 403, 403, 403, 403, 403, 403, 401],
        ),
        (
            "own account",
            "GET",
            "/api/users/me/".into(),
            none(),
            [200, 200, 200, 200, 200, 200, 200, 200, 200, 401],
        ),
    ];
    let mut mismatches = Vec::new();
    for (label, method, path, body, expected) in &rows {
        for (i, token) in w.tokens.iter().enumerate() {
            let got = app.status(method, path, token.as_deref(), body(i)).await;
            if got != expected[i] {
                mismatches.push(format!(
                    "{label}: {} got {got}, expected {}",
                    WHO[i], expected[i]
                ));
            }
        }
    }
    // role assignment: each actor tries to make a fresh user a student in A, then in the campus
    for (i, token) in w.tokens.iter().enumerate() {
        let (target, _) = app.user(&format!("target_{i}")).await;
        let in_a = app
            .status("POST", "/api/rbac/grants/", token.as_deref(),
                Some(json!({"user_id": target, "role": "student", "scope": format!("institution:{a}")})))
            .await;
        let expected = [201, 201, 403, 403, 403, 403, 403, 403, 403, 401][i];
        if in_a != expected {
            mismatches.push(format!(
                "assign student in A: {} got {in_a}, expected {expected}",
                WHO[i]
            ));
        }
        let in_campus = app
            .status("POST", "/api/rbac/grants/", token.as_deref(),
                Some(json!({"user_id": target, "role": "student", "scope": format!("campus:{campus}")})))
            .await;
        let expected = [201, 201, 201, 403, 403, 403, 403, 403, 403, 401][i];
        if in_campus != expected {
            mismatches.push(format!(
                "assign student in the campus: {} got {in_campus}, expected {expected}",
                WHO[i]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "route matrix mismatches:\n{}",
        mismatches.join("\n")
    );
    let _ = w.root;
}

async fn no_escalation(app: &App) {
    let w = world(app).await;
    let ia = w.tokens[1].clone().unwrap();
    let ca = w.tokens[2].clone().unwrap();
    let (victim, _) = app.user("victim").await;
    let me: Value = app
        .get_auth("/api/users/me/", &ia)
        .await
        .json()
        .await
        .unwrap();
    let ia_id = me["user"]["id"].as_str().unwrap().to_owned();
    let scope_a = format!("institution:{}", w.a);
    let try_grant = |token: String, user: String, role: &'static str, scope: String| async move {
        app.status(
            "POST",
            "/api/rbac/grants/",
            Some(&token),
            Some(json!({"user_id": user, "role": role, "scope": scope})),
        )
        .await
    };
    // same rank and above are refused, as is anything for oneself
    assert_eq!(
        try_grant(
            ia.clone(),
            victim.clone(),
            "institute_admin",
            scope_a.clone()
        )
        .await,
        403
    );
    assert_eq!(
        try_grant(ia.clone(), victim.clone(), "super_admin", "global".into()).await,
        403
    );
    assert_eq!(
        try_grant(ia.clone(), ia_id.clone(), "teacher", scope_a.clone()).await,
        403
    );
    assert_eq!(
        try_grant(
            ca.clone(),
            victim.clone(),
            "campus_admin",
            format!("campus:{}", w.campus)
        )
        .await,
        403
    );
    // below is fine, and the recipient cannot climb higher than what they were given
    assert_eq!(
        try_grant(ia.clone(), victim.clone(), "campus_admin", scope_a.clone()).await,
        201
    );
    let victim_token = {
        let t = app.login("victim", "a long passphrase for tests").await;
        t["access"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        try_grant(
            victim_token.clone(),
            ia_id.clone(),
            "student",
            scope_a.clone()
        )
        .await,
        201
    );
    assert_eq!(
        try_grant(
            victim_token,
            victim.clone(),
            "institute_admin",
            scope_a.clone()
        )
        .await,
        403
    );
    // unknown scope and malformed input
    let bad = app
        .status(
            "POST",
            "/api/rbac/grants/",
            Some(&w.root),
            Some(json!({"user_id": victim, "role": "teacher", "scope": "institution:not-a-uuid"})),
        )
        .await;
    assert_eq!(bad, 422);
    let missing = app
        .status("POST", "/api/rbac/grants/", Some(&w.root),
            Some(json!({"user_id": victim, "role": "teacher", "scope": "institution:5f0e6c2a-1111-4f3e-9d4c-1234567890ab"})))
        .await;
    assert_eq!(missing, 404);
    // built-in roles cannot be deleted
    assert_eq!(
        app.status("DELETE", "/api/rbac/roles/teacher/", Some(&w.root), None)
            .await,
        409
    );
}

async fn temporary_grants_expire(app: &App) {
    let w = world(app).await;
    let (uid, token) = app.user("tempo").await;
    let rename = |t: String| {
        let a = w.a.clone();
        async move {
            app.status(
                "PATCH",
                &format!("/api/org/institutions/{a}/"),
                Some(&t),
                Some(json!({"name": "Alpha University"})),
            )
            .await
        }
    };
    assert_eq!(rename(token.clone()).await, 403);
    let until = (app.clock().now() + chrono::TimeDelta::seconds(300)).to_rfc3339();
    let res = app
        .post_auth("/api/rbac/grants/", &w.root,
            json!({"user_id": uid, "role": "institute_admin", "scope": format!("institution:{}", w.a), "expires_at": until}))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        rename(token.clone()).await,
        200,
        "allowed while the grant lasts"
    );
    app.advance(Duration::from_secs(300));
    assert_eq!(
        rename(token).await,
        403,
        "an expired grant allows nothing, with no cleanup job"
    );
}

async fn audit_trail_and_check(app: &App) {
    let w = world(app).await;
    let (uid, token) = app.user("audited").await;
    let scope = format!("institution:{}", w.a);
    let grant_id = app.grant(&w.root, &uid, "teacher", &scope).await;

    // the decision is explained
    let res = app
        .post_auth(
            "/api/rbac/check/",
            &token,
            json!({"permission": "exam.grade_manage", "scope": scope}),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["allowed"], true, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("teacher"),
        "{body}"
    );
    let res = app
        .post_auth(
            "/api/rbac/check/",
            &token,
            json!({"permission": "exam.grade_manage", "scope": format!("institution:{}", w.b)}),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["allowed"], false, "{body}");

    // revocation takes effect at once, and both changes are in the trail
    assert_eq!(
        app.status(
            "DELETE",
            &format!("/api/rbac/grants/{grant_id}/"),
            Some(&w.root),
            None
        )
        .await,
        204
    );
    let res = app
        .post_auth(
            "/api/rbac/check/",
            &token,
            json!({"permission": "exam.grade_manage", "scope": scope}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["allowed"], false);
    let trail: Value = app
        .get_auth(&format!("/api/rbac/audit/?target=user:{uid}"), &w.root)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["grant.revoke", "grant.create"], "{trail}");
    assert!(trail["items"][0]["request_id"].is_string());
    assert!(trail["items"][0]["before"]["role"] == "teacher");
    // the trail cannot be changed through the API
    assert_eq!(
        app.status("DELETE", "/api/rbac/audit/", Some(&w.root), None)
            .await,
        405
    );
}

async fn put_auth(app: &App, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.at(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn role_permissions(app: &App, token: &str, role: &str) -> Vec<String> {
    let res = app
        .get_auth(&format!("/api/rbac/roles/{role}/"), token)
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    serde_json::from_value(body["permissions"].clone()).unwrap()
}

/// The audit trail of one target, newest first, as (action, before, after).
async fn trail_of(app: &App, token: &str, target: &str) -> Vec<(String, Value, Value)> {
    let res = app
        .get_auth(&format!("/api/rbac/audit/?target={target}"), token)
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["before"].clone(),
                r["after"].clone(),
            )
        })
        .collect()
}

async fn assert_protected(res: reqwest::Response, mentions: &str) {
    let body = agora_tests::assert_problem(res, 409).await;
    assert_eq!(body["type"], "/problems/protected-role", "{body}");
    assert_eq!(body["title"], "Protected built-in role", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains(mentions),
        "{mentions} in {body}"
    );
}

/// What a fuzzing run did once — super_admin emptied, guest given deletes — is refused
/// with a problem that says why, and nothing changes.
async fn built_in_roles_cannot_be_wrecked(app: &App) {
    let w = world(app).await;
    let root = &w.root;
    let everything = role_permissions(app, root, "super_admin").await;
    assert!(everything.contains(&"role.read".to_owned()));
    assert!(everything.contains(&"job.update".to_owned()));

    let res = put_auth(
        app,
        "/api/rbac/roles/super_admin/permissions/",
        root,
        json!({"permissions": []}),
    )
    .await;
    assert_protected(res, "super_admin").await;
    let mut all_but_one = everything.clone();
    all_but_one.retain(|p| p != "audit.read");
    let res = put_auth(
        app,
        "/api/rbac/roles/super_admin/permissions/",
        root,
        json!({"permissions": all_but_one}),
    )
    .await;
    assert_protected(res, "audit.read").await;
    // both attempts are in the audit trail, newest first, with what was asked
    let trail = trail_of(app, root, "role:super_admin").await;
    let refused: Vec<&(String, Value, Value)> = trail
        .iter()
        .filter(|(a, _, _)| a == "role.update_refused")
        .collect();
    assert_eq!(refused.len(), 2, "{trail:?}");
    assert_eq!(refused[1].2, json!([]), "the empty list asked for");
    // nor in one institution
    let res = app
        .post_auth(
            "/api/rbac/overrides/",
            root,
            json!({"role": "super_admin", "scope": format!("institution:{}", w.a),
                   "permission": "role.read", "effect": "deny"}),
        )
        .await;
    assert_protected(res, "role.read").await;

    let mut guest = role_permissions(app, root, "guest").await;
    guest.push("exam.delete".into());
    let res = put_auth(
        app,
        "/api/rbac/roles/guest/permissions/",
        root,
        json!({"permissions": guest}),
    )
    .await;
    assert_protected(res, "exam.delete").await;
    let res = app
        .post_auth(
            "/api/rbac/overrides/",
            root,
            json!({"role": "guest", "scope": format!("institution:{}", w.a),
                   "permission": "debate_topic.create", "effect": "allow"}),
        )
        .await;
    assert_protected(res, "debate_topic.create").await;
    // basic_user (every self-registered account) takes part, administers nothing
    let mut basic = role_permissions(app, root, "basic_user").await;
    basic.push("role.role_assign".into());
    let res = put_auth(
        app,
        "/api/rbac/roles/basic_user/permissions/",
        root,
        json!({"permissions": basic}),
    )
    .await;
    assert_protected(res, "role.role_assign").await;

    // nothing changed, only refusals recorded, and super_admin still reads roles and the trail
    assert_eq!(role_permissions(app, root, "super_admin").await, everything);
    assert!(
        !role_permissions(app, root, "guest")
            .await
            .contains(&"exam.delete".to_owned())
    );
    for target in ["role:super_admin", "role:guest", "role:basic_user"] {
        let trail = trail_of(app, root, target).await;
        assert!(
            trail.iter().all(|(a, _, _)| a.ends_with("_refused")),
            "{target}: {trail:?}"
        );
    }
    let anonymous_delete = app
        .post(
            "/api/rbac/check/",
            json!({"permission": "exam.delete", "scope": format!("institution:{}", w.a)}),
        )
        .await;
    let body: Value = anonymous_delete.json().await.unwrap();
    assert_eq!(body["allowed"], false, "{body}");
}

async fn anonymous_may(app: &App, permission: &str) -> bool {
    let res = app
        .post(
            "/api/rbac/check/",
            json!({"permission": permission, "scope": "global"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["allowed"]
        .as_bool()
        .unwrap()
}

/// An edit that is allowed but unwanted (guest no longer reads topics) is undone by a
/// reset to the defaults; both are in the audit trail with the permissions before and
/// after.
async fn a_reset_restores_a_wrecked_template(app: &App) {
    let w = world(app).await;
    let root = &w.root;
    let defaults = role_permissions(app, root, "guest").await;
    assert!(anonymous_may(app, "debate_topic.read").await);

    let mut wrecked = defaults.clone();
    wrecked.retain(|p| p != "debate_topic.read");
    let res = put_auth(
        app,
        "/api/rbac/roles/guest/permissions/",
        root,
        json!({"permissions": wrecked}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(!anonymous_may(app, "debate_topic.read").await);

    // only super_admin holds role.update globally; others are refused, custom roles
    // have no defaults, unknown roles do not exist
    let ia = w.tokens[1].clone().unwrap();
    let student = w.tokens[6].clone().unwrap();
    for token in [&ia, &student] {
        let res = app
            .post_auth("/api/rbac/roles/guest/reset/", token, json!({}))
            .await;
        agora_tests::assert_problem(res, 403).await;
    }
    assert_eq!(
        app.status("POST", "/api/rbac/roles/guest/reset/", None, None)
            .await,
        401
    );
    let res = app
        .post_auth(
            "/api/rbac/roles/",
            root,
            json!({"name": "debate_coach", "rank": 30, "permissions": ["debate_topic.read"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post_auth("/api/rbac/roles/debate_coach/reset/", root, json!({}))
        .await;
    agora_tests::assert_problem(res, 409).await;
    let res = app
        .post_auth("/api/rbac/roles/no_such_role/reset/", root, json!({}))
        .await;
    agora_tests::assert_problem(res, 404).await;
    assert!(!anonymous_may(app, "debate_topic.read").await);

    let res = app
        .post_auth("/api/rbac/roles/guest/reset/", root, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let reset: Vec<String> = serde_json::from_value(body["permissions"].clone()).unwrap();
    assert_eq!(reset, defaults);
    assert_eq!(role_permissions(app, root, "guest").await, defaults);
    assert!(anonymous_may(app, "debate_topic.read").await);

    let trail = trail_of(app, root, "role:guest").await;
    let actions: Vec<&str> = trail.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["role.reset", "role.update"]);
    let (_, before, after) = &trail[0];
    assert_eq!(before, &json!(wrecked));
    assert_eq!(after, &json!(defaults));
}

/// Revoking a direct permission grant needs what granting it needed: role.role_assign
/// in its scope and the permission itself there; never one's own.
async fn revoking_a_permission_grant_needs_the_permission(app: &App) {
    let w = world(app).await;
    let root = &w.root;
    let ia = w.tokens[1].clone().unwrap();
    let me: Value = app
        .get_auth("/api/users/me/", &ia)
        .await
        .json()
        .await
        .unwrap();
    let ia_id = me["user"]["id"].as_str().unwrap().to_owned();
    let (holder, _) = app.user("grant_holder").await;
    let scope = format!("institution:{}", w.a);
    let grant = |user: String, permission: &'static str| {
        let scope = scope.clone();
        async move {
            let res = app
                .post_auth(
                    "/api/rbac/permission-grants/",
                    root,
                    json!({"user_id": user, "permission": permission, "scope": scope}),
                )
                .await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let revoke = |token: String, id: String| async move {
        app.status(
            "DELETE",
            &format!("/api/rbac/permission-grants/{id}/"),
            Some(&token),
            None,
        )
        .await
    };
    // the institute_admin may assign roles in A but cannot delete the institution…
    let above = grant(holder.clone(), "institution.delete").await;
    assert_eq!(revoke(ia.clone(), above.clone()).await, 403);
    // …nor take away a grant held in another institution
    let elsewhere = {
        let res = app
            .post_auth(
                "/api/rbac/permission-grants/",
                root,
                json!({"user_id": holder, "permission": "debate_topic.create",
                       "scope": format!("institution:{}", w.b)}),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(revoke(ia.clone(), elsewhere).await, 403);
    // nor their own
    let own = grant(ia_id, "exam.read").await;
    assert_eq!(revoke(ia.clone(), own.clone()).await, 403);
    // a teacher has no role.role_assign at all
    let within = grant(holder.clone(), "debate_topic.create").await;
    assert_eq!(
        revoke(w.tokens[3].clone().unwrap(), within.clone()).await,
        403
    );
    // within the rule it goes, and is audited
    assert_eq!(revoke(ia.clone(), within).await, 204);
    assert_eq!(revoke(root.clone(), above).await, 204);
    assert_eq!(revoke(root.clone(), own).await, 204);
    let actions: Vec<String> = trail_of(app, root, &format!("user:{holder}"))
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "permission_grant.revoke")
            .count(),
        2,
        "{actions:?}"
    );
}

/// Retrying a dead job needs `job.update` globally and listing jobs `job.read`:
/// `audit.read`, even globally, is no longer enough; an institute_admin is refused,
/// super_admin allowed.
async fn job_operations_need_job_permissions(app: &App) {
    let w = world(app).await;
    let root = &w.root;
    let ia = w.tokens[1].clone().unwrap();
    let retry = format!("/api/admin/jobs/{}/retry/", uuid_like());
    // past the permission check a missing job is 404
    assert_eq!(app.status("POST", &retry, Some(root), None).await, 404);
    assert_eq!(
        app.status("GET", "/api/admin/jobs/", Some(root), None)
            .await,
        200
    );
    assert_eq!(app.status("POST", &retry, Some(&ia), None).await, 403);
    assert_eq!(
        app.status("GET", "/api/admin/jobs/", Some(&ia), None).await,
        403
    );

    let direct = |user: String, permission: &'static str| async move {
        let res = app
            .post_auth(
                "/api/rbac/permission-grants/",
                root,
                json!({"user_id": user, "permission": permission, "scope": "global"}),
            )
            .await;
        assert_eq!(res.status(), 201);
    };
    let (auditor, auditor_token) = app.user("platform_auditor").await;
    direct(auditor, "audit.read").await;
    assert_eq!(
        app.status("GET", "/api/rbac/audit/", Some(&auditor_token), None)
            .await,
        200
    );
    assert_eq!(
        app.status("POST", &retry, Some(&auditor_token), None).await,
        403
    );
    assert_eq!(
        app.status("GET", "/api/admin/jobs/", Some(&auditor_token), None)
            .await,
        403
    );

    let (watcher, watcher_token) = app.user("job_watcher").await;
    direct(watcher.clone(), "job.read").await;
    assert_eq!(
        app.status("GET", "/api/admin/jobs/counts/", Some(&watcher_token), None)
            .await,
        200
    );
    assert_eq!(
        app.status("POST", &retry, Some(&watcher_token), None).await,
        403
    );
    direct(watcher, "job.update").await;
    assert_eq!(
        app.status("POST", &retry, Some(&watcher_token), None).await,
        404
    );
}

fn uuid_like() -> String {
    "5f0e6c2a-2222-4f3e-9d4c-1234567890ab".into()
}
