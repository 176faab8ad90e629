//! The journey of issue #2: register → login → me → refresh → old refresh is 401 →
//! logout → me with the old access token is 401 → login again works.

use agora_tests::App;
use serde_json::json;

crate::both_modes!(full_account_journey, logout_revokes_refresh_family);

async fn full_account_journey(app: &App) {
    let (name, email, pw) = ("ada_lovelace", "Ada@Example.org", "analytical engine 1843");
    let res = app
        .post(
            "/api/users/register/",
            json!({"username": name, "email": email, "password": pw}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let user: serde_json::Value = res.json().await.unwrap();
    assert_eq!(user["username"], name);
    assert_eq!(user["email"], "ada@example.org", "e-mail is normalised");
    let text = user.to_string();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "no secrets: {text}"
    );

    // login by username
    let tokens = app.login(name, pw).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    let access = tokens["access"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh"].as_str().unwrap().to_owned();

    let me = app.get_auth("/api/users/me/", &access).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user"]["username"], name);
    assert!(me["roles"].is_array());

    // refresh rotates
    let res = app
        .post("/api/users/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(res.status(), 200);
    let rotated: serde_json::Value = res.json().await.unwrap();
    let access2 = rotated["access"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    assert_eq!(app.get_auth("/api/users/me/", &access2).await.status(), 200);

    // the old refresh token again: 401, and theft detection revokes the family
    let res = app
        .post("/api/users/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = app
        .post("/api/users/token/refresh/", json!({"refresh": refresh2}))
        .await;
    assert_eq!(res.status(), 401, "the successor dies with its family");
    assert_eq!(
        app.get_auth("/api/users/me/", &access2).await.status(),
        401,
        "and so do its access tokens"
    );

    // a fresh login by e-mail (any case), then logout
    let tokens = app.login("ADA@example.ORG", pw).await;
    let access3 = tokens["access"].as_str().unwrap().to_owned();
    assert_eq!(app.get_auth("/api/users/me/", &access3).await.status(), 200);
    let res = app
        .post_auth("/api/users/logout/", &access3, json!({}))
        .await;
    assert_eq!(res.status(), 204);
    let res = app.get_auth("/api/users/me/", &access3).await;
    assert_eq!(
        res.status(),
        401,
        "logout kills the presented access token at once"
    );

    // login again works
    let tokens = app.login(name, pw).await;
    let access4 = tokens["access"].as_str().unwrap();
    assert_eq!(app.get_auth("/api/users/me/", access4).await.status(), 200);
}

async fn logout_revokes_refresh_family(app: &App) {
    app.register("grace", "grace@example.org", "cobol compiler 1959")
        .await;
    let tokens = app.login("grace", "cobol compiler 1959").await;
    let access = tokens["access"].as_str().unwrap();
    assert_eq!(
        app.post_auth("/api/users/logout", access, json!({}))
            .await
            .status(),
        204
    );
    let res = app
        .post(
            "/api/users/token/refresh/",
            json!({"refresh": tokens["refresh"]}),
        )
        .await;
    assert_eq!(res.status(), 401);
}
