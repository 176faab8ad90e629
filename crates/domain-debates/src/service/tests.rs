//! Unit tests of [`DebateService`] against mockall mocks of its ports.
//!
//! The mocks are strict: a port method called without a matching expectation panics, so
//! "nothing was stored" is asserted by not setting an expectation. `times(n)` expectations
//! are verified when the service, and with it the mocks, is dropped at the end of each
//! test.
//!
//! Events whose reactions must not be lost are handed to the store with the change
//! (`events: &[DomainEvent]`), which records them in the same transaction, and only when
//! the change happens. The repository expectations below mimic that contract and record
//! what they were handed into the harness's [`Captured`] events. The live events (seats,
//! arguments, lifecycle moves, visibility) are published after the commit; the harness's
//! publisher records them in its `published` events.

use std::sync::Mutex;

use chrono::{Duration, TimeZone};
use domain_core::ManualClock;
use domain_core::events::MockEventPublisher;

use super::*;
use crate::ports::MockDebateRepository;

// ---------------------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------------------

/// A fixed instant with nanoseconds, deliberately not the wall clock: the service must
/// use its `Clock`, and keep only microseconds.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::nanoseconds(123_456_789)
}

/// [`start`] as stored.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::microseconds(123_456)
}

fn at(hour: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, min, 0).unwrap()
}

const SCOPE: &str = "institution:7d1b5c0e-8a51-4a3e-9d0f-1f2e3d4c5b6a";

fn topic(id: Uuid) -> Topic {
    Topic {
        id,
        title: "Should homework be banned?".into(),
        description: "Both sides.".into(),
        scope: SCOPE.into(),
        visibility: Default::default(),
        created_by: None,
        created_at: now(),
    }
}

fn session(id: Uuid, status: SessionStatus) -> DebateSession {
    DebateSession {
        id,
        topic_id: Uuid::from_u128(1),
        scope: SCOPE.into(),
        visibility: Default::default(),
        title: "Round 1".into(),
        scheduled_start: at(10, 0),
        scheduled_end: Some(at(11, 0)),
        max_per_side: Some(2),
        status,
        created_by: None,
        created_at: now(),
        started_at: (status != SessionStatus::Scheduled).then(now),
        closed_at: (status == SessionStatus::Closed).then(now),
        voting_window_seconds: 600,
        voting_closes_at: (status == SessionStatus::Closed).then(|| now() + Duration::minutes(10)),
    }
}

fn seat(session_id: Uuid, user_id: Uuid, side: Side) -> Participant {
    Participant {
        session_id,
        user_id,
        side,
        joined_at: now(),
        left_at: None,
    }
}

fn stored(m: NewMessage, seq: i64) -> Message {
    Message {
        session_id: m.session_id,
        seq,
        author_id: m.author_id,
        side: m.side,
        body: m.body,
        reply_to: m.reply_to,
        created_at: m.created_at,
        removed: None,
    }
}

type Captured<T> = Arc<Mutex<Vec<T>>>;

/// Appends the `events` a repository expectation was handed with a change that happened.
fn record(into: &Captured<DomainEvent>, events: &[DomainEvent]) {
    into.lock().unwrap().extend(events.to_vec());
}

/// The mocks a [`DebateService`] is built from, configured per test before `build`.
struct Harness {
    repo: MockDebateRepository,
    clock: Arc<ManualClock>,
    /// The events the store recorded with its changes (pushed by the expectations).
    events: Captured<DomainEvent>,
    /// The events the service published after its changes.
    published: Captured<DomainEvent>,
}

impl Harness {
    fn new() -> Self {
        Self {
            repo: MockDebateRepository::new(),
            clock: Arc::new(ManualClock::new(start())),
            events: Arc::default(),
            published: Arc::default(),
        }
    }

    fn build(self) -> DebateService {
        let mut publisher = MockEventPublisher::new();
        let published = self.published.clone();
        publisher.expect_publish().returning(move |e| {
            published.lock().unwrap().push(e);
            Ok(())
        });
        DebateService::new(Arc::new(self.repo), self.clock).with_events(Arc::new(publisher))
    }

    /// The events the service publishes after its changes.
    fn published(&self) -> Captured<DomainEvent> {
        self.published.clone()
    }

    /// The events handed to the store with its changes, as the repository expectations
    /// record them (see [`record`]).
    fn capture_events(&self) -> Captured<DomainEvent> {
        self.events.clone()
    }

    /// `repo.session(id)` answers `found`, any number of times.
    fn session_is(&mut self, id: Uuid, found: Option<DebateSession>) {
        self.repo
            .expect_session()
            .withf(move |i| *i == id)
            .returning(move |_| Ok(found.clone()));
    }

    /// `repo.topic(id)` answers `found`, any number of times.
    fn topic_is(&mut self, id: Uuid, found: Option<Topic>) {
        self.repo
            .expect_topic()
            .withf(move |i| *i == id)
            .returning(move |_| Ok(found.clone()));
    }

    /// `repo.seat(session, user)` answers `found`.
    fn seat_is(&mut self, found: Option<Participant>) {
        self.repo
            .expect_seat()
            .returning(move |_, _| Ok(found.clone()));
    }
}

fn names(events: &Captured<DomainEvent>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.name.clone())
        .collect()
}

/// The events, decoded as a consumer reads them.
fn typed(events: &Captured<DomainEvent>) -> Vec<DebateEvent> {
    events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.decode::<DebateEvent>().unwrap())
        .collect()
}

fn only_event(events: &Captured<DomainEvent>) -> DomainEvent {
    let all = events.lock().unwrap();
    assert_eq!(all.len(), 1, "expected exactly one event, got {all:?}");
    all[0].clone()
}

fn is_invalid(e: &DebateError, which: &str) -> bool {
    matches!(e, DebateError::Invalid { field, .. } if field == which)
}

fn is_not_found(e: &DebateError, what: &str) -> bool {
    matches!(e, DebateError::NotFound(w) if w == what)
}

fn conflict(e: &DebateError) -> &str {
    match e {
        DebateError::Conflict(m) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn not_allowed(e: &DebateError) -> &str {
    match e {
        DebateError::NotAllowed(m) => m,
        other => panic!("expected NotAllowed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// validation
// ---------------------------------------------------------------------------------------

#[test]
fn titles_are_trimmed_and_bounded() {
    assert_eq!(valid_title("  Homework \t").unwrap(), "Homework");
    let longest = "é".repeat(TITLE_MAX_CHARS);
    assert_eq!(
        valid_title(&longest).unwrap(),
        longest,
        "counted in characters"
    );
    for bad in [
        "",
        "  \n ",
        &"x".repeat(TITLE_MAX_CHARS + 1),
        "two\nlines",
        "tab\there",
        "nul\0",
        "esc\u{1b}[31m",
        "c1\u{85}control",
    ] {
        let e = valid_title(bad).unwrap_err();
        assert!(is_invalid(&e, "title"), "{bad:?}: {e:?}");
    }
}

#[test]
fn descriptions_allow_line_breaks_and_tabs_only() {
    assert_eq!(valid_description("").unwrap(), "", "may be empty");
    assert_eq!(
        valid_description("  one\r\ntwo\rthree\n\nfour \n").unwrap(),
        "one\ntwo\nthree\n\nfour",
        "CRLF and CR become LF, the ends are trimmed"
    );
    // tabs are the one control character besides line breaks (`domain_core::text`)
    assert_eq!(valid_description("tab\tinside").unwrap(), "tab\tinside");
    let longest = "é".repeat(DESCRIPTION_MAX_CHARS);
    assert_eq!(valid_description(&longest).unwrap(), longest);
    for bad in [
        &"x".repeat(DESCRIPTION_MAX_CHARS + 1),
        "nul\0",
        "bell\u{7}",
        "esc\u{1b}[2J",
    ] {
        let e = valid_description(bad).unwrap_err();
        assert!(is_invalid(&e, "description"), "{bad:?}: {e:?}");
    }
}

#[test]
fn bodies_are_trimmed_non_empty_and_bounded_in_characters() {
    assert_eq!(valid_body("  yes\r\nreally \n").unwrap(), "yes\nreally");
    let longest = "ü".repeat(BODY_MAX_CHARS);
    assert_eq!(
        valid_body(&longest).unwrap(),
        longest,
        "counted in characters"
    );
    let padded = format!("  {longest}\n\n");
    assert_eq!(
        valid_body(&padded).unwrap(),
        longest,
        "counted after trimming"
    );
    for bad in [
        "",
        " \n\r\n ",
        &"x".repeat(BODY_MAX_CHARS + 1),
        "nul\0",
        "esc\u{1b}[31mred",
        "c1\u{85}control",
    ] {
        let e = valid_body(bad).unwrap_err();
        assert!(is_invalid(&e, "body"), "{bad:?}: {e:?}");
    }
}

#[tokio::test]
async fn invalid_input_never_reaches_the_store() {
    // No expectations: any port call would panic.
    let svc = Harness::new().build();
    let id = Uuid::new_v4();
    let long_title = "t".repeat(TITLE_MAX_CHARS + 1);
    let cases = [
        ("title", svc.create_topic(None, " ", "", SCOPE.into()).await),
        (
            "description",
            svc.create_topic(None, "Ok", "a\0b", SCOPE.into()).await,
        ),
        ("title", svc.update_topic(id, &long_title, "").await),
        (
            "description",
            svc.update_topic(id, "Ok", &"d".repeat(DESCRIPTION_MAX_CHARS + 1))
                .await,
        ),
    ];
    for (field, result) in cases {
        let e = result.unwrap_err();
        assert!(is_invalid(&e, field), "{field}: {e:?}");
    }
    let sessions = [
        (
            "title",
            svc.create_session(None, id, "", at(10, 0), None, None, None)
                .await,
        ),
        (
            "scheduled_end",
            svc.create_session(None, id, "R", at(10, 0), Some(at(10, 0)), None, None)
                .await,
        ),
        (
            "scheduled_end",
            svc.create_session(None, id, "R", at(10, 0), Some(at(9, 0)), None, None)
                .await,
        ),
        (
            "max_per_side",
            svc.create_session(None, id, "R", at(10, 0), None, Some(0), None)
                .await,
        ),
        (
            "max_per_side",
            svc.create_session(
                None,
                id,
                "R",
                at(10, 0),
                None,
                Some(MAX_PER_SIDE_LIMIT + 1),
                None,
            )
            .await,
        ),
        (
            "title",
            svc.update_session(id, Some("a\nb"), None, None, None, None)
                .await,
        ),
        (
            "max_per_side",
            svc.update_session(id, None, None, None, Some(Some(0)), None)
                .await,
        ),
    ];
    for (field, result) in sessions {
        let e = result.unwrap_err();
        assert!(is_invalid(&e, field), "{field}: {e:?}");
    }
    let messages = [
        ("body", svc.post_message(id, id, "  \n ", None).await),
        (
            "body",
            svc.post_message(id, id, &"b".repeat(BODY_MAX_CHARS + 1), None)
                .await,
        ),
        ("reply_to", svc.post_message(id, id, "hi", Some(0)).await),
        ("reply_to", svc.post_message(id, id, "hi", Some(-3)).await),
    ];
    for (field, result) in messages {
        let e = result.unwrap_err();
        assert!(is_invalid(&e, field), "{field}: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------
// topics
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_topic_stores_what_it_returns_and_records_it() {
    let actor = Uuid::new_v4();
    let mut h = Harness::new();
    let inserted: Captured<Topic> = Arc::default();
    let seen = inserted.clone();
    let events = h.capture_events();
    let rec = events.clone();
    h.repo
        .expect_insert_topic()
        .times(1)
        .returning(move |t, events| {
            seen.lock().unwrap().push(t);
            record(&rec, events);
            Ok(())
        });
    let topic = h
        .build()
        .create_topic(
            Some(actor),
            "  Homework  ",
            " Both\r\nsides. ",
            SCOPE.into(),
        )
        .await
        .unwrap();
    assert_eq!(topic.title, "Homework");
    assert_eq!(topic.description, "Both\nsides.");
    assert_eq!(topic.scope, SCOPE, "scope passed through");
    assert_eq!(topic.created_by, Some(actor));
    assert_eq!(topic.created_at, now(), "clock time, to the microsecond");
    assert_eq!(*inserted.lock().unwrap(), vec![topic.clone()]);

    let e = only_event(&events);
    assert_eq!(e.name, "debates.topic_created");
    assert_eq!(e.aggregate_id, topic.id);
    assert_eq!(e.occurred_at, now());
    assert_eq!(e.payload["scope"], SCOPE);
    assert_eq!(e.payload["title"], "Homework");
    assert_eq!(e.payload["created_by"], actor.to_string());
}

#[tokio::test]
async fn a_failing_store_passes_its_error_through() {
    let mut h = Harness::new();
    // The event goes to the store with the topic: a store that fails records neither.
    h.repo
        .expect_insert_topic()
        .withf(|_, events| events.len() == 1)
        .times(1)
        .returning(|_, _| Err(StoreError::Unavailable("db down".into())));
    h.repo
        .expect_list_topics()
        .returning(|_, _, _| Err(StoreError::Unavailable("db down".into())));
    let svc = h.build();
    assert!(matches!(
        svc.create_topic(None, "T", "", "global".into()).await,
        Err(DebateError::Store(StoreError::Unavailable(_)))
    ));
    assert!(matches!(
        svc.list_topics(TopicFilter::default(), None, 10).await,
        Err(DebateError::Store(StoreError::Unavailable(_)))
    ));
}

#[tokio::test]
async fn get_topic() {
    let (id, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.topic_is(id, Some(topic(id)));
    h.topic_is(missing, None);
    let svc = h.build();
    assert_eq!(svc.topic(id).await.unwrap(), topic(id));
    assert!(is_not_found(
        &svc.topic(missing).await.unwrap_err(),
        "topic"
    ));
}

#[tokio::test]
async fn list_topics_passes_scope_cursor_and_limit_through() {
    let after = Uuid::new_v4();
    let listed = topic(Uuid::new_v4());
    let mut h = Harness::new();
    let page = vec![listed.clone()];
    h.repo
        .expect_list_topics()
        .withf(move |f, a, limit| {
            f.scope.as_deref() == Some("global")
                && f.readable.as_deref() == Some(&["global".to_owned()][..])
                && *a == Some(after)
                && *limit == 25
        })
        .times(1)
        .returning(move |_, _, _| Ok(page.clone()));
    let got = h
        .build()
        .list_topics(
            TopicFilter {
                scope: Some("global".into()),
                readable: Some(vec!["global".into()]),
            },
            Some(after),
            25,
        )
        .await
        .unwrap();
    assert_eq!(got, vec![listed]);
}

#[tokio::test]
async fn opening_a_topic_publishes_its_new_visibility() {
    let (id, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.repo
        .expect_set_topic_visibility()
        .withf(move |i, v| *i == id && *v == Visibility::Public)
        .times(1)
        .returning(|_, _| Ok(()));
    h.repo
        .expect_set_topic_visibility()
        .withf(move |i, _| *i == missing)
        .returning(|_, _| Err(StoreError::NotFound));
    let mut opened = topic(id);
    opened.visibility = Visibility::Public;
    h.topic_is(id, Some(opened.clone()));
    let published = h.published();
    let svc = h.build();
    assert_eq!(
        svc.set_visibility(id, Visibility::Public).await.unwrap(),
        opened
    );
    let e = svc
        .set_visibility(missing, Visibility::Public)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "topic"), "{e:?}");
    assert_eq!(
        typed(&published),
        [DebateEvent::TopicVisibilityChanged {
            topic_id: id,
            scope: SCOPE.into(),
            visibility: Visibility::Public,
        }],
        "once, for the change that happened"
    );
}

#[tokio::test]
async fn update_topic_validates_writes_and_reads_back() {
    let (id, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.repo
        .expect_update_topic()
        .withf(move |i, title, description| {
            *i == id && title == "New title" && description == "line\nbreak"
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    h.repo
        .expect_update_topic()
        .withf(move |i, _, _| *i == missing)
        .returning(|_, _, _| Err(StoreError::NotFound));
    let mut updated = topic(id);
    updated.title = "New title".into();
    h.topic_is(id, Some(updated.clone()));
    let svc = h.build();
    assert_eq!(
        svc.update_topic(id, " New title ", "line\r\nbreak")
            .await
            .unwrap(),
        updated
    );
    let e = svc.update_topic(missing, "T", "").await.unwrap_err();
    assert!(is_not_found(&e, "topic"), "{e:?}");
}

#[tokio::test]
async fn delete_topic() {
    let (id, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.repo
        .expect_delete_topic()
        .withf(move |i| *i == id)
        .times(1)
        .returning(|_| Ok(()));
    h.repo
        .expect_delete_topic()
        .withf(move |i| *i == missing)
        .returning(|_| Err(StoreError::NotFound));
    let svc = h.build();
    svc.delete_topic(id).await.unwrap();
    assert!(is_not_found(
        &svc.delete_topic(missing).await.unwrap_err(),
        "topic"
    ));
}

// ---------------------------------------------------------------------------------------
// sessions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_session_copies_the_scope_and_records_the_schedule() {
    let (actor, topic_id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.topic_is(topic_id, Some(topic(topic_id)));
    let inserted: Captured<DebateSession> = Arc::default();
    let seen = inserted.clone();
    let events = h.capture_events();
    let rec = events.clone();
    h.repo
        .expect_insert_session()
        .times(1)
        .returning(move |s, events| {
            seen.lock().unwrap().push(s);
            record(&rec, events);
            Ok(())
        });
    let start_at = at(10, 0) + Duration::nanoseconds(1_234_567);
    let session = h
        .build()
        .create_session(
            Some(actor),
            topic_id,
            " Round 1 ",
            start_at,
            Some(at(11, 30)),
            Some(3),
            None,
        )
        .await
        .unwrap();
    assert_eq!(session.topic_id, topic_id);
    assert_eq!(session.scope, SCOPE, "copied from the topic");
    assert_eq!(session.title, "Round 1");
    assert_eq!(session.status, SessionStatus::Scheduled);
    assert_eq!(
        session.scheduled_start,
        at(10, 0) + Duration::microseconds(1_234),
        "kept to the microsecond, as stored"
    );
    assert_eq!(session.scheduled_end, Some(at(11, 30)));
    assert_eq!(session.max_per_side, Some(3));
    assert_eq!(session.created_by, Some(actor));
    assert_eq!(session.created_at, now());
    assert_eq!((session.started_at, session.closed_at), (None, None));
    assert_eq!(*inserted.lock().unwrap(), vec![session.clone()]);

    let e = only_event(&events);
    assert_eq!(e.name, "debates.session_scheduled");
    assert_eq!(e.aggregate_id, session.id);
    assert_eq!(e.payload["topic_id"], topic_id.to_string());
    assert_eq!(e.payload["scope"], SCOPE);
    assert_eq!(
        e.payload["scheduled_start"],
        serde_json::to_value(session.scheduled_start).unwrap()
    );
    assert_eq!(
        e.payload["scheduled_end"],
        serde_json::to_value(at(11, 30)).unwrap()
    );
}

#[tokio::test]
async fn voting_windows_have_bounds_and_a_default() {
    let topic_id = Uuid::new_v4();
    let mut h = Harness::new();
    h.topic_is(topic_id, Some(topic(topic_id)));
    h.repo
        .expect_insert_session()
        .times(3)
        .returning(|_, _| Ok(()));
    let svc = h.build();
    for (asked, kept) in [
        (None, VOTING_WINDOW_DEFAULT_SECONDS),
        (Some(VOTING_WINDOW_MIN_SECONDS), VOTING_WINDOW_MIN_SECONDS),
        (Some(VOTING_WINDOW_MAX_SECONDS), VOTING_WINDOW_MAX_SECONDS),
    ] {
        let s = svc
            .create_session(None, topic_id, "R", at(10, 0), None, None, asked)
            .await
            .unwrap();
        assert_eq!((s.voting_window_seconds, s.voting_closes_at), (kept, None));
    }
    for bad in [
        0,
        VOTING_WINDOW_MIN_SECONDS - 1,
        VOTING_WINDOW_MAX_SECONDS + 1,
    ] {
        let e = svc
            .create_session(None, topic_id, "R", at(10, 0), None, None, Some(bad))
            .await
            .unwrap_err();
        assert!(is_invalid(&e, "voting_window_seconds"), "{e:?}");
        let e = svc
            .update_session(topic_id, None, None, None, None, Some(bad))
            .await
            .unwrap_err();
        assert!(is_invalid(&e, "voting_window_seconds"), "{e:?}");
    }
}

#[tokio::test]
async fn side_limit_bounds_are_accepted_and_optional() {
    let topic_id = Uuid::new_v4();
    let mut h = Harness::new();
    h.topic_is(topic_id, Some(topic(topic_id)));
    h.repo
        .expect_insert_session()
        .times(3)
        .returning(|_, _| Ok(()));
    let svc = h.build();
    for max in [Some(1), Some(MAX_PER_SIDE_LIMIT), None] {
        let s = svc
            .create_session(None, topic_id, "R", at(10, 0), None, max, None)
            .await
            .unwrap();
        assert_eq!(s.max_per_side, max);
        assert_eq!(s.scheduled_end, None);
    }
}

#[tokio::test]
async fn create_session_of_a_missing_topic() {
    let (gone, deleted_meanwhile) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.topic_is(gone, None);
    h.topic_is(deleted_meanwhile, Some(topic(deleted_meanwhile)));
    h.repo
        .expect_insert_session()
        .returning(|_, _| Err(StoreError::NotFound));
    let svc = h.build();
    for id in [gone, deleted_meanwhile] {
        let e = svc
            .create_session(None, id, "R", at(10, 0), None, None, None)
            .await
            .unwrap_err();
        assert!(is_not_found(&e, "topic"), "{e:?}");
    }
}

#[tokio::test]
async fn get_and_delete_session() {
    let (id, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.session_is(missing, None);
    h.repo
        .expect_delete_session()
        .withf(move |i| *i == id)
        .times(1)
        .returning(|_| Ok(()));
    h.repo
        .expect_delete_session()
        .withf(move |i| *i == missing)
        .returning(|_| Err(StoreError::NotFound));
    let svc = h.build();
    assert_eq!(svc.session(id).await.unwrap().status, SessionStatus::Live);
    assert!(is_not_found(
        &svc.session(missing).await.unwrap_err(),
        "session"
    ));
    svc.delete_session(id).await.unwrap();
    assert!(is_not_found(
        &svc.delete_session(missing).await.unwrap_err(),
        "session"
    ));
}

#[tokio::test]
async fn list_sessions_passes_the_filter_and_checks_the_topic_of_an_empty_page() {
    let (topic_id, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let listed = session(Uuid::new_v4(), SessionStatus::Live);
    let mut h = Harness::new();
    let page = vec![listed.clone()];
    h.repo
        .expect_list_sessions()
        .withf(move |f, after, limit| {
            *f == SessionFilter {
                topic_id: Some(topic_id),
                status: Some(SessionStatus::Live),
                scope: Some(SCOPE.into()),
                readable: None,
            } && after.is_none()
                && *limit == 20
        })
        .times(1)
        .returning(move |_, _, _| Ok(page.clone()));
    h.repo
        .expect_list_sessions()
        .returning(|_, _, _| Ok(vec![]));
    h.topic_is(missing, None);
    h.topic_is(topic_id, Some(topic(topic_id)));
    let svc = h.build();
    let filter = SessionFilter {
        topic_id: Some(topic_id),
        status: Some(SessionStatus::Live),
        scope: Some(SCOPE.into()),
        readable: None,
    };
    assert_eq!(
        svc.list_sessions(filter, None, 20).await.unwrap(),
        vec![listed]
    );
    let e = svc
        .list_sessions(
            SessionFilter {
                topic_id: Some(missing),
                ..SessionFilter::default()
            },
            None,
            20,
        )
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "topic"), "{e:?}");
    let none = svc
        .list_sessions(
            SessionFilter {
                topic_id: Some(topic_id),
                status: Some(SessionStatus::Closed),
                scope: None,
                readable: None,
            },
            None,
            20,
        )
        .await
        .unwrap();
    assert!(none.is_empty(), "an existing topic without sessions");
    // Without a topic in the filter, an empty page is just empty (no topic read).
    assert!(
        svc.list_sessions(SessionFilter::default(), None, 20)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// update_session
// ---------------------------------------------------------------------------------------

/// One `update_session` write: the session written and the events handed with it.
type Write = (DebateSession, Vec<DomainEvent>);

/// A harness whose store holds `current` and records `update_session` writes with the
/// events handed with each (also into the harness's events); reads after a write return
/// the last write.
fn updatable(current: DebateSession) -> (Harness, Captured<Write>) {
    let mut h = Harness::new();
    let writes: Captured<Write> = Arc::default();
    let id = current.id;
    let w = writes.clone();
    let rec = h.capture_events();
    h.repo.expect_update_session().returning(move |s, events| {
        w.lock().unwrap().push((s.clone(), events.to_vec()));
        record(&rec, events);
        Ok(())
    });
    let w = writes.clone();
    h.repo
        .expect_session()
        .withf(move |i| *i == id)
        .returning(move |_| {
            Ok(Some(
                w.lock()
                    .unwrap()
                    .last()
                    .map_or_else(|| current.clone(), |(s, _)| s.clone()),
            ))
        });
    (h, writes)
}

#[tokio::test]
async fn update_session_hands_an_event_only_when_the_schedule_changes() {
    let id = Uuid::new_v4();
    let (h, writes) = updatable(session(id, SessionStatus::Scheduled));
    let svc = h.build();
    svc.update_session(id, Some("Renamed"), None, None, None, None)
        .await
        .unwrap();
    svc.update_session(id, None, Some(at(10, 30)), None, None, None)
        .await
        .unwrap();
    let writes = writes.lock().unwrap();
    assert_eq!(writes.len(), 2, "{writes:?}");

    let (retitled, events) = &writes[0];
    assert_eq!(retitled.title, "Renamed");
    assert!(events.is_empty(), "a new title alone: {events:?}");

    let (moved, events) = &writes[1];
    assert_eq!(moved.scheduled_start, at(10, 30));
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.name, "debates.session_rescheduled");
    assert_eq!(e.aggregate_id, id);
    let json = |t: DateTime<Utc>| serde_json::to_value(t).unwrap();
    assert_eq!(e.payload["previous_start"], json(at(10, 0)));
    assert_eq!(e.payload["scheduled_start"], json(at(10, 30)));
    assert_eq!(e.payload["title"], "Renamed", "the title as it now is");
}

#[tokio::test]
async fn retitling_writes_without_a_reschedule_event() {
    let id = Uuid::new_v4();
    let (h, writes) = updatable(session(id, SessionStatus::Scheduled));
    let events = h.capture_events();
    let s = h
        .build()
        .update_session(id, Some(" Final "), None, None, Some(None), None)
        .await
        .unwrap();
    assert_eq!(s.title, "Final");
    assert_eq!(s.max_per_side, None, "Some(None) removes the limit");
    assert_eq!(s.scheduled_start, at(10, 0), "untouched");
    assert_eq!(writes.lock().unwrap().len(), 1);
    assert!(names(&events).is_empty(), "{:?}", names(&events));
}

#[tokio::test]
async fn rescheduling_records_old_and_new_times() {
    let id = Uuid::new_v4();
    let (h, writes) = updatable(session(id, SessionStatus::Scheduled));
    let events = h.capture_events();
    let s = h
        .build()
        .update_session(id, None, Some(at(14, 0)), Some(None), None, None)
        .await
        .unwrap();
    assert_eq!((s.scheduled_start, s.scheduled_end), (at(14, 0), None));
    assert_eq!(writes.lock().unwrap().len(), 1);
    let e = only_event(&events);
    assert_eq!(e.name, "debates.session_rescheduled");
    assert_eq!(e.aggregate_id, id);
    assert_eq!(e.occurred_at, now());
    let json = |t: DateTime<Utc>| serde_json::to_value(t).unwrap();
    assert_eq!(e.payload["scheduled_start"], json(at(14, 0)));
    assert_eq!(e.payload["scheduled_end"], serde_json::Value::Null);
    assert_eq!(e.payload["previous_start"], json(at(10, 0)));
    assert_eq!(e.payload["previous_end"], json(at(11, 0)));
    assert_eq!(e.payload["scope"], SCOPE);
}

#[tokio::test]
async fn a_live_session_may_be_rescheduled() {
    let id = Uuid::new_v4();
    let (h, _writes) = updatable(session(id, SessionStatus::Live));
    let events = h.capture_events();
    let s = h
        .build()
        .update_session(id, None, None, Some(Some(at(12, 0))), None, None)
        .await
        .unwrap();
    assert_eq!(s.scheduled_end, Some(at(12, 0)));
    assert_eq!(names(&events), ["debates.session_rescheduled"]);
}

#[tokio::test]
async fn an_update_changing_nothing_writes_nothing() {
    let id = Uuid::new_v4();
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Scheduled)));
    // No update_session expectation: a write would panic.
    let svc = h.build();
    let same = svc
        .update_session(
            id,
            Some("Round 1"),
            Some(at(10, 0)),
            None,
            Some(Some(2)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(same, session(id, SessionStatus::Scheduled));
    svc.update_session(id, None, None, None, None, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_end_is_checked_against_the_resulting_start() {
    let id = Uuid::new_v4();
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Scheduled)));
    let svc = h.build();
    // The stored end is 11:00; moving the start past it alone is refused.
    let e = svc
        .update_session(id, None, Some(at(12, 0)), None, None, None)
        .await
        .unwrap_err();
    assert!(is_invalid(&e, "scheduled_end"), "{e:?}");
    let e = svc
        .update_session(id, None, None, Some(Some(at(9, 0))), None, None)
        .await
        .unwrap_err();
    assert!(is_invalid(&e, "scheduled_end"), "{e:?}");
}

#[tokio::test]
async fn a_closed_or_missing_session_cannot_be_updated() {
    let (closed, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(closed, Some(session(closed, SessionStatus::Closed)));
    h.session_is(missing, None);
    let svc = h.build();
    let e = svc
        .update_session(closed, Some("Late"), None, None, None, None)
        .await
        .unwrap_err();
    assert_eq!(conflict(&e), "session is closed");
    let e = svc
        .update_session(missing, Some("Late"), None, None, None, None)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "session"), "{e:?}");
}

#[tokio::test]
async fn a_session_deleted_during_an_update_is_not_found() {
    let id = Uuid::new_v4();
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Scheduled)));
    h.repo
        .expect_update_session()
        .returning(|_, _| Err(StoreError::NotFound));
    let e = h
        .build()
        .update_session(id, None, Some(at(9, 0)), None, None, None)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "session"), "{e:?}");
}

// ---------------------------------------------------------------------------------------
// lifecycle
// ---------------------------------------------------------------------------------------

/// `repo.transition` moves the session as asked (setting `started_at` / `closed_at` and
/// the voting deadline), recording the events it is handed.
fn transitions_record(h: &mut Harness) {
    let rec = h.capture_events();
    h.repo
        .expect_transition()
        .times(1)
        .returning(move |i, _, to, at, events| {
            let mut s = session(i, to);
            match to {
                SessionStatus::Live => s.started_at = Some(at),
                SessionStatus::Closed => {
                    s.closed_at = Some(at);
                    s.voting_closes_at =
                        Some(at + Duration::seconds(i64::from(s.voting_window_seconds)));
                }
                SessionStatus::Scheduled => {}
            }
            record(&rec, events);
            Ok(Some(s))
        });
}

#[tokio::test]
async fn start_takes_a_scheduled_session_live_and_records_it() {
    let id = Uuid::new_v4();
    let mut h = Harness::new();
    h.clock.advance(Duration::hours(1));
    let started_at = now() + Duration::hours(1);
    h.session_is(id, Some(session(id, SessionStatus::Scheduled)));
    let events = h.capture_events();
    let rec = events.clone();
    h.repo
        .expect_transition()
        .withf(move |i, from, to, at, _| {
            *i == id
                && *from == SessionStatus::Scheduled
                && *to == SessionStatus::Live
                && *at == started_at
        })
        .times(1)
        .returning(move |i, _, _, at, events| {
            let mut s = session(i, SessionStatus::Live);
            s.started_at = Some(at);
            record(&rec, events);
            Ok(Some(s))
        });
    let published = h.published();
    let s = h.build().start(id).await.unwrap();
    assert_eq!(s.status, SessionStatus::Live);
    assert_eq!(s.started_at, Some(started_at));
    assert_eq!(
        typed(&published),
        [DebateEvent::SessionStarted {
            session_id: id,
            topic_id: Uuid::from_u128(1),
            scope: SCOPE.into(),
            title: "Round 1".into(),
            started_at,
        }]
    );
    assert_eq!(
        *published.lock().unwrap(),
        *events.lock().unwrap(),
        "the rooms hear the very event the outbox recorded"
    );
    let e = only_event(&events);
    assert_eq!(e.name, "debates.session_started");
    assert_eq!(e.aggregate_id, id);
    assert_eq!(e.occurred_at, started_at);
    assert_eq!(e.payload["scope"], SCOPE);
    assert_eq!(e.payload["title"], "Round 1");
    assert_eq!(
        e.payload["started_at"],
        serde_json::to_value(started_at).unwrap()
    );
}

#[tokio::test]
async fn close_ends_a_live_session_and_records_it() {
    let id = Uuid::new_v4();
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    let events = h.capture_events();
    let rec = events.clone();
    h.repo
        .expect_transition()
        .withf(|_, from, to, at, _| {
            *from == SessionStatus::Live && *to == SessionStatus::Closed && *at == now()
        })
        .times(1)
        .returning(move |i, _, _, _, events| {
            record(&rec, events);
            Ok(Some(session(i, SessionStatus::Closed)))
        });
    let published = h.published();
    let s = h.build().close(id).await.unwrap();
    assert_eq!(s.status, SessionStatus::Closed);
    assert_eq!(
        typed(&published),
        [DebateEvent::SessionClosed {
            session_id: id,
            topic_id: Uuid::from_u128(1),
            scope: SCOPE.into(),
            title: "Round 1".into(),
            closed_at: now(),
            voting_closes_at: now() + Duration::seconds(600),
        }]
    );
    assert_eq!(*published.lock().unwrap(), *events.lock().unwrap());
    let e = only_event(&events);
    assert_eq!(e.name, "debates.session_closed");
    assert_eq!(e.aggregate_id, id);
    assert_eq!(e.occurred_at, now());
    assert_eq!(e.payload["scope"], SCOPE);
    assert_eq!(e.payload["title"], "Round 1");
    assert_eq!(e.payload["closed_at"], serde_json::to_value(now()).unwrap());
}

#[tokio::test]
async fn close_records_when_voting_closes() {
    let id = Uuid::new_v4();
    let mut h = Harness::new();
    h.clock.advance(Duration::minutes(95));
    let closed_at = now() + Duration::minutes(95);
    let mut live = session(id, SessionStatus::Live);
    live.voting_window_seconds = 900;
    h.session_is(id, Some(live));
    transitions_record(&mut h);
    let events = h.capture_events();
    h.build().close(id).await.unwrap();
    let e = only_event(&events);
    assert_eq!(e.name, "debates.session_closed");
    assert_eq!(e.occurred_at, closed_at);
    let json = |t: DateTime<Utc>| serde_json::to_value(t).unwrap();
    assert_eq!(e.payload["closed_at"], json(closed_at));
    assert_eq!(
        e.payload["voting_closes_at"],
        json(closed_at + Duration::seconds(900)),
        "the close time plus the session's voting window"
    );
}

/// The session is read in `status`, then `transition` refuses (the session was not in
/// `from`: nothing changed, so the store records nothing) and the session is read again
/// in `status`.
async fn refused_transition(
    status: SessionStatus,
    op: impl AsyncFnOnce(&DebateService, Uuid) -> Result<DebateSession, DebateError>,
) -> DebateError {
    let id = Uuid::new_v4();
    let mut h = Harness::new();
    h.repo
        .expect_transition()
        .times(1)
        .returning(|_, _, _, _, _| Ok(None));
    h.session_is(id, Some(session(id, status)));
    let published = h.published();
    let e = op(&h.build(), id).await.unwrap_err();
    assert!(
        published.lock().unwrap().is_empty(),
        "a refused move publishes nothing"
    );
    e
}

#[tokio::test]
async fn losing_a_start_race_or_starting_twice_is_a_conflict() {
    let e = refused_transition(SessionStatus::Live, async |svc, id| svc.start(id).await).await;
    assert_eq!(conflict(&e), "session is already live");
}

#[tokio::test]
async fn a_closed_session_cannot_start_again() {
    let e = refused_transition(SessionStatus::Closed, async |svc, id| svc.start(id).await).await;
    assert_eq!(conflict(&e), "session is closed");
}

#[tokio::test]
async fn losing_a_close_race_or_closing_twice_is_a_conflict() {
    let e = refused_transition(SessionStatus::Closed, async |svc, id| svc.close(id).await).await;
    assert_eq!(conflict(&e), "session is already closed");
}

#[tokio::test]
async fn a_scheduled_session_cannot_be_closed() {
    let e = refused_transition(SessionStatus::Scheduled, async |svc, id| {
        svc.close(id).await
    })
    .await;
    assert_eq!(conflict(&e), "session has not started");
}

#[tokio::test]
async fn transitions_of_missing_sessions() {
    let (missing, deleted_meanwhile, vanished) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    // Never there: no transition is attempted.
    h.session_is(missing, None);
    // Read, then deleted before the transition.
    h.session_is(
        deleted_meanwhile,
        Some(session(deleted_meanwhile, SessionStatus::Live)),
    );
    h.repo
        .expect_transition()
        .withf(move |i, _, _, _, _| *i == deleted_meanwhile)
        .times(2)
        .returning(|_, _, _, _, _| Err(StoreError::NotFound));
    // Read, refused, and gone by the time the service asks why: every other read finds it.
    let reads = Arc::new(Mutex::new(0_u32));
    h.repo
        .expect_session()
        .withf(move |i| *i == vanished)
        .returning(move |i| {
            let mut n = reads.lock().unwrap();
            *n += 1;
            Ok((*n % 2 == 1).then(|| session(i, SessionStatus::Live)))
        });
    h.repo
        .expect_transition()
        .withf(move |i, _, _, _, _| *i == vanished)
        .times(2)
        .returning(|_, _, _, _, _| Ok(None));
    let svc = h.build();
    for id in [missing, deleted_meanwhile, vanished] {
        assert!(is_not_found(&svc.start(id).await.unwrap_err(), "session"));
        assert!(is_not_found(&svc.close(id).await.unwrap_err(), "session"));
    }
}

// ---------------------------------------------------------------------------------------
// seats
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn join_passes_the_side_limit_and_time_to_the_store() {
    let (user, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Scheduled)));
    h.repo
        .expect_join()
        .withf(move |s, u, side, max, at| {
            *s == id && *u == user && *side == Side::Con && *max == Some(2) && *at == now()
        })
        .times(1)
        .returning(|s, u, side, _, _| Ok(JoinOutcome::Joined(seat(s, u, side))));
    let published = h.published();
    let p = h.build().join(user, id, Side::Con).await.unwrap();
    assert_eq!(p, seat(id, user, Side::Con));
    assert_eq!(
        typed(&published),
        [DebateEvent::SeatTaken {
            participant: seat(id, user, Side::Con)
        }]
    );
}

#[tokio::test]
async fn the_audience_joins_a_live_session() {
    let (user, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.repo
        .expect_join()
        .withf(|_, _, side, _, _| *side == Side::Audience)
        .times(1)
        .returning(|s, u, side, _, _| Ok(JoinOutcome::Joined(seat(s, u, side))));
    let p = h.build().join(user, id, Side::Audience).await.unwrap();
    assert_eq!(p.side, Side::Audience);
}

#[tokio::test]
async fn a_full_side_is_refused_with_the_reason() {
    let mut h = Harness::new();
    let (two, one, unlimited) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    h.session_is(two, Some(session(two, SessionStatus::Live)));
    let mut single = session(one, SessionStatus::Scheduled);
    single.max_per_side = Some(1);
    h.session_is(one, Some(single));
    let mut open = session(unlimited, SessionStatus::Live);
    open.max_per_side = None;
    h.session_is(unlimited, Some(open));
    h.repo
        .expect_join()
        .returning(|_, _, _, _, _| Ok(JoinOutcome::SideFull));
    let published = h.published();
    let svc = h.build();
    let user = Uuid::new_v4();
    let e = svc.join(user, two, Side::Pro).await.unwrap_err();
    assert_eq!(conflict(&e), "the pro side is full (2 debaters)");
    let e = svc.join(user, one, Side::Con).await.unwrap_err();
    assert_eq!(conflict(&e), "the con side is full (1 debater)");
    let e = svc.join(user, unlimited, Side::Pro).await.unwrap_err();
    assert_eq!(conflict(&e), "the pro side is full");
    assert!(typed(&published).is_empty(), "no seat, no event");
}

#[tokio::test]
async fn a_closed_or_missing_session_takes_no_seats() {
    let (closed, missing, deleted_meanwhile) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(closed, Some(session(closed, SessionStatus::Closed)));
    h.session_is(missing, None);
    h.session_is(
        deleted_meanwhile,
        Some(session(deleted_meanwhile, SessionStatus::Live)),
    );
    // Only the session deleted between the read and the join reaches the store.
    h.repo
        .expect_join()
        .times(1)
        .returning(|_, _, _, _, _| Err(StoreError::NotFound));
    let published = h.published();
    let svc = h.build();
    let user = Uuid::new_v4();
    let e = svc.join(user, closed, Side::Audience).await.unwrap_err();
    assert_eq!(conflict(&e), "session is closed");
    assert!(is_not_found(
        &svc.join(user, missing, Side::Pro).await.unwrap_err(),
        "session"
    ));
    assert!(is_not_found(
        &svc.join(user, deleted_meanwhile, Side::Pro)
            .await
            .unwrap_err(),
        "session"
    ));
    assert!(typed(&published).is_empty());
}

#[tokio::test]
async fn leave_closes_the_seat() {
    let (user, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.repo
        .expect_leave()
        .withf(move |s, u, at| *s == id && *u == user && *at == now())
        .times(1)
        .returning(|s, u, at| {
            let mut p = seat(s, u, Side::Pro);
            p.left_at = Some(at);
            Ok(p)
        });
    let published = h.published();
    let p = h.build().leave(user, id).await.unwrap();
    assert_eq!(p.left_at, Some(now()));
    assert_eq!(
        typed(&published),
        [DebateEvent::SeatLeft { participant: p }]
    );
}

#[tokio::test]
async fn leaving_without_a_seat_or_a_session() {
    let (seated_nowhere, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.repo
        .expect_leave()
        .returning(|_, _, _| Err(StoreError::NotFound));
    h.session_is(
        seated_nowhere,
        Some(session(seated_nowhere, SessionStatus::Live)),
    );
    h.session_is(missing, None);
    let published = h.published();
    let svc = h.build();
    let user = Uuid::new_v4();
    assert!(is_not_found(
        &svc.leave(user, seated_nowhere).await.unwrap_err(),
        "seat"
    ));
    assert!(is_not_found(
        &svc.leave(user, missing).await.unwrap_err(),
        "session"
    ));
    assert!(typed(&published).is_empty(), "no seat left, no event");
}

#[tokio::test]
async fn participants_and_seat() {
    let (id, empty, missing, user) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let after = Uuid::new_v4();
    let mut h = Harness::new();
    h.repo
        .expect_participants()
        .withf(move |s, a, limit| *s == id && *a == Some(after) && *limit == 50)
        .times(1)
        .returning(move |s, _, _| Ok(vec![seat(s, user, Side::Pro)]));
    h.repo.expect_participants().returning(|_, _, _| Ok(vec![]));
    h.session_is(empty, Some(session(empty, SessionStatus::Scheduled)));
    h.session_is(missing, None);
    h.repo
        .expect_seat()
        .withf(move |s, u| *s == id && *u == user)
        .returning(move |s, u| Ok(Some(seat(s, u, Side::Con))));
    let svc = h.build();
    assert_eq!(
        svc.participants(id, Some(after), 50).await.unwrap(),
        vec![seat(id, user, Side::Pro)]
    );
    assert!(svc.participants(empty, None, 50).await.unwrap().is_empty());
    assert!(is_not_found(
        &svc.participants(missing, None, 50).await.unwrap_err(),
        "session"
    ));
    assert_eq!(
        svc.seat(id, user).await.unwrap(),
        Some(seat(id, user, Side::Con))
    );
}

// ---------------------------------------------------------------------------------------
// messages
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_debater_posts_on_their_side() {
    let (author, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.seat_is(Some(seat(id, author, Side::Con)));
    h.repo
        .expect_message()
        .withf(move |s, seq| *s == id && *seq == 4)
        .times(1)
        .returning(|s, seq| {
            Ok(Some(Message {
                session_id: s,
                seq,
                author_id: Uuid::new_v4(),
                side: Side::Pro,
                body: "earlier".into(),
                reply_to: None,
                created_at: now(),
                removed: None,
            }))
        });
    let appended: Captured<NewMessage> = Arc::default();
    let seen = appended.clone();
    h.repo
        .expect_append_message()
        .withf(|_, at| *at == now())
        .times(1)
        .returning(move |m, _| {
            seen.lock().unwrap().push(m.clone());
            Ok(AppendOutcome::Appended(stored(m, 5)))
        });
    let published = h.published();
    let m = h
        .build()
        .post_message(author, id, "  No:\r\nhomework crowds out sleep.  ", Some(4))
        .await
        .unwrap();
    assert_eq!(
        typed(&published),
        [DebateEvent::ArgumentPosted { message: m.clone() }],
        "the argument as stored, after the store numbered it"
    );
    assert_eq!(m.seq, 5);
    assert_eq!(m.side, Side::Con, "the author's seat");
    assert_eq!(m.body, "No:\nhomework crowds out sleep.");
    assert_eq!(m.reply_to, Some(4));
    assert_eq!(m.created_at, now());
    assert_eq!(
        appended.lock().unwrap().as_slice(),
        [NewMessage {
            session_id: id,
            author_id: author,
            side: Side::Con,
            body: "No:\nhomework crowds out sleep.".into(),
            reply_to: Some(4),
            created_at: now(),
        }]
    );
}

#[tokio::test]
async fn the_longest_body_is_accepted() {
    let (author, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.seat_is(Some(seat(id, author, Side::Pro)));
    h.repo
        .expect_append_message()
        .times(1)
        .returning(|m, _| Ok(AppendOutcome::Appended(stored(m, 1))));
    let body = "€".repeat(BODY_MAX_CHARS);
    let m = h
        .build()
        .post_message(author, id, &body, None)
        .await
        .unwrap();
    assert_eq!(m.body.chars().count(), BODY_MAX_CHARS);
}

#[tokio::test]
async fn only_live_sessions_take_messages() {
    let (scheduled, closed, missing) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(
        scheduled,
        Some(session(scheduled, SessionStatus::Scheduled)),
    );
    h.session_is(closed, Some(session(closed, SessionStatus::Closed)));
    h.session_is(missing, None);
    let (debater, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    h.repo
        .expect_seat()
        .returning(move |s, u| Ok((u == debater).then(|| seat(s, u, Side::Pro))));
    // The store decides, atomically with the numbering: a debater still seated in a
    // closed session is refused there.
    h.repo
        .expect_append_message()
        .times(2)
        .returning(|_, _| Ok(AppendOutcome::NotLive));
    let published = h.published();
    let svc = h.build();
    for id in [scheduled, closed] {
        for author in [debater, stranger] {
            let e = svc
                .post_message(author, id, "hello", None)
                .await
                .unwrap_err();
            assert_eq!(conflict(&e), "session is not live");
        }
    }
    let e = svc
        .post_message(stranger, missing, "hello", None)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "session"), "{e:?}");
    assert!(
        typed(&published).is_empty(),
        "a refused argument is not announced"
    );
}

#[tokio::test]
async fn muted_authors_are_refused_with_the_end_of_their_mute() {
    let (author, id) = (Uuid::new_v4(), Uuid::new_v4());
    let until = now() + Duration::minutes(5);
    let mut h = Harness::new();
    h.seat_is(Some(seat(id, author, Side::Pro)));
    let answers = Arc::new(Mutex::new(vec![
        AppendOutcome::Muted { until: None },
        AppendOutcome::Muted { until: Some(until) },
    ]));
    h.repo
        .expect_append_message()
        .withf(|_, at| *at == now())
        .times(2)
        .returning(move |_, _| Ok(answers.lock().unwrap().pop().unwrap()));
    let published = h.published();
    let svc = h.build();
    let e = svc
        .post_message(author, id, "hello", None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, DebateError::Muted { until: Some(u) } if u == until),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "muted until 2026-03-01 09:05:00 UTC");
    let e = svc
        .post_message(author, id, "hello", None)
        .await
        .unwrap_err();
    assert!(matches!(e, DebateError::Muted { until: None }), "{e:?}");
    assert_eq!(e.to_string(), "muted until a moderator lifts it");
    assert!(typed(&published).is_empty());
}

#[tokio::test]
async fn removed_users_cannot_join_again() {
    let (user, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.repo
        .expect_join()
        .times(1)
        .returning(|_, _, _, _, _| Ok(JoinOutcome::Removed));
    let e = h.build().join(user, id, Side::Pro).await.unwrap_err();
    assert_eq!(not_allowed(&e), "removed from this session by a moderator");
}

#[tokio::test]
async fn without_a_seat_nothing_is_sent() {
    let id = Uuid::new_v4();
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.seat_is(None);
    let e = h
        .build()
        .post_message(Uuid::new_v4(), id, "hello", None)
        .await
        .unwrap_err();
    assert_eq!(not_allowed(&e), "join the session first");
}

#[tokio::test]
async fn the_audience_reads_but_does_not_argue() {
    let (author, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.seat_is(Some(seat(id, author, Side::Audience)));
    let e = h
        .build()
        .post_message(author, id, "hello", None)
        .await
        .unwrap_err();
    assert_eq!(
        not_allowed(&e),
        "only debaters on the pro or con side may send arguments"
    );
}

#[tokio::test]
async fn replies_must_name_a_message_of_the_session() {
    let (author, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.seat_is(Some(seat(id, author, Side::Pro)));
    h.repo
        .expect_message()
        .withf(move |s, seq| *s == id && *seq == 99)
        .times(1)
        .returning(|_, _| Ok(None));
    let e = h
        .build()
        .post_message(author, id, "as I said", Some(99))
        .await
        .unwrap_err();
    assert!(is_invalid(&e, "reply_to"), "{e:?}");
    assert_eq!(
        e.to_string(),
        "invalid reply_to: no message #99 in this session"
    );
}

#[tokio::test]
async fn a_session_deleted_while_posting_is_not_found() {
    let (author, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(id, Some(session(id, SessionStatus::Live)));
    h.seat_is(Some(seat(id, author, Side::Pro)));
    h.repo
        .expect_append_message()
        .returning(|_, _| Err(StoreError::NotFound));
    let e = h
        .build()
        .post_message(author, id, "hello", None)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "session"), "{e:?}");
}

#[tokio::test]
async fn messages_pass_the_range_and_check_the_session_of_an_empty_page() {
    let (id, quiet, missing) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let range = MessageRange {
        after: Some(10),
        before: Some(20),
    };
    let mut h = Harness::new();
    h.repo
        .expect_messages()
        .withf(move |s, r, limit| *s == id && *r == range && *limit == 5)
        .times(1)
        .returning(|s, _, _| {
            Ok((15..20)
                .map(|seq| Message {
                    session_id: s,
                    seq,
                    author_id: Uuid::from_u128(9),
                    side: Side::Pro,
                    body: format!("m{seq}"),
                    reply_to: None,
                    created_at: now(),
                    removed: None,
                })
                .collect())
        });
    h.repo.expect_messages().returning(|_, _, _| Ok(vec![]));
    h.session_is(quiet, Some(session(quiet, SessionStatus::Live)));
    h.session_is(missing, None);
    let svc = h.build();
    let seqs: Vec<i64> = svc
        .messages(id, range, 5)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, [15, 16, 17, 18, 19]);
    assert!(
        svc.messages(quiet, MessageRange::default(), 5)
            .await
            .unwrap()
            .is_empty()
    );
    let e = svc
        .messages(missing, MessageRange::default(), 5)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "session"), "{e:?}");
}
