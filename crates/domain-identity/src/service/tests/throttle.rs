//! Stories of the login and registration protection policy, against a working in-test
//! limiter (same contract as the adapters) and a manual clock: who is refused, who is
//! held back and for how long, who still signs in.

use std::collections::HashMap;
use std::time::Duration as Wait;

use async_trait::async_trait;

use super::*;

/// The [`AttemptLimiter`] contract in a map, as simple as possible.
#[derive(Default)]
struct FakeLimiter(Mutex<HashMap<String, (u32, DateTime<Utc>)>>);

#[async_trait]
impl AttemptLimiter for FakeLimiter {
    async fn blocked_for(
        &self,
        key: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let map = self.0.lock().unwrap();
        Ok(map
            .get(key)
            .filter(|(n, end)| *end > now && *n >= max)
            .map(|(_, end)| {
                let ms = (*end - now).num_milliseconds();
                u64::try_from((ms + 999) / 1000).unwrap()
            }))
    }

    async fn record_failure(
        &self,
        key: &str,
        window: u64,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let mut map = self.0.lock().unwrap();
        let entry = map
            .entry(key.to_owned())
            .or_insert((0, now + Duration::seconds(window as i64)));
        if entry.1 <= now {
            *entry = (0, now + Duration::seconds(window as i64));
        }
        entry.0 = entry.0.saturating_add(1);
        Ok(entry.0)
    }

    async fn lock(&self, key: &str, secs: u64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(
            key.to_owned(),
            (u32::MAX, now + Duration::seconds(secs as i64)),
        );
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
}

const ATTACKER: &str = "198.51.100.66";
const HOME: &str = "203.0.113.10";

fn from(ip: &str) -> ClientInfo {
    ClientInfo::new(Some("test"), Some(ip.to_owned()))
}

fn user(name: &str) -> User {
    User {
        id: UserId::new_random(),
        username: Username::from_trusted(name.into()),
        email: Email::from_trusted(format!("{name}@example.org")),
        password_hash: phc(PW),
        is_active: true,
        created_at: start(),
        updated_at: start(),
    }
}

/// A service knowing `alice` and `bob` (both with password [`PW`]), a working limiter,
/// a fake hasher, and a pacer whose holds are returned for inspection.
fn service(config: AuthConfig) -> (AuthService, Arc<ManualClock>, Slot<Wait>) {
    let mut h = Harness::new();
    h.config = config;
    let people = [user("alice"), user("bob")];
    h.users.expect_by_username().returning(move |name| {
        Ok(people
            .iter()
            .find(|u| u.username.as_str() == name.trim().to_lowercase())
            .cloned())
    });
    h.users.expect_by_email().returning(|_| Ok(None));
    h.fake_hasher();
    h.capture_created_sessions();
    h.grants_are(vec![]);
    let held = Slot::new();
    let pushed = held.clone();
    h.pacer.expect_pause().returning(move |d| pushed.push(d));
    let clock = h.clock.clone();
    (h.build_with(Arc::new(FakeLimiter::default())), clock, held)
}

/// The seconds to wait if refused; panics on anything but a refusal.
fn refused(result: Result<TokenPair, IdentityError>) -> u64 {
    match result {
        Err(IdentityError::RateLimited { retry_after_secs }) => retry_after_secs,
        other => panic!("expected 429, got {:?}", other.map(|p| p.session_id)),
    }
}

fn wrong(result: Result<TokenPair, IdentityError>) {
    assert!(
        matches!(result, Err(IdentityError::InvalidCredentials)),
        "expected 401, got {:?}",
        result.map(|p| p.session_id)
    );
}

async fn fail(svc: &AuthService, who: &str, ip: &str) -> Result<TokenPair, IdentityError> {
    svc.login(who, "not the password", from(ip)).await
}

#[tokio::test]
async fn a_pair_that_failed_five_times_is_locked_and_nobody_else_is() {
    let (svc, _, held) = service(AuthConfig::default());
    for _ in 0..5 {
        wrong(fail(&svc, "alice", ATTACKER).await);
    }
    assert_eq!(
        refused(svc.login("alice", PW, from(ATTACKER)).await),
        60,
        "even the right password, from that address, for a minute"
    );
    svc.login("alice", PW, from(HOME))
        .await
        .expect("the owner from elsewhere signs in");
    svc.login("bob", PW, from(ATTACKER))
        .await
        .expect("someone else behind the attacker's address signs in");
    assert!(held.all().is_empty(), "five failures are not held back");
}

#[tokio::test]
async fn lockouts_of_a_pair_double_end_and_are_forgotten_after_a_success() {
    let (svc, clock, _) = service(AuthConfig::default());
    for expected in [60, 120, 240] {
        for _ in 0..5 {
            wrong(fail(&svc, "alice", ATTACKER).await);
        }
        assert_eq!(refused(fail(&svc, "alice", ATTACKER).await), expected);
        clock.advance(Duration::seconds(expected as i64 - 1));
        assert_eq!(refused(fail(&svc, "alice", ATTACKER).await), 1);
        clock.advance(Duration::seconds(1));
    }
    // the right password after the lock ends clears the record
    svc.login("alice", PW, from(ATTACKER)).await.unwrap();
    for _ in 0..5 {
        wrong(fail(&svc, "alice", ATTACKER).await);
    }
    assert_eq!(refused(fail(&svc, "alice", ATTACKER).await), 60);
}

#[tokio::test]
async fn lockouts_are_capped() {
    let config = AuthConfig {
        login: LoginLimits {
            lockout_max_secs: 150,
            ..LoginLimits::default()
        },
        ..AuthConfig::default()
    };
    let (svc, clock, _) = service(config);
    for expected in [60, 120, 150, 150] {
        for _ in 0..5 {
            wrong(fail(&svc, "alice", ATTACKER).await);
        }
        assert_eq!(refused(fail(&svc, "alice", ATTACKER).await), expected);
        clock.advance(Duration::seconds(expected as i64));
    }
}

#[tokio::test]
async fn an_account_under_attack_holds_back_failed_answers_only() {
    let (svc, _, held) = service(AuthConfig::default());
    // 12 addresses, one failure each: the 11th and 12th failure on the account are held
    for i in 0..12 {
        wrong(fail(&svc, "alice", &format!("192.0.2.{i}")).await);
    }
    assert_eq!(
        held.all(),
        [Wait::from_millis(100), Wait::from_millis(200)],
        "held back from the 11th failure, doubling"
    );
    svc.login("alice", PW, from(HOME))
        .await
        .expect("the owner signs in");
    assert_eq!(held.all().len(), 2, "a right password is never held back");
    for i in 12..20 {
        wrong(fail(&svc, "alice", &format!("192.0.2.{i}")).await);
    }
    assert_eq!(
        held.all().last(),
        Some(&Wait::from_millis(2000)),
        "at most two seconds"
    );
}

#[tokio::test]
async fn past_the_ceiling_only_clients_that_failed_on_the_account_are_refused() {
    let (svc, clock, _) = service(AuthConfig::default());
    for i in 0..20 {
        wrong(fail(&svc, "alice", &format!("192.0.2.{i}")).await);
    }
    // 192.0.2.0 failed once (its pair is far from locked) but the account is past 20
    let wait = refused(svc.login("alice", PW, from("192.0.2.0")).await);
    assert_eq!(wait, 900, "until the account's window ends");
    // a new address gets one try, then it has failed here too
    wrong(fail(&svc, "alice", "192.0.2.200").await);
    refused(fail(&svc, "alice", "192.0.2.200").await);
    // the owner, who never failed, signs in at once
    svc.login("alice", PW, from(HOME)).await.unwrap();
    // and the window ends for everybody
    clock.advance(Duration::seconds(900));
    svc.login("alice", PW, from("192.0.2.0")).await.unwrap();
}

#[tokio::test]
async fn a_stuffing_client_gets_one_failure_per_account_and_its_neighbours_sign_in() {
    let (svc, _, held) = service(AuthConfig::default());
    for i in 0..30 {
        wrong(fail(&svc, &format!("victim{i}"), ATTACKER).await);
    }
    assert_eq!(held.all().len(), 0, "30 failures are not yet stuffing");
    wrong(fail(&svc, "alice", ATTACKER).await);
    assert_eq!(
        held.all(),
        [Wait::from_millis(100)],
        "the 31st is held back"
    );
    assert_eq!(
        refused(fail(&svc, "alice", ATTACKER).await),
        60,
        "one failure per account locks the pair"
    );
    svc.login("bob", PW, from(ATTACKER))
        .await
        .expect("bob, behind the same address, signs in");
    svc.login("alice", PW, from(HOME))
        .await
        .expect("alice from home signs in");
}

#[tokio::test]
async fn unknown_accounts_are_locked_exactly_like_real_ones() {
    let (svc, _, _) = service(AuthConfig::default());
    for _ in 0..5 {
        wrong(fail(&svc, "ghost", ATTACKER).await);
        wrong(fail(&svc, "alice", ATTACKER).await);
    }
    assert_eq!(refused(fail(&svc, "ghost", ATTACKER).await), 60);
    assert_eq!(refused(fail(&svc, "alice", ATTACKER).await), 60);
}

#[tokio::test]
async fn an_ipv6_subscriber_cannot_dodge_the_lock_by_changing_address_in_its_64() {
    let (svc, _, _) = service(AuthConfig::default());
    for i in 0..5 {
        wrong(fail(&svc, "alice", &format!("2001:db8:7:7::{i:x}")).await);
    }
    refused(fail(&svc, "alice", "2001:db8:7:7::ffff").await);
    svc.login("alice", PW, from("2001:db8:7:8::1"))
        .await
        .expect("the next /64 is someone else");
}

// ---------------------------------------------------------------------------------------
// registration
// ---------------------------------------------------------------------------------------

fn registration_service(config: AuthConfig) -> (AuthService, Arc<ManualClock>) {
    let mut h = Harness::new();
    h.config = config;
    h.fake_hasher();
    h.capture_inserted_users();
    h.events.expect_publish().returning(|_| Ok(()));
    let clock = h.clock.clone();
    (h.build_with(Arc::new(FakeLimiter::default())), clock)
}

async fn sign_up(svc: &AuthService, n: u32, ip: &str) -> Result<User, IdentityError> {
    svc.register_from(
        &format!("pupil{n}"),
        &format!("pupil{n}@example.org"),
        PW,
        &from(ip),
    )
    .await
}

#[tokio::test]
async fn registrations_are_limited_per_client_address_for_a_window() {
    let config = AuthConfig {
        registration: RegistrationLimits {
            per_client: 3,
            window_secs: 3600,
        },
        ..AuthConfig::default()
    };
    let (svc, clock) = registration_service(config);
    // invalid input is not counted: it creates nothing and costs nothing
    for _ in 0..5 {
        let err = svc
            .register_from("x", "not an address", "short", &from(ATTACKER))
            .await
            .unwrap_err();
        assert!(matches!(err, IdentityError::Validation(_)), "{err:?}");
    }
    for n in 0..3 {
        sign_up(&svc, n, ATTACKER).await.unwrap();
    }
    clock.advance(Duration::seconds(600));
    let err = sign_up(&svc, 3, ATTACKER).await.unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::RateLimited {
                retry_after_secs: 3000
            }
        ),
        "until the hour since the first is over: {err:?}"
    );
    sign_up(&svc, 4, HOME)
        .await
        .expect("another address registers");
    clock.advance(Duration::seconds(3000));
    sign_up(&svc, 5, ATTACKER)
        .await
        .expect("a new window opens");
}
