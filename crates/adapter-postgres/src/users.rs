//! Accounts in the `users` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use domain_core::StoreError;
use domain_identity::{Email, NewUser, User, UserId, UserRepository, Username};
use uuid::Uuid;

use crate::PgPool;
use crate::error::{db_error, pool_error};
use crate::schema::users;

#[diesel::declare_sql_function]
extern "SQL" {
    /// PostgreSQL's `lower(text)`; usernames are compared through it so lookups use the
    /// `users_username_lower_key` index.
    fn lower(x: Text) -> Text;
}

/// [`UserRepository`] over PostgreSQL.
#[derive(Clone)]
pub struct PgUserRepository {
    pool: PgPool,
}

impl PgUserRepository {
    /// An adapter using connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    password_hash: String,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: UserId(r.id),
            username: Username::from_trusted(r.username),
            email: Email::from_trusted(r.email),
            password_hash: r.password_hash,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl PgUserRepository {
    async fn find(
        &self,
        query: users::BoxedQuery<'_, diesel::pg::Pg>,
    ) -> Result<Option<User>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = query
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(row.map(User::from))
    }
}

/// A one-row update's result: [`StoreError::NotFound`] if no row matched.
fn one_row(updated: usize) -> Result<(), StoreError> {
    if updated == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[async_trait]
impl UserRepository for PgUserRepository {
    async fn insert(&self, new: NewUser) -> Result<User, StoreError> {
        let row = UserRow {
            id: new.id.0,
            username: new.username.as_str().to_owned(),
            email: new.email.as_str().to_owned(),
            password_hash: new.password_hash,
            is_active: true,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let saved = diesel::insert_into(users::table)
            .values(&row)
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(saved.into())
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.find(users::table.find(id.0).into_boxed()).await
    }

    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let wanted = lower(users::username).eq(lower(username));
        self.find(users::table.filter(wanted).into_boxed()).await
    }

    async fn by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.find(
            users::table
                .filter(users::email.eq(email.as_str()))
                .into_boxed(),
        )
        .await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        phc: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let updated = diesel::update(users::table.find(id.0))
            .set((users::password_hash.eq(phc), users::updated_at.eq(now)))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        one_row(updated)
    }

    async fn set_active(
        &self,
        id: UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let updated = diesel::update(users::table.find(id.0))
            .set((users::is_active.eq(active), users::updated_at.eq(now)))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        one_row(updated)
    }
}
