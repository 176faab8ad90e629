//! Unit tests of [`RbacService`] against mockall mocks of its ports.
//!
//! Every mock records its calls in one shared [`Log`], so a test asserts the exact
//! sequence of port calls (cache order, "nothing was written"). The mocks are strict too:
//! a method without an expectation panics when called.

use chrono::{Duration, TimeZone};
use domain_core::ManualClock;

use super::*;
use crate::ports::{MockInvalidationBus, MockRbacRepository, MockScopeDirectory, MockSubjectCache};
use crate::role::names::{
    BASIC_USER, CAMPUS_ADMIN, GUEST, INSTITUTE_ADMIN, MODERATOR, STUDENT, SUPER_ADMIN, TEACHER,
};
use crate::{AssignRefusal, Reason, RoleVerdict};

// ---------------------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------------------

const INST: Uuid = Uuid::from_u128(0x1);
const CAMPUS: Uuid = Uuid::from_u128(0x2);
const DEPT: Uuid = Uuid::from_u128(0x3);
const OTHER_INST: Uuid = Uuid::from_u128(0x4);
const MISSING: Uuid = Uuid::from_u128(0x5);

/// super_admin, globally.
const ROOT: Uuid = Uuid::from_u128(0x100);
/// institute_admin of [`INST`].
const IADMIN: Uuid = Uuid::from_u128(0x101);
/// campus_admin of [`CAMPUS`].
const CADMIN: Uuid = Uuid::from_u128(0x102);
/// teacher in [`INST`].
const TEACH: Uuid = Uuid::from_u128(0x103);
/// institute_admin held globally (not super_admin).
const GLOBAL_IADMIN: Uuid = Uuid::from_u128(0x104);
/// No grants.
const NOBODY: Uuid = Uuid::from_u128(0x105);
/// institute_admin held globally, plus a direct grant of `role.create` globally.
const CREATOR: Uuid = Uuid::from_u128(0x106);

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn inst() -> Scope {
    Scope::Institution(INST)
}

fn campus() -> Scope {
    Scope::Campus(CAMPUS)
}

fn path(scope: Scope) -> Option<ScopePath> {
    let (i, c, d) = (inst(), campus(), Scope::Department(DEPT));
    let chain = match scope {
        Scope::Global => vec![],
        s if s == i => vec![i],
        s if s == c => vec![c, i],
        s if s == d => vec![d, c, i],
        Scope::Institution(id) if id == OTHER_INST => vec![scope],
        _ => return None,
    };
    ScopePath::new(chain).ok()
}

/// The fixture tree below `scope`, as the directory lists it.
fn within(scope: Scope) -> Vec<Scope> {
    let (i, c, d) = (inst(), campus(), Scope::Department(DEPT));
    match scope {
        s if s == i => vec![i, c, d],
        s if s == c => vec![c, d],
        s if s == d => vec![d],
        Scope::Institution(id) if id == OTHER_INST => vec![scope],
        _ => vec![],
    }
}

fn assignment(user_id: Uuid, role: &str, scope: Scope) -> RoleAssignment {
    RoleAssignment {
        id: Uuid::new_v4(),
        user_id,
        role: role.into(),
        scope,
        expires_at: None,
        granted_by: None,
        granted_at: start() - Duration::days(30),
    }
}

/// The grant set of each fixture user.
fn subject_of(user_id: Uuid) -> Subject {
    let roles = match user_id {
        ROOT => vec![assignment(ROOT, SUPER_ADMIN, Scope::Global)],
        IADMIN => vec![assignment(IADMIN, INSTITUTE_ADMIN, inst())],
        CADMIN => vec![assignment(CADMIN, CAMPUS_ADMIN, campus())],
        TEACH => vec![assignment(TEACH, TEACHER, inst())],
        GLOBAL_IADMIN => vec![assignment(GLOBAL_IADMIN, INSTITUTE_ADMIN, Scope::Global)],
        CREATOR => vec![assignment(CREATOR, INSTITUTE_ADMIN, Scope::Global)],
        _ => vec![],
    };
    let permissions = match user_id {
        CREATOR => vec![PermissionGrant {
            id: Uuid::new_v4(),
            user_id,
            permission: p("role.create"),
            scope: Scope::Global,
            expires_at: None,
            granted_by: Some(ROOT),
            granted_at: start() - Duration::days(1),
        }],
        _ => vec![],
    };
    Subject::user(user_id, roles, permissions)
}

fn actor(user_id: Uuid) -> Actor {
    Actor {
        user_id: Some(user_id),
        request_id: Some("req-42".into()),
    }
}

fn p(text: &str) -> Permission {
    text.parse().unwrap()
}

/// Port calls, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: String) {
        lock(&self.0).push(entry);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.0))
    }
}

/// What the repository was asked to write, with its audit record.
#[derive(Clone, Default)]
struct Writes(Arc<Mutex<Vec<(serde_json::Value, AuditRecord)>>>);

impl Writes {
    fn push<T: serde::Serialize>(&self, value: &T, audit: AuditRecord) {
        lock(&self.0).push((serde_json::to_value(value).unwrap(), audit));
    }

    fn all(&self) -> Vec<(serde_json::Value, AuditRecord)> {
        lock(&self.0).clone()
    }
}

/// The mocks an [`RbacService`] is built from, configured per test before `build`.
struct Harness {
    repo: MockRbacRepository,
    scopes: MockScopeDirectory,
    cache: MockSubjectCache,
    bus: MockInvalidationBus,
    clock: Arc<ManualClock>,
    log: Log,
    writes: Writes,
    roles: Arc<Mutex<Vec<RoleTemplate>>>,
    overrides: Arc<Mutex<Vec<Override>>>,
    /// Units each user is listed as a member of (none unless a test adds some).
    members: Arc<Mutex<Vec<(Uuid, Scope)>>>,
}

impl Harness {
    /// The default roles, no overrides, the fixture organisation tree.
    fn new() -> Self {
        let mut h = Self {
            repo: MockRbacRepository::new(),
            scopes: MockScopeDirectory::new(),
            cache: MockSubjectCache::new(),
            bus: MockInvalidationBus::new(),
            clock: Arc::new(ManualClock::new(start())),
            log: Log::default(),
            writes: Writes::default(),
            roles: Arc::new(Mutex::new(default_roles())),
            overrides: Arc::new(Mutex::new(vec![])),
            members: Arc::new(Mutex::new(vec![])),
        };
        let roles = h.roles.clone();
        h.repo
            .expect_roles()
            .returning(move || Ok(lock(&roles).clone()));
        let overrides = h.overrides.clone();
        h.repo
            .expect_overrides()
            .returning(move || Ok(lock(&overrides).clone()));
        let log = h.log.clone();
        h.scopes.expect_path_of().returning(move |s| {
            log.push(format!("scopes.path_of {s}"));
            Ok(path(s))
        });
        let members = h.members.clone();
        h.scopes.expect_memberships().returning(move |u| {
            Ok(lock(&members)
                .iter()
                .filter(|(m, _)| *m == u)
                .map(|(_, s)| *s)
                .collect())
        });
        h.scopes.expect_within().returning(|s| Ok(within(s)));
        h
    }

    /// The shared cache holds every fixture user (so the repository is never asked).
    fn shared_cache_hits(&mut self) {
        let log = self.log.clone();
        self.cache.expect_get().returning(move |u| {
            log.push(format!("cache.get {u}"));
            Ok(Some(subject_of(u)))
        });
    }

    /// The shared cache is empty; the repository answers with `subject`, and the shared
    /// cache accepts what it is given.
    fn shared_cache_misses(&mut self, subject: impl Fn(Uuid) -> Subject + Send + 'static) {
        let log = self.log.clone();
        self.cache.expect_get().returning(move |u| {
            log.push(format!("cache.get {u}"));
            Ok(None)
        });
        let log = self.log.clone();
        self.repo.expect_subject().returning(move |u| {
            log.push(format!("repo.subject {u}"));
            Ok(subject(u))
        });
        let log = self.log.clone();
        self.cache.expect_put().returning(move |u, s, ttl| {
            log.push(format!("cache.put {u} roles={} ttl={ttl}", s.roles.len()));
            Ok(())
        });
    }

    /// Invalidations succeed and are logged.
    fn invalidations(&mut self) {
        let log = self.log.clone();
        self.cache.expect_invalidate().returning(move |u| {
            log.push(format!("cache.invalidate {u}"));
            Ok(())
        });
        let log = self.log.clone();
        self.bus.expect_publish().returning(move |m| {
            log.push(format!(
                "bus.publish {}",
                serde_json::to_string(&m).unwrap()
            ));
            Ok(())
        });
    }

    /// Nothing may be written, invalidated or announced.
    fn no_writes(&mut self) {
        self.repo.expect_insert_assignment().never();
        self.repo.expect_delete_assignment().never();
        self.repo.expect_insert_override().never();
        self.repo.expect_delete_override().never();
        self.repo.expect_insert_role().never();
        self.repo.expect_set_role_permissions().never();
        self.repo.expect_delete_role().never();
        self.repo.expect_insert_permission_grant().never();
        self.repo.expect_append_audit().never();
        self.repo.expect_purge_expired().never();
        self.cache.expect_invalidate().never();
        self.bus.expect_publish().never();
    }

    async fn build(self) -> (RbacService, Log, Writes, Arc<ManualClock>) {
        let (log, writes, clock) = (self.log, self.writes, self.clock.clone());
        let svc = RbacService::new(
            Arc::new(self.repo),
            Arc::new(self.scopes),
            Arc::new(self.cache),
            Arc::new(self.bus),
            self.clock,
        );
        svc.reload_policy().await.unwrap();
        (svc, log, writes, clock)
    }
}

fn get(u: Uuid) -> String {
    format!("cache.get {u}")
}

fn scope_lookup(s: Scope) -> String {
    format!("scopes.path_of {s}")
}

fn publish_user(u: Uuid) -> String {
    format!("bus.publish {{\"kind\":\"user\",\"user_id\":\"{u}\"}}")
}

const PUBLISH_POLICY: &str = "bus.publish {\"kind\":\"policy\"}";

// ---------------------------------------------------------------------------------------
// caching
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn init_seeds_the_default_roles_and_loads_the_policy() {
    let mut h = Harness::new();
    h.repo
        .expect_seed_roles()
        .withf(|roles| *roles == default_roles())
        .times(1)
        .returning(|roles| Ok(roles.len()));
    let svc = RbacService::new(
        Arc::new(h.repo),
        Arc::new(h.scopes),
        Arc::new(h.cache),
        Arc::new(h.bus),
        h.clock,
    );
    assert!(svc.policy().role(TEACHER).is_none());
    svc.init().await.unwrap();
    let policy = svc.policy();
    assert_eq!(policy.rank(SUPER_ADMIN), 100);
    assert!(policy.version() > 0);
}

#[tokio::test]
async fn a_miss_reads_the_shared_cache_then_the_repository_then_fills_the_shared_cache() {
    let mut h = Harness::new();
    h.shared_cache_misses(subject_of);
    let (svc, log, _, _) = h.build().await;
    let exam = p("exam.create");

    let d = svc.check(Some(TEACH), exam, campus(), None).await.unwrap();
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        log.take(),
        [
            scope_lookup(campus()),
            get(TEACH),
            format!("repo.subject {TEACH}"),
            format!("cache.put {TEACH} roles=1 ttl={SHARED_CACHE_TTL_SECS}"),
        ]
    );

    // in-process hit: no port call at all (scope path cached too)
    let again = svc.check(Some(TEACH), exam, campus(), None).await.unwrap();
    assert_eq!(again, d);
    assert_eq!(log.take(), Vec::<String>::new());
}

#[tokio::test]
async fn a_shared_cache_hit_skips_the_repository() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.repo.expect_subject().never();
    h.cache.expect_put().never();
    let (svc, log, _, _) = h.build().await;

    let d = svc
        .check(Some(IADMIN), p("audit.read"), inst(), None)
        .await
        .unwrap();
    assert!(d.allowed);
    assert_eq!(log.take(), [scope_lookup(inst()), get(IADMIN)]);
    svc.check(Some(IADMIN), p("audit.read"), inst(), None)
        .await
        .unwrap();
    assert_eq!(log.take(), Vec::<String>::new());
}

#[tokio::test]
async fn an_unavailable_shared_cache_falls_back_to_the_repository() {
    let mut h = Harness::new();
    let log = h.log.clone();
    h.cache.expect_get().returning(move |u| {
        log.push(format!("cache.get {u}"));
        Err(StoreError::Unavailable("redis down".into()))
    });
    let log = h.log.clone();
    h.repo.expect_subject().returning(move |u| {
        log.push(format!("repo.subject {u}"));
        Ok(subject_of(u))
    });
    let log = h.log.clone();
    h.cache.expect_put().returning(move |u, _, _| {
        log.push(format!("cache.put {u}"));
        Err(StoreError::Unavailable("redis down".into()))
    });
    let (svc, log, _, _) = h.build().await;

    let d = svc
        .check(Some(TEACH), p("exam.create"), inst(), None)
        .await
        .unwrap();
    assert!(d.allowed);
    assert_eq!(
        log.take(),
        [
            scope_lookup(inst()),
            get(TEACH),
            format!("repo.subject {TEACH}"),
            format!("cache.put {TEACH}"),
        ]
    );
}

#[tokio::test]
async fn apply_user_drops_the_in_process_entry_so_the_next_check_rereads() {
    let mut h = Harness::new();
    // the first read finds no grant; after the change the repository has the teacher role
    let reads = Arc::new(Mutex::new(0u32));
    let counter = reads.clone();
    h.shared_cache_misses(move |u| {
        let mut n = lock(&counter);
        *n += 1;
        if *n == 1 {
            Subject::user(u, vec![], vec![])
        } else {
            Subject::user(u, vec![assignment(u, TEACHER, inst())], vec![])
        }
    });
    let (svc, log, _, _) = h.build().await;
    let exam = p("exam.create");

    assert!(
        !svc.check(Some(NOBODY), exam, inst(), None)
            .await
            .unwrap()
            .allowed
    );
    assert_eq!(log.take().len(), 4); // path, get, repo, put

    // another user's invalidation leaves this entry alone
    svc.apply(Invalidation::User { user_id: TEACH })
        .await
        .unwrap();
    assert!(
        !svc.check(Some(NOBODY), exam, inst(), None)
            .await
            .unwrap()
            .allowed
    );
    assert_eq!(log.take(), Vec::<String>::new());

    svc.apply(Invalidation::User { user_id: NOBODY })
        .await
        .unwrap();
    let d = svc.check(Some(NOBODY), exam, inst(), None).await.unwrap();
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        log.take(),
        [
            get(NOBODY),
            format!("repo.subject {NOBODY}"),
            format!("cache.put {NOBODY} roles=1 ttl={SHARED_CACHE_TTL_SECS}"),
        ]
    );
    assert_eq!(*lock(&reads), 2);
}

#[tokio::test]
async fn apply_scopes_forgets_scope_paths_and_apply_policy_reloads() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    let (svc, log, _, _) = h.build().await;
    svc.check(Some(TEACH), p("exam.read"), campus(), None)
        .await
        .unwrap();
    log.take();
    svc.apply(Invalidation::Scopes).await.unwrap();
    svc.check(Some(TEACH), p("exam.read"), campus(), None)
        .await
        .unwrap();
    assert_eq!(log.take(), [scope_lookup(campus())]);

    let v = svc.policy().version();
    svc.apply(Invalidation::Policy).await.unwrap();
    assert!(svc.policy().version() > v);
}

#[tokio::test]
async fn an_unhealthy_feed_bypasses_the_in_process_cache() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    let (svc, log, _, _) = h.build().await;
    let read = p("exam.read");

    svc.check(Some(TEACH), read, campus(), None).await.unwrap();
    assert_eq!(log.take(), [scope_lookup(campus()), get(TEACH)]);

    svc.set_feed_healthy(false);
    for _ in 0..3 {
        assert!(
            svc.check(Some(TEACH), read, campus(), None)
                .await
                .unwrap()
                .allowed
        );
        // every check goes to the shared cache (and the directory) again
        assert_eq!(log.take(), [scope_lookup(campus()), get(TEACH)]);
    }

    svc.set_feed_healthy(true);
    svc.check(Some(TEACH), read, campus(), None).await.unwrap();
    assert_eq!(log.take(), [scope_lookup(campus()), get(TEACH)]);
    svc.check(Some(TEACH), read, campus(), None).await.unwrap();
    assert_eq!(log.take(), Vec::<String>::new());
}

#[tokio::test]
async fn anonymous_callers_need_no_port_and_act_as_guest() {
    let h = Harness::new();
    let (svc, log, _, _) = h.build().await;
    let d = svc
        .check(None, p("post.read"), Scope::Global, None)
        .await
        .unwrap();
    assert_eq!(
        d.reason,
        Reason::Role {
            role: "guest".into(),
            scope: Scope::Global,
            grant_id: None
        }
    );
    let d = svc
        .require(None, p("post.create"), Scope::Global, None)
        .await;
    assert!(matches!(
        d,
        Err(RbacError::Forbidden(Decision { allowed: false, .. }))
    ));
    assert_eq!(log.take(), Vec::<String>::new());
}

#[tokio::test]
async fn an_unknown_scope_is_refused() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.no_writes();
    let (svc, _, _, _) = h.build().await;
    let missing = Scope::Department(MISSING);

    let e = svc.check(Some(ROOT), p("exam.read"), missing, None).await;
    assert!(matches!(e, Err(RbacError::UnknownScope(ref s)) if *s == missing.to_string()));
    let e = svc
        .assign_role(&actor(ROOT), NOBODY, TEACHER, missing, None)
        .await;
    assert!(matches!(e, Err(RbacError::UnknownScope(_))), "{e:?}");
    let e = svc
        .add_override(&actor(ROOT), TEACHER, missing, p("exam.read"), Effect::Deny)
        .await;
    assert!(matches!(e, Err(RbacError::UnknownScope(_))), "{e:?}");
}

// ---------------------------------------------------------------------------------------
// assigning and revoking roles
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn assign_role_writes_one_audit_record_then_invalidates_and_announces() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let (writes, log) = (h.writes.clone(), h.log.clone());
    h.repo
        .expect_insert_assignment()
        .times(1)
        .returning(move |a, audit, _| {
            log.push("repo.insert_assignment".into());
            writes.push(&a, audit);
            Ok(())
        });
    h.repo.expect_append_audit().never();
    let (svc, log, writes, clock) = h.build().await;
    let until = start() + Duration::days(7);

    // the target's grant set is cached in process before the change
    assert!(
        !svc.check(Some(NOBODY), p("exam.create"), campus(), None)
            .await
            .unwrap()
            .allowed
    );
    log.take();

    let a = svc
        .assign_role(&actor(IADMIN), NOBODY, TEACHER, campus(), Some(until))
        .await
        .unwrap();
    assert_eq!(
        (a.user_id, a.role.as_str(), a.scope, a.expires_at),
        (NOBODY, TEACHER, campus(), Some(until))
    );
    assert_eq!((a.granted_by, a.granted_at), (Some(IADMIN), clock.now()));
    assert_eq!(
        log.take(),
        [
            get(IADMIN),
            "repo.insert_assignment".into(),
            format!("cache.invalidate {NOBODY}"),
            publish_user(NOBODY),
        ]
    );

    let all = writes.all();
    assert_eq!(all.len(), 1);
    let (written, audit) = &all[0];
    assert_eq!(written, &serde_json::to_value(&a).unwrap());
    assert_eq!(audit.actor, Some(IADMIN));
    assert_eq!(audit.action, "grant.create");
    assert_eq!(audit.target, format!("user:{NOBODY}"));
    assert_eq!(audit.scope, Some(campus()));
    assert_eq!(audit.before, None);
    assert_eq!(audit.after, Some(serde_json::to_value(&a).unwrap()));
    assert_eq!(audit.request_id.as_deref(), Some("req-42"));
    assert_eq!(audit.at, clock.now());

    // the in-process entry of the target was dropped: the next check reads again
    svc.check(Some(NOBODY), p("exam.create"), campus(), None)
        .await
        .unwrap();
    assert_eq!(log.take(), [get(NOBODY)]);
}

#[tokio::test]
async fn assign_role_maps_a_duplicate_to_a_conflict() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.repo
        .expect_insert_assignment()
        .times(1)
        .returning(|_, _, _| Err(StoreError::Duplicate("grant".into())));
    h.cache.expect_invalidate().never();
    h.bus.expect_publish().never();
    let (svc, _, _, _) = h.build().await;
    let e = svc
        .assign_role(&actor(ROOT), NOBODY, TEACHER, inst(), None)
        .await;
    assert!(matches!(e, Err(RbacError::Conflict(_))), "{e:?}");
}

/// The events the repository was handed with each assignment, in call order.
fn recorded_events(h: &mut Harness) -> Arc<Mutex<Vec<Vec<DomainEvent>>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let recorded = events.clone();
    h.repo
        .expect_insert_assignment()
        .returning(move |_, _, handed| {
            lock(&recorded).push(handed.to_vec());
            Ok(())
        });
    events
}

#[tokio::test]
async fn assign_role_hands_the_store_one_role_granted_event() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let events = recorded_events(&mut h);
    let (svc, _, _, _) = h.build().await;
    let until = start() + Duration::days(7);

    let a = svc
        .assign_role(&actor(IADMIN), NOBODY, TEACHER, campus(), Some(until))
        .await
        .unwrap();
    let handed = lock(&events).clone();
    assert_eq!(handed.len(), 1, "one insert");
    let [event] = handed[0].as_slice() else {
        panic!("expected one event, got {:?}", handed[0]);
    };
    assert_eq!(event.name, "rbac.role_granted");
    assert_eq!(event.aggregate_id, NOBODY);
    assert_eq!(event.occurred_at, a.granted_at);
    assert_eq!(
        event.decode::<RbacEvent>(),
        Ok(RbacEvent::RoleGranted {
            assignment_id: a.id,
            user_id: NOBODY,
            role: TEACHER.into(),
            scope: format!("campus:{CAMPUS}"),
            granted_by: Some(IADMIN),
            expires_at: Some(until),
        })
    );
    // The wire form keeps the field names events queued before typing carry.
    assert_eq!(
        event.payload,
        serde_json::json!({
            "event": "rbac.role_granted",
            "assignment_id": a.id,
            "user_id": NOBODY,
            "role": TEACHER,
            "scope": format!("campus:{CAMPUS}"),
            "granted_by": IADMIN,
            "expires_at": until,
        })
    );

    // Every assignment is a new fact with an id of its own (consumers de-duplicate by it).
    svc.assign_role(&actor(ROOT), NOBODY, STUDENT, Scope::Global, None)
        .await
        .unwrap();
    let handed = lock(&events).clone();
    assert_eq!(handed.len(), 2);
    let second = &handed[1][0];
    assert_ne!(second.id, event.id);
    assert_eq!(
        (&second.payload["scope"], &second.payload["expires_at"]),
        (&serde_json::json!("global"), &serde_json::Value::Null)
    );
}

#[tokio::test]
async fn a_refused_assignment_hands_the_store_no_event() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    let events = recorded_events(&mut h);
    h.cache.expect_invalidate().never();
    h.bus.expect_publish().never();
    let (svc, _, _, _) = h.build().await;

    // a teacher lacks role.role_assign; an institute admin cannot grant its own rank
    let e = svc
        .assign_role(&actor(TEACH), NOBODY, STUDENT, inst(), None)
        .await;
    assert!(
        matches!(e, Err(RbacError::Escalation(AssignRefusal::NotPermitted))),
        "{e:?}"
    );
    let e = svc
        .assign_role(&actor(IADMIN), NOBODY, INSTITUTE_ADMIN, inst(), None)
        .await;
    assert!(
        matches!(e, Err(RbacError::Escalation(AssignRefusal::RoleTooHigh))),
        "{e:?}"
    );
    assert!(lock(&events).is_empty(), "{:?}", lock(&events));
}

#[tokio::test]
async fn purge_expired_asks_the_store_for_grants_expired_before_now() {
    let mut h = Harness::new();
    // strict mocks: any other write panics; nothing is invalidated or announced
    h.cache.expect_invalidate().never();
    h.bus.expect_publish().never();
    let later = start() + Duration::hours(5);
    h.repo
        .expect_purge_expired()
        .withf(move |before| *before == later)
        .times(1)
        .returning(|_| Ok(3));
    let (svc, log, _, clock) = h.build().await;
    clock.set(later);
    assert_eq!(svc.purge_expired().await.unwrap(), 3);
    assert_eq!(log.take(), Vec::<String>::new(), "nothing invalidated");
}

#[tokio::test]
async fn purge_expired_reports_storage_errors() {
    let mut h = Harness::new();
    h.repo
        .expect_purge_expired()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable("postgres down".into())));
    let (svc, _, _, _) = h.build().await;
    let e = svc.purge_expired().await;
    assert!(matches!(e, Err(RbacError::Store(_))), "{e:?}");
}

async fn refused_assignment(
    by: Uuid,
    to: Uuid,
    role: &str,
    scope: Scope,
    expires_at: Option<DateTime<Utc>>,
) -> RbacError {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.no_writes();
    let (svc, _, _, _) = h.build().await;
    svc.assign_role(&actor(by), to, role, scope, expires_at)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn nobody_assigns_a_role_to_themselves() {
    for (who, role) in [(IADMIN, STUDENT), (CADMIN, TEACHER), (ROOT, STUDENT)] {
        let e = refused_assignment(who, who, role, campus(), None).await;
        assert!(
            matches!(e, RbacError::Escalation(AssignRefusal::OwnGrant)),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn nobody_assigns_a_role_at_or_above_their_own() {
    for (who, role, scope) in [
        (CADMIN, CAMPUS_ADMIN, campus()),
        (CADMIN, INSTITUTE_ADMIN, campus()),
        (CADMIN, SUPER_ADMIN, campus()),
        (IADMIN, INSTITUTE_ADMIN, inst()),
        (IADMIN, SUPER_ADMIN, campus()),
        (GLOBAL_IADMIN, SUPER_ADMIN, Scope::Global),
    ] {
        let e = refused_assignment(who, NOBODY, role, scope, None).await;
        assert!(
            matches!(e, RbacError::Escalation(AssignRefusal::RoleTooHigh)),
            "{role} by {who}: {e:?}"
        );
    }
}

#[tokio::test]
async fn assigning_needs_role_assign_in_the_scope() {
    for (who, scope) in [
        (TEACH, inst()),         // teachers lack role.role_assign
        (NOBODY, inst()),        // so does everybody without a role
        (CADMIN, inst()),        // a campus admin has it only in the campus
        (IADMIN, Scope::Global), // an institute admin only in the institution
        (IADMIN, Scope::Institution(OTHER_INST)),
    ] {
        let e = refused_assignment(who, ROOT, STUDENT, scope, None).await;
        assert!(
            matches!(e, RbacError::Escalation(AssignRefusal::NotPermitted)),
            "{who} in {scope}: {e:?}"
        );
    }
    let e = refused_assignment(IADMIN, NOBODY, "no_such_role", inst(), None).await;
    assert!(
        matches!(e, RbacError::Escalation(AssignRefusal::UnknownRole(_))),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_expiry_that_is_not_in_the_future_is_refused() {
    for expires in [start() - Duration::seconds(1), start()] {
        let e = refused_assignment(IADMIN, NOBODY, TEACHER, inst(), Some(expires)).await;
        assert!(
            matches!(e, RbacError::Invalid(ref f, _) if f == "expires_at"),
            "{e:?}"
        );
    }
}

fn stored_grant(user_id: Uuid, role: &str, scope: Scope) -> (Uuid, RoleAssignment) {
    let a = assignment(user_id, role, scope);
    (a.id, a)
}

#[tokio::test]
async fn revoke_role_deletes_with_an_audit_record_then_invalidates_and_announces() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let (id, stored) = stored_grant(NOBODY, TEACHER, campus());
    let found = stored.clone();
    h.repo
        .expect_assignment()
        .returning(move |_| Ok(Some(found.clone())));
    let (writes, log) = (h.writes.clone(), h.log.clone());
    h.repo
        .expect_delete_assignment()
        .times(1)
        .returning(move |id, audit| {
            log.push("repo.delete_assignment".into());
            writes.push(&id, audit);
            Ok(())
        });
    let (svc, log, writes, clock) = h.build().await;

    let a = svc.revoke_role(&actor(CADMIN), id).await.unwrap();
    assert_eq!(a, stored);
    let entries = log.take();
    assert_eq!(
        entries[entries.len() - 3..],
        [
            "repo.delete_assignment".to_owned(),
            format!("cache.invalidate {NOBODY}"),
            publish_user(NOBODY),
        ]
    );
    let all = writes.all();
    assert_eq!(all.len(), 1);
    let (deleted, audit) = &all[0];
    assert_eq!(deleted, &serde_json::to_value(id).unwrap());
    assert_eq!(
        (audit.actor, audit.action.as_str(), audit.scope),
        (Some(CADMIN), "grant.revoke", Some(campus()))
    );
    assert_eq!(audit.target, format!("user:{NOBODY}"));
    assert_eq!(audit.before, Some(serde_json::to_value(&stored).unwrap()));
    assert_eq!(audit.after, None);
    assert_eq!(audit.request_id.as_deref(), Some("req-42"));
    assert_eq!(audit.at, clock.now());
}

#[tokio::test]
async fn revoke_role_follows_the_assignment_rule() {
    let cases = [
        // (actor, holder of the grant, role, scope)
        (CADMIN, CADMIN, CAMPUS_ADMIN, campus()), // own grant
        (CADMIN, NOBODY, CAMPUS_ADMIN, campus()), // at the actor's rank
        (IADMIN, ROOT, SUPER_ADMIN, Scope::Global), // above, and outside
        (CADMIN, NOBODY, INSTITUTE_ADMIN, inst()), // above, and outside
        (TEACH, NOBODY, STUDENT, inst()),         // no role.role_assign
        (IADMIN, NOBODY, STUDENT, Scope::Institution(OTHER_INST)), // outside the scope
    ];
    for (who, holder, role, scope) in cases {
        let mut h = Harness::new();
        h.shared_cache_hits();
        h.no_writes();
        let (id, stored) = stored_grant(holder, role, scope);
        h.repo
            .expect_assignment()
            .returning(move |_| Ok(Some(stored.clone())));
        let (svc, _, _, _) = h.build().await;
        let e = svc.revoke_role(&actor(who), id).await.unwrap_err();
        assert!(
            matches!(e, RbacError::Escalation(_)),
            "{role} of {holder} by {who}: {e:?}"
        );
    }

    let mut h = Harness::new();
    h.shared_cache_hits();
    h.no_writes();
    h.repo.expect_assignment().returning(|_| Ok(None));
    let (svc, _, _, _) = h.build().await;
    let e = svc.revoke_role(&actor(ROOT), Uuid::new_v4()).await;
    assert!(matches!(e, Err(RbacError::NotFound(_))), "{e:?}");
}

// ---------------------------------------------------------------------------------------
// overrides and role templates
// ---------------------------------------------------------------------------------------

/// A harness whose repository stores overrides (so the reload after a change sees them).
fn storing_overrides() -> Harness {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let (overrides, writes, log) = (h.overrides.clone(), h.writes.clone(), h.log.clone());
    h.repo.expect_insert_override().returning(move |o, audit| {
        log.push("repo.insert_override".into());
        writes.push(&o, audit);
        lock(&overrides).push(o);
        Ok(())
    });
    h
}

#[tokio::test]
async fn an_allow_override_requires_the_actor_to_hold_the_permission() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.no_writes();
    let (svc, _, _, _) = h.build().await;
    // institute_admin lacks institution.create (super_admin only)
    let e = svc
        .add_override(
            &actor(IADMIN),
            TEACHER,
            inst(),
            p("institution.create"),
            Effect::Allow,
        )
        .await;
    match e {
        Err(RbacError::Forbidden(d)) => assert_eq!(d.reason, Reason::NoGrant),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_allow_override_of_a_held_permission_is_stored_audited_and_takes_effect() {
    let h = storing_overrides();
    let (svc, log, writes, _) = h.build().await;
    let delete = p("enrollment.delete");
    assert!(
        !svc.check(Some(TEACH), delete, inst(), None)
            .await
            .unwrap()
            .allowed
    );
    log.take();

    let o = svc
        .add_override(&actor(IADMIN), TEACHER, inst(), delete, Effect::Allow)
        .await
        .unwrap();
    assert_eq!(
        (o.role.as_str(), o.scope, o.permission, o.effect),
        (TEACHER, inst(), delete, Effect::Allow)
    );
    let entries = log.take();
    assert_eq!(
        entries[entries.len() - 2..],
        ["repo.insert_override".to_owned(), PUBLISH_POLICY.to_owned()]
    );
    let all = writes.all();
    assert_eq!(all.len(), 1);
    let audit = &all[0].1;
    assert_eq!(
        (
            audit.actor,
            audit.action.as_str(),
            audit.target.as_str(),
            audit.scope
        ),
        (
            Some(IADMIN),
            "override.create",
            "role:teacher",
            Some(inst())
        )
    );
    assert_eq!(audit.after, Some(serde_json::to_value(&o).unwrap()));

    // the policy was reloaded with the override
    let d = svc.check(Some(TEACH), delete, inst(), None).await.unwrap();
    assert!(d.allowed, "{d:?}");
    let other = svc
        .check(Some(TEACH), delete, Scope::Institution(OTHER_INST), None)
        .await
        .unwrap();
    assert!(!other.allowed);
}

#[tokio::test]
async fn a_deny_override_needs_no_permission_and_wins() {
    let h = storing_overrides();
    let (svc, _, _, _) = h.build().await;
    let exam = p("exam.create");
    assert!(
        svc.check(Some(TEACH), exam, campus(), None)
            .await
            .unwrap()
            .allowed
    );

    // institute_admin cannot create institutions, but may deny it to teachers
    svc.add_override(
        &actor(IADMIN),
        TEACHER,
        inst(),
        p("institution.create"),
        Effect::Deny,
    )
    .await
    .unwrap();
    svc.add_override(&actor(IADMIN), TEACHER, campus(), exam, Effect::Deny)
        .await
        .unwrap();
    let d = svc.check(Some(TEACH), exam, campus(), None).await.unwrap();
    assert_eq!(
        d,
        Decision {
            allowed: false,
            reason: Reason::DeniedByOverride {
                role: TEACHER.into(),
                scope: campus()
            }
        }
    );
    // outside the campus the template still applies
    assert!(
        svc.check(Some(TEACH), exam, inst(), None)
            .await
            .unwrap()
            .allowed
    );
    assert_eq!(
        svc.policy()
            .role_verdict(TEACHER, exam, &path(Scope::Department(DEPT)).unwrap()),
        RoleVerdict::DeniedIn(campus())
    );
}

#[tokio::test]
async fn overrides_need_role_update_in_the_scope_and_a_lower_role() {
    let cases = [
        (CADMIN, STUDENT, campus()), // campus_admin lacks role.update
        (IADMIN, STUDENT, Scope::Institution(OTHER_INST)), // outside the institution
        (IADMIN, INSTITUTE_ADMIN, inst()), // not below the actor
        (IADMIN, SUPER_ADMIN, inst()),
    ];
    for (who, role, scope) in cases {
        let mut h = Harness::new();
        h.shared_cache_hits();
        h.no_writes();
        let (svc, _, _, _) = h.build().await;
        let e = svc
            .add_override(&actor(who), role, scope, p("post.read"), Effect::Deny)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                RbacError::Forbidden(_) | RbacError::Escalation(AssignRefusal::RoleTooHigh)
            ),
            "{role} by {who} in {scope}: {e:?}"
        );
    }
}

#[tokio::test]
async fn built_in_roles_cannot_be_deleted() {
    for role in [SUPER_ADMIN, TEACHER, "guest"] {
        let mut h = Harness::new();
        h.shared_cache_hits();
        h.no_writes();
        let (svc, _, _, _) = h.build().await;
        let e = svc.delete_role(&actor(ROOT), role).await;
        assert!(matches!(e, Err(RbacError::Conflict(_))), "{role}: {e:?}");
    }
}

#[tokio::test]
async fn a_custom_role_is_deleted_with_an_audit_record() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let custom = RoleTemplate {
        name: "librarian".into(),
        rank: 25,
        description: "Library desk".into(),
        built_in: false,
        inherits: vec![STUDENT.into()],
        permissions: [p("course.read")].into_iter().collect(),
    };
    lock(&h.roles).push(custom.clone());
    let (roles, writes, log) = (h.roles.clone(), h.writes.clone(), h.log.clone());
    h.repo
        .expect_delete_role()
        .times(1)
        .returning(move |name, audit| {
            log.push(format!("repo.delete_role {name}"));
            writes.push(&name, audit);
            lock(&roles).retain(|r| r.name != name);
            Ok(())
        });
    let (svc, log, writes, _) = h.build().await;
    assert!(svc.policy().role("librarian").is_some());

    // only with role.delete (super_admin by default)
    let e = svc.delete_role(&actor(GLOBAL_IADMIN), "librarian").await;
    assert!(matches!(e, Err(RbacError::Forbidden(_))), "{e:?}");

    svc.delete_role(&actor(ROOT), "librarian").await.unwrap();
    let entries = log.take();
    assert_eq!(
        entries[entries.len() - 2..],
        [
            "repo.delete_role librarian".to_owned(),
            PUBLISH_POLICY.to_owned()
        ]
    );
    let audit = &writes.all()[0].1;
    assert_eq!(
        (audit.action.as_str(), audit.target.as_str()),
        ("role.delete", "role:librarian")
    );
    assert_eq!(audit.before, Some(serde_json::to_value(&custom).unwrap()));
    assert!(svc.policy().role("librarian").is_none());

    let e = svc.delete_role(&actor(ROOT), "librarian").await;
    assert!(matches!(e, Err(RbacError::NotFound(_))), "{e:?}");
}

// ---------------------------------------------------------------------------------------
// templates cannot be used to escalate
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn role_templates_cannot_gain_permissions_their_editor_lacks() {
    // A global institute_admin holds role.update globally and may edit campus_admin
    // (rank 60 < 80), which institute_admin inherits: adding a permission the editor
    // lacks would hand it to the editor and to everyone a campus admin can create.
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.no_writes();
    let (svc, _, _, _) = h.build().await;
    let mut perms = svc.policy().role(CAMPUS_ADMIN).unwrap().permissions.clone();
    perms.insert(p("role.create"));
    let e = svc
        .set_role_permissions(&actor(GLOBAL_IADMIN), CAMPUS_ADMIN, perms)
        .await;
    assert!(matches!(e, Err(RbacError::Forbidden(_))), "{e:?}");
}

#[tokio::test]
async fn role_templates_can_be_edited_within_the_editors_permissions() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let (writes, roles) = (h.writes.clone(), h.roles.clone());
    h.repo
        .expect_set_role_permissions()
        .times(1)
        .returning(move |name, perms, audit| {
            writes.push(&perms, audit);
            for r in lock(&roles).iter_mut().filter(|r| r.name == name) {
                r.permissions = perms.clone();
            }
            Ok(())
        });
    let (svc, _, writes, _) = h.build().await;
    let before = svc.policy().role(MODERATOR).unwrap().permissions.clone();
    let mut perms = before.clone();
    perms.insert(p("audit.read")); // institute_admin holds it
    perms.remove(&p("chat.realtime_manage"));
    svc.set_role_permissions(&actor(GLOBAL_IADMIN), MODERATOR, perms.clone())
        .await
        .unwrap();
    let audit = &writes.all()[0].1;
    assert_eq!(audit.action, "role.update");
    assert_eq!(audit.before, Some(serde_json::to_value(&before).unwrap()));
    assert_eq!(audit.after, Some(serde_json::to_value(&perms).unwrap()));
    assert_eq!(svc.policy().role(MODERATOR).unwrap().permissions, perms);
}

#[tokio::test]
async fn a_custom_role_cannot_inherit_from_a_role_ranked_at_or_above_it() {
    // With only the rank of the new role checked, a low-ranked role inheriting
    // super_admin could be handed out by anyone with role.role_assign.
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.no_writes();
    let (svc, _, _, _) = h.build().await;
    let sneaky = RoleTemplate {
        name: "helper".into(),
        rank: 10,
        description: String::new(),
        built_in: false,
        inherits: vec![SUPER_ADMIN.into()],
        permissions: BTreeSet::new(),
    };
    let e = svc.create_role(&actor(ROOT), sneaky).await;
    assert!(
        matches!(e, Err(RbacError::Invalid(ref f, _)) if f == "inherits"),
        "{e:?}"
    );
}

fn librarian(rank: u8, inherits: &[&str], permissions: &[&str]) -> RoleTemplate {
    RoleTemplate {
        name: "librarian".into(),
        rank,
        description: "Library desk".into(),
        built_in: true, // the service stores every created role as custom
        inherits: inherits.iter().map(|r| (*r).to_owned()).collect(),
        permissions: permissions.iter().map(|t| p(t)).collect(),
    }
}

#[tokio::test]
async fn a_custom_role_cannot_hold_permissions_its_creator_lacks() {
    let institution_create = librarian(50, &[STUDENT], &["institution.create"]);
    let inherits_higher = librarian(30, &[TEACHER], &[]);
    let ranked_too_high = librarian(80, &[STUDENT], &[]);
    for role in [institution_create, inherits_higher, ranked_too_high] {
        let mut h = Harness::new();
        h.shared_cache_hits();
        h.no_writes();
        let (svc, _, _, _) = h.build().await;
        let rank = role.rank;
        let e = svc.create_role(&actor(CREATOR), role).await.unwrap_err();
        match rank {
            // institute_admin cannot create institutions
            50 => assert!(matches!(e, RbacError::Forbidden(_)), "{e:?}"),
            // teacher (40) is not below 30
            30 => assert!(
                matches!(e, RbacError::Invalid(ref f, _) if f == "inherits"),
                "{e:?}"
            ),
            // not below the creator's own rank (institute_admin, 80)
            _ => assert!(
                matches!(e, RbacError::Escalation(AssignRefusal::RoleTooHigh)),
                "{e:?}"
            ),
        }
    }
}

#[tokio::test]
async fn a_custom_role_within_the_creators_permissions_is_created_and_audited() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let (roles, writes, log) = (h.roles.clone(), h.writes.clone(), h.log.clone());
    h.repo
        .expect_insert_role()
        .times(1)
        .returning(move |role, audit| {
            log.push(format!("repo.insert_role {}", role.name));
            writes.push(&role, audit);
            lock(&roles).push(role);
            Ok(())
        });
    let (svc, log, writes, _) = h.build().await;

    let created = svc
        .create_role(
            &actor(CREATOR),
            librarian(25, &[STUDENT], &["audit.read", "course.update"]),
        )
        .await
        .unwrap();
    assert!(!created.built_in);
    let entries = log.take();
    assert_eq!(
        entries[entries.len() - 2..],
        [
            "repo.insert_role librarian".to_owned(),
            PUBLISH_POLICY.to_owned()
        ]
    );
    let (stored, audit) = &writes.all()[0];
    assert_eq!(stored, &serde_json::to_value(&created).unwrap());
    assert_eq!(
        (audit.actor, audit.action.as_str(), audit.target.as_str()),
        (Some(CREATOR), "role.create", "role:librarian")
    );
    assert_eq!(audit.after, Some(serde_json::to_value(&created).unwrap()));
    let policy = svc.policy();
    let effective = policy.effective_permissions("librarian").unwrap();
    assert!(effective.contains(&p("audit.read")) && effective.contains(&p("chat.read")));
}

#[tokio::test]
async fn roles_in_lists_the_roles_in_force_on_the_scope_highest_rank_first() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    let (svc, _, _, _) = h.build().await;

    // the institution's teacher holds it in the campus below too
    let roles = svc.roles_in(TEACH, campus()).await.unwrap();
    assert_eq!(roles, [TEACHER, "basic_user", "guest"]);
    // … but not in another institution
    let roles = svc
        .roles_in(TEACH, Scope::Institution(OTHER_INST))
        .await
        .unwrap();
    assert_eq!(roles, ["basic_user", "guest"]);
    let roles = svc.roles_in(ROOT, campus()).await.unwrap();
    assert_eq!(roles[0], SUPER_ADMIN);
    assert!(matches!(
        svc.roles_in(TEACH, Scope::Institution(MISSING)).await,
        Err(RbacError::UnknownScope(_))
    ));
}

// ---------------------------------------------------------------------------------------
// direct permission grants
// ---------------------------------------------------------------------------------------

/// What a refusal must look like.
type Expect = fn(&RbacError) -> bool;

fn stored_permission_grant(user_id: Uuid, permission: &str, scope: Scope) -> PermissionGrant {
    PermissionGrant {
        id: Uuid::new_v4(),
        user_id,
        permission: p(permission),
        scope,
        expires_at: None,
        granted_by: Some(ROOT),
        granted_at: start() - Duration::days(1),
    }
}

#[tokio::test]
async fn revoking_a_permission_grant_follows_the_granting_rule() {
    let cases: [(Uuid, Uuid, &str, Scope, Expect); 4] = [
        // the institute_admin may assign roles in the institution, but does not hold
        // institution.delete there, so cannot take it away either
        (IADMIN, NOBODY, "institution.delete", inst(), |e| {
            matches!(e, RbacError::Forbidden(_))
        }),
        // no role.role_assign
        (TEACH, NOBODY, "debate_topic.create", inst(), |e| {
            matches!(e, RbacError::Forbidden(_))
        }),
        // outside the actor's scope
        (
            IADMIN,
            NOBODY,
            "debate_topic.create",
            Scope::Institution(OTHER_INST),
            |e| matches!(e, RbacError::Forbidden(_)),
        ),
        // never one's own
        (ROOT, ROOT, "exam.read", Scope::Global, |e| {
            matches!(e, RbacError::Escalation(AssignRefusal::OwnGrant))
        }),
    ];
    for (who, holder, permission, scope, expected) in cases {
        let mut h = Harness::new();
        h.shared_cache_hits();
        h.no_writes();
        h.repo.expect_delete_permission_grant().never();
        let g = stored_permission_grant(holder, permission, scope);
        h.repo
            .expect_permission_grant()
            .returning(move |_| Ok(Some(g.clone())));
        let (svc, _, _, _) = h.build().await;
        let e = svc
            .revoke_permission(&actor(who), Uuid::new_v4())
            .await
            .unwrap_err();
        assert!(expected(&e), "{permission} of {holder} by {who}: {e:?}");
    }

    // within the rule: revoked, audited, announced
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let g = stored_permission_grant(NOBODY, "debate_topic.create", inst());
    let found = g.clone();
    h.repo
        .expect_permission_grant()
        .returning(move |_| Ok(Some(found.clone())));
    let writes = h.writes.clone();
    h.repo
        .expect_delete_permission_grant()
        .times(1)
        .returning(move |id, audit| {
            writes.push(&id, audit);
            Ok(())
        });
    let (svc, log, writes, _) = h.build().await;
    svc.revoke_permission(&actor(IADMIN), g.id).await.unwrap();
    let (_, audit) = writes.all().pop().unwrap();
    assert_eq!(
        (audit.action.as_str(), audit.scope),
        ("permission_grant.revoke", Some(inst()))
    );
    assert_eq!(audit.before, Some(serde_json::to_value(&g).unwrap()));
    assert_eq!(log.take().last().unwrap(), &publish_user(NOBODY));
}

// ---------------------------------------------------------------------------------------
// protected built-in roles, resets and start-up repairs
// ---------------------------------------------------------------------------------------

/// A harness whose repository stores template edits (so the reload after a change sees
/// them), logging each.
fn storing_templates() -> Harness {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.invalidations();
    let (roles, writes, log) = (h.roles.clone(), h.writes.clone(), h.log.clone());
    h.repo
        .expect_set_role_permissions()
        .returning(move |name, perms, audit| {
            log.push(format!("repo.set_role_permissions {name}"));
            writes.push(&perms, audit);
            for r in lock(&roles).iter_mut().filter(|r| r.name == name) {
                r.permissions = perms.clone();
            }
            Ok(())
        });
    h
}

fn template_of(roles: &Arc<Mutex<Vec<RoleTemplate>>>, name: &str) -> RoleTemplate {
    lock(roles).iter().find(|r| r.name == name).unwrap().clone()
}

#[tokio::test]
async fn super_admin_cannot_lose_a_permission() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    let refused = refusals_are_audited(&mut h);
    let (svc, _, _, _) = h.build().await;
    let mut all: BTreeSet<Permission> = Permission::all().collect();
    let e = svc
        .set_role_permissions(&actor(ROOT), SUPER_ADMIN, BTreeSet::new())
        .await;
    assert!(
        matches!(
            e,
            Err(RbacError::Protected(
                crate::Protected::SuperAdminKeepsEverything(_)
            ))
        ),
        "{e:?}"
    );
    all.remove(&p("audit.read"));
    let e = svc
        .set_role_permissions(&actor(ROOT), SUPER_ADMIN, all)
        .await;
    assert!(
        matches!(&e, Err(RbacError::Protected(_)))
            && e.as_ref().unwrap_err().to_string().contains("audit.read"),
        "{e:?}"
    );
    // not even in one institution
    let e = svc
        .add_override(
            &actor(ROOT),
            SUPER_ADMIN,
            inst(),
            p("role.read"),
            Effect::Deny,
        )
        .await;
    assert!(matches!(e, Err(RbacError::Protected(_))), "{e:?}");
    // and it still holds everything
    let d = svc
        .check(Some(ROOT), p("audit.read"), Scope::Global, None)
        .await
        .unwrap();
    assert!(d.allowed);
    // every attempt is in the audit trail, with who asked for what
    let audits = lock(&refused).clone();
    let actions: Vec<&str> = audits.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "role.update_refused",
            "role.update_refused",
            "override.create_refused"
        ]
    );
    assert_eq!(audits[0].actor, Some(ROOT));
    assert_eq!(audits[0].after, Some(serde_json::json!([])));
}

/// Protected roles refuse every change, but each refusal is appended to the audit trail:
/// returns what was appended.
fn refusals_are_audited(h: &mut Harness) -> Arc<Mutex<Vec<AuditRecord>>> {
    h.repo.expect_set_role_permissions().never();
    h.repo.expect_insert_override().never();
    h.repo.expect_insert_role().never();
    let refused: Arc<Mutex<Vec<AuditRecord>>> = Arc::default();
    let r = refused.clone();
    h.repo.expect_append_audit().returning(move |a| {
        lock(&r).push(a);
        Ok(())
    });
    refused
}

#[tokio::test]
async fn guest_and_basic_user_cannot_gain_a_write() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    let refused = refusals_are_audited(&mut h);
    let (svc, _, _, _) = h.build().await;
    let mut guest = svc.policy().role(GUEST).unwrap().permissions.clone();
    guest.insert(p("exam.delete"));
    let e = svc.set_role_permissions(&actor(ROOT), GUEST, guest).await;
    assert!(
        matches!(
            e,
            Err(RbacError::Protected(crate::Protected::GuestReadsOnly(_)))
        ),
        "{e:?}"
    );
    let e = svc
        .add_override(
            &actor(ROOT),
            GUEST,
            inst(),
            p("debate_topic.create"),
            Effect::Allow,
        )
        .await;
    assert!(matches!(e, Err(RbacError::Protected(_))), "{e:?}");
    let mut basic = svc.policy().role(BASIC_USER).unwrap().permissions.clone();
    basic.insert(p("role.role_assign"));
    let e = svc
        .set_role_permissions(&actor(ROOT), BASIC_USER, basic)
        .await;
    assert!(
        matches!(
            e,
            Err(RbacError::Protected(crate::Protected::BasicUserCeiling(_)))
        ),
        "{e:?}"
    );
    // anonymous callers still cannot delete an exam
    let d = svc
        .check(None, p("exam.delete"), inst(), None)
        .await
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(lock(&refused).len(), 3, "each refusal audited");
}

#[tokio::test]
async fn guest_may_still_gain_reads_and_lose_anything() {
    let h = storing_templates();
    let (svc, _, _, _) = h.build().await;
    let mut guest = svc.policy().role(GUEST).unwrap().permissions.clone();
    guest.insert(p("exam.read"));
    guest.remove(&p("debate_topic.read"));
    svc.set_role_permissions(&actor(ROOT), GUEST, guest.clone())
        .await
        .unwrap();
    assert_eq!(svc.policy().role(GUEST).unwrap().permissions, guest);
}

#[tokio::test]
async fn reset_restores_a_wrecked_template_with_an_audit_record() {
    let h = storing_templates();
    let roles = h.roles.clone();
    let (svc, log, writes, clock) = h.build().await;
    // wreck guest within the rules: it no longer reads topics
    let mut wrecked = svc.policy().role(GUEST).unwrap().permissions.clone();
    wrecked.remove(&p("debate_topic.read"));
    svc.set_role_permissions(&actor(ROOT), GUEST, wrecked.clone())
        .await
        .unwrap();
    assert!(
        !svc.check(None, p("debate_topic.read"), inst(), None)
            .await
            .unwrap()
            .allowed
    );
    log.take();

    let reset = svc.reset_role(&actor(ROOT), GUEST).await.unwrap();
    let defaults = default_roles()
        .into_iter()
        .find(|r| r.name == GUEST)
        .unwrap();
    assert_eq!(reset.permissions, defaults.permissions);
    assert_eq!(template_of(&roles, GUEST), defaults);
    let entries = log.take();
    assert_eq!(
        entries[entries.len() - 2..],
        [
            "repo.set_role_permissions guest".to_owned(),
            PUBLISH_POLICY.to_owned()
        ]
    );
    let (stored, audit) = writes.all().pop().unwrap();
    assert_eq!(stored, serde_json::to_value(&defaults.permissions).unwrap());
    assert_eq!(
        (
            audit.actor,
            audit.action.as_str(),
            audit.target.as_str(),
            audit.scope
        ),
        (Some(ROOT), "role.reset", "role:guest", None)
    );
    assert_eq!(audit.before, Some(serde_json::to_value(&wrecked).unwrap()));
    assert_eq!(
        audit.after,
        Some(serde_json::to_value(&defaults.permissions).unwrap())
    );
    assert_eq!(audit.at, clock.now());
    // the policy in force has the default back (guests read what is public)
    assert!(
        svc.check_resource(None, p("debate_topic.read"), inst(), None, true)
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test]
async fn reset_follows_the_rules_of_editing_and_knows_only_built_in_roles() {
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.no_writes();
    lock(&h.roles).push(RoleTemplate {
        built_in: false,
        ..librarian(25, &[STUDENT], &["course.read"])
    });
    let (svc, _, _, _) = h.build().await;
    let cases: [(Uuid, &str, Expect); 5] = [
        // a custom role has no defaults
        (ROOT, "librarian", |e| matches!(e, RbacError::Conflict(_))),
        (ROOT, "nobody_has_this", |e| {
            matches!(e, RbacError::NotFound(_))
        }),
        // role.update globally is needed
        (IADMIN, STUDENT, |e| matches!(e, RbacError::Forbidden(_))),
        (NOBODY, GUEST, |e| matches!(e, RbacError::Forbidden(_))),
        // and a role ranked below the actor's
        (GLOBAL_IADMIN, INSTITUTE_ADMIN, |e| {
            matches!(e, RbacError::Escalation(AssignRefusal::RoleTooHigh))
        }),
    ];
    for (who, role, expected) in cases {
        let e = svc.reset_role(&actor(who), role).await.unwrap_err();
        assert!(expected(&e), "{role} by {who}: {e:?}");
    }
}

#[tokio::test]
async fn reset_gives_back_nothing_the_actor_lacks() {
    // campus_admin lost role.role_assign; a global institute_admin who no longer holds it
    // either (it inherits campus_admin) may not reset it back into their own hands.
    let mut h = Harness::new();
    h.shared_cache_hits();
    h.no_writes();
    for r in lock(&h.roles).iter_mut().filter(|r| r.name == CAMPUS_ADMIN) {
        r.permissions.remove(&p("role.role_assign"));
    }
    let (svc, _, _, _) = h.build().await;
    let e = svc.reset_role(&actor(GLOBAL_IADMIN), CAMPUS_ADMIN).await;
    assert!(matches!(e, Err(RbacError::Forbidden(_))), "{e:?}");
}

#[tokio::test]
async fn init_repairs_protected_roles_and_leaves_edited_ones_alone() {
    let mut h = storing_templates();
    h.repo.expect_seed_roles().returning(|_| Ok(0));
    {
        let mut roles = lock(&h.roles);
        for r in roles.iter_mut() {
            match r.name.as_str() {
                // seeded before the job resource type, then wrecked by a fuzzer
                SUPER_ADMIN => r.permissions.retain(|p| {
                    p.resource != ResourceType::Job && *p != perm(ResourceType::Role, Action::Read)
                }),
                GUEST => {
                    r.permissions.insert(p("exam.delete"));
                }
                // an operator's edit: theirs to keep
                TEACHER => r.permissions.clear(),
                _ => {}
            }
        }
    }
    let bad_deny = Override {
        id: Uuid::from_u128(0xD1),
        role: SUPER_ADMIN.into(),
        scope: inst(),
        permission: p("role.read"),
        effect: Effect::Deny,
    };
    let bad_allow = Override {
        id: Uuid::from_u128(0xD2),
        role: GUEST.into(),
        scope: inst(),
        permission: p("debate_session.delete"),
        effect: Effect::Allow,
    };
    let fine = Override {
        id: Uuid::from_u128(0xD3),
        role: STUDENT.into(),
        scope: inst(),
        permission: p("message.create"),
        effect: Effect::Deny,
    };
    lock(&h.overrides).extend([bad_deny.clone(), bad_allow.clone(), fine.clone()]);
    let (overrides, writes, log) = (h.overrides.clone(), h.writes.clone(), h.log.clone());
    h.repo
        .expect_delete_override()
        .times(2)
        .returning(move |id, audit| {
            log.push(format!("repo.delete_override {id}"));
            writes.push(&id, audit);
            let mut all = lock(&overrides);
            let at = all.iter().position(|o| o.id == id).unwrap();
            Ok(all.remove(at))
        });
    let roles = h.roles.clone();
    let (svc, log, writes, _) = h.build().await;
    log.take();

    svc.init().await.unwrap();
    let mut entries = log.take();
    entries.sort();
    assert_eq!(
        entries,
        [
            PUBLISH_POLICY.to_owned(),
            format!("repo.delete_override {}", bad_deny.id),
            format!("repo.delete_override {}", bad_allow.id),
            "repo.set_role_permissions guest".to_owned(),
            "repo.set_role_permissions super_admin".to_owned(),
        ]
    );
    let all: BTreeSet<Permission> = Permission::all().collect();
    assert_eq!(template_of(&roles, SUPER_ADMIN).permissions, all);
    let guest_default = default_roles()
        .into_iter()
        .find(|r| r.name == GUEST)
        .unwrap();
    assert_eq!(template_of(&roles, GUEST), guest_default);
    assert!(template_of(&roles, TEACHER).permissions.is_empty());
    let audits: Vec<(String, String, Option<Uuid>)> = writes
        .all()
        .into_iter()
        .map(|(_, a)| (a.action, a.target, a.actor))
        .collect();
    assert!(audits.contains(&("role.repair".into(), "role:super_admin".into(), None)));
    assert!(audits.contains(&("override.repair".into(), "role:guest".into(), None)));
    // the policy in force is the repaired one
    let d = svc
        .check(Some(ROOT), p("job.update"), Scope::Global, None)
        .await
        .unwrap();
    assert!(d.allowed);
    let d = svc
        .check(Some(ROOT), p("role.read"), inst(), None)
        .await
        .unwrap();
    assert!(d.allowed, "{d:?}");
    assert!(
        !svc.check(None, p("debate_session.delete"), inst(), None)
            .await
            .unwrap()
            .allowed
    );

    // a second start finds nothing to repair
    log.take();
    svc.init().await.unwrap();
    assert!(log.take().is_empty());
}

// ---------------------------------------------------------------------------------------
// private by default: memberships and reach
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_member_reads_inside_their_unit_and_nothing_private_elsewhere() {
    let mut h = Harness::new();
    h.shared_cache_misses(subject_of);
    lock(&h.members).push((NOBODY, campus()));
    let (svc, _, _, _) = h.build().await;
    let read = p("debate_session.read");
    let dept = Scope::Department(DEPT);
    let d = svc.check(Some(NOBODY), read, dept, None).await.unwrap();
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        d.reason,
        Reason::Role {
            role: "member".into(),
            scope: campus(),
            grant_id: None
        }
    );
    // Above the unit, beside it: private, so refused.
    assert!(
        !svc.check(Some(NOBODY), read, inst(), None)
            .await
            .unwrap()
            .allowed
    );
    let other = Scope::Institution(OTHER_INST);
    assert!(
        !svc.check(Some(NOBODY), read, other, None)
            .await
            .unwrap()
            .allowed
    );
    // Opened to the public, anyone reads it, signed in or not.
    let d = svc
        .check_resource(None, read, other, None, true)
        .await
        .unwrap();
    assert!(d.allowed, "{d:?}");
    // Membership gives no writes.
    let create = p("debate_session.create");
    assert!(
        !svc.check(Some(NOBODY), create, dept, None)
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test]
async fn reach_lists_the_units_a_caller_is_present_in() {
    let mut h = Harness::new();
    h.shared_cache_misses(subject_of);
    lock(&h.members).push((NOBODY, campus()));
    let (svc, _, _, _) = h.build().await;
    let read = p("debate_session.read");
    let dept = Scope::Department(DEPT);
    assert_eq!(
        svc.reach(Some(NOBODY), read).await.unwrap(),
        Reach::Within(vec![Scope::Global, campus(), dept])
    );
    assert_eq!(
        svc.reach(Some(TEACH), read).await.unwrap(),
        Reach::Within(vec![Scope::Global, inst(), campus(), dept])
    );
    assert_eq!(
        svc.reach(Some(ROOT), read).await.unwrap(),
        Reach::Everywhere
    );
    assert_eq!(
        svc.reach(None, read).await.unwrap(),
        Reach::Within(vec![Scope::Global])
    );
}

#[tokio::test]
async fn forgetting_a_user_rereads_their_memberships() {
    let mut h = Harness::new();
    h.shared_cache_misses(subject_of);
    h.invalidations();
    let members = h.members.clone();
    lock(&members).push((NOBODY, inst()));
    let (svc, _, _, _) = h.build().await;
    let read = p("debate_topic.read");
    assert!(
        svc.check(Some(NOBODY), read, inst(), None)
            .await
            .unwrap()
            .allowed
    );
    lock(&members).clear();
    // Still cached until someone says the membership changed.
    assert!(
        svc.check(Some(NOBODY), read, inst(), None)
            .await
            .unwrap()
            .allowed
    );
    svc.forget_user(NOBODY).await;
    assert!(
        !svc.check(Some(NOBODY), read, inst(), None)
            .await
            .unwrap()
            .allowed
    );
}

// ---------------------------------------------------------------------------------------
// lists: the scopes where a caller holds a permission
// ---------------------------------------------------------------------------------------

fn deny(role: &str, scope: Scope, permission: &str) -> Override {
    Override {
        id: Uuid::new_v4(),
        role: role.into(),
        scope,
        permission: p(permission),
        effect: Effect::Deny,
    }
}

#[tokio::test]
async fn an_institution_admin_reads_grants_in_their_institution_subtree_only() {
    let mut h = Harness::new();
    h.shared_cache_misses(subject_of);
    let (svc, _, _, _) = h.build().await;
    let read = p("role.read");
    let dept = Scope::Department(DEPT);
    assert_eq!(
        svc.scopes_with(Some(IADMIN), read).await.unwrap(),
        ScopeSet::Only(vec![inst(), campus(), dept])
    );
    // a campus admin: their campus and what is inside, not the institution above it
    assert_eq!(
        svc.scopes_with(Some(CADMIN), read).await.unwrap(),
        ScopeSet::Only(vec![campus(), dept])
    );
    assert_eq!(
        svc.scopes_with(Some(ROOT), read).await.unwrap(),
        ScopeSet::all()
    );
    // a teacher holds roles in the institution, but not role.read: nothing
    assert!(svc.scopes_with(Some(TEACH), read).await.unwrap().is_empty());
    assert!(svc.scopes_with(None, read).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deny_override_removes_its_whole_subtree() {
    let mut h = Harness::new();
    h.shared_cache_misses(subject_of);
    lock(&h.overrides).extend([
        deny(
            INSTITUTE_ADMIN,
            Scope::Institution(OTHER_INST),
            "audit.read",
        ),
        deny(INSTITUTE_ADMIN, campus(), "audit.read"),
    ]);
    let (svc, _, _, _) = h.build().await;
    let read = p("audit.read");
    // held globally: everything but the denied institution, and the denied campus with
    // its department
    assert_eq!(
        svc.scopes_with(Some(GLOBAL_IADMIN), read).await.unwrap(),
        ScopeSet::AllBut(vec![
            Scope::Institution(OTHER_INST),
            campus(),
            Scope::Department(DEPT)
        ])
    );
    // held in the institution: the institution itself is all that is left
    assert_eq!(
        svc.scopes_with(Some(IADMIN), read).await.unwrap(),
        ScopeSet::Only(vec![inst()])
    );
    // a super_admin's role is not the one denied
    assert_eq!(
        svc.scopes_with(Some(ROOT), read).await.unwrap(),
        ScopeSet::all()
    );
}

#[tokio::test]
async fn a_direct_grant_counts_until_it_expires_and_a_role_grant_beneath_a_deny_still_holds() {
    const HOLDER: Uuid = Uuid::from_u128(0x200);
    let mut h = Harness::new();
    h.shared_cache_misses(|u| {
        if u != HOLDER {
            return subject_of(u);
        }
        let grant = PermissionGrant {
            id: Uuid::new_v4(),
            user_id: u,
            permission: p("debate_session.realtime_manage"),
            scope: Scope::Institution(OTHER_INST),
            expires_at: Some(start() + Duration::hours(1)),
            granted_by: Some(ROOT),
            granted_at: start(),
        };
        // moderator of the institution, whose campus denies moderators that permission,
        // and moderator again of the department inside that campus
        let roles = vec![
            assignment(u, MODERATOR, inst()),
            assignment(u, TEACHER, Scope::Department(DEPT)),
        ];
        Subject::user(u, roles, vec![grant])
    });
    lock(&h.overrides).push(deny(MODERATOR, campus(), "debate_session.realtime_manage"));
    let (svc, _, _, clock) = h.build().await;
    let manage = p("debate_session.realtime_manage");
    assert_eq!(
        svc.scopes_with(Some(HOLDER), manage).await.unwrap(),
        ScopeSet::Only(vec![
            inst(),
            Scope::Institution(OTHER_INST),
            Scope::Department(DEPT)
        ])
    );
    // the cached grant set still holds the grant: its expiry alone ends it
    clock.advance(Duration::hours(2));
    assert_eq!(
        svc.scopes_with(Some(HOLDER), manage).await.unwrap(),
        ScopeSet::Only(vec![inst(), Scope::Department(DEPT)])
    );
}

#[tokio::test]
async fn a_member_reads_their_unit_and_what_is_kept_globally() {
    let mut h = Harness::new();
    h.shared_cache_misses(subject_of);
    lock(&h.members).push((NOBODY, campus()));
    let (svc, _, _, _) = h.build().await;
    // basic_user reads what is global; the membership adds the campus subtree
    assert_eq!(
        svc.scopes_with(Some(NOBODY), p("debate_session.read"))
            .await
            .unwrap(),
        ScopeSet::Only(vec![Scope::Global, campus(), Scope::Department(DEPT)])
    );
    // members moderate nothing
    assert!(
        svc.scopes_with(Some(NOBODY), p("debate_session.realtime_manage"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn overrides_of_roles_the_caller_does_not_hold_cost_no_lookups() {
    let mut h = Harness::new();
    h.shared_cache_misses(subject_of);
    // a deny for teachers in the campus: the institution admin holds no teacher role
    lock(&h.overrides).push(deny(TEACHER, campus(), "role.read"));
    let (svc, log, _, _) = h.build().await;
    log.take();
    assert_eq!(
        svc.scopes_with(Some(IADMIN), p("role.read")).await.unwrap(),
        ScopeSet::Only(vec![inst(), campus(), Scope::Department(DEPT)])
    );
    let paths: Vec<String> = log
        .take()
        .into_iter()
        .filter(|e| e.starts_with("scopes.path_of"))
        .collect();
    assert_eq!(paths, [format!("scopes.path_of {}", inst())]);
}
