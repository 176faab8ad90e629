//! Unit tests of [`NotificationService`] against mockall mocks of its ports (strict: an
//! unexpected port call panics, so "nothing was stored" or "the counter was not touched"
//! is asserted by not expecting the call).

use std::sync::Mutex;

use chrono::{Duration, TimeZone};
use domain_core::ManualClock;
use domain_core::events::MockEventPublisher;

use super::*;
use crate::ports::{MockNotificationStore, MockPreferenceStore, MockUnreadCounter};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap() + Duration::nanoseconds(123_456_789)
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("redis: connection refused".into())
}

struct Harness {
    store: MockNotificationStore,
    prefs: MockPreferenceStore,
    counter: MockUnreadCounter,
    events: MockEventPublisher,
    clock: Arc<ManualClock>,
}

impl Harness {
    fn new() -> Self {
        Self {
            store: MockNotificationStore::new(),
            prefs: MockPreferenceStore::new(),
            counter: MockUnreadCounter::new(),
            events: MockEventPublisher::new(),
            clock: Arc::new(ManualClock::new(start())),
        }
    }

    /// The user's stored choices.
    fn chosen(&mut self, chosen: Vec<(NotificationKind, Channel)>) {
        self.prefs
            .expect_preferences()
            .returning(move |_| Ok(chosen.clone()));
    }

    /// Inserts succeed (`fresh`) or find a duplicate, recording what was inserted.
    fn inserts(&mut self, fresh: bool) -> Arc<Mutex<Vec<(Notification, String)>>> {
        let seen: Arc<Mutex<Vec<(Notification, String)>>> = Arc::default();
        let s = seen.clone();
        self.store
            .expect_insert()
            .times(1)
            .returning(move |n, key| {
                s.lock().unwrap().push((n.clone(), key.to_owned()));
                Ok(fresh)
            });
        seen
    }

    /// Published events are recorded.
    fn publishes(&mut self) -> Arc<Mutex<Vec<DomainEvent>>> {
        let seen: Arc<Mutex<Vec<DomainEvent>>> = Arc::default();
        let s = seen.clone();
        self.events.expect_publish().returning(move |e| {
            s.lock().unwrap().push(e);
            Ok(())
        });
        seen
    }

    fn build(self) -> NotificationService {
        NotificationService::new(
            Arc::new(self.store),
            Arc::new(self.prefs),
            Arc::new(self.counter),
            self.clock,
            Arc::new(self.events),
        )
    }
}

fn invalid_field(e: NotificationError) -> String {
    match e {
        NotificationError::Invalid { field, .. } => field,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

async fn notify(
    service: &NotificationService,
    user: Uuid,
    kind: NotificationKind,
) -> Result<Delivery, NotificationError> {
    service
        .notify(
            user,
            kind,
            "  Debate scheduled  ",
            "Motion: this house\r\nwould",
            Some("/api/debates/sessions/1/"),
            "debate:1",
        )
        .await
}

#[tokio::test]
async fn defaults_store_in_app_and_email_what_is_done_to_the_user() {
    use NotificationKind::*;
    for (kind, email) in [
        (DebateScheduled, false),
        (ResultsPublished, false),
        (SessionRescheduled, true),
        (ModerationAction, true),
        (RoleGranted, true),
    ] {
        let user = Uuid::new_v4();
        let mut h = Harness::new();
        h.chosen(vec![]);
        let inserted = h.inserts(true);
        h.counter.expect_incr().times(1).returning(|_| Ok(Some(3)));
        let events = h.publishes();
        let delivery = notify(&h.build(), user, kind).await.unwrap();

        assert_eq!(delivery.email, email, "{kind}");
        assert!(!delivery.duplicate);
        assert_eq!(delivery.unread, Some(3));
        let stored = delivery.stored.unwrap();
        assert_eq!(stored.user_id, user);
        assert_eq!(stored.kind, kind);
        assert_eq!(stored.title, "Debate scheduled");
        assert_eq!(stored.body, "Motion: this house\nwould");
        assert_eq!(stored.link.as_deref(), Some("/api/debates/sessions/1/"));
        // Microseconds, as PostgreSQL keeps them.
        assert_eq!(stored.created_at, start().trunc_subsecs(6));
        assert_eq!(stored.read_at, None);
        let inserted = inserted.lock().unwrap();
        assert_eq!(inserted[0], (stored.clone(), "debate:1".to_owned()));
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "notifications.created");
        assert_eq!(events[0].aggregate_id, stored.id);
        assert_eq!(
            events[0].decode::<crate::NotificationEvent>(),
            Ok(crate::NotificationEvent::Created {
                notification: stored.clone(),
                unread: Some(3),
            })
        );
        assert_eq!(events[0].payload["user_id"], serde_json::json!(user));
        assert_eq!(events[0].payload["kind"], serde_json::json!(kind.as_str()));
        assert_eq!(events[0].payload["unread"], serde_json::json!(3));
    }
}

#[tokio::test]
async fn a_chosen_channel_overrides_the_default() {
    let kind = NotificationKind::ModerationAction;
    // In the app only: stored, no e-mail.
    let mut h = Harness::new();
    h.chosen(vec![
        (NotificationKind::DebateScheduled, Channel::None),
        (kind, Channel::InApp),
    ]);
    h.inserts(true);
    h.counter.expect_incr().returning(|_| Ok(None));
    h.publishes();
    let d = notify(&h.build(), Uuid::new_v4(), kind).await.unwrap();
    assert!(d.stored.is_some() && !d.email && d.unread.is_none());

    // Both.
    let mut h = Harness::new();
    h.chosen(vec![(NotificationKind::DebateScheduled, Channel::Both)]);
    h.inserts(true);
    h.counter.expect_incr().returning(|_| Ok(Some(1)));
    h.publishes();
    let d = notify(
        &h.build(),
        Uuid::new_v4(),
        NotificationKind::DebateScheduled,
    )
    .await
    .unwrap();
    assert!(d.stored.is_some() && d.email);
}

#[tokio::test]
async fn email_only_and_none_store_nothing() {
    // E-mail only: no insert, no counter, no event (strict mocks), e-mail due.
    let mut h = Harness::new();
    h.chosen(vec![(NotificationKind::ResultsPublished, Channel::Email)]);
    let d = notify(
        &h.build(),
        Uuid::new_v4(),
        NotificationKind::ResultsPublished,
    )
    .await
    .unwrap();
    assert_eq!(
        d,
        Delivery {
            stored: None,
            duplicate: false,
            email: true,
            unread: None
        }
    );

    // None: nothing at all.
    let mut h = Harness::new();
    h.chosen(vec![(NotificationKind::RoleGranted, Channel::None)]);
    let d = notify(&h.build(), Uuid::new_v4(), NotificationKind::RoleGranted)
        .await
        .unwrap();
    assert!(d.stored.is_none() && !d.email && !d.duplicate);
}

#[tokio::test]
async fn a_retried_notify_stores_and_counts_nothing_new() {
    let mut h = Harness::new();
    h.chosen(vec![]);
    h.inserts(false);
    // No incr, no event expected.
    let d = notify(&h.build(), Uuid::new_v4(), NotificationKind::RoleGranted)
        .await
        .unwrap();
    assert!(d.duplicate);
    assert!(d.stored.is_none());
    // The first attempt may have died before enqueueing the e-mail.
    assert!(d.email);
}

#[tokio::test]
async fn an_unknown_user_is_not_found() {
    let mut h = Harness::new();
    h.chosen(vec![]);
    h.store
        .expect_insert()
        .returning(|_, _| Err(StoreError::NotFound));
    let e = notify(
        &h.build(),
        Uuid::new_v4(),
        NotificationKind::DebateScheduled,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, NotificationError::NotFound), "{e:?}");
}

#[tokio::test]
async fn a_counter_failure_after_the_insert_forgets_the_count() {
    let user = Uuid::new_v4();
    let mut h = Harness::new();
    h.chosen(vec![]);
    h.inserts(true);
    h.counter
        .expect_incr()
        .times(1)
        .returning(|_| Err(unavailable()));
    h.counter
        .expect_forget()
        .withf(move |u| *u == user)
        .times(1)
        .returning(|_| Err(unavailable()));
    // Nor does a failing publish fail the notify: the notification is stored.
    h.events
        .expect_publish()
        .times(1)
        .returning(|_| Err(unavailable()));
    let d = notify(&h.build(), user, NotificationKind::DebateScheduled)
        .await
        .unwrap();
    assert!(d.stored.is_some());
    assert_eq!(d.unread, None);
}

#[tokio::test]
async fn reading_and_deleting_keep_the_counter_in_step() {
    let (user, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    let now = start().trunc_subsecs(6);
    let mut outcomes = vec![
        ReadOutcome::NotFound,
        ReadOutcome::AlreadyRead,
        ReadOutcome::Marked,
    ];
    h.store
        .expect_mark_read()
        .withf(move |u, i, at| (*u, *i, *at) == (user, id, now))
        .times(3)
        .returning(move |_, _, _| Ok(outcomes.pop().unwrap()));
    let mut deletes = vec![
        DeleteOutcome::NotFound,
        DeleteOutcome::Deleted { was_unread: false },
        DeleteOutcome::Deleted { was_unread: true },
    ];
    h.store
        .expect_delete()
        .times(3)
        .returning(move |_, _| Ok(deletes.pop().unwrap()));
    h.store
        .expect_mark_all_read()
        .withf(move |u, at| (*u, *at) == (user, now))
        .times(1)
        .returning(|_, _| Ok(4));
    // One decr for the read that marked, one for the unread deletion.
    h.counter
        .expect_decr()
        .withf(move |u| *u == user)
        .times(2)
        .returning(|_| Ok(Some(0)));
    h.counter
        .expect_set()
        .withf(move |u, n| (*u, *n) == (user, 0))
        .times(1)
        .returning(|_, _| Ok(()));
    let s = h.build();

    assert!(s.mark_read(user, id).await.unwrap());
    assert!(!s.mark_read(user, id).await.unwrap());
    assert!(matches!(
        s.mark_read(user, id).await,
        Err(NotificationError::NotFound)
    ));
    assert!(s.delete(user, id).await.unwrap());
    assert!(!s.delete(user, id).await.unwrap());
    assert!(matches!(
        s.delete(user, id).await,
        Err(NotificationError::NotFound)
    ));
    assert_eq!(s.mark_all_read(user).await.unwrap(), 4);
}

#[tokio::test]
async fn counter_failures_after_writes_do_not_fail_them() {
    let user = Uuid::new_v4();
    let mut h = Harness::new();
    h.store
        .expect_mark_read()
        .returning(|_, _, _| Ok(ReadOutcome::Marked));
    h.store.expect_mark_all_read().returning(|_, _| Ok(2));
    h.counter.expect_decr().returning(|_| Err(unavailable()));
    h.counter.expect_set().returning(|_, _| Err(unavailable()));
    h.counter.expect_forget().times(2).returning(|_| Ok(()));
    let s = h.build();
    assert!(s.mark_read(user, Uuid::new_v4()).await.unwrap());
    assert_eq!(s.mark_all_read(user).await.unwrap(), 2);
}

#[tokio::test]
async fn the_unread_count_comes_from_the_counter_when_it_knows() {
    let user = Uuid::new_v4();
    let mut h = Harness::new();
    h.counter
        .expect_get()
        .withf(move |u| *u == user)
        .returning(|_| Ok(Some(7)));
    // No store call expected.
    assert_eq!(h.build().unread_count(user).await.unwrap(), 7);
}

#[tokio::test]
async fn an_unknown_count_is_counted_and_cached() {
    let user = Uuid::new_v4();
    let mut h = Harness::new();
    h.counter.expect_get().times(1).returning(|_| Ok(None));
    h.store
        .expect_unread_count()
        .withf(move |u| *u == user)
        .times(1)
        .returning(|_| Ok(5));
    h.counter
        .expect_set()
        .withf(move |u, n| (*u, *n) == (user, 5))
        .times(1)
        .returning(|_, _| Ok(()));
    assert_eq!(h.build().unread_count(user).await.unwrap(), 5);

    // A failure to cache it still answers.
    let mut h = Harness::new();
    h.counter.expect_get().returning(|_| Ok(None));
    h.store.expect_unread_count().returning(|_| Ok(5));
    h.counter.expect_set().returning(|_, _| Err(unavailable()));
    assert_eq!(h.build().unread_count(user).await.unwrap(), 5);
}

#[tokio::test]
async fn an_unreachable_counter_falls_back_to_the_store() {
    let user = Uuid::new_v4();
    let mut h = Harness::new();
    h.counter.expect_get().returning(|_| Err(unavailable()));
    h.store.expect_unread_count().times(1).returning(|_| Ok(2));
    // No set expected: the cache just failed.
    assert_eq!(h.build().unread_count(user).await.unwrap(), 2);

    // Only the store failing is an error.
    let mut h = Harness::new();
    h.counter.expect_get().returning(|_| Err(unavailable()));
    h.store
        .expect_unread_count()
        .returning(|_| Err(unavailable()));
    assert!(matches!(
        h.build().unread_count(user).await,
        Err(NotificationError::Store(StoreError::Unavailable(_)))
    ));
}

#[tokio::test]
async fn preferences_apply_defaults_to_every_kind_not_chosen() {
    let user = Uuid::new_v4();
    let mut h = Harness::new();
    h.chosen(vec![(NotificationKind::RoleGranted, Channel::None)]);
    h.prefs
        .expect_set_preference()
        .withf(move |u, k, c| {
            (*u, *k, *c) == (user, NotificationKind::DebateScheduled, Channel::Email)
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let s = h.build();
    let all = s.preferences(user).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.kind).collect::<Vec<_>>(),
        NotificationKind::ALL
    );
    for p in &all {
        if p.kind == NotificationKind::RoleGranted {
            assert_eq!((p.channel, p.chosen), (Channel::None, true));
        } else {
            assert_eq!((p.channel, p.chosen), (p.kind.default_channel(), false));
        }
    }
    s.set_preference(user, NotificationKind::DebateScheduled, Channel::Email)
        .await
        .unwrap();
}

#[tokio::test]
async fn lists_are_capped_at_the_page_maximum() {
    let user = Uuid::new_v4();
    let after = Some(Uuid::new_v4());
    let mut h = Harness::new();
    h.store
        .expect_list()
        .withf(move |u, unread, a, limit| {
            (*u, *unread, *a, *limit) == (user, true, after, PageLimit::MAX)
        })
        .times(1)
        .returning(|_, _, _, _| Ok(vec![]));
    assert!(
        h.build()
            .list(user, true, after, 10_000)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_input_touches_no_port() {
    // Strict mocks with no expectations: any port call panics.
    let s = Harness::new().build();
    let user = Uuid::new_v4();
    let kind = NotificationKind::DebateScheduled;
    let long_title = "t".repeat(TITLE_MAX_CHARS + 1);
    let long_body = "b".repeat(BODY_MAX_CHARS + 1);
    let long_link = format!("/{}", "l".repeat(LINK_MAX_CHARS));
    let long_key = "k".repeat(DEDUPE_KEY_MAX_CHARS + 1);
    let cases: [(&str, &str, Option<&str>, &str, &str); 12] = [
        ("   ", "", None, "k", "title"),
        (&long_title, "", None, "k", "title"),
        ("a\nb", "", None, "k", "title"),
        ("ok", &long_body, None, "k", "body"),
        ("ok", "bell\u{7}", None, "k", "body"),
        ("ok", "", Some("api/x/"), "k", "link"),
        ("ok", "", Some("https://evil.example/"), "k", "link"),
        ("ok", "", Some("//evil.example/"), "k", "link"),
        ("ok", "", Some("/\\evil.example/"), "k", "link"),
        ("ok", "", Some(&long_link), "k", "link"),
        ("ok", "", Some("/a b"), "k", "link"),
        ("ok", "", None, "", "dedupe_key"),
    ];
    for (title, body, link, key, field) in cases {
        let e = s
            .notify(user, kind, title, body, link, key)
            .await
            .unwrap_err();
        assert_eq!(
            invalid_field(e),
            field,
            "{title:?} {body:?} {link:?} {key:?}"
        );
    }
    let e = s
        .notify(user, kind, "ok", "", None, &long_key)
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "dedupe_key");
}

#[test]
fn limits_are_inclusive() {
    assert!(valid_title(&"t".repeat(TITLE_MAX_CHARS)).is_ok());
    assert!(valid_body(&"b".repeat(BODY_MAX_CHARS)).is_ok());
    assert_eq!(valid_body("").unwrap(), "");
    let link = format!("/{}", "l".repeat(LINK_MAX_CHARS - 1));
    assert_eq!(valid_link(Some(&link)).unwrap(), Some(link));
    assert_eq!(valid_link(None).unwrap(), None);
    assert!(valid_dedupe_key(&"k".repeat(DEDUPE_KEY_MAX_CHARS)).is_ok());
}

#[tokio::test]
async fn a_notification_is_dated_when_its_cause_happened_never_later_than_now() {
    let earlier = start() - chrono::Duration::minutes(3);
    for (at, dated) in [
        (earlier, earlier),
        // a caller's clock ahead of ours: dated now, not in the future
        (start() + chrono::Duration::hours(1), start()),
    ] {
        let mut h = Harness::new();
        h.chosen(vec![]);
        let inserted = h.inserts(true);
        h.counter.expect_incr().returning(|_| Ok(Some(1)));
        let _events = h.publishes();
        let delivery = h
            .build()
            .notify_at(
                Uuid::new_v4(),
                NotificationKind::DebateScheduled,
                "New debate",
                "",
                None,
                "event:1",
                at,
            )
            .await
            .unwrap();
        let stored = delivery.stored.unwrap();
        assert_eq!(stored.created_at, dated.trunc_subsecs(6));
        assert_eq!(inserted.lock().unwrap()[0].0.created_at, stored.created_at);
    }
}
