//! Contract of [`UserRepository`].

use chrono::Duration;
use domain_core::{Clock, StoreError};
use domain_identity::{Email, NewUser, UserId, UserRepository, Username};

use crate::{clock, new_user};

/// Insert returns the stored account; every lookup finds it; unknown keys find nothing.
pub async fn insert_and_find(repo: &dyn UserRepository) {
    let now = clock().now();
    let new = new_user("Alice", now);
    let user = repo.insert(new.clone()).await.unwrap();
    assert_eq!(user.id, new.id);
    assert_eq!(user.username, new.username, "username kept as chosen");
    assert_eq!(user.email, new.email);
    assert_eq!(user.password_hash, new.password_hash);
    assert!(user.is_active, "new accounts are active");
    assert_eq!((user.created_at, user.updated_at), (now, now));

    assert_eq!(repo.by_id(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(
        repo.by_email(&user.email).await.unwrap(),
        Some(user.clone())
    );
    let name = user.username.as_str();
    for spelling in [name.to_owned(), name.to_uppercase(), name.to_lowercase()] {
        assert_eq!(
            repo.by_username(&spelling).await.unwrap(),
            Some(user.clone()),
            "username lookup ignores case ({spelling})"
        );
    }

    assert_eq!(repo.by_id(UserId::new_random()).await.unwrap(), None);
    assert_eq!(repo.by_username("nobody-at-all").await.unwrap(), None);
    let unknown = Email::parse("nobody@example.org").unwrap();
    assert_eq!(repo.by_email(&unknown).await.unwrap(), None);
}

/// Usernames are unique ignoring case, e-mails are unique; a refused insert stores
/// nothing.
pub async fn usernames_and_emails_are_unique(repo: &dyn UserRepository) {
    let now = clock().now();
    let first = repo.insert(new_user("Bob", now)).await.unwrap();

    let same_name = NewUser {
        username: Username::parse(&first.username.as_str().to_uppercase()).unwrap(),
        ..new_user("x", now)
    };
    let err = repo.insert(same_name.clone()).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(f) if f == "username"),
        "case-variant username must clash, got {err:?}"
    );
    assert_eq!(
        repo.by_id(same_name.id).await.unwrap(),
        None,
        "nothing stored"
    );

    let same_email = NewUser {
        email: first.email.clone(),
        ..new_user("y", now)
    };
    let err = repo.insert(same_email.clone()).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(f) if f == "email"),
        "same e-mail must clash, got {err:?}"
    );
    assert_eq!(
        repo.by_id(same_email.id).await.unwrap(),
        None,
        "nothing stored"
    );

    // The original is untouched and a distinct account still goes in.
    assert_eq!(repo.by_id(first.id).await.unwrap(), Some(first));
    repo.insert(new_user("Bob", now)).await.unwrap();
}

/// Password and activation changes touch only their field and `updated_at`; both report
/// unknown users.
pub async fn updates(repo: &dyn UserRepository) {
    let clock = clock();
    let created = clock.now();
    let user = repo.insert(new_user("carol", created)).await.unwrap();

    clock.advance(Duration::seconds(30));
    let changed_at = clock.now();
    repo.set_password_hash(user.id, "$argon2id$new", changed_at)
        .await
        .unwrap();
    let after = repo.by_id(user.id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, "$argon2id$new");
    assert_eq!((after.created_at, after.updated_at), (created, changed_at));
    assert!(after.is_active);

    clock.advance(Duration::seconds(30));
    repo.set_active(user.id, false, clock.now()).await.unwrap();
    let disabled = repo.by_id(user.id).await.unwrap().unwrap();
    assert!(!disabled.is_active);
    assert_eq!(disabled.updated_at, clock.now());
    assert_eq!(disabled.password_hash, "$argon2id$new");
    assert_eq!(
        repo.by_username(user.username.as_str()).await.unwrap(),
        Some(disabled.clone()),
        "disabled accounts are still found"
    );
    repo.set_active(user.id, true, clock.now()).await.unwrap();
    assert!(repo.by_id(user.id).await.unwrap().unwrap().is_active);

    let ghost = UserId::new_random();
    assert!(matches!(
        repo.set_password_hash(ghost, "$argon2id$x", clock.now())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        repo.set_active(ghost, false, clock.now()).await,
        Err(StoreError::NotFound)
    ));
}
