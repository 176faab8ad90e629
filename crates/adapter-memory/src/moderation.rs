//! [`ModerationRepository`] on the in-process debate store: mutes, removals, message
//! removals and the action record live under the debates' one lock, so each effect, its
//! record and its events (on the outbox) are one atomic step, and appends and joins see
//! them at once.

use std::ops::Bound::{Excluded, Unbounded};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::{DomainEvent, StoreError};
use domain_debates::{
    ActionFilter, MessageRemoval, ModerationAction, ModerationRepository, Mute, Removal,
};
use uuid::Uuid;

use crate::debates::{Debates, take};
use crate::{MemoryDebateRepository, lock, stored};

fn action_stored(a: ModerationAction) -> ModerationAction {
    ModerationAction {
        created_at: stored(a.created_at),
        expires_at: a.expires_at.map(stored),
        ..a
    }
}

impl Debates {
    fn record(&mut self, action: ModerationAction) {
        let action = action_stored(action);
        self.actions.insert((action.created_at, action.id), action);
    }
}

impl MemoryDebateRepository {
    /// Whether the session and every given account exist: the foreign keys of
    /// PostgreSQL's moderation tables.
    async fn accounts_ok(&self, users: &[Option<Uuid>]) -> Result<bool, StoreError> {
        for id in users.iter().flatten() {
            if !self.user_exists(*id).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn check_action(&self, action: &ModerationAction) -> Result<(), StoreError> {
        let ok = self
            .accounts_ok(&[Some(action.actor_id), action.target_user_id])
            .await?;
        let d = lock(&self.state);
        if ok && d.sessions.contains_key(&action.session_id) {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }
}

#[async_trait]
impl ModerationRepository for MemoryDebateRepository {
    async fn mute(
        &self,
        mute: Mute,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let ok = self
            .accounts_ok(&[
                Some(mute.user_id),
                Some(mute.muted_by),
                Some(action.actor_id),
                action.target_user_id,
            ])
            .await?;
        let mut d = lock(&self.state);
        if !(ok && d.sessions.contains_key(&mute.session_id)) {
            return Err(StoreError::NotFound);
        }
        let mute = Mute {
            until: mute.until.map(stored),
            muted_at: stored(mute.muted_at),
            ..mute
        };
        d.mutes.insert((mute.session_id, mute.user_id), mute);
        d.record(action);
        self.outbox.record(events);
        Ok(())
    }

    async fn unmute(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError> {
        let Some(target) = action.target_user_id else {
            return Err(StoreError::NotFound);
        };
        // Only a lifted mute is recorded, so only then do the record's keys matter.
        let actor_ok = self.user_exists(action.actor_id).await?;
        let mut d = lock(&self.state);
        let key = (action.session_id, target);
        if !actor_ok
            && d.mutes
                .get(&key)
                .is_some_and(|m| m.is_active(action.created_at))
        {
            return Err(StoreError::NotFound);
        }
        let was_active = d
            .mutes
            .remove(&key)
            .is_some_and(|m| m.is_active(action.created_at));
        if was_active {
            d.record(action);
            self.outbox.record(events);
        }
        Ok(was_active)
    }

    async fn remove_participant(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError> {
        self.check_action(&action).await?;
        let Some(target) = action.target_user_id else {
            return Err(StoreError::NotFound);
        };
        let mut d = lock(&self.state);
        if !d.sessions.contains_key(&action.session_id) {
            return Err(StoreError::NotFound);
        }
        let key = (action.session_id, target);
        if !d.bans.insert(key) {
            return Ok(false);
        }
        // Closed seats are not kept (see the debates module).
        d.seats.remove(&key);
        d.record(action);
        self.outbox.record(events);
        Ok(true)
    }

    async fn warn(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        self.check_action(&action).await?;
        let mut d = lock(&self.state);
        if !d.sessions.contains_key(&action.session_id) {
            return Err(StoreError::NotFound);
        }
        d.record(action);
        self.outbox.record(events);
        Ok(())
    }

    async fn remove_message(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<MessageRemoval, StoreError> {
        self.check_action(&action).await?;
        let Some(seq) = action.target_seq else {
            return Ok(MessageRemoval::NoSuchMessage);
        };
        let mut d = lock(&self.state);
        let Some(message) = d.messages.get_mut(&(action.session_id, seq)) else {
            return Ok(MessageRemoval::NoSuchMessage);
        };
        if message.removed.is_some() {
            return Ok(MessageRemoval::AlreadyRemoved);
        }
        message.removed = Some(Removal {
            at: stored(action.created_at),
            by: action.actor_id,
            reason: action.reason.clone(),
        });
        let message = message.clone();
        d.record(action);
        self.outbox.record(events);
        Ok(MessageRemoval::Removed(message))
    }

    async fn active_mute(
        &self,
        session: Uuid,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Mute>, StoreError> {
        Ok(lock(&self.state)
            .mutes
            .get(&(session, user))
            .filter(|m| m.is_active(now))
            .cloned())
    }

    async fn purge_expired_mutes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut d = lock(&self.state);
        let was = d.mutes.len();
        d.mutes
            .retain(|_, m| m.until.is_none_or(|until| until >= before));
        Ok(u64::try_from(was - d.mutes.len()).unwrap_or(u64::MAX))
    }

    async fn is_removed(&self, session: Uuid, user: Uuid) -> Result<bool, StoreError> {
        Ok(lock(&self.state).bans.contains(&(session, user)))
    }

    async fn actions(
        &self,
        filter: ActionFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ModerationAction>, StoreError> {
        let d = lock(&self.state);
        let below = match after {
            None => Unbounded,
            Some(id) => match d.actions.values().find(|a| a.id == id) {
                Some(a) => Excluded((a.created_at, a.id)),
                None => return Ok(Vec::new()),
            },
        };
        Ok(d.actions
            .range((Unbounded, below))
            .rev()
            .map(|(_, a)| a)
            .filter(|a| {
                filter.session_id.is_none_or(|s| a.session_id == s)
                    && filter.scope.as_ref().is_none_or(|s| a.scope == *s)
                    && filter
                        .target_user_id
                        .is_none_or(|t| a.target_user_id == Some(t))
                    && filter.actor_id.is_none_or(|x| a.actor_id == x)
                    && filter.kind.is_none_or(|k| a.kind == k)
                    && filter.readable.as_ref().is_none_or(|r| r.allows(&a.scope))
            })
            .take(take(limit))
            .cloned()
            .collect())
    }
}
