//! E-mail: the mailer the configuration names, the `email.send` job that carries one
//! e-mail, and the outbox through which reactions enqueue e-mails to users.

use std::sync::Arc;

use async_trait::async_trait;
use domain_core::Clock;
use domain_identity::UserRepository;
use domain_jobs::{JobQueue, NewJob};
use domain_notifications::{Email, MailError, Mailer};

use crate::config::Config;
use crate::startup::StartupError;

/// Kind of the job that sends one e-mail.
pub const EMAIL_SEND: &str = "email.send";

/// Attempts of an `email.send` job: with the default backoff (10 s, doubling) the tenth
/// comes about 85 minutes after the first, which outlasts most mail-server outages.
const EMAIL_MAX_ATTEMPTS: u32 = 10;

/// The job that sends `email`. Its payload is the e-mail itself, so the job alone is
/// enough to send it again after a crash.
pub fn email_job(email: &Email) -> NewJob {
    NewJob::new(
        EMAIL_SEND,
        serde_json::json!({
            "to": email.to,
            "subject": email.subject,
            "text": email.text,
            "html": email.html,
        }),
    )
    .max_attempts(EMAIL_MAX_ATTEMPTS)
}

/// Enqueues e-mails to users: looks up the address, writes both bodies from one text,
/// and stores an `email.send` job under the caller's idempotency key, so a reaction that
/// runs twice sends one e-mail.
#[derive(Clone)]
pub struct EmailOutbox {
    queue: Arc<dyn JobQueue>,
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl EmailOutbox {
    /// An outbox enqueueing on `queue`, reading addresses from `users`.
    pub fn new(
        queue: Arc<dyn JobQueue>,
        users: Arc<dyn UserRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            queue,
            users,
            clock,
        }
    }

    /// Enqueues `subject` and `text` (plain text; the HTML body is its escaped copy) to
    /// `user`'s address, once per `dedupe_key`. `Ok(false)` when nothing was enqueued:
    /// the account is gone or disabled, or the key was used already.
    ///
    /// # Errors
    /// Storage failures, as text for the caller's log.
    pub async fn to_user(
        &self,
        user: uuid::Uuid,
        subject: &str,
        text: &str,
        dedupe_key: &str,
    ) -> Result<bool, String> {
        let found = self
            .users
            .by_id(domain_identity::UserId(user))
            .await
            .map_err(|e| e.to_string())?;
        let Some(account) = found.filter(|u| u.is_active) else {
            return Ok(false);
        };
        let email = Email {
            to: account.email.as_str().to_owned(),
            subject: subject.to_owned(),
            text: text.to_owned(),
            html: html_of(text),
        };
        // the queue takes keys up to 300 characters
        let key: String = format!("email:{dedupe_key}").chars().take(300).collect();
        let enqueued = self
            .queue
            .enqueue(email_job(&email).dedupe_key(key), self.clock.now())
            .await
            .map_err(|e| e.to_string())?;
        Ok(enqueued.fresh)
    }
}

/// `text` as HTML: escaped, one paragraph, line breaks kept.
pub fn html_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str("<p>");
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>\n"),
            c => out.push(c),
        }
    }
    out.push_str("</p>");
    out
}

/// Without `SMTP_URL`: e-mails go to the log (development). Recipient and subject at
/// info; the bodies, which may hold links with tokens, only at debug.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        tracing::info!(to = %email.to, subject = %email.subject, "e-mail (SMTP_URL unset: logged, not sent)");
        tracing::debug!(text = %email.text, html = %email.html, "e-mail bodies");
        Ok(())
    }
}

/// The mailer for `config`: SMTP when `SMTP_URL` is set, the log otherwise. Must be
/// called inside a Tokio runtime.
///
/// # Errors
/// [`StartupError::Config`] for an unusable `SMTP_URL` or `AGORA_MAIL_FROM`.
pub fn mailer(config: &Config) -> Result<Arc<dyn Mailer>, StartupError> {
    let Some(url) = &config.smtp_url else {
        if config.env == crate::config::Environment::Production {
            tracing::warn!("SMTP_URL is not set: e-mails are written to the log, not sent");
        }
        return Ok(Arc::new(LogMailer));
    };
    let smtp = adapter_smtp::SmtpMailer::from_url(url, &config.mail_from).map_err(|e| {
        let var = match e {
            adapter_smtp::SmtpConfigError::Url(_) => "SMTP_URL",
            adapter_smtp::SmtpConfigError::From(_) => "AGORA_MAIL_FROM",
        };
        StartupError::Config(crate::config::ConfigError {
            var,
            message: e.to_string(),
        })
    })?;
    Ok(Arc::new(smtp))
}
