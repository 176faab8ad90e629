//! Who may subscribe to a topic — decided with the same rules as the REST reads of the
//! same data — and the recheck that drops a subscription once that access ends.
//!
//! | kind | may subscribe | sees detail (who is present, moderation of others) |
//! |---|---|---|
//! | `debate:{id}` | whoever may read the session (`debate_session.read` in its scope, or anybody when it is public), unless a moderator removed them | `debate_session.realtime_manage` in its scope |
//! | `user:{id}` | that user only | — |
//!
//! A refused debate answers `not_found`, like a session that does not exist: a socket
//! cannot probe which private debates exist.

use std::sync::Arc;

use domain_debates::{DebateError, DebateService, ModerationService};
use domain_rbac::{Action, RbacService, ResourceType, Scope, perm};
use uuid::Uuid;

use super::Topic;
use super::frames::ErrorCode;

/// What a subscription was allowed with.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// Whether the subscriber gets frames' detail (presence lists, others' moderation).
    pub sees_detail: bool,
    /// The debate's scope, for rechecks and presence.
    pub scope: Option<Scope>,
}

/// Why a subscription was refused: the `error` frame's code and detail.
pub type Refusal = (ErrorCode, String);

/// Decides subscriptions. Cheap to clone.
#[derive(Clone)]
pub struct TopicAccess {
    rbac: Arc<RbacService>,
    debates: DebateService,
    moderation: ModerationService,
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    tracing::warn!(error = %e, "cannot decide a subscription");
    (ErrorCode::Unavailable, "cannot decide now; retry".into())
}

fn not_found() -> Refusal {
    (ErrorCode::NotFound, "topic not found".into())
}

impl TopicAccess {
    /// Access decided by these services.
    pub fn new(
        rbac: Arc<RbacService>,
        debates: DebateService,
        moderation: ModerationService,
    ) -> Self {
        Self {
            rbac,
            debates,
            moderation,
        }
    }

    /// Whether `user` may subscribe to `topic` now.
    ///
    /// # Errors
    /// The refusal to send in an `error` frame.
    pub async fn subscribe(&self, user: Uuid, topic: Topic) -> Result<Allowed, Refusal> {
        match topic {
            Topic::User(owner) if owner == user => Ok(Allowed {
                sees_detail: false,
                scope: None,
            }),
            Topic::User(_) => Err((
                ErrorCode::Forbidden,
                "a user topic is for its own user only".into(),
            )),
            Topic::Debate(session_id) => self.debate(user, session_id).await,
        }
    }

    async fn debate(&self, user: Uuid, session_id: Uuid) -> Result<Allowed, Refusal> {
        let session = match self.debates.session(session_id).await {
            Ok(s) => s,
            Err(DebateError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(unavailable(e)),
        };
        let scope: Scope = session.scope.parse().map_err(|_| not_found())?;
        let read = perm(ResourceType::DebateSession, Action::Read);
        let decision = self
            .rbac
            .check_resource(
                Some(user),
                read,
                scope,
                session.created_by,
                session.visibility.is_public(),
            )
            .await
            .map_err(unavailable)?;
        if !decision.allowed {
            return Err(not_found());
        }
        if self
            .moderation
            .is_removed(session_id, user)
            .await
            .map_err(unavailable)?
        {
            return Err((
                ErrorCode::Forbidden,
                "removed from this session by a moderator".into(),
            ));
        }
        let manage = perm(ResourceType::DebateSession, Action::RealtimeManage);
        let sees_detail = self
            .rbac
            .check(Some(user), manage, scope, None)
            .await
            .is_ok_and(|d| d.allowed);
        Ok(Allowed {
            sees_detail,
            scope: Some(scope),
        })
    }

    /// Whether `user` may still read `topic`: a grant or membership that ended, or a
    /// debate made private again, ends the subscription. Storage trouble is not taken
    /// for a revocation (the subscription stays; the next recheck decides).
    pub async fn still_allowed(&self, user: Uuid, topic: Topic, scope: Option<Scope>) -> bool {
        let (Topic::Debate(session_id), Some(scope)) = (topic, scope) else {
            return true;
        };
        let read = perm(ResourceType::DebateSession, Action::Read);
        match self.rbac.check(Some(user), read, scope, None).await {
            Ok(d) if d.allowed => true,
            // Readable only while public; the visibility may have changed since.
            Ok(_) => match self.debates.session(session_id).await {
                Ok(s) => s.visibility.is_public(),
                Err(DebateError::NotFound(_)) => false,
                Err(_) => true,
            },
            Err(_) => true,
        }
    }
}

/// Forwards every access change the RBAC service applies on this instance (made here or
/// announced by another instance) to the hub's sockets, which recheck their
/// subscriptions at once: a revoked grant ends a subscription within the invalidation
/// delay (milliseconds), not at the next heartbeat.
pub fn forward_changes(rbac: &RbacService, hub: &super::TopicHub) {
    let mut changes = rbac.changes();
    let hub = hub.clone();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match changes.recv().await {
                Ok(domain_rbac::Invalidation::User { user_id }) => {
                    hub.access_changed(super::AccessChange::User(user_id));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    hub.access_changed(super::AccessChange::Everyone);
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}
