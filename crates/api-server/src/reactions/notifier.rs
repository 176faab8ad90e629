//! One way to tell a user something: a notification through their preferences, and the
//! e-mail those ask for as an `email.send` job — both keyed, so telling twice tells once.

use chrono::{DateTime, Utc};
use domain_notifications::{NotificationError, NotificationKind, NotificationService};
use uuid::Uuid;

use crate::mail::EmailOutbox;

/// Notifications plus the e-mail outbox.
#[derive(Clone)]
pub struct Notifier {
    notifications: NotificationService,
    /// Where e-mails are enqueued; none only logs them.
    email: Option<EmailOutbox>,
}

impl Notifier {
    /// Notifies through `notifications`, logging e-mails instead of sending them.
    pub fn new(notifications: NotificationService) -> Self {
        Self {
            notifications,
            email: None,
        }
    }

    /// Sends the e-mails that preferences ask for through `outbox`.
    #[must_use]
    pub fn with_email(mut self, outbox: EmailOutbox) -> Self {
        self.email = Some(outbox);
        self
    }

    /// Tells `user` (`title`, `body`, `link`) as a notification of `kind` dated `at`
    /// (when it happened), once per `key` for that user, and enqueues the e-mail their
    /// preference asks for, once per `key` and user. A user who no longer exists is
    /// skipped.
    ///
    /// # Errors
    /// Storage failures, as text for the job's record.
    #[allow(clippy::too_many_arguments)] // the notification's fields; a struct would only rename them
    pub async fn tell(
        &self,
        user: Uuid,
        kind: NotificationKind,
        title: &str,
        body: &str,
        link: Option<&str>,
        key: &str,
        at: DateTime<Utc>,
    ) -> Result<(), String> {
        let delivery = match self
            .notifications
            .notify_at(user, kind, title, body, link, key, at)
            .await
        {
            Ok(delivery) => delivery,
            Err(NotificationError::NotFound) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        if delivery.email {
            // The queue's keys are global, the notification's per user: name both.
            let email_key = format!("{key}:{user}");
            match &self.email {
                Some(outbox) => {
                    outbox.to_user(user, title, body, &email_key).await?;
                }
                None => log_email(user, title, body, &email_key).await,
            }
        }
        Ok(())
    }
}

/// Hands an e-mail to the mailer without holding up the caller: the hook through which
/// reactions to domain events send e-mail. `dedupe_key` is the notification's, so that a
/// reaction run twice sends one e-mail.
///
/// Only the fallback of reactions built without a [`EmailOutbox`]: it logs
/// the recipient and the subject (never the body, which may quote private text, nor any
/// token). `crate::wiring` gives the reactions an outbox, which enqueues an `email.send` job.
async fn log_email(user: uuid::Uuid, subject: &str, body: &str, dedupe_key: &str) {
    let _ = (body, dedupe_key);
    tracing::info!("email to {user}: {subject}");
}
