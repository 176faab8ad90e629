//! Background jobs as operators see them (`/api/admin/jobs/`), and the worker that
//! `serve` runs by default.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agora_tests::{App, assert_problem};
use chrono::{DateTime, Utc};
use domain_core::Clock;
use domain_jobs::{NewJob, Worker, WorkerConfig};
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    domain_core::SystemClock.now()
}

/// A job no handler knows, made dead by one tick of a worker with no handlers (the
/// server's own worker is off in these tests, so nothing else touches it).
async fn dead_job(app: &App) -> String {
    let queue = app.jobs();
    let id = queue
        .enqueue(
            NewJob::new("test.nobody_handles_this", json!({"n": 1})),
            now(),
        )
        .await
        .unwrap()
        .id;
    let worker = Worker::new(
        queue,
        HashMap::new(),
        Arc::new(domain_core::SystemClock),
        WorkerConfig::new("api-test-worker"),
    );
    assert_eq!(worker.tick().await, 1);
    id.to_string()
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let code = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert_eq!(code, status, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn operators_list_count_and_retry_dead_jobs(app: &App) {
    let root = app.admin_token().await;
    let id = dead_job(app).await;

    let counts = json_of(app.get_auth("/api/admin/jobs/counts/", &root).await, 200).await;
    assert_eq!(counts["dead"], 1, "{counts}");
    assert_eq!(counts["queued"], 0, "{counts}");
    for key in ["scheduled", "running", "stalled", "done"] {
        assert!(counts[key].is_u64(), "{key} in {counts}");
    }

    let dead = json_of(
        app.get_auth("/api/admin/jobs/?status=dead", &root).await,
        200,
    )
    .await;
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{dead}");
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["status"], "dead");
    assert_eq!(items[0]["kind"], "test.nobody_handles_this");
    assert!(
        items[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("no handler"),
        "{dead}"
    );
    let queued = json_of(
        app.get_auth("/api/admin/jobs/?status=queued", &root).await,
        200,
    )
    .await;
    assert_eq!(queued["items"], json!([]));

    let one = json_of(
        app.get_auth(&format!("/api/admin/jobs/{id}/"), &root).await,
        200,
    )
    .await;
    assert_eq!(one["attempts"], 1);
    assert_eq!(one["payload"], json!({"n": 1}));

    let retried = json_of(
        app.post_auth(&format!("/api/admin/jobs/{id}/retry/"), &root, json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(retried["status"], "queued");
    assert_eq!(retried["attempts"], 0);
    // no longer dead: a second retry conflicts
    assert_problem(
        app.post_auth(&format!("/api/admin/jobs/{id}/retry/"), &root, json!({}))
            .await,
        409,
    )
    .await;
    let counts = json_of(app.get_auth("/api/admin/jobs/counts/", &root).await, 200).await;
    assert_eq!(
        (counts["dead"].as_u64(), counts["queued"].as_u64()),
        (Some(0), Some(1))
    );

    let missing = uuid::Uuid::new_v4();
    assert_problem(
        app.get_auth(&format!("/api/admin/jobs/{missing}/"), &root)
            .await,
        404,
    )
    .await;
    assert_problem(
        app.post_auth(
            &format!("/api/admin/jobs/{missing}/retry/"),
            &root,
            json!({}),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        app.get_auth("/api/admin/jobs/?status=failed", &root).await,
        422,
    )
    .await;
    assert_problem(
        app.get_auth("/api/admin/jobs/?after=not-a-cursor", &root)
            .await,
        400,
    )
    .await;
}

async fn job_pages_are_newest_first(app: &App) {
    let root = app.admin_token().await;
    let queue = app.jobs();
    let mut ids = Vec::new();
    for n in 0..3 {
        let enqueued = queue
            .enqueue(NewJob::new("test.page", json!({"n": n})), now())
            .await
            .unwrap();
        ids.push(enqueued.id.to_string());
        // distinct creation times, so newest-first is unambiguous
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = json_of(app.get_auth("/api/admin/jobs/?limit=2", &root).await, 200).await;
    let page: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, vec![ids[2].as_str(), ids[1].as_str()]);
    let next = first["next"]
        .as_str()
        .expect("a full page has a next cursor");
    let second = json_of(
        app.get_auth(&format!("/api/admin/jobs/?limit=2&after={next}"), &root)
            .await,
        200,
    )
    .await;
    assert_eq!(second["items"][0]["id"], ids[0].as_str());
    assert_eq!(second["next"], Value::Null);
}

async fn only_platform_operators_see_jobs(app: &App) {
    let root = app.admin_token().await;
    let id = dead_job(app).await;
    let institution = json_of(
        app.post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Jobs High"}),
        )
        .await,
        201,
    )
    .await;
    let scope = format!("institution:{}", institution["id"].as_str().unwrap());
    let (ia_id, ia) = app.user("ia_jobs").await;
    app.grant(&root, &ia_id, "institute_admin", &scope).await;
    let (_, student) = app.user("stu_jobs").await;

    let paths = [
        ("GET", "/api/admin/jobs/".to_owned()),
        ("GET", "/api/admin/jobs/counts/".to_owned()),
        ("GET", format!("/api/admin/jobs/{id}/")),
        ("POST", format!("/api/admin/jobs/{id}/retry/")),
    ];
    for (method, path) in &paths {
        assert_eq!(
            app.status(method, path, Some(&student), None).await,
            403,
            "student {method} {path}"
        );
        // job permissions exist in the global scope only, held by super_admin
        assert_eq!(
            app.status(method, path, Some(&ia), None).await,
            403,
            "institute_admin {method} {path}"
        );
        assert_eq!(
            app.status(method, path, None, None).await,
            401,
            "anonymous {method} {path}"
        );
    }
    // the refused retries changed nothing
    let job = json_of(
        app.get_auth(&format!("/api/admin/jobs/{id}/"), &root).await,
        200,
    )
    .await;
    assert_eq!(job["status"], "dead");
}

/// Runs `story` with the server's own worker off, in both storage modes.
macro_rules! worker_off {
    ($($story:ident),* $(,)?) => {
        $(
            mod $story {
                const OFF: &[(&str, &str)] = &[("AGORA_WORKER", "off")];

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn memory() {
                    let app = agora_tests::App::memory_with(OFF).await;
                    super::$story(&app).await;
                    app.stop().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    let Some(app) = agora_tests::App::postgres_redis_with(OFF).await else { return };
                    super::$story(&app).await;
                    app.stop().await;
                }
            }
        )*
    };
}

worker_off!(
    operators_list_count_and_retry_dead_jobs,
    job_pages_are_newest_first,
    only_platform_operators_see_jobs,
);

/// `serve` runs a worker by default: an enqueued e-mail job gets done (through the log
/// mailer, SMTP_URL being unset), and the hourly purge is enqueued.
async fn serve_runs_the_worker(app: &App) {
    let root = app.admin_token().await;
    let email = domain_notifications::Email {
        to: "ada@example.org".into(),
        subject: "Worker test".into(),
        text: "plain".into(),
        html: "<p>html</p>".into(),
    };
    let id = app
        .jobs()
        .enqueue(api_server::mail::email_job(&email), now())
        .await
        .unwrap()
        .id;
    let mut last = Value::Null;
    for _ in 0..100 {
        last = json_of(
            app.get_auth(&format!("/api/admin/jobs/{id}/"), &root).await,
            200,
        )
        .await;
        if last["status"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["status"], "done", "{last}");
    assert_eq!(last["kind"], "email.send");
    let all = json_of(app.get_auth("/api/admin/jobs/?limit=100", &root).await, 200).await;
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "jobs.purge_done"),
        "{all}"
    );
}

crate::both_modes!(serve_runs_the_worker);

/// With `SMTP_URL` set, an `email.send` job goes out through SMTP: a sink on loopback
/// receives one multipart message with both bodies.
async fn emails_leave_through_smtp(
    app: &App,
    deliveries: &mut tokio::sync::mpsc::UnboundedReceiver<adapter_smtp::testing::Delivery>,
) {
    let email = domain_notifications::Email {
        to: "ada@example.org".into(),
        subject: "Results published".into(),
        text: "Plainpart: the results are out.".into(),
        html: "<p>Htmlpart: the results are out.</p>".into(),
    };
    app.jobs()
        .enqueue(api_server::mail::email_job(&email), now())
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(15), deliveries.recv())
        .await
        .expect("the e-mail arrives within 15 s")
        .expect("the sink is running");
    assert_eq!(
        got.envelope,
        vec![
            "MAIL FROM:<jobs@agora.test>".to_owned(),
            "RCPT TO:<ada@example.org>".to_owned()
        ]
    );
    for part in [
        "From: \"Agora Jobs\" <jobs@agora.test>",
        "Subject: Results published",
        "Content-Type: text/plain",
        "Plainpart: the results are out.",
        "Content-Type: text/html",
        "<p>Htmlpart: the results are out.</p>",
    ] {
        assert!(got.data.contains(part), "{part} missing from {}", got.data);
    }
}

mod smtp {
    use super::*;

    fn env(port: u16) -> [(&'static str, String); 2] {
        [
            ("SMTP_URL", format!("smtp://127.0.0.1:{port}")),
            ("AGORA_MAIL_FROM", "Agora Jobs <jobs@agora.test>".to_owned()),
        ]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        let (port, mut deliveries) = adapter_smtp::testing::sink("250 OK\r\n").await;
        let env = env(port);
        let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let app = App::memory_with(&extra).await;
        emails_leave_through_smtp(&app, &mut deliveries).await;
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let (port, mut deliveries) = adapter_smtp::testing::sink("250 OK\r\n").await;
        let env = env(port);
        let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let Some(app) = App::postgres_redis_with(&extra).await else {
            return;
        };
        emails_leave_through_smtp(&app, &mut deliveries).await;
        app.stop().await;
    }
}
