//! Login sessions and their refresh tokens in maps. Every call runs under one lock, which
//! is what makes [`LoginSessionRepository::rotate`] atomic here (PostgreSQL gets the same from
//! row locks in a transaction).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_identity::{
    LoginSession, LoginSessionRepository, NewLoginSession, RefreshTokenHash, RotateOutcome,
    SessionId, UserId,
};

use crate::{lock, stored};

/// In-process [`LoginSessionRepository`].
///
/// It does not check that a session's user exists (the PostgreSQL adapter's foreign key
/// does); callers create sessions only for users they have just loaded.
#[derive(Debug, Default)]
pub struct MemoryLoginSessionRepository {
    state: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    sessions: HashMap<SessionId, LoginSession>,
    tokens: HashMap<RefreshTokenHash, Token>,
}

#[derive(Debug)]
struct Token {
    session: SessionId,
    used: bool,
}

impl MemoryLoginSessionRepository {
    /// An empty repository.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Sessions {
    /// The user's sessions that are active at `now`.
    fn active_of(
        &mut self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = &mut LoginSession> {
        self.sessions
            .values_mut()
            .filter(move |s| s.user_id == user && s.is_active(now))
    }
}

#[async_trait]
impl LoginSessionRepository for MemoryLoginSessionRepository {
    async fn create(
        &self,
        new: NewLoginSession,
        first_token: RefreshTokenHash,
    ) -> Result<LoginSession, StoreError> {
        let mut s = lock(&self.state);
        if s.sessions.contains_key(&new.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        if s.tokens.contains_key(&first_token) {
            return Err(StoreError::Duplicate("token".into()));
        }
        let created_at = stored(new.created_at);
        let session = LoginSession {
            id: new.id,
            user_id: new.user_id,
            client: new.client,
            created_at,
            last_used_at: created_at,
            expires_at: stored(new.expires_at),
            revoked_at: None,
        };
        s.tokens.insert(
            first_token,
            Token {
                session: session.id,
                used: false,
            },
        );
        s.sessions.insert(session.id, session.clone());
        Ok(session)
    }

    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        successor: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let now = stored(now);
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        let Some(token) = s.tokens.get(presented) else {
            return Ok(RotateOutcome::Invalid);
        };
        let (session_id, used) = (token.session, token.used);
        let Some(session) = s.sessions.get_mut(&session_id) else {
            return Ok(RotateOutcome::Invalid);
        };
        if !session.is_active(now) {
            return Ok(RotateOutcome::Invalid);
        }
        if used {
            session.revoked_at = Some(now);
            return Ok(RotateOutcome::Reused(session.clone()));
        }
        // Checked before anything changes, so a clash leaves the presented token fresh,
        // as the PostgreSQL transaction's rollback does.
        if s.tokens.contains_key(successor) {
            return Err(StoreError::Duplicate("token".into()));
        }
        session.last_used_at = now;
        let rotated = session.clone();
        if let Some(token) = s.tokens.get_mut(presented) {
            token.used = true;
        }
        s.tokens.insert(
            successor.clone(),
            Token {
                session: session_id,
                used: false,
            },
        );
        Ok(RotateOutcome::Rotated(rotated))
    }

    async fn get(&self, id: SessionId) -> Result<Option<LoginSession>, StoreError> {
        Ok(lock(&self.state).sessions.get(&id).cloned())
    }

    async fn list_active(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<LoginSession>, StoreError> {
        let mut s = lock(&self.state);
        let mut list: Vec<LoginSession> = s.active_of(user, now).map(|x| x.clone()).collect();
        // Newest first; the id breaks ties the same way PostgreSQL's `id DESC` does
        // (byte order of the UUID).
        list.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(list)
    }

    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        match s.sessions.get_mut(&id) {
            Some(session) if session.is_active(now) => {
                session.revoked_at = Some(stored(now));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_all_for_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut s = lock(&self.state);
        let revoked_at = stored(now);
        let mut ids = Vec::new();
        for session in s.active_of(user, now).filter(|x| Some(x.id) != keep) {
            session.revoked_at = Some(revoked_at);
            ids.push(session.id);
        }
        Ok(ids)
    }

    async fn purge_ended(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = lock(&self.state);
        let ended =
            |s: &LoginSession| s.expires_at < before || s.revoked_at.is_some_and(|at| at < before);
        let gone: std::collections::HashSet<SessionId> = state
            .sessions
            .values()
            .filter(|s| ended(s))
            .map(|s| s.id)
            .collect();
        state.sessions.retain(|id, _| !gone.contains(id));
        state.tokens.retain(|_, t| !gone.contains(&t.session));
        Ok(gone.len() as u64)
    }
}
