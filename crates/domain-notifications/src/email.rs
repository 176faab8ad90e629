//! The [`Mailer`] port: sending one e-mail with a plain-text and an HTML body.
//!
//! E-mails leave through a background job (`email.send`), never from a request, so a slow
//! or unreachable mail server delays nothing but the e-mail, and a failed send is retried.
//! The error says whether trying again can help, which the job maps to a retry or to the
//! dead-letter state.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One e-mail to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Recipient address (`user@example.org`).
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body, for clients that do not show HTML.
    pub text: String,
    /// HTML body; already escaped by whoever built it.
    pub html: String,
}

/// Why an e-mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Trying again later may succeed: the server was unreachable, busy or answered with
    /// a transient (4xx) reply.
    #[error("transient mail error: {0}")]
    Transient(String),
    /// Trying again cannot help: an invalid address, or a permanent (5xx) refusal.
    #[error("permanent mail error: {0}")]
    Permanent(String),
}

/// Sends e-mail.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `email`; returns once the mail server accepted it.
    ///
    /// # Errors
    /// [`MailError::Transient`] when a retry may help, [`MailError::Permanent`] otherwise.
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}
