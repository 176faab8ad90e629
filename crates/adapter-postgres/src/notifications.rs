//! [`NotificationStore`] and [`PreferenceStore`] over the `notifications` and
//! `notification_preferences` tables.
//!
//! An insert is one `INSERT … ON CONFLICT (user_id, dedupe_key) DO NOTHING`: the unique
//! key, not a prior read, decides whether a retried job's notification is new, so
//! concurrent retries store one. Every statement filters on the user, so one user's ids
//! never reach another's rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use domain_core::StoreError;
use domain_notifications::{
    Channel, DeleteOutcome, Notification, NotificationKind, NotificationStore, PreferenceStore,
    ReadOutcome,
};
use uuid::Uuid;

use crate::PgPool;
use crate::error::{db_error, pool_error};
use crate::schema::{notification_preferences, notifications};

/// [`NotificationStore`] and [`PreferenceStore`] on PostgreSQL.
#[derive(Clone)]
pub struct PgNotificationStore {
    pool: PgPool,
}

impl std::fmt::Debug for PgNotificationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgNotificationStore")
            .finish_non_exhaustive()
    }
}

impl PgNotificationStore {
    /// A store using connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Maps a query error: a missing user (the `user_id` foreign keys) is
/// [`StoreError::NotFound`], as the ports promise; an id stored before is a duplicate
/// `"id"`.
fn notification_error(e: Error) -> StoreError {
    match &e {
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => StoreError::NotFound,
        _ => db_error(e),
    }
}

fn unreadable(what: &str, value: &str) -> StoreError {
    StoreError::Unexpected(format!("unreadable notification {what} {value:?}").into())
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications, check_for_backend(diesel::pg::Pg))]
struct NotificationRow {
    id: Uuid,
    user_id: Uuid,
    kind: String,
    title: String,
    body: String,
    link: Option<String>,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
}

impl NotificationRow {
    fn of(n: &Notification) -> Self {
        Self {
            id: n.id,
            user_id: n.user_id,
            kind: n.kind.as_str().to_owned(),
            title: n.title.clone(),
            body: n.body.clone(),
            link: n.link.clone(),
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }

    fn read(self) -> Result<Notification, StoreError> {
        let kind =
            NotificationKind::parse(&self.kind).ok_or_else(|| unreadable("kind", &self.kind))?;
        Ok(Notification {
            id: self.id,
            user_id: self.user_id,
            kind,
            title: self.title,
            body: self.body,
            link: self.link,
            created_at: self.created_at,
            read_at: self.read_at,
        })
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl NotificationStore for PgNotificationStore {
    async fn insert(
        &self,
        notification: &Notification,
        dedupe_key: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let inserted = diesel::insert_into(notifications::table)
            .values((
                NotificationRow::of(notification),
                notifications::dedupe_key.eq(dedupe_key),
            ))
            .on_conflict((notifications::user_id, notifications::dedupe_key))
            .do_nothing()
            .execute(&mut conn)
            .await
            .map_err(notification_error)?;
        Ok(inserted == 1)
    }

    async fn list(
        &self,
        user: Uuid,
        unread_only: bool,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let cursor: Option<(DateTime<Utc>, Uuid)> = match after {
            None => None,
            Some(id) => {
                let at = notifications::table
                    .find(id)
                    .filter(notifications::user_id.eq(user))
                    .select(notifications::created_at)
                    .first(&mut conn)
                    .await
                    .optional()
                    .map_err(notification_error)?;
                match at {
                    Some(at) => Some((at, id)),
                    None => return Ok(Vec::new()),
                }
            }
        };
        let mut query = notifications::table
            .filter(notifications::user_id.eq(user))
            .select(NotificationRow::as_select())
            .order((notifications::created_at.desc(), notifications::id.desc()))
            .limit(i64::from(limit))
            .into_boxed();
        if let Some((at, id)) = cursor {
            // (created_at, id) < (at, id), spelled out for the index.
            query = query.filter(
                notifications::created_at
                    .lt(at)
                    .or(notifications::created_at
                        .eq(at)
                        .and(notifications::id.lt(id))),
            );
        }
        if unread_only {
            query = query.filter(notifications::read_at.is_null());
        }
        let rows = query.load(&mut conn).await.map_err(notification_error)?;
        rows.into_iter().map(NotificationRow::read).collect()
    }

    async fn mark_read(
        &self,
        user: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<ReadOutcome, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // Only an unread one: of two concurrent reads one marks, so the unread count is
        // taken down once.
        let marked = diesel::update(
            notifications::table
                .find(id)
                .filter(notifications::user_id.eq(user))
                .filter(notifications::read_at.is_null()),
        )
        .set(notifications::read_at.eq(now))
        .execute(&mut conn)
        .await
        .map_err(notification_error)?;
        if marked == 1 {
            return Ok(ReadOutcome::Marked);
        }
        let exists: bool = diesel::select(diesel::dsl::exists(
            notifications::table
                .find(id)
                .filter(notifications::user_id.eq(user)),
        ))
        .get_result(&mut conn)
        .await
        .map_err(notification_error)?;
        Ok(if exists {
            ReadOutcome::AlreadyRead
        } else {
            ReadOutcome::NotFound
        })
    }

    async fn mark_all_read(&self, user: Uuid, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let marked = diesel::update(
            notifications::table
                .filter(notifications::user_id.eq(user))
                .filter(notifications::read_at.is_null()),
        )
        .set(notifications::read_at.eq(now))
        .execute(&mut conn)
        .await
        .map_err(notification_error)?;
        Ok(u64::try_from(marked).unwrap_or(u64::MAX))
    }

    async fn delete(&self, user: Uuid, id: Uuid) -> Result<DeleteOutcome, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let read_at: Option<Option<DateTime<Utc>>> = diesel::delete(
            notifications::table
                .find(id)
                .filter(notifications::user_id.eq(user)),
        )
        .returning(notifications::read_at)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(notification_error)?;
        Ok(match read_at {
            None => DeleteOutcome::NotFound,
            Some(read_at) => DeleteOutcome::Deleted {
                was_unread: read_at.is_none(),
            },
        })
    }

    async fn unread_count(&self, user: Uuid) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let n: i64 = notifications::table
            .filter(notifications::user_id.eq(user))
            .filter(notifications::read_at.is_null())
            .count()
            .get_result(&mut conn)
            .await
            .map_err(notification_error)?;
        Ok(count(n))
    }
}

#[async_trait]
impl PreferenceStore for PgNotificationStore {
    async fn preferences(
        &self,
        user: Uuid,
    ) -> Result<Vec<(NotificationKind, Channel)>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<(String, String)> = notification_preferences::table
            .filter(notification_preferences::user_id.eq(user))
            .select((
                notification_preferences::kind,
                notification_preferences::channel,
            ))
            .load(&mut conn)
            .await
            .map_err(notification_error)?;
        let mut chosen = rows
            .into_iter()
            .map(|(kind, channel)| {
                Ok((
                    NotificationKind::parse(&kind).ok_or_else(|| unreadable("kind", &kind))?,
                    Channel::parse(&channel).ok_or_else(|| unreadable("channel", &channel))?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        chosen.sort_by_key(|(kind, _)| *kind);
        Ok(chosen)
    }

    async fn set_preference(
        &self,
        user: Uuid,
        kind: NotificationKind,
        channel: Channel,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        diesel::insert_into(notification_preferences::table)
            .values((
                notification_preferences::user_id.eq(user),
                notification_preferences::kind.eq(kind.as_str()),
                notification_preferences::channel.eq(channel.as_str()),
            ))
            .on_conflict((
                notification_preferences::user_id,
                notification_preferences::kind,
            ))
            .do_update()
            .set(notification_preferences::channel.eq(excluded(notification_preferences::channel)))
            .execute(&mut conn)
            .await
            .map_err(notification_error)?;
        Ok(())
    }
}
