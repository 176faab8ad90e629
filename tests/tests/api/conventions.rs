//! HTTP conventions every route follows: problem+json errors (including actix's own
//! rejections), optional trailing slashes, request ids, health, metrics, docs.

use agora_tests::{App, assert_problem};
use serde_json::json;

crate::both_modes!(
    errors_are_problem_documents,
    operations_endpoints,
    every_documented_operation_is_served,
    only_documented_query_parameters_are_read
);

/// A route reads exactly the query parameters the OpenAPI document lists for it: any
/// other is refused with 422 naming it (a misspelt filter would otherwise return an
/// unfiltered list), and every listed one is accepted.
async fn only_documented_query_parameters_are_read(app: &App) {
    let admin = app.admin_token().await;
    let schema: serde_json::Value = app.get("/api/schema/").await.json().await.unwrap();
    let listed = |path: &str| -> Vec<String> {
        schema["paths"][path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let params = listed("/api/moderation/actions/");
    assert!(params.iter().any(|p| p == "scope"), "{params:?}");
    let res = app
        .get_auth("/api/moderation/actions/?limit=5&scpoe=global", &admin)
        .await;
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "scpoe", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("scope"), "names what it reads: {message}");
    // the listed ones pass the screen
    let res = app
        .get_auth("/api/moderation/actions/?limit=5&scope=global", &admin)
        .await;
    assert_eq!(res.status(), 200);
    // a route that reads none refuses any
    assert!(listed("/api/users/me/").is_empty());
    let body = assert_problem(app.get_auth("/api/users/me/?page=2", &admin).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "page", "{body}");
}

async fn errors_are_problem_documents(app: &App) {
    // unknown route
    assert_problem(app.get("/api/nope/").await, 404).await;
    // wrong method on a known path, with Allow
    let res = app
        .client
        .get(app.at("/api/users/login/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    assert_problem(res, 405).await;
    // malformed JSON
    let res = app
        .client
        .post(app.at("/api/users/login/"))
        .header("content-type", "application/json")
        .body("{\"login\": ")
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("JSON"), "{body}");
    // JSON of the wrong shape
    let res = app
        .post("/api/users/register/", json!({"username": 42}))
        .await;
    assert_problem(res, 400).await;
    // wrong content type
    let res = app
        .client
        .post(app.at("/api/users/login/"))
        .header("content-type", "text/plain")
        .body("login=a&password=b")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415).await;
    // body too large
    let huge = json!({"username": "x".repeat(200 * 1024), "email": "a@b.org", "password": "p"});
    assert_problem(app.post("/api/users/register/", huge).await, 413).await;
    // no token, bad token
    let res = app.get("/api/users/me/").await;
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_problem(res, 401).await;
    assert_problem(app.get_auth("/api/users/me/", "not.a.jwt").await, 401).await;
    // malformed path parameter is a 404, never a 500
    let token = app.signed_up("pathcheck").await;
    assert_problem(
        app.delete_auth("/api/users/me/sessions/not-a-uuid/", &token)
            .await,
        404,
    )
    .await;
    // the server is still fine after all that
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// The value of the sample `series` (name and labels) in a `/metrics` text, 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn operations_endpoints(app: &App) {
    // Metrics are process-wide and other tests run alongside: compare before and after.
    const ME_200: &str =
        r#"agora_http_requests_total{method="GET",route="/api/users/me",status="200"}"#;
    const ME_FAST: &str = r#"agora_http_request_duration_seconds_count{method="GET",route="/api/users/me",status="2xx"}"#;
    let before = app.get("/metrics").await.text().await.unwrap();

    // trailing slash optional, both ways
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/healthz/").await.status(), 200);
    let token = app.signed_up("slashes").await;
    assert_eq!(app.get_auth("/api/users/me", &token).await.status(), 200);
    assert_eq!(app.get_auth("/api/users/me/", &token).await.status(), 200);

    // request id: echoed when sane, generated otherwise
    let res = app
        .client
        .get(app.at("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .client
        .get(app.at("/healthz"))
        .header("x-request-id", "bad id\t")
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        generated.len(),
        36,
        "a uuid replaces an unusable id: {generated}"
    );

    // readiness reflects the backing services
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    // metrics count requests by route pattern (never the raw path) and status, time them
    // in a histogram, and show the job queue
    let raw = uuid::Uuid::new_v4();
    app.get(&format!("/api/debates/sessions/{raw}/")).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        sample(&text, ME_200) >= sample(&before, ME_200) + 2.0,
        "{text}"
    );
    assert!(
        sample(&text, ME_FAST) >= sample(&before, ME_FAST) + 2.0,
        "{text}"
    );
    assert!(text.contains(r#"agora_http_request_duration_seconds_bucket{method="GET",route="/api/users/me",status="2xx",le="0.005"}"#), "{text}");
    assert!(
        !text.contains(&raw.to_string()),
        "a raw path became a label: {text}"
    );
    assert!(text.contains(r#"agora_jobs{state="queued"}"#), "{text}");

    // docs page and its assets come from the server itself
    let res = app.get("/api/docs/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("/api/docs/swagger-ui-bundle.js") && !html.contains("https://"));
    let js = app.get("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 1_000_000);
    assert_eq!(app.get("/api/docs/swagger-ui.css").await.status(), 200);
}

/// Every operation in the served OpenAPI document answers on its path and method (no 404
/// or 405): documented implies served. (Served implies documented is checked against the
/// route table in api-server's unit tests.)
async fn every_documented_operation_is_served(app: &App) {
    let doc: serde_json::Value = app.get("/api/schema/").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{paths:?}");
    for (path, item) in paths {
        let concrete = path
            .replace("{name}", "no_such_role")
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{user_id}", "00000000-0000-0000-0000-000000000000")
            .replace("{seq}", "1")
            .replace("{kind}", "no_such_kind");
        assert!(
            !concrete.contains('{'),
            "unhandled path parameter in {path}"
        );
        for method in item.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(m, app.at(&concrete))
                .send()
                .await
                .unwrap();
            let s = res.status().as_u16();
            assert_ne!(
                s, 405,
                "{method} {path} is documented but its method is not served"
            );
            if s == 404 {
                // only a resource that does not exist may be missing, never the route
                assert!(
                    path.contains('{'),
                    "{method} {path} is documented but not served"
                );
            }
            assert_ne!(s, 500, "{method} {path}");
        }
    }
}
