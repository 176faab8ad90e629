//! Decision latency of the RBAC engine: the pure function, a warm `RbacService::check`
//! (grant set and scope path cached in process), and cache misses served by the shared
//! cache (Redis) or the database (PostgreSQL).

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain_core::{Clock, SystemClock};
use domain_rbac::{
    AccessRequest, Action, InvalidationBus, Policy, RbacRepository, RbacService, ResourceType,
    RoleAssignment, Scope, ScopeDirectory, ScopePath, Subject, SubjectCache, decide, default_roles,
    perm,
};
use uuid::Uuid;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn per_call(total: Duration, n: u32) -> Duration {
    total / n
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_micros(10) {
        format!("{} ns", d.as_nanos())
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

/// The pure decision over a realistic subject: 3 role grants, a 4-level target path.
pub fn pure_decision() {
    let policy = Policy::new(default_roles(), vec![], 1);
    let (i, c, d) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let path = ScopePath::new(vec![
        Scope::Department(d),
        Scope::Campus(c),
        Scope::Institution(i),
    ])
    .unwrap();
    let user = Uuid::new_v4();
    #[allow(clippy::disallowed_methods)] // a benchmark reads the wall clock once
    let now = SystemClock.now();
    let grant = |role: &str, scope| RoleAssignment {
        id: Uuid::new_v4(),
        user_id: user,
        role: role.into(),
        scope,
        expires_at: None,
        granted_by: None,
        granted_at: now,
    };
    let subject = Subject::user(
        user,
        vec![
            grant("student", Scope::Institution(Uuid::new_v4())),
            grant("moderator", Scope::Campus(Uuid::new_v4())),
            grant("teacher", Scope::Institution(i)),
        ],
        vec![],
    );
    let allowed = AccessRequest::new(perm(ResourceType::Exam, Action::GradeManage), &path);
    let denied = AccessRequest::new(perm(ResourceType::Institution, Action::Delete), &path);
    for (label, req) in [
        ("allow via 3rd grant", allowed),
        ("default deny (all grants tried)", denied),
    ] {
        let n = 200_000u32;
        let runs: Vec<Duration> = (0..7)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(decide(
                        &policy,
                        std::hint::black_box(&subject),
                        &req,
                        now,
                    ));
                }
                per_call(t.elapsed(), n)
            })
            .collect();
        println!(
            "| pure `decide` — {label} | {} per decision (median of 7 × {n}) |",
            fmt(median(runs))
        );
    }
}

/// `RbacService::check` for one user and scope: warm, shared-cache hit, database.
pub async fn service_check(
    label: &str,
    repo: Arc<dyn RbacRepository>,
    scopes: Arc<dyn ScopeDirectory>,
    cache: Arc<dyn SubjectCache>,
    bus: Arc<dyn InvalidationBus>,
    user: Uuid,
    scope: Scope,
) {
    let svc = RbacService::new(repo, scopes, cache.clone(), bus, Arc::new(SystemClock));
    svc.init().await.expect("init");
    let p = perm(ResourceType::Institution, Action::Update);
    assert!(
        svc.check(Some(user), p, scope, None)
            .await
            .expect("check")
            .allowed
    );

    let n = 20_000u32;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(svc.check(Some(user), p, scope, None).await.expect("check"));
    }
    println!(
        "| {label}: warm `RbacService::check` (in-process hit) | {} per decision (n={n}) |",
        fmt(per_call(t.elapsed(), n))
    );

    // bypass the in-process cache: grant sets come from the shared cache
    svc.set_feed_healthy(false);
    let n = 2_000u32;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(svc.check(Some(user), p, scope, None).await.expect("check"));
    }
    println!(
        "| {label}: in-process cache off — grant set from the shared cache, scope path from the directory | {} per decision (n={n}) |",
        fmt(per_call(t.elapsed(), n))
    );

    let t = Instant::now();
    for _ in 0..n {
        cache.invalidate(user).await.expect("invalidate");
        std::hint::black_box(svc.check(Some(user), p, scope, None).await.expect("check"));
    }
    println!(
        "| {label}: in-process cache off and shared entry dropped — invalidate + repository read + cache fill | {} per decision (n={n}) |",
        fmt(per_call(t.elapsed(), n))
    );
}
