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
