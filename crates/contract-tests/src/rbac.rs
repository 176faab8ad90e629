//! Contract of [`RbacRepository`].
//!
//! Every contract names its roles, users, scopes and audit actors uniquely, and reads
//! back only what it wrote (audit records by their actor, assignments by user or
//! scope), so it also holds on a store that already has data.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use domain_core::{Clock, StoreError};
use domain_identity::UserRepository;
use domain_rbac::{
    Action, AuditCursor, AuditFilter, AuditRecord, Effect, GrantFilter, Override, Permission,
    PermissionGrant, RbacRepository, ResourceType, RoleAssignment, RoleTemplate, Scope, ScopeSet,
    Subject, default_roles, perm,
};
use uuid::Uuid;

use crate::{clock, existing_user, tag};

/// A role name no other contract uses.
fn role_name(prefix: &str) -> String {
    format!("{prefix}_{}", tag())
}

fn template(name: &str, rank: u8, inherits: &[&str], permissions: &[Permission]) -> RoleTemplate {
    RoleTemplate {
        name: name.to_owned(),
        rank,
        description: format!("The {name} role"),
        built_in: false,
        inherits: inherits.iter().map(|s| (*s).to_owned()).collect(),
        permissions: permissions.iter().copied().collect(),
    }
}

/// An audit record by `actor` at `at`, with every optional field set.
fn audit(
    actor: Uuid,
    action: &str,
    target: &str,
    scope: Option<Scope>,
    at: DateTime<Utc>,
) -> AuditRecord {
    AuditRecord {
        id: Uuid::new_v4(),
        at,
        actor: Some(actor),
        action: action.to_owned(),
        target: target.to_owned(),
        scope,
        before: Some(serde_json::json!({ "state": "before", "n": 1 })),
        after: Some(serde_json::json!({ "state": "after", "list": [1, 2, 3], "none": null })),
        request_id: Some(format!("req-{}", tag())),
    }
}

fn assignment(
    user_id: Uuid,
    role: &str,
    scope: Scope,
    expires_at: Option<DateTime<Utc>>,
    granted_by: Option<Uuid>,
    granted_at: DateTime<Utc>,
) -> RoleAssignment {
    RoleAssignment {
        id: Uuid::new_v4(),
        user_id,
        role: role.to_owned(),
        scope,
        expires_at,
        granted_by,
        granted_at,
    }
}

fn permission_grant(
    user_id: Uuid,
    permission: Permission,
    scope: Scope,
    expires_at: Option<DateTime<Utc>>,
    granted_by: Option<Uuid>,
    granted_at: DateTime<Utc>,
) -> PermissionGrant {
    PermissionGrant {
        id: Uuid::new_v4(),
        user_id,
        permission,
        scope,
        expires_at,
        granted_by,
        granted_at,
    }
}

fn institution() -> Scope {
    Scope::Institution(Uuid::new_v4())
}

/// Every audit record of `actor`, newest first.
async fn trail(repo: &dyn RbacRepository, actor: Uuid) -> Vec<AuditRecord> {
    let filter = AuditFilter {
        actor: Some(actor),
        ..AuditFilter::default()
    };
    repo.list_audit(filter, None, 1000).await.unwrap()
}

async fn role(repo: &dyn RbacRepository, name: &str) -> Option<RoleTemplate> {
    repo.roles()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == name)
}

fn is_duplicate(result: Result<impl std::fmt::Debug, StoreError>, field: &str) {
    match result {
        Err(StoreError::Duplicate(f)) => assert_eq!(f, field),
        other => panic!("expected Duplicate({field:?}), got {other:?}"),
    }
}

fn is_not_found(result: Result<impl std::fmt::Debug, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}

fn sorted_by_id<T>(mut items: Vec<T>, id: impl Fn(&T) -> Uuid) -> Vec<T> {
    items.sort_by_key(|i| id(i));
    items
}

/// Seeding inserts only the roles that are missing, with their permissions, and leaves
/// existing ones (possibly edited by an operator) alone; seeding twice at once inserts
/// each role once. `roles()` lists templates by name.
pub async fn seeding_inserts_only_missing_roles(
    repo: &dyn RbacRepository,
    _users: &dyn UserRepository,
) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let a = role_name("seed_a");
    let b = role_name("seed_b");
    let base = template(&a, 10, &[], &[perm(ResourceType::Post, Action::Read)]);
    let everything: Vec<Permission> = Permission::all().collect();
    let mut top = template(&b, 90, &[&a, "unknown_parent"], &everything);
    top.built_in = true;

    assert_eq!(
        repo.seed_roles(vec![base.clone(), top.clone()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(role(repo, &a).await, Some(base.clone()));
    assert_eq!(
        role(repo, &b).await,
        Some(top.clone()),
        "all permissions kept"
    );
    assert_eq!(
        repo.seed_roles(vec![base.clone(), top.clone()])
            .await
            .unwrap(),
        0,
        "idempotent"
    );

    // An operator narrows `top`; seeding again does not restore it.
    let edited: BTreeSet<Permission> = [perm(ResourceType::Post, Action::Create)].into();
    repo.set_role_permissions(
        &b,
        edited.clone(),
        audit(actor, "role.update", &format!("role:{b}"), None, now),
    )
    .await
    .unwrap();
    let c = role_name("seed_c");
    let newcomer = template(&c, 5, &[], &[]);
    assert_eq!(
        repo.seed_roles(vec![base.clone(), top.clone(), newcomer.clone()])
            .await
            .unwrap(),
        1,
        "only the missing role"
    );
    assert_eq!(role(repo, &b).await.unwrap().permissions, edited);
    assert_eq!(role(repo, &c).await, Some(newcomer));
    assert_eq!(trail(repo, actor).await.len(), 1, "seeding is not audited");

    // Two instances starting at once: each role is inserted once, by one of them.
    let batch: Vec<RoleTemplate> = (0..5u8)
        .map(|i| template(&role_name("race"), i, &[], &everything[..10]))
        .collect();
    let (x, y) = tokio::join!(
        repo.seed_roles(batch.clone()),
        repo.seed_roles(batch.clone())
    );
    assert_eq!(x.unwrap() + y.unwrap(), batch.len());
    for t in &batch {
        assert_eq!(role(repo, &t.name).await.as_ref(), Some(t));
    }

    // The default roles seed, and seed once.
    let defaults = default_roles();
    let first = repo.seed_roles(defaults.clone()).await.unwrap();
    assert_eq!(repo.seed_roles(defaults.clone()).await.unwrap(), 0);
    let roles = repo.roles().await.unwrap();
    for d in &defaults {
        let stored = roles.iter().find(|r| r.name == d.name).unwrap();
        if first == defaults.len() {
            assert_eq!(stored, d, "a fresh store holds the defaults as given");
        }
    }
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "roles() is ordered by name");
}

/// Custom roles and overrides are stored as given; duplicates and unknown roles are
/// refused.
pub async fn roles_and_overrides_round_trip(
    repo: &dyn RbacRepository,
    _users: &dyn UserRepository,
) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let at = |s: i64| now + Duration::seconds(s);
    let name = role_name("club_host");
    let target = format!("role:{name}");
    let custom = template(
        &name,
        25,
        &["student", "moderator"],
        &[
            perm(ResourceType::DebateSession, Action::Create),
            perm(ResourceType::Chat, Action::RealtimeManage),
        ],
    );
    repo.insert_role(
        custom.clone(),
        audit(actor, "role.create", &target, None, at(0)),
    )
    .await
    .unwrap();
    assert_eq!(role(repo, &name).await, Some(custom.clone()));

    let mut again = custom.clone();
    again.rank = 1;
    is_duplicate(
        repo.insert_role(again, audit(actor, "role.create", &target, None, at(1)))
            .await,
        "role",
    );
    assert_eq!(role(repo, &name).await, Some(custom.clone()), "unchanged");

    let narrower: BTreeSet<Permission> = [perm(ResourceType::Post, Action::Read)].into();
    repo.set_role_permissions(
        &name,
        narrower.clone(),
        audit(actor, "role.update", &target, None, at(2)),
    )
    .await
    .unwrap();
    assert_eq!(role(repo, &name).await.unwrap().permissions, narrower);
    repo.set_role_permissions(
        &name,
        BTreeSet::new(),
        audit(actor, "role.update", &target, None, at(3)),
    )
    .await
    .unwrap();
    assert!(role(repo, &name).await.unwrap().permissions.is_empty());
    is_not_found(
        repo.set_role_permissions(
            &role_name("nobody"),
            narrower,
            audit(actor, "role.update", "role:nobody", None, at(4)),
        )
        .await,
    );

    let scope = institution();
    let deny = Override {
        id: Uuid::new_v4(),
        role: name.clone(),
        scope,
        permission: perm(ResourceType::Exam, Action::Publish),
        effect: Effect::Deny,
    };
    let allow = Override {
        id: Uuid::new_v4(),
        role: name.clone(),
        scope: Scope::Global,
        permission: perm(ResourceType::Exam, Action::Publish),
        effect: Effect::Allow,
    };
    for o in [&deny, &allow] {
        repo.insert_override(
            o.clone(),
            audit(actor, "override.create", &target, Some(o.scope), at(5)),
        )
        .await
        .unwrap();
    }
    let ours = |all: Vec<Override>| -> Vec<Override> {
        all.into_iter().filter(|o| o.role == name).collect()
    };
    let listed = repo.overrides().await.unwrap();
    assert!(
        listed.windows(2).all(|w| w[0].id < w[1].id),
        "overrides() is ordered by id"
    );
    assert_eq!(
        ours(listed),
        sorted_by_id(vec![deny.clone(), allow.clone()], |o| o.id)
    );

    let clash = Override {
        id: Uuid::new_v4(),
        effect: Effect::Allow,
        ..deny.clone()
    };
    is_duplicate(
        repo.insert_override(
            clash,
            audit(actor, "override.create", &target, Some(scope), at(6)),
        )
        .await,
        "override",
    );
    let orphan = Override {
        id: Uuid::new_v4(),
        role: role_name("nobody"),
        ..deny.clone()
    };
    is_not_found(
        repo.insert_override(
            orphan,
            audit(actor, "override.create", "role:nobody", Some(scope), at(7)),
        )
        .await,
    );

    let removed = repo
        .delete_override(
            deny.id,
            audit(actor, "override.delete", &target, Some(scope), at(8)),
        )
        .await
        .unwrap();
    assert_eq!(removed, deny);
    assert_eq!(ours(repo.overrides().await.unwrap()), vec![allow]);
    is_not_found(
        repo.delete_override(
            deny.id,
            audit(actor, "override.delete", &target, Some(scope), at(9)),
        )
        .await,
    );
}

/// `subject` returns all of a user's assignments and permission grants, expired ones
/// included, ordered by id; times are kept to the microsecond.
pub async fn subject_lists_assignments_and_grants(
    repo: &dyn RbacRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let (user, other, granter) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let campus = Scope::Campus(Uuid::new_v4());
    let hour = Duration::hours(1);
    let roles = vec![
        assignment(user, "teacher", Scope::Global, None, Some(granter), now),
        assignment(
            user,
            "moderator",
            campus,
            Some(now - hour),
            None,
            now - hour * 2,
        ),
        assignment(other, "teacher", Scope::Global, None, None, now),
    ];
    let grade = perm(ResourceType::Exam, Action::GradeManage);
    let grants = vec![
        permission_grant(
            user,
            grade,
            campus,
            Some(now + hour * 24),
            Some(granter),
            now,
        ),
        permission_grant(
            user,
            grade,
            Scope::Global,
            Some(now - hour),
            None,
            now - hour * 2,
        ),
        permission_grant(other, grade, campus, None, None, now),
    ];
    for a in &roles {
        let target = format!("user:{}", a.user_id);
        repo.insert_assignment(
            a.clone(),
            audit(actor, "grant.create", &target, Some(a.scope), now),
            &[],
        )
        .await
        .unwrap();
    }
    for g in &grants {
        let target = format!("user:{}", g.user_id);
        repo.insert_permission_grant(
            g.clone(),
            audit(
                actor,
                "permission_grant.create",
                &target,
                Some(g.scope),
                now,
            ),
        )
        .await
        .unwrap();
    }

    assert_eq!(
        repo.subject(user).await.unwrap(),
        Subject::user(
            user,
            sorted_by_id(roles[..2].to_vec(), |a| a.id),
            sorted_by_id(grants[..2].to_vec(), |g| g.id),
        ),
        "expired grants included"
    );
    assert_eq!(
        repo.subject(other).await.unwrap(),
        Subject::user(other, vec![roles[2].clone()], vec![grants[2].clone()])
    );
    let nobody = Uuid::new_v4();
    assert_eq!(
        repo.subject(nobody).await.unwrap(),
        Subject::user(nobody, vec![], vec![])
    );

    assert_eq!(
        repo.assignment(roles[1].id).await.unwrap(),
        Some(roles[1].clone())
    );
    assert_eq!(repo.assignment(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        repo.permission_grant(grants[0].id).await.unwrap(),
        Some(grants[0].clone())
    );
    assert_eq!(repo.permission_grant(Uuid::new_v4()).await.unwrap(), None);

    // Nanoseconds are dropped, as PostgreSQL's timestamptz does.
    let precise = now + Duration::nanoseconds(123_456_789);
    let micros = now + Duration::microseconds(123_456);
    let a = assignment(
        other,
        "student",
        campus,
        Some(precise + hour),
        None,
        precise,
    );
    let g = permission_grant(
        other,
        grade,
        Scope::Global,
        Some(precise + hour),
        None,
        precise,
    );
    repo.insert_assignment(
        a.clone(),
        audit(actor, "grant.create", "user:x", None, now),
        &[],
    )
    .await
    .unwrap();
    repo.insert_permission_grant(
        g.clone(),
        audit(actor, "permission_grant.create", "user:x", None, now),
    )
    .await
    .unwrap();
    let a_read = repo.assignment(a.id).await.unwrap().unwrap();
    assert_eq!(
        (a_read.granted_at, a_read.expires_at),
        (micros, Some(micros + hour))
    );
    let g_read = repo.permission_grant(g.id).await.unwrap().unwrap();
    assert_eq!(
        (g_read.granted_at, g_read.expires_at),
        (micros, Some(micros + hour))
    );
}

/// A user holds a role in a scope once; grants to or by unknown users are refused, and a
/// refused write stores neither the change nor its audit record.
pub async fn duplicates_and_unknown_users_are_refused(
    repo: &dyn RbacRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let user = existing_user(users, now).await.0;
    let target = format!("user:{user}");
    let scope = institution();
    let write = |s: Scope| audit(actor, "grant.create", &target, Some(s), now);

    let first = assignment(user, "teacher", scope, None, None, now);
    repo.insert_assignment(first.clone(), write(scope), &[])
        .await
        .unwrap();
    let same = assignment(
        user,
        "teacher",
        scope,
        Some(now + Duration::days(1)),
        None,
        now,
    );
    is_duplicate(
        repo.insert_assignment(same, write(scope), &[]).await,
        "grant",
    );
    let reused_id = RoleAssignment {
        scope: Scope::Global,
        ..first.clone()
    };
    is_duplicate(
        repo.insert_assignment(reused_id, write(Scope::Global), &[])
            .await,
        "id",
    );

    // The same role elsewhere, or another role there, is a different grant.
    let elsewhere = assignment(user, "teacher", institution(), None, None, now);
    repo.insert_assignment(elsewhere.clone(), write(elsewhere.scope), &[])
        .await
        .unwrap();
    let other_role = assignment(user, "staff", scope, None, None, now);
    repo.insert_assignment(other_role.clone(), write(scope), &[])
        .await
        .unwrap();

    let ghost = Uuid::new_v4();
    is_not_found(
        repo.insert_assignment(
            assignment(ghost, "teacher", scope, None, None, now),
            write(scope),
            &[],
        )
        .await,
    );
    is_not_found(
        repo.insert_assignment(
            assignment(user, "parent", scope, None, Some(ghost), now),
            write(scope),
            &[],
        )
        .await,
    );
    let read = perm(ResourceType::Exam, Action::Read);
    is_not_found(
        repo.insert_permission_grant(
            permission_grant(ghost, read, scope, None, None, now),
            write(scope),
        )
        .await,
    );
    is_not_found(
        repo.insert_permission_grant(
            permission_grant(user, read, scope, None, Some(ghost), now),
            write(scope),
        )
        .await,
    );
    let g = permission_grant(user, read, scope, None, None, now);
    repo.insert_permission_grant(g.clone(), write(scope))
        .await
        .unwrap();
    is_duplicate(
        repo.insert_permission_grant(g.clone(), write(scope)).await,
        "id",
    );
    // Direct grants have no uniqueness rule besides their id.
    let twin = PermissionGrant {
        id: Uuid::new_v4(),
        ..g.clone()
    };
    repo.insert_permission_grant(twin.clone(), write(scope))
        .await
        .unwrap();

    let subject = repo.subject(user).await.unwrap();
    assert_eq!(
        subject.roles,
        sorted_by_id(vec![first, elsewhere, other_role], |a| a.id)
    );
    assert_eq!(subject.permissions, sorted_by_id(vec![g, twin], |g| g.id));
    assert_eq!(
        trail(repo, actor).await.len(),
        5,
        "one record per stored write"
    );
}

/// Deleting a role deletes its overrides and assignments and nothing else; deleting
/// what does not exist is `NotFound`.
pub async fn deletes_cascade_and_report_not_found(
    repo: &dyn RbacRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let (user, other) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let (doomed, kept) = (role_name("doomed"), role_name("kept"));
    let note = |what: &str| audit(actor, what, "role:x", None, now);
    for name in [&doomed, &kept] {
        repo.insert_role(
            template(name, 10, &[], &[perm(ResourceType::Post, Action::Read)]),
            note("role.create"),
        )
        .await
        .unwrap();
    }
    let scope = institution();
    let gone = [
        assignment(user, &doomed, Scope::Global, None, None, now),
        assignment(user, &doomed, scope, None, None, now),
        assignment(other, &doomed, scope, None, None, now),
    ];
    let stays = assignment(user, &kept, Scope::Global, None, None, now);
    for a in gone.iter().chain([&stays]) {
        repo.insert_assignment(a.clone(), note("grant.create"), &[])
            .await
            .unwrap();
    }
    let overrides = [&doomed, &kept].map(|r| Override {
        id: Uuid::new_v4(),
        role: r.clone(),
        scope,
        permission: perm(ResourceType::Post, Action::Delete),
        effect: Effect::Allow,
    });
    for o in &overrides {
        repo.insert_override(o.clone(), note("override.create"))
            .await
            .unwrap();
    }
    let g = permission_grant(
        user,
        perm(ResourceType::Post, Action::Update),
        scope,
        None,
        None,
        now,
    );
    repo.insert_permission_grant(g.clone(), note("permission_grant.create"))
        .await
        .unwrap();

    repo.delete_role(&doomed, note("role.delete"))
        .await
        .unwrap();
    assert_eq!(role(repo, &doomed).await, None);
    assert!(role(repo, &kept).await.is_some());
    let left: Vec<Override> = repo
        .overrides()
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.role == doomed || o.role == kept)
        .collect();
    assert_eq!(left, vec![overrides[1].clone()]);
    for a in &gone {
        assert_eq!(repo.assignment(a.id).await.unwrap(), None);
    }
    assert_eq!(
        repo.subject(user).await.unwrap(),
        Subject::user(user, vec![stays.clone()], vec![g.clone()]),
        "other roles and direct grants stay"
    );
    assert_eq!(
        repo.subject(other).await.unwrap(),
        Subject::user(other, vec![], vec![])
    );
    is_not_found(repo.delete_role(&doomed, note("role.delete")).await);

    repo.delete_assignment(stays.id, note("grant.revoke"))
        .await
        .unwrap();
    assert_eq!(repo.assignment(stays.id).await.unwrap(), None);
    is_not_found(repo.delete_assignment(stays.id, note("grant.revoke")).await);
    repo.delete_permission_grant(g.id, note("permission_grant.revoke"))
        .await
        .unwrap();
    assert_eq!(repo.permission_grant(g.id).await.unwrap(), None);
    is_not_found(
        repo.delete_permission_grant(g.id, note("permission_grant.revoke"))
            .await,
    );
    is_not_found(
        repo.delete_override(Uuid::new_v4(), note("override.delete"))
            .await,
    );
    assert_eq!(
        repo.subject(user).await.unwrap(),
        Subject::user(user, vec![], vec![])
    );
    // 2 roles, 4 assignments, 2 overrides, 1 grant, then 3 deletions.
    assert_eq!(trail(repo, actor).await.len(), 12);
}

/// Assignments by user and/or exact scope, ordered by id, paged by "after this id".
pub async fn list_assignments_filters_and_pages(
    repo: &dyn RbacRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let (u1, u2) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let (s1, s2) = (institution(), Scope::Campus(Uuid::new_v4()));
    let (r1, r2) = (role_name("lister"), role_name("pager"));
    let all = vec![
        assignment(u1, &r1, s1, None, None, now),
        assignment(u1, &r2, s1, Some(now - Duration::days(1)), None, now),
        assignment(u1, &r1, s2, None, None, now),
        assignment(u2, &r1, s1, None, None, now),
        assignment(u2, &r1, s2, None, None, now),
    ];
    for a in &all {
        repo.insert_assignment(
            a.clone(),
            audit(actor, "grant.create", "user:x", Some(a.scope), now),
            &[],
        )
        .await
        .unwrap();
    }
    let matching = |f: &dyn Fn(&RoleAssignment) -> bool| -> Vec<RoleAssignment> {
        sorted_by_id(all.iter().filter(|a| f(a)).cloned().collect(), |a| a.id)
    };
    let list =
        async |user_id: Option<Uuid>, scope: Option<Scope>, after: Option<Uuid>, limit: u32| {
            let filter = GrantFilter {
                user_id,
                scope,
                readable: None,
            };
            repo.list_assignments(filter, after, limit).await.unwrap()
        };
    let readable = async |user_id: Option<Uuid>, set: ScopeSet| {
        let filter = GrantFilter {
            user_id,
            scope: None,
            readable: Some(set),
        };
        repo.list_assignments(filter, None, 100).await.unwrap()
    };

    assert_eq!(
        list(Some(u1), None, None, 100).await,
        matching(&|a| a.user_id == u1)
    );
    assert_eq!(
        list(None, Some(s1), None, 100).await,
        matching(&|a| a.scope == s1)
    );
    assert_eq!(
        list(Some(u2), Some(s2), None, 100).await,
        matching(&|a| a.user_id == u2 && a.scope == s2)
    );
    assert!(
        list(Some(u1), Some(Scope::Global), None, 100)
            .await
            .is_empty()
    );
    assert!(list(Some(u1), None, None, 0).await.is_empty());

    // Only the scopes a reader may read, or everything but those they may not.
    assert_eq!(
        readable(Some(u1), ScopeSet::Only(vec![s1])).await,
        matching(&|a| a.user_id == u1 && a.scope == s1)
    );
    assert_eq!(
        readable(Some(u2), ScopeSet::Only(vec![s1, s2])).await,
        matching(&|a| a.user_id == u2)
    );
    assert_eq!(
        readable(Some(u1), ScopeSet::AllBut(vec![s1])).await,
        matching(&|a| a.user_id == u1 && a.scope != s1)
    );
    assert_eq!(
        readable(Some(u1), ScopeSet::all()).await,
        matching(&|a| a.user_id == u1)
    );
    assert!(readable(Some(u1), ScopeSet::nowhere()).await.is_empty());
    assert!(readable(None, ScopeSet::nowhere()).await.is_empty());

    // Keyset paging: strictly after the last id seen.
    let in_s1 = matching(&|a| a.scope == s1);
    let page1 = list(None, Some(s1), None, 2).await;
    assert_eq!(page1, in_s1[..2]);
    let page2 = list(None, Some(s1), Some(page1[1].id), 2).await;
    assert_eq!(page2, in_s1[2..]);
    assert!(list(None, Some(s1), Some(page2[0].id), 2).await.is_empty());

    // Unfiltered: every assignment, in id order, across pages.
    let mut seen: Vec<RoleAssignment> = Vec::new();
    let mut after = None;
    loop {
        let page = list(None, None, after, 3).await;
        let Some(last) = page.last() else { break };
        assert!(
            after.is_none_or(|a| page[0].id > a),
            "strictly after the cursor"
        );
        after = Some(last.id);
        seen.extend(page);
    }
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id));
    for a in &all {
        assert!(seen.contains(a));
    }
}

/// Every write stores its audit record as given, and only when it succeeds; a write
/// whose record cannot be stored is not made either (one transaction).
pub async fn every_write_is_audited_once(repo: &dyn RbacRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let user = existing_user(users, now).await.0;
    let scope = institution();
    let name = role_name("audited");
    let role_target = format!("role:{name}");
    let user_target = format!("user:{user}");
    let mut expected: Vec<AuditRecord> = Vec::new();
    let mut next = |action: &str, target: &str, scope: Option<Scope>| {
        let r = audit(
            actor,
            action,
            target,
            scope,
            now + Duration::seconds(expected.len() as i64),
        );
        expected.push(r.clone());
        r
    };

    let t = template(
        &name,
        12,
        &[],
        &[perm(ResourceType::Notice, Action::Publish)],
    );
    repo.insert_role(t.clone(), next("role.create", &role_target, None))
        .await
        .unwrap();
    repo.set_role_permissions(
        &name,
        BTreeSet::new(),
        next("role.update", &role_target, None),
    )
    .await
    .unwrap();
    let o = Override {
        id: Uuid::new_v4(),
        role: name.clone(),
        scope,
        permission: perm(ResourceType::Notice, Action::Publish),
        effect: Effect::Deny,
    };
    repo.insert_override(
        o.clone(),
        next("override.create", &role_target, Some(scope)),
    )
    .await
    .unwrap();
    repo.delete_override(o.id, next("override.delete", &role_target, Some(scope)))
        .await
        .unwrap();
    let a = assignment(user, &name, scope, None, None, now);
    repo.insert_assignment(
        a.clone(),
        next("grant.create", &user_target, Some(scope)),
        &[],
    )
    .await
    .unwrap();
    repo.delete_assignment(a.id, next("grant.revoke", &user_target, Some(scope)))
        .await
        .unwrap();
    let g = permission_grant(
        user,
        perm(ResourceType::Notice, Action::Read),
        scope,
        None,
        None,
        now,
    );
    repo.insert_permission_grant(
        g.clone(),
        next("permission_grant.create", &user_target, Some(scope)),
    )
    .await
    .unwrap();
    repo.delete_permission_grant(
        g.id,
        next("permission_grant.revoke", &user_target, Some(scope)),
    )
    .await
    .unwrap();
    repo.append_audit(next("org.delete", "institution:x", Some(scope)))
        .await
        .unwrap();
    repo.delete_role(&name, next("role.delete", &role_target, None))
        .await
        .unwrap();

    let mut newest_first = expected.clone();
    newest_first.reverse();
    assert_eq!(trail(repo, actor).await, newest_first);

    // Refused writes leave no record.
    let later = now + Duration::hours(1);
    let refused = |action: &str| audit(actor, action, "role:x", None, later);
    is_not_found(repo.delete_role(&name, refused("role.delete")).await);
    is_not_found(repo.delete_assignment(a.id, refused("grant.revoke")).await);
    is_not_found(
        repo.set_role_permissions(&name, BTreeSet::new(), refused("role.update"))
            .await,
    );
    assert_eq!(trail(repo, actor).await, newest_first);

    // A record whose id is taken refuses the write with it: nothing is stored.
    let taken = expected[0].clone();
    let b = assignment(user, "teacher", scope, None, None, later);
    is_duplicate(
        repo.insert_assignment(b.clone(), taken.clone(), &[]).await,
        "audit",
    );
    assert_eq!(repo.assignment(b.id).await.unwrap(), None, "rolled back");
    let other = role_name("unsaved");
    is_duplicate(
        repo.insert_role(template(&other, 1, &[], &[]), taken.clone())
            .await,
        "audit",
    );
    assert_eq!(role(repo, &other).await, None, "rolled back");
    is_duplicate(repo.append_audit(taken).await, "audit");
    assert_eq!(trail(repo, actor).await, newest_first);
}

/// The audit trail: filters combine with AND, `since` is inclusive and `until`
/// exclusive, newest first by time then id, paged strictly before a cursor.
pub async fn audit_filters_and_paging(repo: &dyn RbacRepository, _users: &dyn UserRepository) {
    let now = clock().now();
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let (create, revoke) = (
        format!("grant.create.{}", tag()),
        format!("grant.revoke.{}", tag()),
    );
    let target = format!("user:{}", Uuid::new_v4());
    let scope = institution();
    let at = |s: i64| now + Duration::seconds(s);
    let records = vec![
        // Three at the same instant: the id breaks the tie.
        audit(alice, &create, &target, Some(scope), at(0)),
        audit(alice, &revoke, &target, Some(scope), at(0)),
        audit(alice, &create, "role:x", None, at(0)),
        audit(bob, &create, &target, Some(scope), at(0)),
        audit(alice, &create, &target, Some(Scope::Global), at(1)),
        audit(bob, &revoke, &target, Some(scope), at(2)),
        audit(alice, &create, &target, Some(scope), at(3)),
        AuditRecord {
            actor: None,
            before: None,
            after: None,
            request_id: None,
            scope: None,
            ..audit(alice, &revoke, &target, None, at(4))
        },
    ];
    for r in &records {
        repo.append_audit(r.clone()).await.unwrap();
    }
    let newest_first = |f: &dyn Fn(&AuditRecord) -> bool| -> Vec<AuditRecord> {
        let mut v: Vec<AuditRecord> = records.iter().filter(|r| f(r)).cloned().collect();
        v.sort_by_key(|r| std::cmp::Reverse((r.at, r.id)));
        v
    };
    let list = async |filter: AuditFilter, before: Option<AuditCursor>, limit: u32| {
        repo.list_audit(filter, before, limit).await.unwrap()
    };
    let ours =
        |r: &AuditRecord| r.target == target || r.actor == Some(alice) || r.actor == Some(bob);

    let by_alice = AuditFilter {
        actor: Some(alice),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(by_alice.clone(), None, 100).await,
        newest_first(&|r| r.actor == Some(alice))
    );
    let on_target = AuditFilter {
        target: Some(target.clone()),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(on_target.clone(), None, 100).await,
        newest_first(&|r| r.target == target),
        "records without actor included"
    );
    let revokes = AuditFilter {
        action: Some(revoke.clone()),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(revokes, None, 100).await,
        newest_first(&|r| r.action == revoke)
    );
    let in_scope = AuditFilter {
        scope: Some(scope),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(in_scope, None, 100).await,
        newest_first(&|r| r.scope == Some(scope))
    );
    let combined = AuditFilter {
        actor: Some(alice),
        action: Some(create.clone()),
        target: Some(target.clone()),
        scope: Some(scope),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(combined, None, 100).await,
        newest_first(&|r| r.actor == Some(alice)
            && r.action == create
            && r.target == target
            && r.scope == Some(scope))
    );
    // Readable scopes: a record without a scope counts as global.
    let only = AuditFilter {
        target: Some(target.clone()),
        readable: Some(ScopeSet::Only(vec![scope])),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(only, None, 100).await,
        newest_first(&|r| r.target == target && r.scope == Some(scope))
    );
    let with_global = AuditFilter {
        target: Some(target.clone()),
        readable: Some(ScopeSet::Only(vec![Scope::Global, scope])),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(with_global, None, 100).await,
        newest_first(&|r| r.target == target),
        "unscoped records are global"
    );
    let but_scope = AuditFilter {
        target: Some(target.clone()),
        readable: Some(ScopeSet::AllBut(vec![scope])),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(but_scope, None, 100).await,
        newest_first(&|r| r.target == target && r.scope != Some(scope)),
        "unscoped records stay when global is not removed"
    );
    let but_global = AuditFilter {
        target: Some(target.clone()),
        readable: Some(ScopeSet::AllBut(vec![Scope::Global])),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(but_global, None, 100).await,
        newest_first(&|r| r.target == target && r.scope.is_some_and(|s| s != Scope::Global)),
        "removing global removes unscoped records"
    );
    let nowhere = AuditFilter {
        target: Some(target.clone()),
        readable: Some(ScopeSet::nowhere()),
        ..AuditFilter::default()
    };
    assert!(list(nowhere, None, 100).await.is_empty());

    let window = AuditFilter {
        target: Some(target.clone()),
        since: Some(at(1)),
        until: Some(at(3)),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(window, None, 100).await,
        newest_first(&|r| r.target == target && r.at >= at(1) && r.at < at(3)),
        "since inclusive, until exclusive"
    );
    assert!(list(by_alice.clone(), None, 0).await.is_empty());

    // Pages of two, each strictly before the last record of the previous one, split
    // the three records of the same instant without losing or repeating any.
    let everything = newest_first(&|r| r.actor == Some(alice));
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = list(by_alice.clone(), cursor, 2).await;
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        assert!(
            cursor.is_none_or(|c: AuditCursor| (page[0].at, page[0].id) < (c.at, c.id)),
            "strictly before the cursor"
        );
        cursor = Some(AuditCursor {
            at: last.at,
            id: last.id,
        });
        paged.extend(page);
    }
    assert_eq!(paged, everything);

    // Unfiltered: newest first by (at, id) across whatever the store holds.
    let mut all: Vec<AuditRecord> = Vec::new();
    loop {
        let cursor = all.last().map(|r| AuditCursor { at: r.at, id: r.id });
        let page = list(AuditFilter::default(), cursor, 500).await;
        if page.is_empty() {
            break;
        }
        assert!(cursor.is_none_or(|c| (page[0].at, page[0].id) < (c.at, c.id)));
        all.extend(page);
    }
    assert!(
        all.windows(2)
            .all(|w| (w[0].at, w[0].id) > (w[1].at, w[1].id))
    );
    assert_eq!(
        all.into_iter().filter(|r| ours(r)).collect::<Vec<_>>(),
        newest_first(&|_| true)
    );

    // Times are kept to the microsecond, and cursors compare at that precision.
    let precise = audit(
        bob,
        &create,
        "role:y",
        None,
        at(10) + Duration::nanoseconds(1_500),
    );
    repo.append_audit(precise.clone()).await.unwrap();
    let read = list(
        AuditFilter {
            target: Some("role:y".into()),
            actor: Some(bob),
            ..AuditFilter::default()
        },
        None,
        10,
    )
    .await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].at, at(10) + Duration::microseconds(1));
    assert_eq!(
        read[0],
        AuditRecord {
            at: read[0].at,
            ..precise
        }
    );
}

/// `purge_expired` deletes the role assignments and permission grants that expired
/// strictly before the given instant, keeps those
/// expiring at or after it and those that never expire, and counts what went. The
/// instant is twenty years back, so no other contract's expired grant is counted.
pub async fn purge_expired_deletes_only_expired_grants(
    repo: &dyn RbacRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let before = now - Duration::days(365 * 20);
    let actor = Uuid::new_v4();
    let (user, other) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let scope = institution();
    let granted = before - Duration::days(30);
    let note = |what: &str| audit(actor, what, "user:x", Some(scope), now);
    let role = |u: Uuid, name: &str, expires_at: Option<DateTime<Utc>>| {
        assignment(u, name, scope, expires_at, None, granted)
    };
    let grant = |u: Uuid, expires_at: Option<DateTime<Utc>>| {
        permission_grant(
            u,
            perm(ResourceType::Exam, Action::Read),
            scope,
            expires_at,
            None,
            granted,
        )
    };
    let hour = Duration::hours(1);
    let micro = Duration::microseconds(1);

    let expired_roles = [
        role(user, "teacher", Some(before - hour)),
        role(user, "moderator", Some(before - micro)),
        role(other, "teacher", Some(before - hour)),
    ];
    let kept_roles = [
        role(user, "student", Some(before)),
        role(user, "staff", Some(before + hour)),
        role(user, "parent", None),
    ];
    let expired_grants = [
        grant(user, Some(before - hour)),
        grant(other, Some(before - micro)),
    ];
    let kept_grants = [
        grant(user, Some(before)),
        grant(user, Some(now + hour)),
        grant(user, None),
    ];
    for a in expired_roles.iter().chain(&kept_roles) {
        repo.insert_assignment(a.clone(), note("grant.create"), &[])
            .await
            .unwrap();
    }
    for g in expired_grants.iter().chain(&kept_grants) {
        repo.insert_permission_grant(g.clone(), note("permission_grant.create"))
            .await
            .unwrap();
    }

    assert_eq!(
        repo.purge_expired(before).await.unwrap(),
        (expired_roles.len() + expired_grants.len()) as u64
    );
    for a in &expired_roles {
        assert_eq!(repo.assignment(a.id).await.unwrap(), None, "{}", a.role);
    }
    for g in &expired_grants {
        assert_eq!(repo.permission_grant(g.id).await.unwrap(), None);
    }
    assert_eq!(
        repo.subject(user).await.unwrap(),
        Subject::user(
            user,
            sorted_by_id(kept_roles.to_vec(), |a| a.id),
            sorted_by_id(kept_grants.to_vec(), |g| g.id),
        ),
        "unexpired and non-expiring grants stay"
    );
    assert_eq!(
        repo.subject(other).await.unwrap(),
        Subject::user(other, vec![], vec![])
    );
    assert_eq!(repo.purge_expired(before).await.unwrap(), 0, "idempotent");
    // Purging is housekeeping, not a change anyone made: nothing is audited.
    assert_eq!(
        trail(repo, actor).await.len(),
        expired_roles.len() + kept_roles.len() + expired_grants.len() + kept_grants.len()
    );

    // A later instant purges what has expired by then, here the grants of `before`.
    assert_eq!(repo.purge_expired(before + micro).await.unwrap(), 2);
    assert_eq!(repo.assignment(kept_roles[0].id).await.unwrap(), None);
    assert_eq!(
        repo.permission_grant(kept_grants[0].id).await.unwrap(),
        None
    );
    assert_eq!(
        repo.assignment(kept_roles[1].id).await.unwrap(),
        Some(kept_roles[1].clone())
    );
}
