//! The debate use cases: topics, sessions and their `scheduled → live → closed`
//! lifecycle, seats on the pro and con sides or in the audience, and arguments.
//!
//! Authorisation is not decided here: the caller (api-server) asks the RBAC service first,
//! with the topic's or session's scope. This service decides what the state allows: a
//! closed session takes no seats and no arguments, a full side no more debaters, the
//! audience reads but does not argue.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use domain_core::{Clock, DomainEvent, EventPublisher, NullEventPublisher, StoreError};
use uuid::Uuid;

use crate::{
    AppendOutcome, BODY_MAX_CHARS, DebateError, DebateEvent, DebateRepository, DebateSession,
    JoinOutcome, Message, MessageRange, NewMessage, Participant, SessionFilter, SessionStatus,
    Side, Topic, TopicFilter, VOTING_WINDOW_DEFAULT_SECONDS, VOTING_WINDOW_MAX_SECONDS,
    VOTING_WINDOW_MIN_SECONDS, Visibility,
};

/// Longest title of a topic or a session, in characters.
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest topic description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
/// Largest debater limit a session may set per side.
pub const MAX_PER_SIDE_LIMIT: u32 = 100;

/// The debates service. Cheap to clone; clones share the repository, publisher and
/// clock.
///
/// Its events are [`DebateEvent`]s. Topic, scheduling and lifecycle events are recorded
/// with the change (the store's outbox, so reactions survive a crash); the live ones — a
/// lifecycle move (recorded too), a seat, an argument, a visibility change — are
/// published after the commit through the publisher of [`DebateService::with_events`],
/// for the rooms.
#[derive(Clone)]
pub struct DebateService {
    repo: Arc<dyn DebateRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for DebateService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebateService").finish_non_exhaustive()
    }
}

// ---- validation ------------------------------------------------------------------------

/// A refusal of the shared text or time rules (`domain_core`), as this crate's error.
pub(crate) fn from_field(e: domain_core::FieldError) -> DebateError {
    DebateError::Invalid {
        field: e.field,
        message: e.message,
    }
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> DebateError {
    DebateError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The session `id`, or [`DebateError::NotFound`] — shared by the services of this crate.
pub(crate) async fn existing_session(
    repo: &dyn DebateRepository,
    id: Uuid,
) -> Result<DebateSession, DebateError> {
    repo.session(id).await?.ok_or_else(|| not_found("session"))
}

pub(crate) fn not_found(what: &str) -> DebateError {
    DebateError::NotFound(what.into())
}

/// A title as typed: surrounding white space dropped, then 1 to [`TITLE_MAX_CHARS`]
/// characters, none of them a control character (a title is one line everywhere it is
/// shown).
pub(crate) fn valid_title(raw: &str) -> Result<String, DebateError> {
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
    domain_core::text::single_line("title", title).map_err(from_field)?;
    Ok(title.to_owned())
}

/// Multi-line text as typed: `\r\n` and lone `\r` become `\n` (HTML forms submit
/// textareas with CRLF), surrounding white space is dropped, and no control character but
/// `\n` and `\t` remains (`domain_core::text`). Other control characters are refused rather
/// than stripped: NUL cannot be stored in PostgreSQL text, and escape sequences would
/// reach terminals through the plain-text transcript.
fn multiline(field: &str, raw: &str, max_chars: usize) -> Result<String, DebateError> {
    let text = raw.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.trim();
    if text.chars().count() > max_chars {
        return Err(invalid(
            field,
            format!("must be at most {max_chars} characters long"),
        ));
    }
    domain_core::text::multi_line(field, text).map_err(from_field)?;
    Ok(text.to_owned())
}

/// A topic description: up to [`DESCRIPTION_MAX_CHARS`] characters, possibly empty.
pub(crate) fn valid_description(raw: &str) -> Result<String, DebateError> {
    multiline("description", raw, DESCRIPTION_MAX_CHARS)
}

/// An argument's body: 1 to [`BODY_MAX_CHARS`] characters once trimmed.
pub(crate) fn valid_body(raw: &str) -> Result<String, DebateError> {
    let body = multiline("body", raw, BODY_MAX_CHARS)?;
    if body.is_empty() {
        return Err(invalid("body", "must not be empty"));
    }
    Ok(body)
}

fn valid_max_per_side(max: Option<u32>) -> Result<Option<u32>, DebateError> {
    match max {
        Some(n) if !(1..=MAX_PER_SIDE_LIMIT).contains(&n) => Err(invalid(
            "max_per_side",
            format!("must be between 1 and {MAX_PER_SIDE_LIMIT}"),
        )),
        other => Ok(other),
    }
}

fn valid_voting_window(seconds: Option<u32>) -> Result<Option<u32>, DebateError> {
    match seconds {
        Some(n) if !(VOTING_WINDOW_MIN_SECONDS..=VOTING_WINDOW_MAX_SECONDS).contains(&n) => {
            Err(invalid(
                "voting_window_seconds",
                format!(
                    "must be between {VOTING_WINDOW_MIN_SECONDS} and {VOTING_WINDOW_MAX_SECONDS}"
                ),
            ))
        }
        other => Ok(other),
    }
}

/// The event recorded with a move of `session` to `to` at `at`.
fn lifecycle_event(session: &DebateSession, to: SessionStatus, at: DateTime<Utc>) -> DebateEvent {
    let (session_id, topic_id, scope, title) = (
        session.id,
        session.topic_id,
        session.scope.clone(),
        session.title.clone(),
    );
    match to {
        SessionStatus::Closed => DebateEvent::SessionClosed {
            session_id,
            topic_id,
            scope,
            title,
            closed_at: at,
            voting_closes_at: at
                + chrono::Duration::seconds(i64::from(session.voting_window_seconds)),
        },
        // The service only moves sessions forward: scheduled → live → closed.
        SessionStatus::Live | SessionStatus::Scheduled => DebateEvent::SessionStarted {
            session_id,
            topic_id,
            scope,
            title,
            started_at: at,
        },
    }
}

/// Publishes an event after a committed change. A failure to publish is logged, not
/// returned: the change itself has happened.
pub(crate) async fn publish(events: &dyn EventPublisher, event: &DebateEvent, at: DateTime<Utc>) {
    publish_envelope(events, DomainEvent::of(event, at)).await;
}

/// Publishes an envelope after a committed change — the very one recorded in the outbox
/// with the change, when there is one, so both carry the same event id. Failures are
/// logged, as in [`publish`].
pub(crate) async fn publish_envelope(events: &dyn EventPublisher, event: DomainEvent) {
    let name = event.name.clone();
    if let Err(e) = events.publish(event).await {
        tracing::warn!(error = %e, event = %name, "could not publish domain event");
    }
}

/// A schedule: both instants in the years every store keeps (`domain_core::timestamp`),
/// the end after the start.
fn valid_schedule(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Result<(), DebateError> {
    domain_core::timestamp::bounded("scheduled_start", start).map_err(from_field)?;
    domain_core::timestamp::bounded_opt("scheduled_end", end).map_err(from_field)?;
    match end {
        Some(end) if end <= start => Err(invalid("scheduled_end", "must be after scheduled_start")),
        _ => Ok(()),
    }
}

/// Instants kept at the precision every store keeps (microseconds), so what a create
/// returns equals what a later read returns.
pub(crate) fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// Maps a storage error of a call about `what`: not found becomes
/// [`DebateError::NotFound`], anything else stays a storage failure.
pub(crate) fn map_store(e: StoreError, what: &str) -> DebateError {
    match e {
        StoreError::NotFound => not_found(what),
        other => DebateError::Store(other),
    }
}

/// The record a list belongs to.
#[derive(Debug, Clone, Copy)]
enum Parent {
    Topic(Uuid),
    Session(Uuid),
}

impl Parent {
    fn kind(self) -> &'static str {
        match self {
            Self::Topic(_) => "topic",
            Self::Session(_) => "session",
        }
    }
}

fn not_live() -> DebateError {
    DebateError::Conflict("session is not live".into())
}

fn side_full(side: Side, max: Option<u32>) -> DebateError {
    DebateError::Conflict(match max {
        Some(1) => format!("the {} side is full (1 debater)", side.as_str()),
        Some(n) => format!("the {} side is full ({n} debaters)", side.as_str()),
        // The store only answers SideFull when given a limit; say what we can anyway.
        None => format!("the {} side is full", side.as_str()),
    })
}

impl DebateService {
    /// A service over `repo` (which also records the events of each change) reading the
    /// time from `clock`. Publishes nothing until [`with_events`](Self::with_events) says
    /// where.
    pub fn new(repo: Arc<dyn DebateRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            repo,
            clock,
            events: Arc::new(NullEventPublisher),
        }
    }

    /// The same service, publishing its live events (seats, arguments, lifecycle moves,
    /// visibility changes) through `events` after each committed change.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = events;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        micros(self.clock.now())
    }

    /// `page`, unless it is empty because the record it lists the children of does not
    /// exist. Only empty pages pay for the extra read.
    async fn page_of<T>(
        &self,
        page: Vec<T>,
        parent: Option<Parent>,
    ) -> Result<Vec<T>, DebateError> {
        let Some(parent) = parent.filter(|_| page.is_empty()) else {
            return Ok(page);
        };
        let exists = match parent {
            Parent::Topic(id) => self.repo.topic(id).await?.is_some(),
            Parent::Session(id) => self.repo.session(id).await?.is_some(),
        };
        if exists {
            Ok(page)
        } else {
            Err(not_found(parent.kind()))
        }
    }

    // ---- topics ------------------------------------------------------------------------

    /// Creates a topic in `scope` (text form, validated by the caller) on behalf of
    /// `actor` (`None`: the command line), and publishes `debates.topic_created`.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"title"`, `"description"`); [`DebateError::Store`].
    pub async fn create_topic(
        &self,
        actor: Option<Uuid>,
        title: &str,
        description: &str,
        scope: String,
    ) -> Result<Topic, DebateError> {
        let topic = Topic {
            id: Uuid::new_v4(),
            title: valid_title(title)?,
            description: valid_description(description)?,
            scope,
            visibility: Default::default(),
            created_by: actor,
            created_at: self.now(),
        };
        let event = DomainEvent::of(
            &DebateEvent::TopicCreated {
                topic_id: topic.id,
                scope: topic.scope.clone(),
                title: topic.title.clone(),
                created_by: topic.created_by,
            },
            topic.created_at,
        );
        self.repo.insert_topic(topic.clone(), &[event]).await?;
        Ok(topic)
    }

    /// One topic.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"topic"`); [`DebateError::Store`].
    pub async fn topic(&self, id: Uuid) -> Result<Topic, DebateError> {
        self.repo.topic(id).await?.ok_or_else(|| not_found("topic"))
    }

    /// Topics (as `filter` says) ordered by id, after `after`, at most `limit`
    /// (clamp it before, e.g. with `domain_core::PageLimit`).
    ///
    /// # Errors
    /// [`DebateError::Store`].
    pub async fn list_topics(
        &self,
        filter: TopicFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Topic>, DebateError> {
        Ok(self.repo.list_topics(filter, after, limit).await?)
    }

    /// Opens a topic and its sessions to the public, or makes them private to the
    /// topic's scope again, returns the topic as it now is and publishes
    /// `debates.topic_visibility_changed`. Who may do it is the caller's decision (an
    /// institution's, audited by the caller).
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"topic"`); [`DebateError::Store`].
    pub async fn set_visibility(
        &self,
        id: Uuid,
        visibility: Visibility,
    ) -> Result<Topic, DebateError> {
        self.repo
            .set_topic_visibility(id, visibility)
            .await
            .map_err(|e| map_store(e, "topic"))?;
        let topic = self.topic(id).await?;
        let event = DebateEvent::TopicVisibilityChanged {
            topic_id: topic.id,
            scope: topic.scope.clone(),
            visibility: topic.visibility,
        };
        publish(&*self.events, &event, self.now()).await;
        Ok(topic)
    }

    /// Replaces a topic's title and description and returns it as it now is. The scope
    /// never changes: grants and sessions were decided on it.
    ///
    /// # Errors
    /// [`DebateError::Invalid`]; [`DebateError::NotFound`] (`"topic"`);
    /// [`DebateError::Store`].
    pub async fn update_topic(
        &self,
        id: Uuid,
        title: &str,
        description: &str,
    ) -> Result<Topic, DebateError> {
        let title = valid_title(title)?;
        let description = valid_description(description)?;
        self.repo
            .update_topic(id, &title, &description)
            .await
            .map_err(|e| map_store(e, "topic"))?;
        self.topic(id).await
    }

    /// Deletes a topic with its sessions, seats and messages.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"topic"`); [`DebateError::Store`].
    pub async fn delete_topic(&self, id: Uuid) -> Result<(), DebateError> {
        self.repo
            .delete_topic(id)
            .await
            .map_err(|e| map_store(e, "topic"))
    }

    // ---- sessions ----------------------------------------------------------------------

    /// Schedules a session of a topic on behalf of `actor`, in the topic's scope, and
    /// publishes `debates.session_scheduled`. A start in the past is accepted: a
    /// moderator may set up a session that begins right away.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"title"`, `"scheduled_end"` unless after the start,
    /// `"max_per_side"` outside `1..=100`, `"voting_window_seconds"` outside
    /// [`VOTING_WINDOW_MIN_SECONDS`]`..=`[`VOTING_WINDOW_MAX_SECONDS`]; `None` takes
    /// [`VOTING_WINDOW_DEFAULT_SECONDS`]); [`DebateError::NotFound`] (`"topic"`);
    /// [`DebateError::Store`].
    #[allow(clippy::too_many_arguments)] // each is one field of the form; a struct would only rename them
    pub async fn create_session(
        &self,
        actor: Option<Uuid>,
        topic_id: Uuid,
        title: &str,
        scheduled_start: DateTime<Utc>,
        scheduled_end: Option<DateTime<Utc>>,
        max_per_side: Option<u32>,
        voting_window_seconds: Option<u32>,
    ) -> Result<DebateSession, DebateError> {
        let title = valid_title(title)?;
        let (scheduled_start, scheduled_end) = (micros(scheduled_start), scheduled_end.map(micros));
        valid_schedule(scheduled_start, scheduled_end)?;
        let max_per_side = valid_max_per_side(max_per_side)?;
        let voting_window_seconds =
            valid_voting_window(voting_window_seconds)?.unwrap_or(VOTING_WINDOW_DEFAULT_SECONDS);
        let topic = self.topic(topic_id).await?;
        let session = DebateSession {
            id: Uuid::new_v4(),
            topic_id,
            scope: topic.scope,
            visibility: topic.visibility,
            title,
            scheduled_start,
            scheduled_end,
            max_per_side,
            status: SessionStatus::Scheduled,
            created_by: actor,
            created_at: self.now(),
            started_at: None,
            closed_at: None,
            voting_window_seconds,
            voting_closes_at: None,
        };
        let event = DomainEvent::of(
            &DebateEvent::SessionScheduled {
                session_id: session.id,
                topic_id: session.topic_id,
                scope: session.scope.clone(),
                title: session.title.clone(),
                scheduled_start: session.scheduled_start,
                scheduled_end: session.scheduled_end,
                created_by: session.created_by,
            },
            session.created_at,
        );
        self.repo
            .insert_session(session.clone(), &[event])
            .await
            // NotFound here: the topic was deleted since it was read.
            .map_err(|e| map_store(e, "topic"))?;
        Ok(session)
    }

    /// One session.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Store`].
    pub async fn session(&self, id: Uuid) -> Result<DebateSession, DebateError> {
        existing_session(self.repo.as_ref(), id).await
    }

    /// Sessions matching `filter` ordered by id, after `after`, at most `limit`.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"topic"`) when the filter names a topic that does not
    /// exist; [`DebateError::Store`].
    pub async fn list_sessions(
        &self,
        filter: SessionFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DebateSession>, DebateError> {
        let topic = filter.topic_id;
        let page = self.repo.list_sessions(filter, after, limit).await?;
        self.page_of(page, topic.map(Parent::Topic)).await
    }

    /// Changes what is given — title, planned start, planned end (`Some(None)` removes
    /// it), side limit (`Some(None)` removes it), voting window — while the session is scheduled or live,
    /// and returns the session as it now is. A changed start or end publishes
    /// `debates.session_rescheduled` so other features can notify participants. Lowering
    /// the limit keeps debaters already seated; it only refuses new ones.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (as for [`create_session`](Self::create_session), the end
    /// checked against the resulting start); [`DebateError::NotFound`] (`"session"`);
    /// [`DebateError::Conflict`] when the session is closed; [`DebateError::Store`].
    pub async fn update_session(
        &self,
        id: Uuid,
        title: Option<&str>,
        scheduled_start: Option<DateTime<Utc>>,
        scheduled_end: Option<Option<DateTime<Utc>>>,
        max_per_side: Option<Option<u32>>,
        voting_window_seconds: Option<u32>,
    ) -> Result<DebateSession, DebateError> {
        let title = title.map(valid_title).transpose()?;
        let max_per_side = max_per_side.map(valid_max_per_side).transpose()?;
        let voting_window_seconds = valid_voting_window(voting_window_seconds)?;
        let current = self.session(id).await?;
        if current.status == SessionStatus::Closed {
            return Err(DebateError::Conflict("session is closed".into()));
        }
        let mut next = current.clone();
        if let Some(title) = title {
            next.title = title;
        }
        if let Some(start) = scheduled_start {
            next.scheduled_start = micros(start);
        }
        if let Some(end) = scheduled_end {
            next.scheduled_end = end.map(micros);
        }
        if let Some(max) = max_per_side {
            next.max_per_side = max;
        }
        if let Some(window) = voting_window_seconds {
            next.voting_window_seconds = window;
        }
        valid_schedule(next.scheduled_start, next.scheduled_end)?;
        if next == current {
            return Ok(current);
        }
        let rescheduled = (next.scheduled_start, next.scheduled_end)
            != (current.scheduled_start, current.scheduled_end);
        let events: Vec<DomainEvent> = rescheduled
            .then(|| {
                DomainEvent::of(
                    &DebateEvent::SessionRescheduled {
                        session_id: id,
                        topic_id: next.topic_id,
                        scope: next.scope.clone(),
                        title: next.title.clone(),
                        scheduled_start: next.scheduled_start,
                        scheduled_end: next.scheduled_end,
                        previous_start: current.scheduled_start,
                        previous_end: current.scheduled_end,
                    },
                    self.now(),
                )
            })
            .into_iter()
            .collect();
        self.repo
            .update_session(&next, &events)
            .await
            .map_err(|e| map_store(e, "session"))?;
        // Read back rather than return `next`: a start or close may have happened since
        // `current` was read, and the store does not overwrite the status.
        self.session(id).await
    }

    /// Deletes a session with its seats and messages.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Store`].
    pub async fn delete_session(&self, id: Uuid) -> Result<(), DebateError> {
        self.repo
            .delete_session(id)
            .await
            .map_err(|e| map_store(e, "session"))
    }

    // ---- lifecycle ---------------------------------------------------------------------

    /// Takes a scheduled session live (debaters may then send arguments), records
    /// `debates.session_started` and publishes it after the commit.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Conflict`] when it is live
    /// already (also when a concurrent start won) or closed; [`DebateError::Store`].
    pub async fn start(&self, id: Uuid) -> Result<DebateSession, DebateError> {
        self.transition(id, SessionStatus::Scheduled, SessionStatus::Live)
            .await
    }

    /// Closes a live session (no more seats or arguments), which opens its voting window
    /// until `voting_closes_at`, records `debates.session_closed` (it carries
    /// `voting_closes_at`) and publishes it after the commit.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Conflict`] when it has not
    /// started or is closed already (also when a concurrent close won);
    /// [`DebateError::Store`].
    pub async fn close(&self, id: Uuid) -> Result<DebateSession, DebateError> {
        self.transition(id, SessionStatus::Live, SessionStatus::Closed)
            .await
    }

    /// Moves the session from `from` to `to` with the store's compare-and-set, so of two
    /// concurrent starts (or closes) exactly one succeeds — and only its event is
    /// recorded and published; the loser learns why from the state it lost to.
    async fn transition(
        &self,
        id: Uuid,
        from: SessionStatus,
        to: SessionStatus,
    ) -> Result<DebateSession, DebateError> {
        // Read first: the event describes the session (scope, title) for reactions that
        // should not have to read it back.
        let before = self.session(id).await?;
        let at = self.now();
        let event = DomainEvent::of(&lifecycle_event(&before, to, at), at);
        if let Some(session) = self
            .repo
            .transition(id, from, to, at, std::slice::from_ref(&event))
            .await
            .map_err(|e| map_store(e, "session"))?
        {
            publish_envelope(&*self.events, event).await;
            return Ok(session);
        }
        let now = self.session(id).await?.status;
        Err(DebateError::Conflict(
            match (to, now) {
                (SessionStatus::Live, SessionStatus::Live) => "session is already live",
                (SessionStatus::Closed, SessionStatus::Closed) => "session is already closed",
                (_, SessionStatus::Closed) => "session is closed",
                (_, SessionStatus::Scheduled) => "session has not started",
                // Statuses only move forward, so this needs the session to have moved
                // between the two reads; say so rather than guess.
                _ => "session changed state meanwhile; try again",
            }
            .into(),
        ))
    }

    // ---- participants ------------------------------------------------------------------

    /// Seats `user` on `side` (moving them if they sit elsewhere; joining one's own side
    /// again returns that seat) and publishes `debates.seat_taken`. Sessions take seats
    /// while scheduled or live.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Conflict`] when the session
    /// is closed or the side is full ("the pro side is full (3 debaters)");
    /// [`DebateError::NotAllowed`] when a moderator removed the user from the session;
    /// [`DebateError::Store`].
    pub async fn join(
        &self,
        user: Uuid,
        session_id: Uuid,
        side: Side,
    ) -> Result<Participant, DebateError> {
        let session = self.session(session_id).await?;
        if session.status == SessionStatus::Closed {
            return Err(DebateError::Conflict("session is closed".into()));
        }
        // The store checks the limit in the same atomic step as the insert, so two
        // students racing for the last seat cannot both get it.
        match self
            .repo
            .join(session_id, user, side, session.max_per_side, self.now())
            .await
            .map_err(|e| map_store(e, "session"))?
        {
            JoinOutcome::Joined(participant) => {
                let event = DebateEvent::SeatTaken {
                    participant: participant.clone(),
                };
                publish(&*self.events, &event, participant.joined_at).await;
                Ok(participant)
            }
            JoinOutcome::SideFull => Err(side_full(side, session.max_per_side)),
            JoinOutcome::Removed => Err(DebateError::NotAllowed(
                "removed from this session by a moderator".into(),
            )),
        }
    }

    /// Ends `user`'s seat, returns it with `left_at` set and publishes
    /// `debates.seat_left`. Allowed in any state: leaving never harms the debate.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"` when it does not exist, `"seat"` when the
    /// user has no active seat); [`DebateError::Store`].
    pub async fn leave(&self, user: Uuid, session_id: Uuid) -> Result<Participant, DebateError> {
        let now = self.now();
        match self.repo.leave(session_id, user, now).await {
            Ok(participant) => {
                let event = DebateEvent::SeatLeft {
                    participant: participant.clone(),
                };
                publish(&*self.events, &event, now).await;
                Ok(participant)
            }
            // The store does not say which record is missing; only then is it worth
            // asking.
            Err(StoreError::NotFound) if self.repo.session(session_id).await?.is_none() => {
                Err(not_found("session"))
            }
            Err(e) => Err(map_store(e, "seat")),
        }
    }

    /// Everyone who ever had a seat in the session — on a side or in the audience, left
    /// or not: who took part (and may vote) — ordered by user id, after `after`, at most
    /// `limit`.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Store`].
    pub async fn took_part(
        &self,
        session_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>, DebateError> {
        let page = self
            .repo
            .ever_seated_users(session_id, after, limit)
            .await?;
        self.page_of(page, Some(Parent::Session(session_id))).await
    }

    /// Active seats of a session ordered by user id, after the user id `after`, at most
    /// `limit`.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Store`].
    pub async fn participants(
        &self,
        session_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Participant>, DebateError> {
        let page = self.repo.participants(session_id, after, limit).await?;
        self.page_of(page, Some(Parent::Session(session_id))).await
    }

    /// `user`'s active seat in the session, if any (also `None` for a session that does
    /// not exist: callers that care have read the session already).
    ///
    /// # Errors
    /// [`DebateError::Store`].
    pub async fn seat(
        &self,
        session_id: Uuid,
        user: Uuid,
    ) -> Result<Option<Participant>, DebateError> {
        Ok(self.repo.seat(session_id, user).await?)
    }

    // ---- messages ----------------------------------------------------------------------

    /// Stores an argument of `author` with the session's next sequence number, returns
    /// it and publishes `debates.argument_posted` after the commit (persisted first); its
    /// side is the author's seat. That the session is live and the author not muted
    /// is checked by the store in the same atomic step as the numbering, so no argument
    /// slips in after a close or a mute, on any instance.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"body"`: empty once trimmed, over [`BODY_MAX_CHARS`]
    /// characters, control characters other than line breaks; `"reply_to"`: no such
    /// message in the session); [`DebateError::NotFound`] (`"session"`);
    /// [`DebateError::Conflict`] when the session is not live;
    /// [`DebateError::NotAllowed`] when the author has no seat or sits in the audience;
    /// [`DebateError::Muted`] when a moderator muted the author; [`DebateError::Store`].
    pub async fn post_message(
        &self,
        author: Uuid,
        session_id: Uuid,
        body: &str,
        reply_to: Option<i64>,
    ) -> Result<Message, DebateError> {
        // Input first: junk never costs a store round trip.
        let body = valid_body(body)?;
        if let Some(seq) = reply_to.filter(|seq| *seq < 1) {
            return Err(invalid(
                "reply_to",
                format!("no message #{seq} in this session"),
            ));
        }
        let Some(seat) = self.repo.seat(session_id, author).await? else {
            // Rare: only then is the session worth reading, to say what is wrong first.
            let session = self.session(session_id).await?;
            if session.status != SessionStatus::Live {
                return Err(not_live());
            }
            return Err(DebateError::NotAllowed("join the session first".into()));
        };
        if !seat.side.is_debater() {
            return Err(DebateError::NotAllowed(
                "only debaters on the pro or con side may send arguments".into(),
            ));
        }
        if let Some(seq) = reply_to
            && self.repo.message(session_id, seq).await?.is_none()
        {
            return Err(invalid(
                "reply_to",
                format!("no message #{seq} in this session"),
            ));
        }
        let now = self.now();
        let outcome = self
            .repo
            .append_message(
                NewMessage {
                    session_id,
                    author_id: author,
                    side: seat.side,
                    body,
                    reply_to,
                    created_at: now,
                },
                now,
            )
            .await
            // NotFound here: the session was deleted since the seat was read.
            .map_err(|e| map_store(e, "session"))?;
        match outcome {
            AppendOutcome::Appended(message) => {
                let event = DebateEvent::ArgumentPosted {
                    message: message.clone(),
                };
                publish(&*self.events, &event, now).await;
                Ok(message)
            }
            AppendOutcome::NotLive => Err(not_live()),
            AppendOutcome::Muted { until } => Err(DebateError::Muted { until }),
        }
    }

    /// A window of the session's messages in ascending sequence order: the first `limit`
    /// after `range.after`, or, when `range.before` is given, the last `limit` below it.
    /// `limit` is passed through (clamp it before).
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Store`].
    pub async fn messages(
        &self,
        session_id: Uuid,
        range: MessageRange,
        limit: u32,
    ) -> Result<Vec<Message>, DebateError> {
        let page = self.repo.messages(session_id, range, limit).await?;
        self.page_of(page, Some(Parent::Session(session_id))).await
    }
}

#[cfg(test)]
mod tests;
