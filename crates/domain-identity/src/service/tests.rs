//! Unit tests of [`AuthService`] against mockall mocks of its ports.
//!
//! The mocks are strict: a port method called without a matching expectation panics, so
//! "nothing else happened" (no session opened, no hash stored, no event published) is
//! asserted simply by not setting an expectation. `times(n)` expectations are verified
//! when the service, and with it the mocks, is dropped at the end of each test.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain_core::events::MockEventPublisher;
use domain_core::{ManualClock, StoreError};

use super::*;
use crate::password::MockPasswordHasher;
use crate::ports::{
    MockAttemptLimiter, MockGrantSource, MockLoginSessionRepository, MockPacer, MockRevocationList,
    MockUserRepository,
};
use crate::session::RefreshTokenHash;
use crate::{AccessClaims, TokenSettings, User};

mod props;
mod throttle;

// ---------------------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------------------

const SECRET: &[u8] = b"unit-test-secret-unit-test-secret";
const ACCESS_TTL: i64 = 300;
/// Password of the `alice` fixture; passes the default policy.
const PW: &str = "correct horse battery";
const NEW_PW: &str = "purple elephant mountain";
const IP: &str = "203.0.113.7";

/// A fixed instant, deliberately not the wall clock: the service must use its `Clock`.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap()
}

fn codec() -> TokenCodec {
    TokenCodec::new(TokenSettings {
        secret: SECRET.to_vec(),
        issuer: "agora".into(),
        audience: "agora-api".into(),
        access_ttl_secs: ACCESS_TTL,
    })
}

/// What the fake hasher stores for `password`: self-describing, and never containing the
/// password itself.
fn phc(password: &str) -> String {
    format!("$fake${}", password.chars().rev().collect::<String>())
}

fn alice(active: bool) -> User {
    User {
        id: UserId::new_random(),
        username: Username::from_trusted("alice".into()),
        email: Email::from_trusted("alice@example.org".into()),
        password_hash: phc(PW),
        is_active: active,
        created_at: start(),
        updated_at: start(),
    }
}

fn session_of(user: UserId) -> LoginSession {
    LoginSession {
        id: SessionId::new_random(),
        user_id: user,
        client: ClientInfo::default(),
        created_at: start(),
        last_used_at: start(),
        expires_at: start() + Duration::days(14),
        revoked_at: None,
    }
}

fn principal(user: &User, session: SessionId) -> Principal {
    Principal {
        user_id: user.id,
        username: user.username.as_str().to_owned(),
        session_id: session,
        jti: uuid::Uuid::new_v4(),
        expires_at: start() + Duration::seconds(ACCESS_TTL),
        roles: vec![],
    }
}

fn moderator() -> RoleGrant {
    RoleGrant {
        role: "moderator".into(),
        scope: "institution:7".into(),
    }
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("connection refused".into())
}

/// The fields named by a validation error, in order; panics on any other error.
fn fields(err: IdentityError) -> Vec<String> {
    match err {
        IdentityError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// A value captured inside a mock's `returning` closure, for inspection afterwards.
struct Slot<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Clone> Slot<T> {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Vec::new())))
    }
    fn push(&self, v: T) {
        self.0.lock().unwrap().push(v);
    }
    fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
    fn only(&self) -> T {
        let all = self.all();
        assert_eq!(all.len(), 1, "expected exactly one captured value");
        all[0].clone()
    }
}

/// The mocks an [`AuthService`] is built from, configured per test before `build`.
struct Harness {
    users: MockUserRepository,
    sessions: MockLoginSessionRepository,
    revocations: MockRevocationList,
    limiter: MockAttemptLimiter,
    /// Strict: a failed login held back without an expectation panics.
    pacer: MockPacer,
    grants: MockGrantSource,
    hasher: MockPasswordHasher,
    events: MockEventPublisher,
    clock: Arc<ManualClock>,
    config: AuthConfig,
}

impl Harness {
    fn new() -> Self {
        Self {
            users: MockUserRepository::new(),
            sessions: MockLoginSessionRepository::new(),
            revocations: MockRevocationList::new(),
            limiter: MockAttemptLimiter::new(),
            pacer: MockPacer::new(),
            grants: MockGrantSource::new(),
            hasher: MockPasswordHasher::new(),
            events: MockEventPublisher::new(),
            clock: Arc::new(ManualClock::new(start())),
            config: AuthConfig::default(),
        }
    }

    fn build(mut self) -> AuthService {
        let limiter = std::mem::replace(&mut self.limiter, MockAttemptLimiter::new());
        self.build_with(Arc::new(limiter))
    }

    /// Builds the service on another limiter (the scenario tests' working one).
    fn build_with(self, limiter: Arc<dyn AttemptLimiter>) -> AuthService {
        AuthService::new(
            AuthPorts {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                revocations: Arc::new(self.revocations),
                limiter,
                pacer: Arc::new(self.pacer),
                grants: Arc::new(self.grants),
                hasher: Arc::new(self.hasher),
                events: Arc::new(self.events),
                clock: self.clock,
            },
            codec(),
            self.config,
        )
    }

    /// A hasher that works like a real one (`verify(p, hash(p))` holds), any number of
    /// times. Tests that count calls set their own expectations instead.
    fn fake_hasher(&mut self) {
        self.hasher.expect_hash().returning(|p| Ok(phc(p)));
        self.hasher
            .expect_verify()
            .returning(|p, stored| Ok(stored == phc(p)));
    }

    /// No key is blocked.
    fn open_limiter(&mut self) {
        self.limiter
            .expect_blocked_for()
            .returning(|_, _, _| Ok(None));
    }

    /// Failures may be recorded for any key.
    fn count_failures(&mut self) {
        self.limiter
            .expect_record_failure()
            .returning(|_, _, _| Ok(1));
    }

    fn user_by_username(&mut self, user: Option<User>) {
        self.users
            .expect_by_username()
            .returning(move |_| Ok(user.clone()));
    }

    fn user_by_id(&mut self, user: Option<User>) {
        self.users
            .expect_by_id()
            .returning(move |_| Ok(user.clone()));
    }

    fn grants_are(&mut self, grants: Vec<RoleGrant>) {
        self.grants
            .expect_grants_of()
            .returning(move |_, _| Ok(grants.clone()));
    }

    /// `create` succeeds and echoes the session; returns what it was given.
    fn capture_created_sessions(&mut self) -> Slot<(NewLoginSession, RefreshTokenHash)> {
        let slot = Slot::new();
        let s = slot.clone();
        self.sessions.expect_create().returning(move |new, first| {
            s.push((new.clone(), first));
            Ok(LoginSession {
                id: new.id,
                user_id: new.user_id,
                client: new.client,
                created_at: new.created_at,
                last_used_at: new.created_at,
                expires_at: new.expires_at,
                revoked_at: None,
            })
        });
        slot
    }

    /// `insert` succeeds and echoes the user; returns what it was given.
    fn capture_inserted_users(&mut self) -> Slot<NewUser> {
        let slot = Slot::new();
        let s = slot.clone();
        self.users.expect_insert().returning(move |new| {
            s.push(new.clone());
            Ok(User {
                id: new.id,
                username: new.username,
                email: new.email,
                password_hash: new.password_hash,
                is_active: true,
                created_at: new.created_at,
                updated_at: new.created_at,
            })
        });
        slot
    }

    fn capture_events(&mut self) -> Slot<DomainEvent> {
        let slot = Slot::new();
        let s = slot.clone();
        self.events.expect_publish().returning(move |e| {
            s.push(e);
            Ok(())
        });
        slot
    }

    /// Records the sessions whose access tokens are refused, and until when.
    fn capture_denied_sessions(&mut self) -> Slot<(SessionId, DateTime<Utc>)> {
        let slot = Slot::new();
        let s = slot.clone();
        self.revocations
            .expect_revoke_session()
            .returning(move |id, until| {
                s.push((id, until));
                Ok(())
            });
        slot
    }

    fn capture_revoked_sessions(&mut self) -> Slot<SessionId> {
        let slot = Slot::new();
        let s = slot.clone();
        self.sessions.expect_revoke().returning(move |id, _| {
            s.push(id);
            Ok(true)
        });
        slot
    }
}

// ---------------------------------------------------------------------------------------
// register
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn register_reports_every_bad_field_at_once() {
    // No expectations: nothing may be hashed, stored or published.
    let svc = Harness::new().build();
    let err = svc
        .register("a", "not-an-email", "short")
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["username", "email", "password"]);
}

#[tokio::test]
async fn register_reports_a_weak_password_alone_when_the_rest_is_valid() {
    let svc = Harness::new().build();
    for weak in ["password123", "my name is alice!!", "zzzzzzzzzzzz"] {
        let err = svc
            .register("alice", "alice@example.org", weak)
            .await
            .unwrap_err();
        assert_eq!(fields(err), ["password"], "{weak:?} should be refused");
    }
}

#[tokio::test]
async fn register_reports_a_bad_username_even_when_the_password_is_fine() {
    let svc = Harness::new().build();
    let err = svc
        .register("_alice", "alice@example.org", PW)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["username"]);
}

#[tokio::test]
async fn register_stores_the_hashers_output_never_the_password() {
    let mut h = Harness::new();
    h.hasher
        .expect_hash()
        .withf(|p| p == PW)
        .times(1)
        .returning(|p| Ok(phc(p)));
    let inserted = h.capture_inserted_users();
    h.capture_events();
    let svc = h.build();

    let user = svc
        .register("  Alice_1 ", " Alice@Example.ORG ", PW)
        .await
        .unwrap();

    let new = inserted.only();
    assert_eq!(new.password_hash, phc(PW));
    assert!(!new.password_hash.contains(PW));
    assert_eq!(new.username.as_str(), "Alice_1", "trimmed, case kept");
    assert_eq!(new.email.as_str(), "alice@example.org", "normalised");
    assert_eq!(new.created_at, start(), "time comes from the clock");
    assert_eq!(user.id, new.id);
}

#[tokio::test]
async fn register_maps_a_duplicate_to_taken_naming_the_field() {
    for field in ["email", "username"] {
        let mut h = Harness::new();
        h.fake_hasher();
        h.users
            .expect_insert()
            .times(1)
            .returning(move |_| Err(StoreError::Duplicate(field.into())));
        // no publish expectation: nothing happened, nothing is announced
        let svc = h.build();
        let err = svc
            .register("alice", "alice@example.org", PW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, IdentityError::Taken(f) if f == field),
            "got {err:?}"
        );
    }
}

#[tokio::test]
async fn register_passes_other_store_failures_through() {
    let mut h = Harness::new();
    h.fake_hasher();
    h.users.expect_insert().returning(|_| Err(unavailable()));
    let svc = h.build();
    let err = svc
        .register("alice", "alice@example.org", PW)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::Store(StoreError::Unavailable(_))),
        "got {err:?}"
    );
}

#[tokio::test]
async fn register_publishes_user_registered() {
    let mut h = Harness::new();
    h.fake_hasher();
    h.capture_inserted_users();
    let events = h.capture_events();
    let svc = h.build();

    let user = svc
        .register("alice", "alice@example.org", PW)
        .await
        .unwrap();

    let event = events.only();
    assert_eq!(event.name, "identity.user_registered");
    assert_eq!(event.aggregate_id, user.id.as_uuid());
    assert_eq!(event.occurred_at, start());
    assert_eq!(event.payload["username"], "alice");
    assert_eq!(
        event.decode::<crate::IdentityEvent>(),
        Ok(crate::IdentityEvent::UserRegistered {
            user_id: user.id.as_uuid(),
            username: "alice".into(),
        })
    );
    assert!(
        !event.payload.to_string().contains(PW),
        "the password must not travel in events"
    );
}

#[tokio::test]
async fn register_succeeds_when_the_event_cannot_be_published() {
    let mut h = Harness::new();
    h.fake_hasher();
    let inserted = h.capture_inserted_users();
    h.events
        .expect_publish()
        .times(1)
        .returning(|_| Err(unavailable()));
    let svc = h.build();

    let user = svc
        .register("alice", "alice@example.org", PW)
        .await
        .unwrap();
    assert_eq!(user.id, inserted.only().id);
}

#[tokio::test]
async fn create_admin_grants_global_super_admin() {
    let mut h = Harness::new();
    h.fake_hasher();
    let inserted = h.capture_inserted_users();
    h.capture_events();
    let granted = Slot::new();
    let g = granted.clone();
    h.grants
        .expect_add_grant()
        .times(1)
        .returning(move |user, grant, at| {
            g.push((user, grant, at));
            Ok(())
        });
    let svc = h.build();

    let user = svc
        .create_admin("root", "root@example.org", PW)
        .await
        .unwrap();

    let (to, grant, at) = granted.only();
    assert_eq!(to, user.id);
    assert_eq!(to, inserted.only().id);
    assert_eq!(grant.role, "super_admin");
    assert_eq!(grant.scope, "global");
    assert_eq!(at, start());
}

#[tokio::test]
async fn create_admin_grants_nothing_when_registration_fails() {
    let svc = Harness::new().build();
    let err = svc
        .create_admin("root", "root@example.org", "short")
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["password"]);
}

// ---------------------------------------------------------------------------------------
// login
// ---------------------------------------------------------------------------------------

fn client() -> ClientInfo {
    ClientInfo::new(Some("Firefox/140"), Some(IP.into()))
}

/// The failure counter of an existing account: keyed by its id, whichever identifier was
/// typed.
fn account_key(user: &User) -> String {
    format!("login:user:{}", user.id)
}

/// The failure counter of the fixture client against an existing account.
fn pair_key(user: &User) -> String {
    format!("login:pair:{IP}|user:{}", user.id)
}

/// The lockout memory of the fixture client against an existing account.
fn strikes_key(user: &User) -> String {
    format!("login:strikes:{IP}|user:{}", user.id)
}

/// Every key `record_failure` is called with is captured, with its window; counts 1.
fn capture_failures(h: &mut Harness) -> Slot<(String, u64)> {
    let slot = Slot::new();
    let s = slot.clone();
    h.limiter
        .expect_record_failure()
        .returning(move |key, window, _| {
            s.push((key.to_owned(), window));
            Ok(1)
        });
    slot
}

#[tokio::test]
async fn login_unknown_user_and_wrong_password_look_the_same() {
    // unknown user: one verification against the decoy hash
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.user_by_username(None);
    h.hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok("$fake$decoy".into()));
    h.hasher
        .expect_verify()
        .withf(|_, stored| stored == "$fake$decoy")
        .times(1)
        .returning(|_, _| Ok(false));
    let unknown = h.build().login("mallory", PW, client()).await.unwrap_err();

    // known user, wrong password: one verification against the account's hash
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    let user = alice(true);
    let stored_hash = user.password_hash.clone();
    h.user_by_username(Some(user));
    h.hasher
        .expect_verify()
        .withf(move |p, stored| p == "wrong password!" && *stored == stored_hash)
        .times(1)
        .returning(|_, _| Ok(false));
    let wrong = h
        .build()
        .login("alice", "wrong password!", client())
        .await
        .unwrap_err();

    assert!(
        matches!(unknown, IdentityError::InvalidCredentials),
        "{unknown:?}"
    );
    assert!(
        matches!(wrong, IdentityError::InvalidCredentials),
        "{wrong:?}"
    );
    assert_eq!(unknown.to_string(), wrong.to_string());
}

#[tokio::test]
async fn login_unknown_user_refused_even_if_the_decoy_password_matches() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.user_by_username(None);
    h.fake_hasher(); // the decoy hash verifies for the decoy password
    let err = h
        .build()
        .login("ghost", "decoy password for timing equality", client())
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_computes_the_decoy_hash_once() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.user_by_username(None);
    h.hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok("$fake$decoy".into()));
    h.hasher
        .expect_verify()
        .times(3)
        .returning(|_, _| Ok(false));
    let svc = h.build();
    for _ in 0..3 {
        let err = svc.login("ghost", PW, client()).await.unwrap_err();
        assert!(matches!(err, IdentityError::InvalidCredentials), "{err:?}");
    }
}

#[tokio::test]
async fn warm_up_hashes_the_decoy_once_so_an_unknown_user_login_does_not_hash_again() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.user_by_username(None);
    let hashed = Slot::new();
    let hs = hashed.clone();
    h.hasher.expect_hash().times(1).returning(move |p| {
        hs.push(p.to_owned());
        Ok("$fake$decoy".into())
    });
    h.hasher
        .expect_verify()
        .withf(|_, stored| stored == "$fake$decoy")
        .times(2)
        .returning(|_, _| Ok(false));
    let svc = h.build();

    svc.warm_up().await.unwrap();
    assert_eq!(hashed.all().len(), 1, "warm_up computes the decoy hash");
    svc.warm_up().await.unwrap();
    assert_eq!(hashed.all().len(), 1, "and only once");

    for _ in 0..2 {
        let err = svc.login("ghost", PW, client()).await.unwrap_err();
        assert!(matches!(err, IdentityError::InvalidCredentials), "{err:?}");
    }
    assert_eq!(
        hashed.all().len(),
        1,
        "logins reuse the warmed-up decoy hash"
    );
    assert_ne!(hashed.only(), PW, "the decoy is not the typed password");
}

#[tokio::test]
async fn warm_up_reports_a_hashing_failure_and_a_later_login_retries() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.user_by_username(None);
    let mut seq = mockall::Sequence::new();
    h.hasher
        .expect_hash()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(IdentityError::Internal("backend down".into())));
    h.hasher
        .expect_hash()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok("$fake$decoy".into()));
    h.hasher
        .expect_verify()
        .withf(|_, stored| stored == "$fake$decoy")
        .times(1)
        .returning(|_, _| Ok(false));
    let svc = h.build();

    let err = svc.warm_up().await.unwrap_err();
    assert!(matches!(err, IdentityError::Internal(_)), "{err:?}");
    let err = svc.login("ghost", PW, client()).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_failure_is_counted_for_the_account_the_client_and_the_pair() {
    let mut h = Harness::new();
    let user = alice(true);
    let (account, pair) = (account_key(&user), pair_key(&user));
    h.open_limiter();
    h.fake_hasher();
    h.users
        .expect_by_username()
        .withf(|name| name == "ALICE")
        .times(1)
        .returning(move |_| Ok(Some(user.clone())));
    let counted = capture_failures(&mut h);
    let err = h
        .build()
        .login("  ALICE ", "wrong password!", client())
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCredentials), "{err:?}");
    assert_eq!(
        counted.all(),
        [
            (pair, 900),
            (account, 900),
            (format!("login:client:{IP}"), 900)
        ],
        "the pair's attempt claimed first, then the failure on the account and the client; \
         nothing locked after the first"
    );
}

#[tokio::test]
async fn login_failure_of_an_unknown_account_is_counted_by_the_normalised_identifier() {
    let cases = [
        ("ghost", "name:ghost"),
        ("  GhoST\t", "name:ghost"),
        (" Ghost@Example.ORG ", "name:ghost@example.org"),
        // not a parseable address: no lookup, but counted all the same
        ("Ghost@@Nowhere", "name:ghost@@nowhere"),
    ];
    for (typed, expected) in cases {
        let mut h = Harness::new();
        h.open_limiter();
        h.fake_hasher();
        h.user_by_username(None);
        h.users.expect_by_email().returning(|_| Ok(None));
        let counted = capture_failures(&mut h);
        let err = h.build().login(typed, PW, client()).await.unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidCredentials),
            "{typed:?}: {err:?}"
        );
        let keys: Vec<String> = counted.all().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                format!("login:pair:{IP}|{expected}"),
                format!("login:{expected}"),
                format!("login:client:{IP}"),
            ],
            "{typed:?}"
        );
    }
}

#[tokio::test]
async fn login_by_username_and_by_email_count_against_the_same_account_key() {
    let mut h = Harness::new();
    let user = alice(true);
    let key = account_key(&user);
    let by_name = user.clone();
    h.users
        .expect_by_username()
        .withf(|name| name == "alice")
        .times(1)
        .returning(move |_| Ok(Some(by_name.clone())));
    let by_email = user.clone();
    h.users
        .expect_by_email()
        .withf(|email| email.as_str() == "alice@example.org")
        .times(1)
        .returning(move |_| Ok(Some(by_email.clone())));
    h.open_limiter();
    let counted = capture_failures(&mut h);
    h.fake_hasher();
    let svc = h.build();

    for typed in ["alice", "Alice@Example.ORG"] {
        let err = svc
            .login(typed, "wrong password!", client())
            .await
            .unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidCredentials),
            "{typed:?}: {err:?}"
        );
    }
    let on_account = counted.all().into_iter().filter(|(k, _)| *k == key).count();
    assert_eq!(on_account, 2, "both failures land on login:user:<user id>");
    let on_pair = counted
        .all()
        .into_iter()
        .filter(|(k, _)| *k == pair_key(&user))
        .count();
    assert_eq!(on_pair, 2, "and on the same pair");
}

#[tokio::test]
async fn login_without_a_client_address_counts_as_one_unknown_client() {
    let mut h = Harness::new();
    let user = alice(true);
    let id = user.id;
    h.open_limiter();
    h.fake_hasher();
    h.user_by_username(Some(user));
    let counted = capture_failures(&mut h);
    h.build()
        .login("alice", "wrong password!", ClientInfo::default())
        .await
        .unwrap_err();
    let keys: Vec<String> = counted.all().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            format!("login:pair:unknown|user:{id}"),
            format!("login:user:{id}"),
            "login:client:unknown".to_owned(),
        ]
    );
}

#[tokio::test]
async fn login_refused_for_a_blocked_pair_before_any_verification() {
    let user = alice(true);
    let mut h = Harness::new();
    h.user_by_username(Some(user.clone()));
    let pair = pair_key(&user);
    h.limiter
        .expect_blocked_for()
        .withf(|k, max, _| k == format!("login:client:{IP}") && *max == 30)
        .times(1)
        .returning(|_, _, _| Ok(None));
    h.limiter
        .expect_blocked_for()
        .withf(move |k, max, at| *k == pair && *max == 5 && *at == start())
        .times(1)
        .returning(|_, _, _| Ok(Some(42)));
    // no hashing, no verification, no failure counted, no session
    let err = h.build().login("alice", PW, client()).await.unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::RateLimited {
                retry_after_secs: 42
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn login_of_a_stuffing_client_gets_a_budget_of_one_failure_per_account() {
    let user = alice(true);
    let mut h = Harness::new();
    h.user_by_username(Some(user.clone()));
    let pair = pair_key(&user);
    h.limiter
        .expect_blocked_for()
        .withf(|k, max, _| k == format!("login:client:{IP}") && *max == 30)
        .returning(|_, _, _| Ok(Some(600)));
    h.limiter
        .expect_blocked_for()
        .withf(move |k, max, _| *k == pair && *max == 1)
        .times(1)
        .returning(|_, _, _| Ok(Some(60)));
    let err = h.build().login("alice", PW, client()).await.unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::RateLimited {
                retry_after_secs: 60
            }
        ),
        "the pair's wait, not the client's: {err:?}"
    );
}

#[tokio::test]
async fn login_to_a_disabled_account_with_the_right_password_is_refused() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.fake_hasher();
    h.user_by_username(Some(alice(false)));
    // no reset, no session, no token
    let err = h.build().login("alice", PW, client()).await.unwrap_err();
    assert!(matches!(err, IdentityError::AccountDisabled), "{err:?}");
}

#[tokio::test]
async fn login_to_a_disabled_account_with_a_wrong_password_does_not_reveal_it() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.fake_hasher();
    h.user_by_username(Some(alice(false)));
    let err = h
        .build()
        .login("alice", "wrong password!", client())
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_success_opens_a_session_and_issues_matching_tokens() {
    let mut h = Harness::new();
    let user = alice(true);
    let uid = user.id;
    let (key, strikes) = (pair_key(&user), strikes_key(&user));
    h.open_limiter();
    h.count_failures();
    h.fake_hasher();
    h.users
        .expect_by_username()
        .withf(|name| name == "Alice")
        .times(1)
        .returning(move |_| Ok(Some(user.clone())));
    h.limiter
        .expect_reset()
        .withf(move |k| *k == key)
        .times(1)
        .returning(|_| Ok(()));
    h.limiter
        .expect_reset()
        .withf(move |k| *k == strikes)
        .times(1)
        .returning(|_| Ok(()));
    let created = h.capture_created_sessions();
    h.grants
        .expect_grants_of()
        .withf(move |id, at| *id == uid && *at == start())
        .times(1)
        .returning(|_, _| Ok(vec![moderator()]));
    let svc = h.build();

    let pair = svc.login(" Alice ", PW, client()).await.unwrap();

    let (new, first_token) = created.only();
    assert_eq!(new.user_id, uid);
    assert_eq!(new.client, client());
    assert_eq!(new.created_at, start());
    assert_eq!(new.expires_at, start() + Duration::days(14));
    assert_eq!(pair.session_id, new.id);
    // only the hash of the handed-out refresh token is stored
    assert_eq!(first_token, RefreshToken::hash_of(&pair.refresh));
    assert!(!first_token.0.contains(&pair.refresh));
    assert_eq!(pair.expires_in, ACCESS_TTL);

    let claims = codec().verify(&pair.access, start()).unwrap();
    assert_eq!(claims.sub, uid);
    assert_eq!(claims.sid, new.id);
    assert_eq!(claims.username, "alice");
    assert_eq!(claims.roles, vec![moderator()]);
    assert_eq!(
        claims.exp,
        (start() + Duration::seconds(ACCESS_TTL)).timestamp()
    );
}

#[tokio::test]
async fn login_by_email_looks_up_the_normalised_address() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.fake_hasher();
    let user = alice(true);
    let uid = user.id;
    let (key, strikes) = (pair_key(&user), strikes_key(&user));
    h.users
        .expect_by_email()
        .withf(|email| email.as_str() == "alice@example.org")
        .times(1)
        .returning(move |_| Ok(Some(user.clone())));
    h.limiter
        .expect_reset()
        .withf(move |k| *k == key)
        .times(1)
        .returning(|_| Ok(()));
    h.limiter
        .expect_reset()
        .withf(move |k| *k == strikes)
        .times(1)
        .returning(|_| Ok(()));
    h.capture_created_sessions();
    h.grants_are(vec![]);
    let pair = h
        .build()
        .login(" Alice@Example.ORG ", PW, client())
        .await
        .unwrap();
    assert_eq!(codec().verify(&pair.access, start()).unwrap().sub, uid);
}

#[tokio::test]
async fn login_with_a_malformed_address_still_pays_for_a_verification() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    // no repository lookup at all
    h.hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok("$fake$decoy".into()));
    h.hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Ok(false));
    let err = h
        .build()
        .login("alice@@nowhere", PW, client())
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_each_time_opens_a_new_session_with_a_new_refresh_token() {
    let mut h = Harness::new();
    h.open_limiter();
    h.count_failures();
    h.fake_hasher();
    h.user_by_username(Some(alice(true)));
    h.limiter.expect_reset().returning(|_| Ok(()));
    let created = h.capture_created_sessions();
    h.grants_are(vec![]);
    let svc = h.build();
    let a = svc.login("alice", PW, client()).await.unwrap();
    let b = svc.login("alice", PW, client()).await.unwrap();
    assert_ne!(a.session_id, b.session_id);
    assert_ne!(a.refresh, b.refresh);
    assert_eq!(created.all().len(), 2);
}

// ---------------------------------------------------------------------------------------
// refresh
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_to_a_new_pair_in_the_same_session() {
    let mut h = Harness::new();
    h.clock.advance(Duration::hours(1));
    let now = start() + Duration::hours(1);
    let user = alice(true);
    let uid = user.id;
    let session = session_of(uid);
    let sid = session.id;
    let successors = Slot::new();
    let s = successors.clone();
    h.sessions
        .expect_rotate()
        .withf(move |presented, _, at| *presented == RefreshToken::hash_of("rt_old") && *at == now)
        .times(1)
        .returning(move |_, successor, _| {
            s.push(successor.clone());
            Ok(RotateOutcome::Rotated(session.clone()))
        });
    h.user_by_id(Some(user));
    h.grants_are(vec![moderator()]);
    let svc = h.build();

    let pair = svc.refresh("rt_old").await.unwrap();

    assert_eq!(pair.session_id, sid);
    assert_ne!(pair.refresh, "rt_old");
    assert_eq!(successors.only(), RefreshToken::hash_of(&pair.refresh));
    let claims = codec().verify(&pair.access, now).unwrap();
    assert_eq!(claims.sid, sid);
    assert_eq!(claims.sub, uid);
    assert_eq!(claims.roles, vec![moderator()]);
    assert_eq!(claims.iat, now.timestamp());
}

#[tokio::test]
async fn refresh_with_a_reused_token_revokes_the_sessions_access_tokens() {
    let mut h = Harness::new();
    let session = session_of(UserId::new_random());
    let sid = session.id;
    h.sessions
        .expect_rotate()
        .returning(move |_, _, _| Ok(RotateOutcome::Reused(session.clone())));
    let denied = h.capture_denied_sessions();
    // no user lookup, no tokens issued
    let err = h.build().refresh("rt_stolen").await.unwrap_err();

    assert!(matches!(err, IdentityError::TokenReused), "{err:?}");
    let (id, until) = denied.only();
    assert_eq!(id, sid);
    assert!(
        until >= start() + Duration::seconds(ACCESS_TTL),
        "must outlive every access token the session may have been issued, got {until}"
    );
}

#[tokio::test]
async fn refresh_with_an_unknown_token_is_invalid() {
    let mut h = Harness::new();
    h.sessions
        .expect_rotate()
        .times(1)
        .returning(|_, _, _| Ok(RotateOutcome::Invalid));
    let err = h.build().refresh("rt_garbage").await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");
}

#[tokio::test]
async fn refresh_for_a_disabled_or_deleted_user_is_invalid_and_ends_the_session() {
    for user in [Some(alice(false)), None] {
        let mut h = Harness::new();
        let session = session_of(UserId::new_random());
        let sid = session.id;
        h.sessions
            .expect_rotate()
            .returning(move |_, _, _| Ok(RotateOutcome::Rotated(session.clone())));
        h.user_by_id(user);
        let revoked = h.capture_revoked_sessions();
        let denied = h.capture_denied_sessions();
        let err = h.build().refresh("rt_old").await.unwrap_err();
        assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");
        assert_eq!(revoked.only(), sid);
        assert_eq!(denied.only().0, sid);
    }
}

#[tokio::test]
async fn refresh_store_failure_is_an_error_not_a_token() {
    let mut h = Harness::new();
    h.sessions
        .expect_rotate()
        .returning(|_, _, _| Err(unavailable()));
    let err = h.build().refresh("rt_old").await.unwrap_err();
    assert!(matches!(err, IdentityError::Store(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// authenticate
// ---------------------------------------------------------------------------------------

fn issue(user: &User, session: SessionId, roles: Vec<RoleGrant>) -> (String, AccessClaims) {
    codec()
        .issue(user.id, user.username.as_str(), session, roles, start())
        .unwrap()
}

#[tokio::test]
async fn authenticate_returns_the_principal_of_a_valid_token() {
    let mut h = Harness::new();
    let user = alice(true);
    let sid = SessionId::new_random();
    let (token, claims) = issue(&user, sid, vec![moderator()]);
    let jti = claims.jti;
    h.revocations
        .expect_is_revoked()
        .withf(move |j, s, at| *j == jti && *s == sid && *at == start())
        .times(1)
        .returning(|_, _, _| Ok(false));
    let who = h.build().authenticate(&token).await.unwrap();
    assert_eq!(
        who,
        Principal {
            user_id: user.id,
            username: "alice".into(),
            session_id: sid,
            jti,
            expires_at: start() + Duration::seconds(ACCESS_TTL),
            roles: vec![moderator()],
        }
    );
}

#[tokio::test]
async fn authenticate_refuses_a_revoked_token_or_session() {
    let mut h = Harness::new();
    let (token, _) = issue(&alice(true), SessionId::new_random(), vec![]);
    h.revocations
        .expect_is_revoked()
        .returning(|_, _, _| Ok(true));
    let err = h.build().authenticate(&token).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");
}

#[tokio::test]
async fn authenticate_follows_the_injected_clock_for_expiry() {
    let mut h = Harness::new();
    let (token, _) = issue(&alice(true), SessionId::new_random(), vec![]);
    let clock = Arc::clone(&h.clock);
    h.revocations
        .expect_is_revoked()
        .times(2)
        .returning(|_, _, _| Ok(false));
    let svc = h.build();

    // valid when issued and shortly before expiry, by the service's clock
    svc.authenticate(&token).await.unwrap();
    clock.advance(Duration::seconds(ACCESS_TTL - 1));
    svc.authenticate(&token).await.unwrap();

    // expired by the clock (past the 5 s leeway): refused, revocation list not consulted
    clock.advance(Duration::seconds(10));
    let err = svc.authenticate(&token).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");
}

#[tokio::test]
async fn recheck_tells_signed_in_revoked_and_expired_apart() {
    let mut h = Harness::new();
    let (token, _) = issue(&alice(true), SessionId::new_random(), vec![]);
    let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&revoked);
    h.revocations
        .expect_is_revoked()
        .returning(move |_, _, _| Ok(flag.load(std::sync::atomic::Ordering::SeqCst)));
    let clock = Arc::clone(&h.clock);
    let svc = h.build();
    let who = svc.authenticate(&token).await.unwrap();
    assert_eq!(svc.recheck(&who).await.unwrap(), Standing::SignedIn);
    revoked.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(svc.recheck(&who).await.unwrap(), Standing::Revoked);
    revoked.store(false, std::sync::atomic::Ordering::SeqCst);
    clock.advance(Duration::seconds(ACCESS_TTL));
    assert_eq!(svc.recheck(&who).await.unwrap(), Standing::Expired);
}

#[tokio::test]
async fn authenticate_refuses_a_token_not_yet_valid_by_the_clock() {
    let h = Harness::new();
    let (token, _) = issue(&alice(true), SessionId::new_random(), vec![]);
    h.clock.set(start() - Duration::minutes(10));
    let err = h.build().authenticate(&token).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");
}

#[tokio::test]
async fn authenticate_refuses_forged_and_malformed_tokens() {
    let svc = Harness::new().build();
    let forged = TokenCodec::new(TokenSettings {
        secret: b"some-other-secret-some-other-secret".to_vec(),
        issuer: "agora".into(),
        audience: "agora-api".into(),
        access_ttl_secs: ACCESS_TTL,
    })
    .issue(
        UserId::new_random(),
        "alice",
        SessionId::new_random(),
        vec![],
        start(),
    )
    .unwrap()
    .0;
    for token in [forged.as_str(), "", "not.a.jwt", "rt_refresh_token"] {
        let err = svc.authenticate(token).await.unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidToken),
            "{token:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn authenticate_refuses_a_correctly_signed_token_without_time_claims() {
    // The expiry is checked against the injected clock, but exp and nbf stay mandatory.
    let svc = Harness::new().build();
    let (_, claims) = issue(&alice(true), SessionId::new_random(), vec![]);
    for missing in ["exp", "nbf"] {
        let mut body = serde_json::to_value(&claims).unwrap();
        body.as_object_mut().unwrap().remove(missing);
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &body,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        let err = svc.authenticate(&token).await.unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidToken),
            "without {missing}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// logout, me, sessions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn logout_revokes_the_token_until_it_expires_and_ends_the_session() {
    let mut h = Harness::new();
    let user = alice(true);
    let sid = SessionId::new_random();
    let who = principal(&user, sid);
    let (jti, expires_at) = (who.jti, who.expires_at);
    h.revocations
        .expect_revoke_token()
        .withf(move |j, until| *j == jti && *until == expires_at)
        .times(1)
        .returning(|_, _| Ok(()));
    let revoked = h.capture_revoked_sessions();
    let denied = h.capture_denied_sessions();
    h.build().logout(&who).await.unwrap();

    assert_eq!(revoked.only(), sid);
    let (id, until) = denied.only();
    assert_eq!(id, sid);
    assert!(until >= expires_at);
}

#[tokio::test]
async fn me_returns_the_account_and_current_grants() {
    let mut h = Harness::new();
    let user = alice(true);
    let who = principal(&user, SessionId::new_random());
    h.user_by_id(Some(user.clone()));
    h.grants_are(vec![moderator()]);
    let (me, grants) = h.build().me(&who).await.unwrap();
    assert_eq!(me, user);
    assert_eq!(grants, vec![moderator()]);
}

#[tokio::test]
async fn me_of_a_disabled_or_deleted_account_is_invalid() {
    for stored in [Some(alice(false)), None] {
        let mut h = Harness::new();
        let who = principal(&alice(true), SessionId::new_random());
        h.user_by_id(stored);
        let err = h.build().me(&who).await.unwrap_err();
        assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");
    }
}

#[tokio::test]
async fn sessions_lists_the_callers_active_sessions() {
    let mut h = Harness::new();
    let user = alice(true);
    let uid = user.id;
    let who = principal(&user, SessionId::new_random());
    let mine = vec![session_of(uid), session_of(uid)];
    let listed = mine.clone();
    h.sessions
        .expect_list_active()
        .withf(move |u, at| *u == uid && *at == start())
        .times(1)
        .returning(move |_, _| Ok(listed.clone()));
    assert_eq!(h.build().sessions(&who).await.unwrap(), mine);
}

// ---------------------------------------------------------------------------------------
// change_password
// ---------------------------------------------------------------------------------------

fn password_change_key(user: &User) -> String {
    format!("password-change:{}", user.id)
}

#[tokio::test]
async fn change_password_with_a_wrong_current_password_is_refused_and_counted() {
    let mut h = Harness::new();
    let user = alice(true);
    let key = password_change_key(&user);
    let who = principal(&user, SessionId::new_random());
    h.user_by_id(Some(user));
    h.open_limiter();
    h.fake_hasher();
    h.limiter
        .expect_record_failure()
        .withf(move |k, window, at| *k == key && *window == 900 && *at == start())
        .times(1)
        .returning(|_, _, _| Ok(1));
    // no new hash stored, no session ended
    let err = h
        .build()
        .change_password(&who, "not my password", NEW_PW)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["current_password"]);
}

#[tokio::test]
async fn change_password_is_rate_limited_before_verifying() {
    let mut h = Harness::new();
    let user = alice(true);
    let key = password_change_key(&user);
    let who = principal(&user, SessionId::new_random());
    h.user_by_id(Some(user));
    h.limiter
        .expect_blocked_for()
        .withf(move |k, max, _| *k == key && *max == 5)
        .returning(|_, _, _| Ok(Some(300)));
    // no hasher expectation: a blocked caller gets no oracle
    let err = h
        .build()
        .change_password(&who, PW, NEW_PW)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::RateLimited {
                retry_after_secs: 300
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn change_password_to_the_same_password_is_refused() {
    let mut h = Harness::new();
    let user = alice(true);
    let who = principal(&user, SessionId::new_random());
    h.user_by_id(Some(user));
    h.open_limiter();
    h.fake_hasher();
    let err = h.build().change_password(&who, PW, PW).await.unwrap_err();
    assert_eq!(fields(err), ["new_password"]);
}

#[tokio::test]
async fn change_password_to_a_weak_password_is_refused() {
    for weak in ["short", "password123", "alice is my name", "zzzzzzzzzzzz"] {
        let mut h = Harness::new();
        let user = alice(true);
        let who = principal(&user, SessionId::new_random());
        h.user_by_id(Some(user));
        h.open_limiter();
        h.fake_hasher();
        let err = h.build().change_password(&who, PW, weak).await.unwrap_err();
        assert_eq!(fields(err), ["new_password"], "{weak:?}");
    }
}

#[tokio::test]
async fn change_password_of_a_vanished_account_is_invalid() {
    let mut h = Harness::new();
    let who = principal(&alice(true), SessionId::new_random());
    h.user_by_id(None);
    let err = h
        .build()
        .change_password(&who, PW, NEW_PW)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");
}

#[tokio::test]
async fn change_password_stores_the_new_hash_and_ends_every_other_session() {
    let mut h = Harness::new();
    let user = alice(true);
    let uid = user.id;
    let key = password_change_key(&user);
    let current = SessionId::new_random();
    let others = [SessionId::new_random(), SessionId::new_random()];
    let who = principal(&user, current);
    h.user_by_id(Some(user));
    h.open_limiter();
    h.fake_hasher();
    h.users
        .expect_set_password_hash()
        .withf(move |id, stored, at| *id == uid && stored == phc(NEW_PW) && *at == start())
        .times(1)
        .returning(|_, _, _| Ok(()));
    h.limiter
        .expect_reset()
        .withf(move |k| *k == key)
        .times(1)
        .returning(|_| Ok(()));
    h.sessions
        .expect_revoke_all_for_user()
        .withf(move |id, keep, at| *id == uid && *keep == Some(current) && *at == start())
        .times(1)
        .returning(move |_, _, _| Ok(others.to_vec()));
    let denied = h.capture_denied_sessions();
    let events = h.capture_events();

    h.build().change_password(&who, PW, NEW_PW).await.unwrap();

    let denied_ids: Vec<SessionId> = denied.all().into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        denied_ids, others,
        "the other sessions' tokens stop working"
    );
    assert!(!denied_ids.contains(&current), "the caller stays logged in");
    assert!(
        denied
            .all()
            .iter()
            .all(|(_, until)| *until >= start() + Duration::seconds(ACCESS_TTL))
    );
    let event = events.only();
    assert_eq!(event.name, "identity.password_changed");
    assert_eq!(event.aggregate_id, uid.as_uuid());
    assert_eq!(event.payload["sessions_ended"], 2);
    assert!(!event.payload.to_string().contains(NEW_PW));
}

// ---------------------------------------------------------------------------------------
// end_session, set_active
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn end_session_of_someone_elses_session_is_not_found() {
    let mut h = Harness::new();
    let me = alice(true);
    let who = principal(&me, SessionId::new_random());
    let theirs = session_of(UserId::new_random());
    let id = theirs.id;
    h.sessions
        .expect_get()
        .returning(move |_| Ok(Some(theirs.clone())));
    // no revoke expectation: the other user's session must survive
    let err = h.build().end_session(&who, id).await.unwrap_err();
    assert!(matches!(err, IdentityError::NotFound), "{err:?}");
}

#[tokio::test]
async fn end_session_of_a_missing_or_ended_session_is_not_found() {
    let me = alice(true);
    let mut ended = session_of(me.id);
    ended.revoked_at = Some(start());
    let mut expired = session_of(me.id);
    expired.expires_at = start();
    for stored in [None, Some(ended), Some(expired)] {
        let mut h = Harness::new();
        let who = principal(&me, SessionId::new_random());
        h.sessions
            .expect_get()
            .returning(move |_| Ok(stored.clone()));
        let err = h
            .build()
            .end_session(&who, SessionId::new_random())
            .await
            .unwrap_err();
        assert!(matches!(err, IdentityError::NotFound), "{err:?}");
    }
}

#[tokio::test]
async fn end_session_of_an_own_session_revokes_it_and_its_tokens() {
    let mut h = Harness::new();
    let me = alice(true);
    let who = principal(&me, SessionId::new_random());
    let other_device = session_of(me.id);
    let id = other_device.id;
    h.sessions
        .expect_get()
        .withf(move |s| *s == id)
        .returning(move |_| Ok(Some(other_device.clone())));
    let revoked = h.capture_revoked_sessions();
    let denied = h.capture_denied_sessions();
    h.build().end_session(&who, id).await.unwrap();
    assert_eq!(revoked.only(), id);
    assert_eq!(denied.only().0, id);
}

#[tokio::test]
async fn disabling_an_account_ends_all_its_sessions() {
    let mut h = Harness::new();
    let uid = UserId::new_random();
    let all = [SessionId::new_random(), SessionId::new_random()];
    h.users
        .expect_set_active()
        .withf(move |id, active, at| *id == uid && !*active && *at == start())
        .times(1)
        .returning(|_, _, _| Ok(()));
    h.sessions
        .expect_revoke_all_for_user()
        .withf(move |id, keep, _| *id == uid && keep.is_none())
        .times(1)
        .returning(move |_, _, _| Ok(all.to_vec()));
    let denied = h.capture_denied_sessions();
    let events = h.capture_events();

    h.build().set_active(uid, false).await.unwrap();

    let denied_ids: Vec<SessionId> = denied.all().into_iter().map(|(id, _)| id).collect();
    assert_eq!(denied_ids, all);
    let event = events.only();
    assert_eq!(event.name, "identity.user_disabled");
    assert_eq!(event.aggregate_id, uid.as_uuid());
    assert_eq!(event.payload["sessions_ended"], 2);
}

#[tokio::test]
async fn enabling_an_account_touches_no_session() {
    let mut h = Harness::new();
    let uid = UserId::new_random();
    h.users
        .expect_set_active()
        .withf(move |id, active, _| *id == uid && *active)
        .times(1)
        .returning(|_, _, _| Ok(()));
    h.build().set_active(uid, true).await.unwrap();
}

#[tokio::test]
async fn set_active_of_an_unknown_user_is_not_found() {
    let mut h = Harness::new();
    h.users
        .expect_set_active()
        .returning(|_, _, _| Err(StoreError::NotFound));
    let err = h
        .build()
        .set_active(UserId::new_random(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::NotFound), "{err:?}");
}
