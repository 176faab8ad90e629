#![allow(clippy::expect_used, clippy::unwrap_used)] // a test harness: failing loudly is the point

//! Test harness for black-box API tests (zero2prod's `spawn_app`): a real server on an
//! ephemeral port, in embedded mode or on a fresh PostgreSQL database and a private Redis
//! key prefix, plus typed request helpers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use adapter_postgres::testing::TestDatabase;
use adapter_redis::testing::TestRedis;
use api_server::{BackgroundServer, Config};
use chrono::{DateTime, TimeDelta, Utc};
use domain_core::{Clock, SystemClock};
use serde_json::{Value, json};

pub mod throwaway;

/// Signing key shared by every instance a test starts.
pub const TEST_SECRET: &str = "test-only-key-q8Zr1VtYx3Lm9Pw2Ks7Df4Gh6Jn0BcXa5Ue";

/// A running server and a client for it.
pub struct App {
    server: BackgroundServer,
    /// The time of every in-process server of this test (see [`TestClock`]).
    clock: Arc<TestClock>,
    /// HTTP client (no proxy, short timeouts).
    pub client: reqwest::Client,
    db: Option<TestDatabase>,
    redis: Option<TestRedis>,
    env: HashMap<String, String>,
}

/// The settings every test server starts with (no storage: embedded mode).
pub fn base_env() -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("AGORA_BIND".into(), "127.0.0.1:0".into());
    env.insert("AGORA_JWT_SECRET".into(), TEST_SECRET.into());
    env.insert("AGORA_WORKERS".into(), "2".into());
    env.insert("AGORA_SHUTDOWN_TIMEOUT".into(), "2".into());
    env.insert("AGORA_DB_POOL_SIZE".into(), "4".into());
    // stories sign up more people from 127.0.0.1 than a real address may; the limit's own
    // test sets it back down
    env.insert("AGORA_REGISTER_MAX_PER_CLIENT".into(), "100000".into());
    // Tests burst dozens of requests at 4 connections on a shared, busy CPU: waiting for a
    // free connection may exceed the 1 s production default without anything being down.
    env.insert("AGORA_DB_ACQUIRE_TIMEOUT_MS".into(), "5000".into());
    env.insert("AGORA_REDIS_ACQUIRE_TIMEOUT_MS".into(), "5000".into());
    env.insert(
        "AGORA_BOOTSTRAP_ADMIN".into(),
        format!("{ADMIN_USERNAME}:root@example.org"),
    );
    env.insert(
        "AGORA_BOOTSTRAP_ADMIN_PASSWORD".into(),
        ADMIN_PASSWORD.into(),
    );
    env
}

/// The super_admin every test server starts with.
pub const ADMIN_USERNAME: &str = "root";
/// Its password.
pub const ADMIN_PASSWORD: &str = "platform operator passphrase";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("http client")
}

/// The clock of a test's in-process servers: the wall clock, plus however far the test
/// moved it on ([`App::advance`]).
///
/// Not a clock frozen in place (`domain_core::ManualClock`): between two moves time goes
/// on as in production, so what a story relies on without naming it still holds — rows
/// created one after another are ordered by creation time, send budgets refill, and
/// server processes and PostgreSQL column defaults (on the wall clock) agree with it
/// until the test moves it on.
#[derive(Debug, Default)]
pub struct TestClock {
    ahead: Mutex<TimeDelta>,
}

impl TestClock {
    /// Moves the clock on by `by`, at once.
    pub fn advance(&self, by: TimeDelta) {
        *self.ahead.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + *self.ahead.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn start(env: &HashMap<String, String>, clock: &Arc<TestClock>) -> BackgroundServer {
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration");
    BackgroundServer::spawn_with_clock(config, clock.clone()).expect("server starts")
}

impl App {
    /// Embedded mode with extra settings.
    pub async fn memory_with(extra: &[(&str, &str)]) -> Self {
        let mut env = base_env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let clock = Arc::new(TestClock::default());
        let server = start(&env, &clock);
        Self {
            server,
            clock,
            client: client(),
            db: None,
            redis: None,
            env,
        }
    }

    /// Embedded mode.
    pub async fn memory() -> Self {
        Self::memory_with(&[]).await
    }

    /// PostgreSQL + Redis mode with extra settings, on a fresh database and key prefix.
    /// `None` (after one loud line) when the services are absent outside CI; with
    /// `CI=true` their absence panics.
    pub async fn postgres_redis_with(extra: &[(&str, &str)]) -> Option<Self> {
        let db = TestDatabase::create().await?;
        let redis = TestRedis::create().await?;
        let mut env = base_env();
        env.insert("DATABASE_URL".into(), db.url().to_owned());
        env.insert("REDIS_URL".into(), redis.url().to_owned());
        env.insert("AGORA_REDIS_PREFIX".into(), redis.prefix().to_owned());
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let clock = Arc::new(TestClock::default());
        let server = start(&env, &clock);
        Some(Self {
            server,
            clock,
            client: client(),
            db: Some(db),
            redis: Some(redis),
            env,
        })
    }

    /// PostgreSQL + Redis mode.
    pub async fn postgres_redis() -> Option<Self> {
        Self::postgres_redis_with(&[]).await
    }

    /// A second server instance on the same database, Redis prefix, signing key and
    /// clock.
    pub fn another_instance(&self) -> BackgroundServer {
        start(&self.env, &self.clock)
    }

    /// The clock of this test's in-process servers, to name times by (e.g. a grant's
    /// `expires_at`).
    pub fn clock(&self) -> Arc<TestClock> {
        self.clock.clone()
    }

    /// Lets `by` pass for this test's in-process servers, at once: mutes, voting windows,
    /// grants and tokens end by it, and the worker is woken for the jobs it made due.
    /// Timers (heartbeats, polls) still run on real time. Server processes
    /// ([`App::another_process`]) run on the wall clock and do not see it.
    pub fn advance(&self, by: std::time::Duration) {
        self.clock
            .advance(TimeDelta::from_std(by).expect("a duration a clock can add"));
        self.server.wake_jobs();
    }

    /// A second server as a separate OS process (the `api-server` binary) on the same
    /// database, Redis prefix and signing key.
    pub async fn another_process(&self) -> ServerProcess {
        ServerProcess::spawn(&self.env).await
    }

    /// [`App::another_process`] with settings changed by `extra` (e.g. its worker on).
    pub async fn another_process_with(&self, extra: &HashMap<&str, &str>) -> ServerProcess {
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ServerProcess::spawn(&env).await
    }

    /// Base URL of the server.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The server's job queue, to enqueue or inspect jobs directly.
    pub fn jobs(&self) -> std::sync::Arc<dyn domain_jobs::JobQueue> {
        self.server.jobs()
    }

    /// Absolute URL of `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.at(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// POST JSON with a bearer token.
    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.at(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// GET.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.at(path))
            .send()
            .await
            .expect("request")
    }

    /// GET with a bearer token.
    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// DELETE with a bearer token.
    pub async fn delete_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .delete(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Registers an account, asserting success; returns the user JSON.
    pub async fn register(&self, username: &str, email: &str, password: &str) -> Value {
        let res = self
            .post(
                "/api/users/register/",
                json!({"username": username, "email": email, "password": password}),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "register {username}: {}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.expect("user json")
    }

    /// Logs in, asserting success; returns the token JSON.
    pub async fn login(&self, login: &str, password: &str) -> Value {
        let res = self
            .post(
                "/api/users/login/",
                json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(
            res.status(),
            200,
            "login {login}: {}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.expect("token json")
    }

    /// Registers and logs in; returns the access token.
    pub async fn signed_up(&self, username: &str) -> String {
        let password = "a long passphrase for tests".to_owned();
        self.register(username, &format!("{username}@example.org"), &password)
            .await;
        let tokens = self.login(username, &password).await;
        tokens["access"].as_str().expect("access").to_owned()
    }

    /// Logs in as the bootstrap super_admin; returns the access token.
    pub async fn admin_token(&self) -> String {
        let tokens = self.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
        tokens["access"].as_str().expect("access").to_owned()
    }

    /// Waits (at most 15 s) until the server's job worker has run every due job (jobs
    /// scheduled for later do not count): the reactions to domain events
    /// (notifications, e-mails) run there, after the request that caused them answered.
    pub async fn jobs_settled(&self) {
        let root = self.admin_token().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let res = self.get_auth("/api/admin/jobs/counts/", &root).await;
            assert_eq!(res.status(), 200);
            let counts: Value = res.json().await.expect("counts");
            if counts["queued"] == counts["scheduled"] && counts["running"] == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "jobs still pending after 15 s: {counts}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Registers a user; returns (user id, access token).
    pub async fn user(&self, username: &str) -> (String, String) {
        let user = self
            .register(
                username,
                &format!("{username}@example.org"),
                "a long passphrase for tests",
            )
            .await;
        let token = self.login(username, "a long passphrase for tests").await;
        (
            user["id"].as_str().expect("id").to_owned(),
            token["access"].as_str().expect("access").to_owned(),
        )
    }

    /// Grants `role` in `scope` with `token`'s authority, asserting 201; returns the grant id.
    pub async fn grant(&self, token: &str, user_id: &str, role: &str, scope: &str) -> String {
        let res = self
            .post_auth(
                "/api/rbac/grants/",
                token,
                json!({"user_id": user_id, "role": role, "scope": scope}),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "grant {role} in {scope}: {}",
            res.text().await.unwrap_or_default()
        );
        let body: Value = res.json().await.expect("grant json");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Sends `method path` with an optional token and JSON body; returns the status.
    pub async fn status(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> u16 {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(m, self.at(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request").status().as_u16()
    }

    /// Stops the server and removes the test database and Redis keys.
    pub async fn stop(self) {
        self.server.stop().await;
        if let Some(db) = self.db {
            db.cleanup().await;
        }
        if let Some(redis) = self.redis {
            redis.cleanup().await;
        }
    }
}

/// Asserts `res` is an RFC 9457 problem with `status`; returns its body.
pub async fn assert_problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "unexpected status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "status member: {body}");
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}

/// An `api-server serve` child process, killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    /// Base URL.
    pub url: String,
}

/// Name of the test function, in the API test binary, that serves in a child process.
pub const SERVER_PROCESS_TEST: &str = "server_process";
/// Set in the child's environment so that function serves instead of returning.
pub const SERVER_PROCESS_ENV: &str = "AGORA_TEST_SERVER_PROCESS";

impl ServerProcess {
    /// Starts a server in a separate OS process: this very test executable, re-run with
    /// only the ignored `server_process` test, which serves with `env` as configuration.
    /// Re-running the test binary (rather than `target/…/api-server`) guarantees the
    /// child runs exactly the code under test.
    pub async fn spawn(env: &HashMap<String, String>) -> Self {
        let exe = std::env::current_exe().expect("test executable path");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            SERVER_PROCESS_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env("AGORA_BIND", format!("127.0.0.1:{port}"))
            .env(SERVER_PROCESS_ENV, "1");
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        // owned at once, so that Drop kills it on every path out of here
        let process = Self {
            child: cmd.spawn().expect("spawn the server process"),
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = client();
        for _ in 0..100 {
            if let Ok(res) = client.get(format!("{}/healthz", process.url)).send().await
                && res.status() == 200
            {
                return process;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "server process did not answer on {} within 10 s",
            process.url
        );
    }

    /// The body of the child process: serve with the environment's configuration until
    /// killed. Does nothing when not started by [`ServerProcess::spawn`].
    pub fn serve_if_child() {
        if std::env::var(SERVER_PROCESS_ENV).as_deref() != Ok("1") {
            return;
        }
        let config = Config::from_env().expect("child configuration");
        let _server = BackgroundServer::spawn(config).expect("child server starts");
        loop {
            std::thread::park();
        }
    }
}

impl ServerProcess {
    /// Kills the process with SIGKILL — no shutdown, no flushing, like a crash — and
    /// waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
