//! Login sessions (`login_sessions`) and their refresh tokens (`refresh_tokens`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain_core::StoreError;
use domain_identity::{
    ClientInfo, LoginSession, LoginSessionRepository, NewLoginSession, RefreshTokenHash,
    RotateOutcome, SessionId, UserId,
};
use uuid::Uuid;

use crate::PgPool;
use crate::error::{db_error, pool_error};
use crate::schema::{login_sessions, refresh_tokens};

/// [`LoginSessionRepository`] over PostgreSQL.
#[derive(Clone)]
pub struct PgLoginSessionRepository {
    pool: PgPool,
}

impl PgLoginSessionRepository {
    /// An adapter using connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = login_sessions, check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    user_agent: Option<String>,
    ip: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<SessionRow> for LoginSession {
    fn from(r: SessionRow) -> Self {
        Self {
            id: SessionId(r.id),
            user_id: UserId(r.user_id),
            client: ClientInfo {
                user_agent: r.user_agent,
                ip: r.ip,
            },
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
struct NewTokenRow<'a> {
    token_hash: &'a str,
    session_id: Uuid,
    created_at: DateTime<Utc>,
}

#[async_trait]
impl LoginSessionRepository for PgLoginSessionRepository {
    async fn create(
        &self,
        new: NewLoginSession,
        first_token: RefreshTokenHash,
    ) -> Result<LoginSession, StoreError> {
        let session = SessionRow {
            id: new.id.0,
            user_id: new.user_id.0,
            user_agent: new.client.user_agent,
            ip: new.client.ip,
            created_at: new.created_at,
            last_used_at: new.created_at,
            expires_at: new.expires_at,
            revoked_at: None,
        };
        let token = NewTokenRow {
            token_hash: &first_token.0,
            session_id: new.id.0,
            created_at: new.created_at,
        };
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let saved = conn
            .transaction(async |conn| {
                let saved = diesel::insert_into(login_sessions::table)
                    .values(&session)
                    .returning(SessionRow::as_returning())
                    .get_result(conn)
                    .await?;
                diesel::insert_into(refresh_tokens::table)
                    .values(&token)
                    .execute(conn)
                    .await?;
                Ok::<_, diesel::result::Error>(saved)
            })
            .await
            .map_err(db_error)?;
        Ok(saved.into())
    }

    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        successor: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let (presented, successor) = (presented.0.as_str(), successor.0.as_str());
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            // The row lock serialises presentations of one token: a concurrent rotation
            // waits here until this transaction ends, then reads `used_at` as committed
            // and takes the "reused" branch. So at most one of them rotates.
            let token: Option<(Uuid, Option<DateTime<Utc>>)> = refresh_tokens::table
                .find(presented)
                .select((refresh_tokens::session_id, refresh_tokens::used_at))
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let Some((session_id, used_at)) = token else {
                return Ok(RotateOutcome::Invalid);
            };
            // Locked too, so a logout or another token of the family cannot change the
            // session between this check and the updates below.
            let session: LoginSession = login_sessions::table
                .find(session_id)
                .select(SessionRow::as_select())
                .for_update()
                .first(conn)
                .await?
                .into();
            if !session.is_active(now) {
                return Ok(RotateOutcome::Invalid);
            }
            let session_row = login_sessions::table.find(session_id);
            if used_at.is_some() {
                let revoked = diesel::update(session_row)
                    .set(login_sessions::revoked_at.eq(now))
                    .returning(SessionRow::as_returning())
                    .get_result(conn)
                    .await?;
                return Ok(RotateOutcome::Reused(revoked.into()));
            }
            // Conditional as well as locked: even without the lock, only one
            // transaction can flip `used_at` from NULL.
            let marked = diesel::update(
                refresh_tokens::table
                    .find(presented)
                    .filter(refresh_tokens::used_at.is_null()),
            )
            .set(refresh_tokens::used_at.eq(now))
            .execute(conn)
            .await?;
            if marked == 0 {
                return Ok(RotateOutcome::Invalid);
            }
            diesel::insert_into(refresh_tokens::table)
                .values(NewTokenRow {
                    token_hash: successor,
                    session_id,
                    created_at: now,
                })
                .execute(conn)
                .await?;
            let rotated = diesel::update(session_row)
                .set(login_sessions::last_used_at.eq(now))
                .returning(SessionRow::as_returning())
                .get_result(conn)
                .await?;
            Ok::<_, diesel::result::Error>(RotateOutcome::Rotated(rotated.into()))
        })
        .await
        .map_err(db_error)
    }

    async fn get(&self, id: SessionId) -> Result<Option<LoginSession>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = login_sessions::table
            .find(id.0)
            .select(SessionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(row.map(LoginSession::from))
    }

    async fn list_active(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<LoginSession>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows = login_sessions::table
            .filter(login_sessions::user_id.eq(user.0))
            .filter(login_sessions::revoked_at.is_null())
            .filter(login_sessions::expires_at.gt(now))
            // The id only breaks ties between sessions opened in the same microsecond.
            .order((login_sessions::created_at.desc(), login_sessions::id.desc()))
            .select(SessionRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(LoginSession::from).collect())
    }

    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let updated = diesel::update(
            login_sessions::table
                .find(id.0)
                .filter(login_sessions::revoked_at.is_null())
                .filter(login_sessions::expires_at.gt(now)),
        )
        .set(login_sessions::revoked_at.eq(now))
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
        Ok(updated > 0)
    }

    async fn revoke_all_for_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = diesel::update(
            login_sessions::table
                .filter(login_sessions::user_id.eq(user.0))
                .filter(login_sessions::revoked_at.is_null())
                .filter(login_sessions::expires_at.gt(now)),
        )
        .set(login_sessions::revoked_at.eq(now))
        .into_boxed();
        if let Some(keep) = keep {
            query = query.filter(login_sessions::id.ne(keep.0));
        }
        let ids: Vec<Uuid> = query
            .returning(login_sessions::id)
            .get_results(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(ids.into_iter().map(SessionId).collect())
    }

    async fn purge_ended(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // refresh_tokens go with their session (ON DELETE CASCADE)
        let n = diesel::delete(
            login_sessions::table.filter(
                login_sessions::expires_at
                    .lt(before)
                    .or(login_sessions::revoked_at.lt(before)),
            ),
        )
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
        Ok(n as u64)
    }
}
