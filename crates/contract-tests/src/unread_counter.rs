//! Contract of [`UnreadCounter`].

use domain_notifications::UnreadCounter;
use uuid::Uuid;

/// A count is unknown until set; increments and decrements change a known count and
/// report it; forgetting makes it unknown again.
pub async fn set_incr_decr_forget(counter: &dyn UnreadCounter) {
    let user = Uuid::new_v4();
    assert_eq!(counter.get(user).await.unwrap(), None);

    counter.set(user, 3).await.unwrap();
    assert_eq!(counter.get(user).await.unwrap(), Some(3));
    assert_eq!(counter.incr(user).await.unwrap(), Some(4));
    assert_eq!(counter.incr(user).await.unwrap(), Some(5));
    assert_eq!(counter.decr(user).await.unwrap(), Some(4));
    assert_eq!(counter.get(user).await.unwrap(), Some(4));

    // Set replaces.
    counter.set(user, 10).await.unwrap();
    assert_eq!(counter.get(user).await.unwrap(), Some(10));
    counter.set(user, 0).await.unwrap();
    assert_eq!(counter.get(user).await.unwrap(), Some(0));

    counter.forget(user).await.unwrap();
    assert_eq!(counter.get(user).await.unwrap(), None);
    // Forgetting what is unknown is fine.
    counter.forget(user).await.unwrap();
}

/// An increment or decrement of an unknown count leaves it unknown: counting from
/// nothing would make up a number.
pub async fn unknown_counts_stay_unknown(counter: &dyn UnreadCounter) {
    let user = Uuid::new_v4();
    assert_eq!(counter.incr(user).await.unwrap(), None);
    assert_eq!(counter.get(user).await.unwrap(), None);
    assert_eq!(counter.decr(user).await.unwrap(), None);
    assert_eq!(counter.get(user).await.unwrap(), None);

    counter.set(user, 1).await.unwrap();
    counter.forget(user).await.unwrap();
    assert_eq!(counter.incr(user).await.unwrap(), None);
    assert_eq!(counter.get(user).await.unwrap(), None);
}

/// A decrement never takes a count below 0.
pub async fn decr_floors_at_zero(counter: &dyn UnreadCounter) {
    let user = Uuid::new_v4();
    counter.set(user, 1).await.unwrap();
    assert_eq!(counter.decr(user).await.unwrap(), Some(0));
    assert_eq!(counter.decr(user).await.unwrap(), Some(0));
    assert_eq!(counter.get(user).await.unwrap(), Some(0));
    assert_eq!(counter.incr(user).await.unwrap(), Some(1));
}

/// Each user has a count of their own.
pub async fn users_are_independent(counter: &dyn UnreadCounter) {
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    counter.set(alice, 2).await.unwrap();
    assert_eq!(counter.get(bob).await.unwrap(), None);
    counter.set(bob, 7).await.unwrap();
    counter.incr(alice).await.unwrap();
    counter.decr(bob).await.unwrap();
    assert_eq!(counter.get(alice).await.unwrap(), Some(3));
    assert_eq!(counter.get(bob).await.unwrap(), Some(6));
    counter.forget(alice).await.unwrap();
    assert_eq!(counter.get(alice).await.unwrap(), None);
    assert_eq!(counter.get(bob).await.unwrap(), Some(6));
}

/// Concurrent increments and decrements are all counted.
pub async fn concurrent_updates_all_count(counter: &dyn UnreadCounter) {
    let user = Uuid::new_v4();
    counter.set(user, 100).await.unwrap();
    let incrs = futures_util::future::join_all((0..30).map(|_| counter.incr(user)));
    let decrs = futures_util::future::join_all((0..10).map(|_| counter.decr(user)));
    let (incrs, decrs) = futures_util::future::join(incrs, decrs).await;
    assert!(
        incrs
            .iter()
            .chain(&decrs)
            .all(|r| r.as_ref().unwrap().is_some())
    );
    assert_eq!(counter.get(user).await.unwrap(), Some(120));
}
