//! Accounts in a map, with the same uniqueness rules as the `users` table: usernames
//! unique ignoring case, e-mails unique as stored (they arrive normalised).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_identity::{Email, NewUser, User, UserId, UserRepository};

use crate::{lock, stored};

/// In-process [`UserRepository`].
#[derive(Debug, Default)]
pub struct MemoryUserRepository {
    state: Mutex<Users>,
}

#[derive(Debug, Default)]
struct Users {
    by_id: HashMap<UserId, User>,
    /// Lower-cased username → id: the counterpart of the `lower(username)` unique index.
    by_username: HashMap<String, UserId>,
    /// E-mail → id.
    by_email: HashMap<String, UserId>,
}

impl MemoryUserRepository {
    /// An empty repository.
    pub fn new() -> Self {
        Self::default()
    }
}

fn username_key(username: &str) -> String {
    username.to_lowercase()
}

impl Users {
    fn update(&mut self, id: UserId, change: impl FnOnce(&mut User)) -> Result<(), StoreError> {
        let user = self.by_id.get_mut(&id).ok_or(StoreError::NotFound)?;
        change(user);
        Ok(())
    }
}

#[async_trait]
impl UserRepository for MemoryUserRepository {
    async fn insert(&self, new: NewUser) -> Result<User, StoreError> {
        let mut s = lock(&self.state);
        let name_key = username_key(new.username.as_str());
        let email_key = new.email.as_str().to_owned();
        // Same order as the PostgreSQL indexes are checked in, so a request clashing on
        // both reports the same field.
        if s.by_id.contains_key(&new.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        if s.by_username.contains_key(&name_key) {
            return Err(StoreError::Duplicate("username".into()));
        }
        if s.by_email.contains_key(&email_key) {
            return Err(StoreError::Duplicate("email".into()));
        }
        let created_at = stored(new.created_at);
        let user = User {
            id: new.id,
            username: new.username,
            email: new.email,
            password_hash: new.password_hash,
            is_active: true,
            created_at,
            updated_at: created_at,
        };
        s.by_username.insert(name_key, user.id);
        s.by_email.insert(email_key, user.id);
        s.by_id.insert(user.id, user.clone());
        Ok(user)
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.state).by_id.get(&id).cloned())
    }

    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let s = lock(&self.state);
        Ok(s.by_username
            .get(&username_key(username))
            .and_then(|id| s.by_id.get(id))
            .cloned())
    }

    async fn by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let s = lock(&self.state);
        Ok(s.by_email
            .get(email.as_str())
            .and_then(|id| s.by_id.get(id))
            .cloned())
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        phc: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        lock(&self.state).update(id, |u| {
            u.password_hash = phc.to_owned();
            u.updated_at = stored(now);
        })
    }

    async fn set_active(
        &self,
        id: UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        lock(&self.state).update(id, |u| {
            u.is_active = active;
            u.updated_at = stored(now);
        })
    }
}
