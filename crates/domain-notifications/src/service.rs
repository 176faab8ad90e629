//! The notification use cases: notifying a user through the channel they chose, listing,
//! marking read, deleting, the unread count, and the per-kind preferences.
//!
//! The store is the truth; the [`UnreadCounter`] is a cache of one number per user kept
//! in step with the store's writes. The store's write commits first, so when the counter
//! cannot be updated the operation still succeeds: the count is then forgotten (the next
//! read refills it from the store), and if even that fails the cache's own expiry heals
//! it. Reads fall back to the store when the counter is unreachable.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use domain_core::{Clock, DomainEvent, EventPublisher, PageLimit, StoreError};
use uuid::Uuid;

use crate::{
    BODY_MAX_CHARS, Channel, DEDUPE_KEY_MAX_CHARS, DeleteOutcome, LINK_MAX_CHARS, Notification,
    NotificationError, NotificationEvent, NotificationKind, NotificationStore, Preference,
    PreferenceStore, ReadOutcome, TITLE_MAX_CHARS, UnreadCounter,
};

/// What [`NotificationService::notify`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The notification, when it was stored just now for the app. `None` when the
    /// user's channel for the kind is e-mail only or none, and on a duplicate.
    pub stored: Option<Notification>,
    /// Whether the user's channel for the kind includes the app but a notification with
    /// this de-duplication key was stored before (a retried job): nothing new was stored.
    pub duplicate: bool,
    /// Whether the user's channel for the kind includes e-mail: the caller enqueues the
    /// e-mail job, keyed by the same de-duplication key, so that a retried notify does
    /// not send the e-mail twice either. True on duplicates too, because the attempt
    /// that stored the notification may have died before enqueueing the e-mail.
    pub email: bool,
    /// The user's unread count after the notification was stored, when the counter
    /// knows it; for a live badge update.
    pub unread: Option<u64>,
}

/// The notification service. Cheap to clone; clones share the ports.
#[derive(Clone)]
pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
    preferences: Arc<dyn PreferenceStore>,
    counter: Arc<dyn UnreadCounter>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for NotificationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationService")
            .finish_non_exhaustive()
    }
}

fn invalid(field: &str, message: impl Into<String>) -> NotificationError {
    NotificationError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A title: surrounding white space dropped, then 1 to [`TITLE_MAX_CHARS`] characters
/// with no control character (it is one line in lists and an e-mail subject, where a
/// line break would start a header).
fn valid_title(raw: &str) -> Result<String, NotificationError> {
    let title = raw.trim();
    if title.is_empty() {
        return Err(invalid("title", "must not be empty"));
    }
    if title.chars().count() > TITLE_MAX_CHARS {
        return Err(invalid(
            "title",
            format!("must be at most {TITLE_MAX_CHARS} characters long"),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(invalid("title", "must not contain control characters"));
    }
    Ok(title.to_owned())
}

/// A body: line breaks normalised to `\n`, surrounding white space dropped, at most
/// [`BODY_MAX_CHARS`] characters, no control character but `\n` (NUL cannot be stored
/// in PostgreSQL text; escape sequences would reach plain-text e-mail). May be empty.
fn valid_body(raw: &str) -> Result<String, NotificationError> {
    let body = raw.replace("\r\n", "\n").replace('\r', "\n");
    let body = body.trim();
    if body.chars().count() > BODY_MAX_CHARS {
        return Err(invalid(
            "body",
            format!("must be at most {BODY_MAX_CHARS} characters long"),
        ));
    }
    if body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(
            "body",
            "must not contain control characters other than line breaks",
        ));
    }
    Ok(body.to_owned())
}

/// A link: a path on this service, starting with one `/`, at most [`LINK_MAX_CHARS`]
/// characters, without white space or control characters. `//host/…` and `/\host/…`
/// are refused: browsers read both as a link to another site, and a notification must
/// not be a way to send users elsewhere.
fn valid_link(raw: Option<&str>) -> Result<Option<String>, NotificationError> {
    let Some(link) = raw else {
        return Ok(None);
    };
    if !link.starts_with('/') {
        return Err(invalid("link", "must be a path starting with /"));
    }
    if link.starts_with("//") || link.starts_with("/\\") {
        return Err(invalid("link", "must be a path on this site"));
    }
    if link.chars().count() > LINK_MAX_CHARS {
        return Err(invalid(
            "link",
            format!("must be at most {LINK_MAX_CHARS} characters long"),
        ));
    }
    if link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "link",
            "must not contain white space or control characters",
        ));
    }
    Ok(Some(link.to_owned()))
}

/// A de-duplication key: 1 to [`DEDUPE_KEY_MAX_CHARS`] characters, no control
/// characters. Taken as given (not trimmed): it is compared, never shown.
fn valid_dedupe_key(key: &str) -> Result<(), NotificationError> {
    if key.is_empty() {
        return Err(invalid("dedupe_key", "must not be empty"));
    }
    if key.chars().count() > DEDUPE_KEY_MAX_CHARS {
        return Err(invalid(
            "dedupe_key",
            format!("must be at most {DEDUPE_KEY_MAX_CHARS} characters long"),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid("dedupe_key", "must not contain control characters"));
    }
    Ok(())
}

impl NotificationService {
    /// A service storing notifications in `store` and choices in `preferences`, caching
    /// unread counts in `counter`, reading the time from `clock` and announcing stored
    /// notifications through `events`.
    pub fn new(
        store: Arc<dyn NotificationStore>,
        preferences: Arc<dyn PreferenceStore>,
        counter: Arc<dyn UnreadCounter>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventPublisher>,
    ) -> Self {
        Self {
            store,
            preferences,
            counter,
            clock,
            events,
        }
    }

    /// The current time at the precision PostgreSQL keeps, so what is returned equals
    /// what is read back later.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }

    /// Notifies `user` of `kind` through the channel they chose for it (or its default):
    /// stores the notification for the app unless one was stored under `dedupe_key`
    /// before, bumps the unread count and announces it ([`NotificationEvent::Created`]); and says
    /// whether an e-mail is due, which the caller sends through a job.
    ///
    /// # Errors
    /// [`NotificationError::Invalid`] (`"title"`, `"body"`, `"link"`, `"dedupe_key"`);
    /// [`NotificationError::NotFound`] when the user does not exist;
    /// [`NotificationError::Store`].
    pub async fn notify(
        &self,
        user: Uuid,
        kind: NotificationKind,
        title: &str,
        body: &str,
        link: Option<&str>,
        dedupe_key: &str,
    ) -> Result<Delivery, NotificationError> {
        let now = self.now();
        self.notify_at(user, kind, title, body, link, dedupe_key, now)
            .await
    }

    /// [`notify`](Self::notify), dated `at`: when what it tells of happened (no later
    /// than now). Reactions run after the fact and not always in order — a session's
    /// "new debate" can be told after its "rescheduled" — and a user's list should read
    /// in the order things happened, not in the order workers got round to them.
    ///
    /// # Errors
    /// As [`notify`](Self::notify).
    #[allow(clippy::too_many_arguments)] // notify's fields plus the date; a struct would only rename them
    pub async fn notify_at(
        &self,
        user: Uuid,
        kind: NotificationKind,
        title: &str,
        body: &str,
        link: Option<&str>,
        dedupe_key: &str,
        at: DateTime<Utc>,
    ) -> Result<Delivery, NotificationError> {
        // never in the future, whatever a caller's clock said
        let at = at.trunc_subsecs(6).min(self.now());
        let title = valid_title(title)?;
        let body = valid_body(body)?;
        let link = valid_link(link)?;
        valid_dedupe_key(dedupe_key)?;
        let channel = self.channel(user, kind).await?;
        let mut delivery = Delivery {
            stored: None,
            duplicate: false,
            email: channel.email(),
            unread: None,
        };
        if !channel.in_app() {
            return Ok(delivery);
        }
        let notification = Notification {
            id: Uuid::new_v4(),
            user_id: user,
            kind,
            title,
            body,
            link,
            created_at: at,
            read_at: None,
        };
        if !self.store.insert(&notification, dedupe_key).await? {
            delivery.duplicate = true;
            return Ok(delivery);
        }
        delivery.unread = self.keep_count(user, self.counter.incr(user).await).await;
        let event = DomainEvent::of(
            &NotificationEvent::Created {
                notification: notification.clone(),
                unread: delivery.unread,
            },
            notification.created_at,
        );
        if let Err(e) = self.events.publish(event).await {
            // Stored all the same: the user sees it in the list, only live push is lost.
            tracing::warn!(error = %e, event = "notifications.created", "could not publish domain event");
        }
        delivery.stored = Some(notification);
        Ok(delivery)
    }

    /// The channel in effect for `user` and `kind`.
    async fn channel(
        &self,
        user: Uuid,
        kind: NotificationKind,
    ) -> Result<Channel, NotificationError> {
        let chosen = self.preferences.preferences(user).await?;
        Ok(chosen
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map_or_else(|| kind.default_channel(), |(_, c)| c))
    }

    /// Applies the outcome of a counter update after a committed store write. On failure
    /// the count may now be wrong, so it is forgotten (the next read refills it from the
    /// store); if that fails too, the counter's expiry heals it. Never fails the caller.
    async fn keep_count(
        &self,
        user: Uuid,
        updated: Result<Option<u64>, StoreError>,
    ) -> Option<u64> {
        match updated {
            Ok(count) => count,
            Err(e) => {
                tracing::warn!(error = %e, %user, "could not update the unread count; forgetting it");
                if let Err(e) = self.counter.forget(user).await {
                    tracing::warn!(error = %e, %user, "could not forget the unread count; it is wrong until it expires");
                }
                None
            }
        }
    }

    /// The user's notifications newest first, only unread ones if `unread_only`, at most
    /// `limit` (at most [`PageLimit::MAX`]), after the notification `after` (the last of
    /// the previous page; one that is gone ends the list).
    ///
    /// # Errors
    /// [`NotificationError::Store`].
    pub async fn list(
        &self,
        user: Uuid,
        unread_only: bool,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Notification>, NotificationError> {
        Ok(self
            .store
            .list(user, unread_only, after, limit.min(PageLimit::MAX))
            .await?)
    }

    /// Marks the user's notification read; returns whether it was unread (marking it
    /// again changes nothing and is not an error).
    ///
    /// # Errors
    /// [`NotificationError::NotFound`] when the user has no such notification;
    /// [`NotificationError::Store`].
    pub async fn mark_read(&self, user: Uuid, id: Uuid) -> Result<bool, NotificationError> {
        match self.store.mark_read(user, id, self.now()).await? {
            ReadOutcome::NotFound => Err(NotificationError::NotFound),
            ReadOutcome::AlreadyRead => Ok(false),
            ReadOutcome::Marked => {
                self.keep_count(user, self.counter.decr(user).await).await;
                Ok(true)
            }
        }
    }

    /// Marks every notification of the user read; returns how many were unread.
    ///
    /// # Errors
    /// [`NotificationError::Store`].
    pub async fn mark_all_read(&self, user: Uuid) -> Result<u64, NotificationError> {
        let marked = self.store.mark_all_read(user, self.now()).await?;
        let set = self.counter.set(user, 0).await.map(|()| Some(0));
        self.keep_count(user, set).await;
        Ok(marked)
    }

    /// Deletes the user's notification; returns whether it was unread.
    ///
    /// # Errors
    /// [`NotificationError::NotFound`] when the user has no such notification;
    /// [`NotificationError::Store`].
    pub async fn delete(&self, user: Uuid, id: Uuid) -> Result<bool, NotificationError> {
        match self.store.delete(user, id).await? {
            DeleteOutcome::NotFound => Err(NotificationError::NotFound),
            DeleteOutcome::Deleted { was_unread } => {
                if was_unread {
                    self.keep_count(user, self.counter.decr(user).await).await;
                }
                Ok(was_unread)
            }
        }
    }

    /// How many notifications of the user are unread: from the counter, or counted by
    /// the store (and then cached) when the counter does not know or cannot be reached.
    ///
    /// # Errors
    /// [`NotificationError::Store`] when the store fails.
    pub async fn unread_count(&self, user: Uuid) -> Result<u64, NotificationError> {
        match self.counter.get(user).await {
            Ok(Some(count)) => return Ok(count),
            Ok(None) => {}
            Err(e) => {
                // Answer from the store, and do not try to fill a cache that just failed.
                tracing::warn!(error = %e, %user, "unread counter unavailable; counting in the store");
                return Ok(self.store.unread_count(user).await?);
            }
        }
        let count = self.store.unread_count(user).await?;
        if let Err(e) = self.counter.set(user, count).await {
            tracing::warn!(error = %e, %user, "could not cache the unread count");
        }
        Ok(count)
    }

    /// The user's channel for every kind, in [`NotificationKind::ALL`] order: their
    /// choice, or the kind's default.
    ///
    /// # Errors
    /// [`NotificationError::Store`].
    pub async fn preferences(&self, user: Uuid) -> Result<Vec<Preference>, NotificationError> {
        let chosen = self.preferences.preferences(user).await?;
        Ok(NotificationKind::ALL
            .into_iter()
            .map(|kind| match chosen.iter().find(|(k, _)| *k == kind) {
                Some((_, channel)) => Preference {
                    kind,
                    channel: *channel,
                    chosen: true,
                },
                None => Preference {
                    kind,
                    channel: kind.default_channel(),
                    chosen: false,
                },
            })
            .collect())
    }

    /// Records the user's channel for `kind`. Notifications already stored stay; the
    /// choice applies to the next ones.
    ///
    /// # Errors
    /// [`NotificationError::NotFound`] when the user does not exist;
    /// [`NotificationError::Store`].
    pub async fn set_preference(
        &self,
        user: Uuid,
        kind: NotificationKind,
        channel: Channel,
    ) -> Result<(), NotificationError> {
        Ok(self.preferences.set_preference(user, kind, channel).await?)
    }
}

#[cfg(test)]
mod tests;
