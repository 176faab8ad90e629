//! Account rules as a user meets them: validation, uniqueness, brute-force protection,
//! no user enumeration, password change, sessions.

use agora_tests::{App, assert_problem};
use serde_json::json;

crate::both_modes!(
    registration_rules,
    no_user_enumeration_on_login,
    password_change_ends_other_sessions,
    sessions_can_be_listed_and_ended
);

async fn registration_rules(app: &App) {
    // every bad field is named at once; missing fields count as empty
    let res = app
        .post(
            "/api/users/register/",
            json!({"username": "a", "email": "nope"}),
        )
        .await;
    let body = assert_problem(res, 422).await;
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "password", "username"]);

    // password policy: too common, containing the username
    let res = app
        .post(
            "/api/users/register/",
            json!({"username": "bob", "email": "bob@example.org", "password": "password123"}),
        )
        .await;
    let body = assert_problem(res, 422).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("common"),
        "{body}"
    );
    let res = app.post("/api/users/register/", json!({"username": "bobby", "email": "bob@example.org", "password": "I am bobby, hello"})).await;
    assert_problem(res, 422).await;

    app.register("Carol", "carol@example.org", "a lengthy secret phrase")
        .await;
    // username unique case-insensitively, e-mail too
    let res = app.post("/api/users/register/", json!({"username": "carol", "email": "c2@example.org", "password": "a lengthy secret phrase"})).await;
    let body = assert_problem(res, 409).await;
    assert!(
        body["detail"].as_str().unwrap().contains("username"),
        "{body}"
    );
    let res = app.post("/api/users/register/", json!({"username": "carol2", "email": "CAROL@example.org", "password": "a lengthy secret phrase"})).await;
    let body = assert_problem(res, 409).await;
    assert!(body["detail"].as_str().unwrap().contains("email"), "{body}");
}

async fn no_user_enumeration_on_login(app: &App) {
    app.register("dave", "dave@example.org", "correct horse battery")
        .await;
    let wrong = app
        .post(
            "/api/users/login/",
            json!({"username": "dave", "password": "not the password"}),
        )
        .await;
    let wrong = assert_problem(wrong, 401).await;
    let unknown = app
        .post(
            "/api/users/login/",
            json!({"username": "nobody-here", "password": "not the password"}),
        )
        .await;
    let unknown = assert_problem(unknown, 401).await;
    assert_eq!(
        wrong, unknown,
        "identical answers for unknown user and wrong password"
    );
}

async fn password_change_ends_other_sessions(app: &App) {
    let old = "first long passphrase";
    let new = "second long passphrase";
    app.register("erin", "erin@example.org", old).await;
    let here = app.login("erin", old).await;
    let there = app.login("erin@example.org", old).await;
    let here_access = here["access"].as_str().unwrap();

    let res = app
        .post_auth(
            "/api/users/me/password/",
            here_access,
            json!({"current_password": "wrong one!", "new_password": new}),
        )
        .await;
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "current_password");

    let res = app
        .post_auth(
            "/api/users/me/password/",
            here_access,
            json!({"current_password": old, "new_password": new}),
        )
        .await;
    assert_eq!(res.status(), 204);

    // this session goes on; the other one is over, access and refresh alike
    assert_eq!(
        app.get_auth("/api/users/me/", here_access).await.status(),
        200
    );
    assert_eq!(
        app.get_auth("/api/users/me/", there["access"].as_str().unwrap())
            .await
            .status(),
        401
    );
    let res = app
        .post(
            "/api/users/token/refresh/",
            json!({"refresh": there["refresh"]}),
        )
        .await;
    assert_eq!(res.status(), 401);
    // old password no longer works, the new one does
    let res = app
        .post(
            "/api/users/login/",
            json!({"login": "erin", "password": old}),
        )
        .await;
    assert_eq!(res.status(), 401);
    app.login("erin", new).await;
}

async fn sessions_can_be_listed_and_ended(app: &App) {
    let pw = "his long passphrase";
    app.register("frank", "frank@example.org", pw).await;
    let laptop: serde_json::Value = app
        .client
        .post(app.at("/api/users/login/"))
        .header("user-agent", "Laptop/1.0")
        .json(&json!({"login": "frank", "password": pw}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let phone = app.login("frank", pw).await;
    let access = laptop["access"].as_str().unwrap();

    let list: serde_json::Value = app
        .get_auth("/api/users/me/sessions/", access)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Laptop/1.0");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    let other_id = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // someone else cannot end it
    let intruder = app.signed_up("mallory").await;
    let res = app
        .delete_auth(&format!("/api/users/me/sessions/{other_id}/"), &intruder)
        .await;
    assert_problem(res, 404).await;

    let res = app
        .delete_auth(&format!("/api/users/me/sessions/{other_id}/"), access)
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.get_auth("/api/users/me/", phone["access"].as_str().unwrap())
            .await
            .status(),
        401
    );
    let res = app
        .post(
            "/api/users/token/refresh/",
            json!({"refresh": phone["refresh"]}),
        )
        .await;
    assert_eq!(res.status(), 401);
    let list: serde_json::Value = app
        .get_auth("/api/users/me/sessions/", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

/// Brute force: after N failures this client is refused for that account with 429 and
/// Retry-After, even with the right password, while other accounts are unaffected (the
/// whole policy is in `login_protection`).
mod brute_force {
    use super::*;

    async fn story(app: &App) {
        let pw = "her long passphrase";
        app.register("gina", "gina@example.org", pw).await;
        app.register("hank", "hank@example.org", pw).await;
        for _ in 0..3 {
            let res = app
                .post(
                    "/api/users/login/",
                    json!({"login": "gina", "password": "wrong password"}),
                )
                .await;
            assert_eq!(res.status(), 401);
        }
        // by e-mail counts against the same account
        let res = app
            .post(
                "/api/users/login/",
                json!({"login": "gina@example.org", "password": pw}),
            )
            .await;
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= 600, "retry-after {retry}");
        assert_problem(res, 429).await;
        app.login("hank", pw).await;
    }

    const LIMITS: &[(&str, &str)] = &[
        ("AGORA_LOGIN_MAX_FAILURES", "3"),
        ("AGORA_LOGIN_WINDOW_SECS", "600"),
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        let app = App::memory_with(LIMITS).await;
        story(&app).await;
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(app) = App::postgres_redis_with(LIMITS).await else {
            return;
        };
        story(&app).await;
        app.stop().await;
    }
}
