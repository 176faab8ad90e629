//! Posting an argument to a debate: `POST /api/debates/sessions/{id}/messages/` and the
//! `message.send` socket frame both run [`PostArgument`].
//!
//! In order: the session must exist and be readable (else "not found", so ids cannot be
//! probed); the author must take part as a member of its scope with `message.create`
//! (public debates are read by anybody, argued by their institution's people); then the
//! author's send rate in that session — per user and session, shared by every socket and
//! REST call on every instance (Redis in production, in process in the embedded mode),
//! sized by their highest-ranked role (`AGORA_ROOM_SEND_RATES`); then the debates domain
//! decides (a debater's seat, a live session, not muted, the text rules) and stores it.
//! The stored argument reaches the room through the debates service's event, not from
//! here.

use std::sync::Arc;
use std::time::Duration;

use domain_core::{Clock, RateDecision, RateLimiter};
use domain_debates::{DebateError, DebateService, Message};
use domain_rbac::{Action, RbacService, ResourceType, Scope, perm};
use uuid::Uuid;

use crate::send_rate::{SendRate, SendRates};

/// Why an argument was not stored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No such session, or one the author may not read (not told apart).
    #[error("session not found")]
    NotFound,
    /// The author may read the debate but not take part in it.
    #[error("{0}")]
    Forbidden(String),
    /// The author's send rate in this session is used up.
    #[error("too many arguments: {rate}; retry in {} ms", retry_after.as_millis())]
    RateLimited {
        /// When the next one is accepted.
        retry_after: Duration,
        /// The rate that applies.
        rate: SendRate,
    },
    /// The debates domain refused it (not seated, not live, muted, invalid text, …).
    #[error(transparent)]
    Debate(#[from] DebateError),
    /// Access control could not be read.
    #[error("access control unavailable: {0}")]
    Unavailable(String),
}

/// The one path for posting an argument. Cheap to clone.
#[derive(Clone)]
pub struct PostArgument {
    debates: DebateService,
    rbac: Arc<RbacService>,
    limiter: Arc<dyn RateLimiter>,
    /// Used while `limiter` cannot be reached: this instance's own budgets, so an outage
    /// of Redis loosens the limit to one budget per instance instead of lifting it.
    local: Arc<dyn RateLimiter>,
    rates: Arc<SendRates>,
    clock: Arc<dyn Clock>,
}

impl PostArgument {
    /// The command over these services, limiting each author to `rates` through
    /// `limiter`.
    pub fn new(
        debates: DebateService,
        rbac: Arc<RbacService>,
        limiter: Arc<dyn RateLimiter>,
        rates: Arc<SendRates>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            debates,
            rbac,
            limiter,
            local: Arc::new(adapter_memory::MemoryRateLimiter::default()),
            rates,
            clock,
        }
    }

    /// Stores `body` as `author`'s argument in `session_id`.
    ///
    /// # Errors
    /// [`Refused`], saying which rule refused it.
    pub async fn run(
        &self,
        author: Uuid,
        session_id: Uuid,
        body: &str,
        reply_to: Option<i64>,
    ) -> Result<Message, Refused> {
        let session = match self.debates.session(session_id).await {
            Ok(s) => s,
            Err(DebateError::NotFound(_)) => return Err(Refused::NotFound),
            Err(e) => return Err(e.into()),
        };
        let scope: Scope = session
            .scope
            .parse()
            .map_err(|_| Refused::Unavailable(format!("stored scope {:?}", session.scope)))?;
        let public = session.visibility.is_public();
        let unavailable = |e: domain_rbac::RbacError| Refused::Unavailable(e.to_string());
        let read = perm(ResourceType::DebateSession, Action::Read);
        let readable = self
            .rbac
            .check_resource(Some(author), read, scope, session.created_by, public)
            .await
            .map_err(unavailable)?;
        if !readable.allowed {
            return Err(Refused::NotFound);
        }
        let create = perm(ResourceType::Message, Action::Create);
        let may_post = self
            .rbac
            .check(Some(author), create, scope, None)
            .await
            .map_err(unavailable)?;
        if !may_post.allowed {
            return Err(Refused::Forbidden(if public {
                "only members of the debate's scope take part in it (message.create)".into()
            } else {
                "message.create is not granted to you in this debate's scope".into()
            }));
        }
        self.take_from_budget(author, session_id, scope).await?;
        Ok(self
            .debates
            .post_message(author, session_id, body, reply_to)
            .await?)
    }

    /// One unit of the author's send budget in this session, shared by every socket and
    /// REST call on every instance. While the shared limiter cannot be reached (logged),
    /// each instance limits on its own rather than stopping the debate or lifting the
    /// limit.
    async fn take_from_budget(
        &self,
        author: Uuid,
        session_id: Uuid,
        scope: Scope,
    ) -> Result<(), Refused> {
        let rate = match self.rbac.roles_in(author, scope).await {
            Ok(roles) => self.rates.for_roles(&roles),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the author's roles; using the fallback send rate");
                self.rates.for_roles::<&str>(&[])
            }
        };
        let key = format!("send:{author}:{session_id}");
        let limit = domain_core::Rate {
            per_second: rate.per_second,
            burst: rate.burst,
        };
        let now = self.clock.now();
        let decision = match self.limiter.acquire(&key, limit, now).await {
            Ok(decision) => decision,
            Err(e) => {
                tracing::warn!(error = %e, "shared send-rate limiter unavailable; limiting on this instance");
                self.local
                    .acquire(&key, limit, now)
                    .await
                    .map_err(|e| Refused::Unavailable(e.to_string()))?
            }
        };
        match decision {
            RateDecision::Allowed => Ok(()),
            RateDecision::Limited { retry_after } => {
                Err(Refused::RateLimited { retry_after, rate })
            }
        }
    }
}
