//! The `api-server` binary as an operator meets it: configuration errors name the
//! variable, `openapi` prints the document, and SIGTERM stops a serving process
//! gracefully.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_api-server"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    // run from an empty directory so a developer's .env does not leak in
    cmd.current_dir(std::env::temp_dir());
    cmd
}

#[test]
fn openapi_prints_the_document() {
    let out = server().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/users/login/"]["post"].is_object());
}

#[test]
fn bad_configuration_names_the_variable() {
    let out = server()
        .arg("serve")
        .env("AGORA_BIND", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AGORA_BIND"));

    let out = server()
        .arg("serve")
        .env("AGORA_ENV", "production")
        .env("DATABASE_URL", "postgres://x/y")
        .env("REDIS_URL", "redis://x")
        .env("AGORA_JWT_SECRET", "change-me")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AGORA_JWT_SECRET"), "{err}");
    assert!(
        !err.contains("change-me"),
        "the secret itself is not echoed: {err}"
    );
}

#[test]
fn create_admin_needs_a_database() {
    let out = server()
        .args([
            "create-admin",
            "--username",
            "admin",
            "--email",
            "admin@example.org",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_gracefully() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = server()
        .arg("serve")
        .env("AGORA_BIND", format!("127.0.0.1:{port}"))
        .env("AGORA_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::yield_now();
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "no exit 10 s after SIGTERM"
        );
        std::thread::yield_now();
    };
    assert!(status.success(), "graceful stop exits 0, got {status}");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut logs).unwrap();
    assert!(logs.contains("shutting down gracefully"), "{logs}");
}

#[test]
fn worker_needs_a_database() {
    let out = server().arg("worker").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("worker needs DATABASE_URL"), "{err}");
}

/// `api-server worker` on a real database: starts its worker, and stops on SIGTERM with
/// exit 0.
#[cfg(unix)]
#[tokio::test]
async fn worker_runs_until_sigterm() {
    use std::io::BufRead;

    let Some(db) = adapter_postgres::testing::TestDatabase::create().await else {
        return;
    };
    let mut child = server()
        .arg("worker")
        .env("DATABASE_URL", db.url())
        .env("AGORA_LOG_FORMAT", "json")
        .env("AGORA_SHUTDOWN_TIMEOUT", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // the log, line by line, as it comes
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut logs = Vec::new();
    let started = Instant::now();
    while !logs
        .iter()
        .any(|l: &String| l.contains("job worker started"))
    {
        let left = Duration::from_secs(30).saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => logs.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("worker did not start within 30 s: {logs:#?}");
            }
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if stopping.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("no exit 10 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "graceful stop exits 0, got {status}");
    logs.extend(rx.try_iter());
    let text = logs.join("\n");
    assert!(text.contains("shutting down gracefully"), "{text}");
    assert!(text.contains("job worker stopping"), "{text}");
    db.cleanup().await;
}
