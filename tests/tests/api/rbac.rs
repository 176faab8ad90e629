//! Access control through the API: each default role walked over representative routes
//! with exact status codes (the route matrix of docs/rbac.md), cross-institution
//! isolation, no escalation, temporary grants, the audit trail, and revocation.

use std::time::Duration;

use agora_tests::App;
use serde_json::{Value, json};

crate::both_modes!(
    role_matrix,
    no_escalation,
    temporary_grants_expire,
    audit_trail_and_check
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
    let until = chrono_like_now_plus(2);
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
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        rename(token).await,
        403,
        "an expired grant allows nothing, with no cleanup job"
    );
}

// The server runs on the wall clock, so a test of expiry must name a wall-clock time.
#[allow(clippy::disallowed_methods)]
fn chrono_like_now_plus(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
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
