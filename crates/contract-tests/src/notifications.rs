//! Contract of [`NotificationStore`] and [`PreferenceStore`] (one adapter serves both),
//! with the [`UserRepository`] whose accounts they belong to.

use chrono::{DateTime, TimeDelta, Utc};
use domain_core::{Clock, StoreError};
use domain_identity::UserRepository;
use domain_notifications::{
    Channel, DeleteOutcome, Notification, NotificationKind, NotificationStore, PreferenceStore,
    ReadOutcome,
};
use uuid::Uuid;

use crate::{clock, existing_user, tag};

/// An unread notification of `user` created at `at`.
fn note(user: Uuid, at: DateTime<Utc>) -> Notification {
    Notification {
        id: Uuid::new_v4(),
        user_id: user,
        kind: NotificationKind::DebateScheduled,
        title: format!("Debate {}", tag()),
        body: "Motion: this house would\nsecond line".into(),
        link: Some(format!("/api/debates/sessions/{}/", Uuid::new_v4())),
        created_at: at,
        read_at: None,
    }
}

/// Stores `n` under a key of its own.
async fn insert(store: &dyn NotificationStore, n: &Notification) {
    assert!(store.insert(n, &format!("key:{}", n.id)).await.unwrap());
}

/// Every page of the user's list, `limit` at a time, joined.
async fn all_pages(
    store: &dyn NotificationStore,
    user: Uuid,
    unread_only: bool,
    limit: u32,
) -> Vec<Notification> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store.list(user, unread_only, after, limit).await.unwrap();
        assert!(page.len() <= limit as usize);
        let Some(last) = page.last() else {
            return all;
        };
        after = Some(last.id);
        all.extend(page);
    }
}

/// Newest first: `created_at` descending, then `id` descending.
fn newest_first(mut notes: Vec<Notification>) -> Vec<Notification> {
    notes.sort_by_key(|n| std::cmp::Reverse((n.created_at, n.id)));
    notes
}

/// A notification reads back as stored; a second insert under the same user and key
/// stores nothing, also when several race; keys are per user; an unknown user is not
/// found.
pub async fn insert_is_idempotent_per_user_and_key(
    store: &dyn NotificationStore,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let alice = existing_user(users, now).await.0;
    let bob = existing_user(users, now).await.0;
    let first = note(alice, now);
    assert!(store.insert(&first, "debate:1").await.unwrap());
    assert_eq!(
        store.list(alice, false, None, 10).await.unwrap(),
        vec![first.clone()]
    );

    // A retried job: a new id and time, the same key.
    let retry = Notification {
        title: "Retry".into(),
        ..note(alice, now + TimeDelta::seconds(5))
    };
    assert!(!store.insert(&retry, "debate:1").await.unwrap());
    assert_eq!(
        store.list(alice, false, None, 10).await.unwrap(),
        vec![first]
    );
    assert_eq!(store.unread_count(alice).await.unwrap(), 1);

    // Keys are per user.
    assert!(store.insert(&note(bob, now), "debate:1").await.unwrap());

    // No link, another kind, stored as given.
    let plain = Notification {
        kind: NotificationKind::RoleGranted,
        link: None,
        body: String::new(),
        ..note(bob, now + TimeDelta::seconds(1))
    };
    insert(store, &plain).await;
    assert_eq!(
        store.list(bob, false, None, 1).await.unwrap(),
        vec![plain.clone()]
    );

    // Concurrent retries: exactly one stores.
    let racing: Vec<Notification> = (0..8)
        .map(|_| note(alice, now + TimeDelta::seconds(2)))
        .collect();
    let stored = futures_util::future::join_all(racing.iter().map(|n| store.insert(n, "race")))
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(stored, 1);
    assert_eq!(store.unread_count(alice).await.unwrap(), 2);

    let nobody = note(Uuid::new_v4(), now);
    assert!(matches!(
        store.insert(&nobody, "k").await,
        Err(StoreError::NotFound)
    ));

    // An id stored before, under a new key: refused. Under its own key it is a retry.
    let again = Notification {
        created_at: now + TimeDelta::seconds(9),
        ..plain.clone()
    };
    assert!(matches!(
        store.insert(&again, "another key").await,
        Err(StoreError::Duplicate(field)) if field == "id"
    ));
    assert!(
        !store
            .insert(&again, &format!("key:{}", plain.id))
            .await
            .unwrap()
    );
}

/// Lists are newest first and page without gaps or repeats, also across notifications
/// created in the same instant; the unread filter; one user never sees another's, not
/// even through a cursor.
pub async fn lists_newest_first_and_page(
    store: &dyn NotificationStore,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let alice = existing_user(users, now).await.0;
    let bob = existing_user(users, now).await.0;
    // Two instants with four notifications each, two more at their own: ties on
    // created_at are ordered by id.
    let mut notes = Vec::new();
    for (i, offset) in [0, 0, 0, 0, 1, 2, 2, 2, 2, 3].into_iter().enumerate() {
        let mut n = note(alice, now + TimeDelta::seconds(offset));
        n.title = format!("note {i}");
        insert(store, &n).await;
        notes.push(n);
    }
    let bobs = note(bob, now + TimeDelta::seconds(1));
    insert(store, &bobs).await;

    let expected = newest_first(notes.clone());
    assert_eq!(store.list(alice, false, None, 100).await.unwrap(), expected);
    for limit in [1, 3, 4, 10] {
        assert_eq!(
            all_pages(store, alice, false, limit).await,
            expected,
            "pages of {limit}"
        );
    }
    // A page after the fourth.
    assert_eq!(
        store
            .list(alice, false, Some(expected[3].id), 2)
            .await
            .unwrap(),
        expected[4..6].to_vec()
    );

    // Read some: every third in list order.
    let later = now + TimeDelta::seconds(10);
    let mut expected_all = expected.clone();
    for n in expected_all.iter_mut().step_by(3) {
        assert_eq!(
            store.mark_read(alice, n.id, later).await.unwrap(),
            ReadOutcome::Marked
        );
        n.read_at = Some(later);
    }
    let unread: Vec<Notification> = expected_all
        .iter()
        .filter(|n| n.read_at.is_none())
        .cloned()
        .collect();
    assert_eq!(
        store.list(alice, false, None, 100).await.unwrap(),
        expected_all
    );
    assert_eq!(store.list(alice, true, None, 100).await.unwrap(), unread);
    for limit in [1, 2, 5] {
        assert_eq!(all_pages(store, alice, true, limit).await, unread);
    }
    // A cursor that is read itself still pages the unread list.
    assert_eq!(
        store
            .list(alice, true, Some(expected_all[0].id), 100)
            .await
            .unwrap(),
        unread
    );

    // Another user's notification is no cursor; an unknown one neither.
    assert!(
        store
            .list(alice, false, Some(bobs.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list(alice, false, Some(Uuid::new_v4()), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list(bob, false, None, 10).await.unwrap(), vec![bobs]);
    assert!(
        store
            .list(Uuid::new_v4(), false, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Marking read: once (the first reading's time stays), never another user's.
pub async fn mark_read_is_per_user(store: &dyn NotificationStore, users: &dyn UserRepository) {
    let now = clock().now();
    let alice = existing_user(users, now).await.0;
    let bob = existing_user(users, now).await.0;
    let n = note(alice, now);
    insert(store, &n).await;

    assert_eq!(
        store.mark_read(bob, n.id, now).await.unwrap(),
        ReadOutcome::NotFound,
        "another user's"
    );
    assert_eq!(store.unread_count(alice).await.unwrap(), 1);
    assert_eq!(
        store.mark_read(alice, Uuid::new_v4(), now).await.unwrap(),
        ReadOutcome::NotFound
    );

    let first = now + TimeDelta::seconds(1);
    assert_eq!(
        store.mark_read(alice, n.id, first).await.unwrap(),
        ReadOutcome::Marked
    );
    assert_eq!(
        store
            .mark_read(alice, n.id, first + TimeDelta::seconds(1))
            .await
            .unwrap(),
        ReadOutcome::AlreadyRead
    );
    let listed = store.list(alice, false, None, 10).await.unwrap();
    assert_eq!(listed[0].read_at, Some(first));
    assert_eq!(store.unread_count(alice).await.unwrap(), 0);

    // Concurrent reads of one notification: one marks it.
    let m = note(alice, now);
    insert(store, &m).await;
    let outcomes =
        futures_util::future::join_all((0..6).map(|_| store.mark_read(alice, m.id, first))).await;
    let marked = outcomes
        .into_iter()
        .filter(|o| *o.as_ref().unwrap() == ReadOutcome::Marked)
        .count();
    assert_eq!(marked, 1);
}

/// Marking all read marks the user's unread ones and says how many; nobody else's.
pub async fn read_all_counts(store: &dyn NotificationStore, users: &dyn UserRepository) {
    let now = clock().now();
    let alice = existing_user(users, now).await.0;
    let bob = existing_user(users, now).await.0;
    let mut notes = Vec::new();
    for i in 0..4 {
        let n = note(alice, now + TimeDelta::seconds(i));
        insert(store, &n).await;
        notes.push(n);
    }
    insert(store, &note(bob, now)).await;
    let early = now + TimeDelta::seconds(5);
    store.mark_read(alice, notes[0].id, early).await.unwrap();
    assert_eq!(store.unread_count(alice).await.unwrap(), 3);

    let later = now + TimeDelta::seconds(10);
    assert_eq!(store.mark_all_read(alice, later).await.unwrap(), 3);
    assert_eq!(store.unread_count(alice).await.unwrap(), 0);
    assert_eq!(store.mark_all_read(alice, later).await.unwrap(), 0);
    assert!(store.list(alice, true, None, 10).await.unwrap().is_empty());
    let listed = store.list(alice, false, None, 10).await.unwrap();
    // Newest first: the one read early is last and keeps its time.
    assert_eq!(
        listed.iter().map(|n| n.read_at).collect::<Vec<_>>(),
        vec![Some(later), Some(later), Some(later), Some(early)]
    );
    assert_eq!(store.unread_count(bob).await.unwrap(), 1);
    assert_eq!(store.mark_all_read(Uuid::new_v4(), later).await.unwrap(), 0);
}

/// Deleting says whether the notification was unread; another user's is not found and
/// stays; the key of a deleted notification may be used again.
pub async fn delete_reports_unread(store: &dyn NotificationStore, users: &dyn UserRepository) {
    let now = clock().now();
    let alice = existing_user(users, now).await.0;
    let bob = existing_user(users, now).await.0;
    let unread = note(alice, now);
    let read = note(alice, now + TimeDelta::seconds(1));
    assert!(store.insert(&unread, "k1").await.unwrap());
    insert(store, &read).await;
    store.mark_read(alice, read.id, now).await.unwrap();
    assert_eq!(store.unread_count(alice).await.unwrap(), 1);

    assert_eq!(
        store.delete(bob, unread.id).await.unwrap(),
        DeleteOutcome::NotFound,
        "another user's"
    );
    assert_eq!(
        store.delete(alice, unread.id).await.unwrap(),
        DeleteOutcome::Deleted { was_unread: true }
    );
    assert_eq!(store.unread_count(alice).await.unwrap(), 0);
    assert_eq!(
        store.delete(alice, read.id).await.unwrap(),
        DeleteOutcome::Deleted { was_unread: false }
    );
    assert_eq!(
        store.delete(alice, read.id).await.unwrap(),
        DeleteOutcome::NotFound
    );
    assert!(store.list(alice, false, None, 10).await.unwrap().is_empty());
    assert_eq!(
        store.mark_read(alice, unread.id, now).await.unwrap(),
        ReadOutcome::NotFound
    );

    let again = note(alice, now + TimeDelta::seconds(2));
    assert!(store.insert(&again, "k1").await.unwrap());
    assert_eq!(store.unread_count(alice).await.unwrap(), 1);
}

/// The unread count counts the user's unread notifications only.
pub async fn unread_count_counts_unread(store: &dyn NotificationStore, users: &dyn UserRepository) {
    let now = clock().now();
    let alice = existing_user(users, now).await.0;
    let bob = existing_user(users, now).await.0;
    assert_eq!(store.unread_count(alice).await.unwrap(), 0);
    assert_eq!(store.unread_count(Uuid::new_v4()).await.unwrap(), 0);
    let mut ids = Vec::new();
    for i in 0..5 {
        let n = note(alice, now + TimeDelta::seconds(i));
        insert(store, &n).await;
        ids.push(n.id);
    }
    insert(store, &note(bob, now)).await;
    assert_eq!(store.unread_count(alice).await.unwrap(), 5);
    store.mark_read(alice, ids[1], now).await.unwrap();
    store.mark_read(alice, ids[3], now).await.unwrap();
    assert_eq!(store.unread_count(alice).await.unwrap(), 3);
    assert_eq!(store.unread_count(bob).await.unwrap(), 1);
}

/// Preferences: none until chosen, one per kind (a second choice replaces the first),
/// listed in kind order, per user; an unknown user's choice is refused.
pub async fn preferences_round_trip(prefs: &dyn PreferenceStore, users: &dyn UserRepository) {
    let now = clock().now();
    let alice = existing_user(users, now).await.0;
    let bob = existing_user(users, now).await.0;
    assert!(prefs.preferences(alice).await.unwrap().is_empty());

    prefs
        .set_preference(alice, NotificationKind::RoleGranted, Channel::None)
        .await
        .unwrap();
    prefs
        .set_preference(alice, NotificationKind::DebateScheduled, Channel::Email)
        .await
        .unwrap();
    prefs
        .set_preference(alice, NotificationKind::RoleGranted, Channel::Both)
        .await
        .unwrap();
    prefs
        .set_preference(bob, NotificationKind::ModerationAction, Channel::InApp)
        .await
        .unwrap();
    assert_eq!(
        prefs.preferences(alice).await.unwrap(),
        vec![
            (NotificationKind::DebateScheduled, Channel::Email),
            (NotificationKind::RoleGranted, Channel::Both),
        ]
    );
    assert_eq!(
        prefs.preferences(bob).await.unwrap(),
        vec![(NotificationKind::ModerationAction, Channel::InApp)]
    );

    // Every kind and channel is storable.
    for (kind, channel) in NotificationKind::ALL
        .into_iter()
        .zip(Channel::ALL.into_iter().cycle())
    {
        prefs.set_preference(bob, kind, channel).await.unwrap();
    }
    assert_eq!(
        prefs.preferences(bob).await.unwrap(),
        NotificationKind::ALL
            .into_iter()
            .zip(Channel::ALL.into_iter().cycle())
            .collect::<Vec<_>>()
    );

    assert!(matches!(
        prefs
            .set_preference(Uuid::new_v4(), NotificationKind::RoleGranted, Channel::None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(prefs.preferences(Uuid::new_v4()).await.unwrap().is_empty());
}
