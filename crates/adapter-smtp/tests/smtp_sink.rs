//! `SmtpMailer` against a real SMTP conversation: the crate's test sink
//! (`adapter_smtp::testing`, written for these tests) listens on loopback, speaks just
//! enough SMTP (220, EHLO, MAIL, RCPT, DATA, QUIT) and hands back the envelope and the
//! message that arrived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use adapter_smtp::SmtpMailer;
use adapter_smtp::testing::sink;
use domain_notifications::{Email, MailError, Mailer};

fn email() -> Email {
    Email {
        to: "ada@example.org".into(),
        subject: "Debate scheduled".into(),
        text: "Plainbody: the motion is scheduled for Friday.".into(),
        html: "<p>Htmlbody: the <b>motion</b> is scheduled for Friday.</p>".into(),
    }
}

fn mailer(port: u16) -> SmtpMailer {
    SmtpMailer::from_url(
        &format!("smtp://127.0.0.1:{port}"),
        "Agora <no-reply@agora.test>",
    )
    .unwrap()
}

#[tokio::test]
async fn a_multipart_message_arrives_with_both_bodies() {
    let (port, mut deliveries) = sink("250 OK\r\n").await;
    mailer(port).send(&email()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), deliveries.recv())
        .await
        .expect("a delivery within 10 s")
        .expect("the sink is running");

    assert_eq!(
        got.envelope,
        vec![
            "MAIL FROM:<no-reply@agora.test>".to_owned(),
            "RCPT TO:<ada@example.org>".to_owned()
        ]
    );
    let data = &got.data;
    assert!(data.contains("From: Agora <no-reply@agora.test>"), "{data}");
    assert!(data.contains("To: ada@example.org"), "{data}");
    assert!(data.contains("Subject: Debate scheduled"), "{data}");
    assert!(
        data.contains("Content-Type: multipart/alternative"),
        "{data}"
    );
    // plain text first, then HTML: clients show the last part they understand
    let plain = data
        .find("Content-Type: text/plain")
        .expect("a text/plain part");
    let html = data
        .find("Content-Type: text/html")
        .expect("a text/html part");
    assert!(plain < html, "{data}");
    let text_body = data.find("Plainbody: the motion is scheduled").unwrap();
    let html_body = data
        .find("<p>Htmlbody: the <b>motion</b> is scheduled")
        .unwrap();
    assert!(
        plain < text_body && text_body < html && html < html_body,
        "{data}"
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_permanent() {
    let (port, _deliveries) = sink("550 5.1.1 no such mailbox\r\n").await;
    let err = mailer(port).send(&email()).await.unwrap_err();
    assert!(matches!(err, MailError::Permanent(_)), "{err}");
}

#[tokio::test]
async fn a_temporary_refusal_is_transient() {
    let (port, _deliveries) = sink("451 4.3.0 try again later\r\n").await;
    let err = mailer(port).send(&email()).await.unwrap_err();
    assert!(matches!(err, MailError::Transient(_)), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    // a port nobody listens on: bound, then released
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = mailer(port).send(&email()).await.unwrap_err();
    assert!(matches!(err, MailError::Transient(_)), "{err}");
}
