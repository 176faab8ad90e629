#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

//! Black-box API tests: the real server on an ephemeral port, driven over HTTP.
//! Each story runs against both storage modes (`memory` and `postgres_redis`).
//! One test binary on purpose: linking dominates build time.

mod accounts;
mod analytics;
mod conventions;
mod debates;
mod edge;
mod faults;
mod fuzz;
mod jobs;
mod journey;
mod lists;
mod login_protection;
mod moderation;
mod multi_instance;
mod notifications;
mod privacy;
mod rbac;
mod reactions;
mod realtime;
mod sockets;
mod ws;

/// Serves in a child process for the multi-instance tests (see `ServerProcess::spawn`);
/// ignored in normal runs.
#[test]
#[ignore = "only run as a child process by agora_tests::ServerProcess::spawn"]
fn server_process() {
    agora_tests::ServerProcess::serve_if_child();
}

/// Runs an async story `fn(App)` against the embedded mode and against PostgreSQL + Redis.
#[macro_export]
macro_rules! both_modes {
    ($($story:ident),* $(,)?) => {
        $(
            mod $story {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn memory() {
                    let app = agora_tests::App::memory().await;
                    super::$story(&app).await;
                    app.stop().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    let Some(app) = agora_tests::App::postgres_redis().await else { return };
                    super::$story(&app).await;
                    app.stop().await;
                }
            }
        )*
    };
}
