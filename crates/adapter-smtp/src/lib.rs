//! [`Mailer`] over SMTP with lettre: each [`Email`] leaves as one `multipart/alternative`
//! message (plain text, then HTML, so clients show the richest part they support).
//!
//! The server is configured by one URL, as lettre reads it
//! ([`AsyncSmtpTransport::from_url`]):
//!
//! - `smtp://host:25` — no encryption (a local relay or a test sink);
//! - `smtp://host:587?tls=required` — STARTTLS, refused if the server does not offer it;
//! - `smtps://user:pass@host:465` — TLS from the first byte, with credentials.
//!
//! TLS is rustls with the Mozilla roots (webpki-roots), so nothing depends on the
//! system's OpenSSL. Connections are pooled and reused between sends.

#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

use async_trait::async_trait;
use domain_notifications::{Email, MailError, Mailer};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How long one SMTP command may take before the send counts as failed (and is retried
/// by its job): long enough for a slow relay, short enough not to pin a worker slot.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an [`SmtpMailer`] could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    /// The `SMTP_URL` is not one lettre understands. The URL itself is left out of the
    /// message: it may carry a password.
    #[error(
        "not a usable SMTP URL (expected smtp://host:port, smtps://… or smtp://…?tls=required): {0}"
    )]
    Url(String),
    /// The sender address is not a valid mailbox.
    #[error("not a valid sender address: {0}")]
    From(String),
}

/// Sends e-mail through an SMTP server.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    // The transport holds the credentials: show only the sender.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer sending through the server at `url` (see the crate documentation), as
    /// `from` (`Agora <no-reply@example.org>` or a bare address). Connects lazily, on
    /// the first send. Must be called inside a Tokio runtime, which keeps the
    /// connection pool's housekeeping task.
    ///
    /// # Errors
    /// [`SmtpConfigError`] for an unusable URL or sender.
    pub fn from_url(url: &str, from: &str) -> Result<Self, SmtpConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| SmtpConfigError::Url(e.to_string()))?
            .timeout(Some(COMMAND_TIMEOUT))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| SmtpConfigError::From(e.to_string()))?;
        Ok(Self { transport, from })
    }

    /// The message `email` becomes.
    fn message(&self, email: &Email) -> Result<Message, MailError> {
        let to = email
            .to
            .parse::<Mailbox>()
            .map_err(|e| MailError::Permanent(format!("invalid recipient address: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
    }
}

/// Sorts a failed send: a permanent (5xx) refusal cannot be helped by trying again;
/// anything else — a 4xx reply, a timeout, a connection or TLS failure — may pass later.
fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    if e.is_permanent() {
        MailError::Permanent(e.to_string())
    } else {
        MailError::Transient(e.to_string())
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = self.message(email)?;
        self.transport
            .send(message)
            .await
            .map_err(|e| classify(&e))?;
        tracing::info!(subject = %email.subject, "e-mail handed to the SMTP server");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn bad_configuration_is_refused_without_echoing_the_url() {
        let e = SmtpMailer::from_url("http://user:hunter2@host", "a@example.org").unwrap_err();
        assert!(matches!(e, SmtpConfigError::Url(_)));
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = SmtpMailer::from_url("smtp://127.0.0.1:2525", "not an address").unwrap_err();
        assert!(matches!(e, SmtpConfigError::From(_)));
    }

    #[tokio::test]
    async fn an_invalid_recipient_is_permanent() {
        let m =
            SmtpMailer::from_url("smtp://127.0.0.1:2525", "Agora <no-reply@example.org>").unwrap();
        let email = Email {
            to: "nobody".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
        };
        assert!(matches!(m.message(&email), Err(MailError::Permanent(_))));
    }
}
