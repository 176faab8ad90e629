//! Contract of [`PresenceStore`].

use chrono::{DateTime, Duration, Utc};
use domain_core::Clock;
use domain_debates::{PresenceEntry, PresenceStore, PresentUser};
use uuid::Uuid;

use crate::{clock, tag};

/// What the server uses: an expiry 30 s ahead, pushed forward every 10 s.
const TTL: Duration = Duration::seconds(30);

/// Someone who connects: a fresh id and the given username.
#[derive(Clone)]
struct User {
    id: Uuid,
    name: String,
}

fn user(name: &str) -> User {
    User {
        id: Uuid::new_v4(),
        name: name.to_owned(),
    }
}

/// A new connection of `user` to `room`.
fn connection(room: Uuid, user: &User) -> PresenceEntry {
    PresenceEntry {
        session_id: room,
        connection_id: Uuid::new_v4(),
        user_id: user.id,
        username: user.name.clone(),
    }
}

fn present_user(user: &User, connections: u32) -> PresentUser {
    PresentUser {
        user_id: user.id,
        username: user.name.clone(),
        connections,
    }
}

/// Enters `entry` at `now` for the server's usual TTL.
async fn enter(store: &dyn PresenceStore, entry: &PresenceEntry, now: DateTime<Utc>) -> bool {
    store.enter(entry, now + TTL, now).await.unwrap()
}

/// A user arrives with their first connection and leaves with their last; the ones in
/// between change nothing. Both answers depend only on the user's other connections, so
/// repeating a call (a retry) answers the same.
pub async fn arrivals_and_departures(store: &dyn PresenceStore) {
    let now = clock().now();
    let room = Uuid::new_v4();
    let alice = user("alice");
    let (tab, phone) = (connection(room, &alice), connection(room, &alice));

    assert!(enter(store, &tab, now).await, "first connection: arrived");
    assert!(
        enter(store, &tab, now).await,
        "the same connection again: no other, so the same answer"
    );
    assert!(
        !enter(store, &phone, now).await,
        "second connection: already here"
    );
    assert!(
        !enter(store, &tab, now).await,
        "again, now that there is another"
    );
    assert_eq!(store.count(room, now).await.unwrap(), 1);
    assert_eq!(
        store.present(room, now, 10).await.unwrap(),
        vec![present_user(&alice, 2)],
        "entering twice counts the connection once"
    );

    assert!(
        !store.leave(&tab, now).await.unwrap(),
        "phone is still open"
    );
    assert_eq!(
        store.present(room, now, 10).await.unwrap(),
        vec![present_user(&alice, 1)]
    );
    assert!(
        !store.leave(&tab, now).await.unwrap(),
        "leaving again: phone still open"
    );
    assert!(
        store.leave(&phone, now).await.unwrap(),
        "last connection: left"
    );
    assert_eq!(store.count(room, now).await.unwrap(), 0);
    assert!(store.present(room, now, 10).await.unwrap().is_empty());
    assert!(
        store.leave(&phone, now).await.unwrap(),
        "leaving again: still nobody else"
    );
    assert!(
        store
            .leave(&connection(room, &user("bob")), now)
            .await
            .unwrap(),
        "a connection never entered: nobody else either"
    );
    assert!(enter(store, &tab, now).await, "back again: arrived");
    assert_eq!(store.count(room, now).await.unwrap(), 1);
}

/// `count` is the number of distinct users; `present` lists them by username, then user
/// id, with their connection counts, cut at `limit`.
pub async fn count_and_present(store: &dyn PresenceStore) {
    let now = clock().now();
    let room = Uuid::new_v4();
    let tag = tag();
    let carol = user(&format!("carol{tag}"));
    let alice = user(&format!("alice{tag}"));
    let bob = user(&format!("bob{tag}"));
    // Same username as bob's (a rename, a reused name): ordered by user id among them.
    let other_bob = user(&format!("bob{tag}"));

    assert_eq!(store.count(room, now).await.unwrap(), 0, "nobody yet");
    assert!(store.present(room, now, 10).await.unwrap().is_empty());

    for (who, connections) in [(&carol, 1), (&alice, 3), (&bob, 1), (&other_bob, 2)] {
        for _ in 0..connections {
            enter(store, &connection(room, who), now).await;
        }
    }
    assert_eq!(store.count(room, now).await.unwrap(), 4);

    let (first_bob, second_bob) = if bob.id < other_bob.id {
        ((&bob, 1), (&other_bob, 2))
    } else {
        ((&other_bob, 2), (&bob, 1))
    };
    let everyone = vec![
        present_user(&alice, 3),
        present_user(first_bob.0, first_bob.1),
        present_user(second_bob.0, second_bob.1),
        present_user(&carol, 1),
    ];
    assert_eq!(store.present(room, now, 10).await.unwrap(), everyone);
    assert_eq!(
        store.present(room, now, 4).await.unwrap(),
        everyone,
        "limit = size"
    );
    assert_eq!(
        store.present(room, now, 2).await.unwrap(),
        everyone[..2].to_vec(),
        "the first `limit`"
    );
    assert!(store.present(room, now, 0).await.unwrap().is_empty());
}

/// A connection that is not refreshed stops counting at its expiry, though nobody
/// removed it (its instance crashed); the user's next connection is an arrival again.
pub async fn connections_expire_without_leave(store: &dyn PresenceStore) {
    let clock = clock();
    let start = clock.now();
    let room = Uuid::new_v4();
    let (alice, bob) = (user("alice"), user("bob"));
    let (alice_tab, bob_tab) = (connection(room, &alice), connection(room, &bob));
    assert!(enter(store, &alice_tab, start).await);
    clock.advance(Duration::seconds(10));
    assert!(enter(store, &bob_tab, clock.now()).await);
    let bob_phone = connection(room, &bob);
    assert!(!enter(store, &bob_phone, start + Duration::seconds(20)).await);

    let almost = start + TTL - Duration::milliseconds(1);
    assert_eq!(store.count(room, almost).await.unwrap(), 2, "still live");

    // Alice's only connection expires at exactly start + TTL.
    clock.set(start + TTL);
    assert_eq!(store.count(room, clock.now()).await.unwrap(), 1);
    assert_eq!(
        store.present(room, clock.now(), 10).await.unwrap(),
        vec![present_user(&bob, 2)]
    );

    // Bob's tab lapses before his phone does: present with one connection, not gone.
    clock.set(start + Duration::seconds(40));
    assert_eq!(
        store.present(room, clock.now(), 10).await.unwrap(),
        vec![present_user(&bob, 1)]
    );
    assert!(
        !enter(store, &connection(room, &bob), clock.now()).await,
        "bob's phone is still live"
    );

    clock.set(start + Duration::seconds(200));
    assert_eq!(store.count(room, clock.now()).await.unwrap(), 0);
    assert!(
        store
            .present(room, clock.now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        enter(store, &alice_tab, clock.now()).await,
        "alice arrives again, on the connection that aged out"
    );
    assert!(
        !enter(store, &connection(room, &alice), clock.now()).await,
        "and that connection is live again"
    );
    assert!(
        store.leave(&bob_phone, clock.now()).await.unwrap(),
        "bob left long ago"
    );
    assert_eq!(store.count(room, clock.now()).await.unwrap(), 1);
}

/// A heartbeat moves the expiry; one for a connection the store lost (or that lapsed)
/// records it again, without it counting as an arrival of anyone else's.
pub async fn refresh_extends_and_restores(store: &dyn PresenceStore) {
    let clock = clock();
    let start = clock.now();
    let room = Uuid::new_v4();
    let alice = user("alice");
    let tab = connection(room, &alice);
    assert!(enter(store, &tab, start).await);

    clock.advance(Duration::seconds(10));
    store.refresh(&tab, clock.now() + TTL).await.unwrap();
    clock.advance(Duration::seconds(10));
    store.refresh(&tab, clock.now() + TTL).await.unwrap();
    // Last expiry: start + 50 s.
    clock.set(start + Duration::seconds(45));
    assert_eq!(store.count(room, clock.now()).await.unwrap(), 1, "extended");
    clock.set(start + Duration::seconds(50));
    assert_eq!(store.count(room, clock.now()).await.unwrap(), 0, "lapsed");

    // A late heartbeat brings it back: the instance is alive after all.
    store.refresh(&tab, clock.now() + TTL).await.unwrap();
    assert_eq!(
        store.present(room, clock.now(), 10).await.unwrap(),
        vec![present_user(&alice, 1)]
    );

    // Never entered (the store restarted empty): recorded by the heartbeat.
    let bob = user("bob");
    let bob_tab = connection(room, &bob);
    store.refresh(&bob_tab, clock.now() + TTL).await.unwrap();
    assert_eq!(store.count(room, clock.now()).await.unwrap(), 2);
    assert!(
        !enter(store, &connection(room, &bob), clock.now()).await,
        "bob's restored connection counts as his other one"
    );
    store.refresh(&bob_tab, clock.now() + TTL).await.unwrap();
    assert_eq!(
        store.present(room, clock.now(), 10).await.unwrap()[1],
        present_user(&bob, 2),
        "refreshing a recorded connection does not add one"
    );
    assert!(!store.leave(&bob_tab, clock.now()).await.unwrap());
}

/// Rooms do not see each other's connections, even the same user's.
pub async fn rooms_are_independent(store: &dyn PresenceStore) {
    let now = clock().now();
    let (room, other_room) = (Uuid::new_v4(), Uuid::new_v4());
    let (alice, bob) = (user("alice"), user("bob"));
    let here = connection(room, &alice);
    let there = connection(other_room, &alice);
    assert!(enter(store, &here, now).await);
    assert!(
        enter(store, &there, now).await,
        "arrives in each room separately"
    );
    enter(store, &connection(other_room, &bob), now).await;

    assert_eq!(store.count(room, now).await.unwrap(), 1);
    assert_eq!(store.count(other_room, now).await.unwrap(), 2);
    assert!(
        store.leave(&here, now).await.unwrap(),
        "left this room, whatever the other"
    );
    assert_eq!(store.count(room, now).await.unwrap(), 0);
    assert_eq!(store.count(other_room, now).await.unwrap(), 2);
    assert_eq!(
        store.present(other_room, now, 1).await.unwrap(),
        vec![present_user(&alice, 1)]
    );
    assert_eq!(
        store.count(Uuid::new_v4(), now).await.unwrap(),
        0,
        "a room never seen"
    );
}

/// Concurrent arrivals of distinct users are all recorded, each as an arrival.
pub async fn concurrent_enters_all_count(store: &dyn PresenceStore) {
    let now = clock().now();
    let room = Uuid::new_v4();
    let entries: Vec<PresenceEntry> = (0..50)
        .map(|i| connection(room, &user(&format!("user{i:02}"))))
        .collect();
    let arrived =
        futures_util::future::join_all(entries.iter().map(|e| store.enter(e, now + TTL, now)))
            .await;
    assert!(arrived.into_iter().all(|a| a.unwrap()), "each one arrived");
    assert_eq!(store.count(room, now).await.unwrap(), 50);
    let present = store.present(room, now, 100).await.unwrap();
    let names: Vec<String> = present.into_iter().map(|u| u.username).collect();
    let expected: Vec<String> = (0..50).map(|i| format!("user{i:02}")).collect();
    assert_eq!(names, expected);
}
